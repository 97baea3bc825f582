"""What a bundle claims when verification did not derive it from its events (no trusted key's statement names its
manifest: unsigned, signed by a key not trusted here, or beside another manifest's statement): its run, folded from
its events line by line, so that a reader can be shown it, marked as not verified, at a cost bounded by the run's
PROV, not by the file (anyone can plant events of any size under a manifest of their own)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prov_common.bundle import layout
from prov_common.bundle.events import event_listed, fold_bundle_events
from prov_common.bundle.verify import CheckedBundle, intact_events
from prov_common.errors import BadInputError
from prov_common.store.base import Store
from prov_common.w3cprov.events import CheckedEvent, RunState

EVENTS_LISTED = 1_000
"""Events of a claimed run listed (type, time, producer); those past it are counted. A bundle tdprov seals holds a
few; a planted one may hold millions."""


@dataclass
class ClaimedRun:
    """The run a bundle's events claim (``state``), the first :data:`EVENTS_LISTED` of its events as ``tdprov show``
    lists them (:func:`event_listed`, in the file's order, a repeated line once, as it folds) and
    how many more it holds (``unlisted``)."""

    state: RunState
    events: list[dict[str, Any]] = field(default_factory=list)
    unlisted: int = 0


def claimed_run(store: Store, checked: CheckedBundle) -> ClaimedRun | None:
    """The run that ``checked``'s stored events (in ``store``) claim, when verification did not derive it (``checked.derived`` is
    None) but read them and found them the size and digest its manifest gives (None otherwise: missing, altered, or
    already derived). Events that verification hashed without holding them are read once here in ranged parts
    (:func:`~prov_common.bundle.storage.listed_parts`: no more than a part and a line held, whatever the file's size),
    no further than the manifest lists, and must hash to its digest again (:class:`~prov_common.errors.VerificationError`
    otherwise).
    :class:`~prov_common.errors.BadInputError` when they do not fold into the manifest's run (a line
    that is not an event, events of several runs or of another run)."""
    manifest = checked.manifest
    if checked.derived is not None or manifest is None or layout.EVENTS_FILE not in checked.intact:
        return None
    name = layout.bundle_key(checked.report.run_id, layout.EVENTS_FILE)
    claimed: list[dict[str, Any]] = []
    counted = [0]

    def listed(event: CheckedEvent) -> None:
        counted[0] += 1
        if len(claimed) < EVENTS_LISTED:
            claimed.append(event_listed(event.event))

    state = fold_bundle_events(intact_events(store, checked), name, manifest.mapping, listed)
    if state.run_id != manifest.run_id:
        raise BadInputError(f"{name} holds events of run {state.run_id}, not of run {manifest.run_id}.")
    return ClaimedRun(state, claimed, counted[0] - len(claimed))


__all__ = ["EVENTS_LISTED", "ClaimedRun", "claimed_run", "event_listed"]
