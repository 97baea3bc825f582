"""The files of its bundle that a run's events name in their facets (failure samples, row sets), as folded (no I/O)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prov_common.lineage.facet_names import CONTENT_HASH, PANDERA
from prov_common.w3cprov.events import DatasetState, RunState
from prov_common.w3cprov.identity import dataset_label

NAMING_FIELDS = ((PANDERA, "samplesFile", "failure samples"), (CONTENT_HASH, "rowDigestsFile", "row set"))
"""Each facet field whose value is the path in the bundle of a file of a dataset version: (facet, field, what it holds)."""


@dataclass(frozen=True)
class NamedFile:
    """A bundle path (``path``) that the facet field ``field`` of a dataset's entry names, holding ``what`` of it."""

    path: str
    field: str
    what: str
    role: str  # "input" or "output"
    dataset: str  # as people are shown it (:func:`~prov_common.w3cprov.identity.dataset_label`)

    def said(self) -> str:
        """How a finding names it: the field and the dataset whose entry names the file."""
        return f"{self.field} of {self.role} {self.dataset} names its {self.what} {self.path!r}"


def named_files(state: RunState) -> Iterator[NamedFile]:
    """Each file of the bundle the folded events of ``state`` name (a non-empty text in a field of
    :data:`NAMING_FIELDS`), inputs first, in the order of the run's datasets."""
    for role, datasets in (("input", state.inputs), ("output", state.outputs)):
        for ds in datasets:
            yield from _named_by(ds, role)


def _named_by(ds: DatasetState, role: str) -> Iterator[NamedFile]:
    for facet, field_name, what in NAMING_FIELDS:
        path = ds.facet(facet).get(field_name)
        if isinstance(path, str) and path:
            yield NamedFile(path, f"{facet}.{field_name}", what, role, dataset_label(ds.namespace, ds.name))
