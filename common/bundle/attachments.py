"""A run's attachments by bundle path, as a producer gathers them before staging (model, no I/O).

One bundle path holds one content: the same content again (an operator and the listener recording one
version) is kept once; other content under a path taken is refused, naming both datasets, never overwritten.
"""
from __future__ import annotations

from collections.abc import Callable

from prov_common.errors import BadInputError


class AttachmentConflict(BadInputError):
    """Two different contents for one attachment path of one run."""


def dataset_label(namespace: str, name: str) -> str:
    """A dataset as an error names it: ``'<name>' in <namespace>`` (quoted, so no name adds a line)."""
    return f"{name!r} in {namespace!r}"


class Attachments(dict[str, bytes]):
    """The attachments of one run by bundle path (a plain mapping to readers), with the dataset each was added for."""

    def __init__(self) -> None:
        super().__init__()
        self.owners: dict[str, str] = {}

    def copy(self) -> "Attachments":  # type: ignore[override]
        """A copy that goes on refusing what this one refuses."""
        twin = Attachments()
        twin.update(self)
        twin.owners.update(self.owners)
        return twin

    def add(self, path: str, data: bytes | bytearray, namespace: str, name: str) -> str:
        """Attach ``data`` at ``path`` for the dataset ``namespace``/``name``; returns ``path``.

        Raises :class:`AttachmentConflict` when ``path`` holds other bytes already (nothing is changed then).
        """
        owner = dataset_label(namespace, name)
        held = self.get(path)
        if held is not None and held != data:
            raise AttachmentConflict(
                f"two different attachments of one run would be the bundle file {path!r}: one of dataset "
                f"{self.owners.get(path, '(unnamed)')} and one of dataset {owner}; the second is not recorded.",
                fix="record the two versions in runs of their own (e.g. one task or step each), or give the "
                    "datasets different names")
        self.setdefault(path, data)
        self.owners.setdefault(path, owner)
        return path

    def add_or_warn(self, path: str, data: bytes | bytearray, namespace: str, name: str,
                    warn: Callable[..., object], *, strict: bool = False) -> bool:
        """Whether ``data`` is the attachment ``path`` now: as :meth:`add`, but a conflict is passed to ``warn``
        (a logger's ``warning``, as ``warn("tdprov: %s", conflict)``) and gives ``False``, or is raised when
        ``strict``."""
        try:
            self.add(path, data, namespace, name)
        except AttachmentConflict as exc:
            if strict:
                raise
            warn("tdprov: %s", exc)
            return False
        return True
