"""An asset's declared source: the registered source record it derives from, recorded as an input.

The audit traces a version back to a source by digest, so the step that first brings external data
into Dagster names the source's registered digest as one of its inputs: the IO manager for an asset that
returns a DataFrame, ``ProvenanceResource.record(context=...)`` for one that writes its own data.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

from prov_common.config import Settings
from prov_common.errors import TdprovError
from prov_common.lineage.datasets import registered_content_facet
from prov_common.lineage.naming import dataset_from_uri
from prov_common.sources import find_source
from prov_common.sources.registry import Listing, settings_source_listing
from prov_common.sources.model import ALL_COLUMNS, SOURCE_NAMESPACE
from prov_common.sources.unverified import records_of, unverified_warning
from prov_common.store.errors import STORE_VARIABLE, store_read, strict_refix
from prov_common.w3cprov.identity import sortable_time
from prov_dagster.model import DatasetRecord
from prov_dagster.recorder import StepRun


class SourceListing:
    """The store's source records for one step: the sources its assets declare and the masking of their failure
    samples read them once, and the first outcome, the records or the store's error, failed or not, is what every
    later read gets (a store that cannot be used is met, and warned of, once)."""

    def __init__(self, settings: Settings, where: str = STORE_VARIABLE, run: str | None = None) -> None:
        """``where``: the setting the store comes from, named in its error's fix; ``run``: the step's OpenLineage run,
        named in the warning that the records cannot be read."""
        self.settings, self.where, self.run = settings, where, run
        self.told = False  # a warning of the step said that the records cannot be read
        self._read: tuple[Listing, None] | tuple[None, TdprovError] | None = None

    def read(self) -> tuple[Listing, None] | tuple[None, TdprovError]:
        """``(records, None)``, or ``(None, error)`` when the store cannot be used (:func:`store_read`, its fix naming
        ``where``; never raised here, whatever strict mode says: the caller decides)."""
        if self._read is None:
            self._read = store_read(partial(settings_source_listing, self.settings), self.where)
        return self._read

    def __call__(self) -> Listing:
        """The records; the store's error is raised."""
        listed, error = self.read()
        if error is not None:
            raise error
        return listed

    def unreadable(self, error: Exception, consequence: str) -> str:
        """The warning that the records cannot be read, naming the run, the store, ``error`` and ``consequence``."""
        self.told = True
        of_run = f"run {self.run}: " if self.run else ""
        return f"{of_run}the source records in {self.settings.store} cannot be read ({error}); {consequence}"


def source_input(settings: Settings, ref: str,
                 listing: SourceListing) -> tuple[DatasetRecord, tuple[str, ...], str | None]:
    """The input record of the source ``ref`` (name or digest), the columns its registered record flags as
    personal or confidential, and a warning when it is not registered, its records cannot be read, or source
    records do not verify.

    With several registered versions under one name, the newest registration is used; name the digest
    to pin one. While the store cannot be used (unreachable, or its setting cannot be opened, a file say) and the
    settings are not strict, the source is recorded without a version and every column is flagged (a sample never
    shows what its record might flag), with a warning naming the step's run, the store's error and its fix (naming
    the setting the store comes from, :class:`SourceListing`), as the step's records are spooled or kept in the
    outbox; strict mode raises the store's error, its fix naming that setting and, for an outage, saying that nothing
    was spooled (:func:`~prov_common.store.errors.strict_refix`). A source record that does not verify is never used
    and never fails the step: one of ``ref``
    (by its key) flags every column (it may be the record that flags them) and, unless ``ref`` is a digest
    that a verified record registers, leaves the source without a version (it may be the newest version);
    the warning names it with the fix, and names the others, left out. ``listing`` gives the store's source records.
    """
    unversioned = DatasetRecord(name=ref, digest=None, namespace=SOURCE_NAMESPACE)
    listed, error = listing.read()
    if error is not None:
        if settings.strict:  # strict mode spools nothing: its fix says so
            raise strict_refix(error)
        return unversioned, (ALL_COLUMNS,), listing.unreadable(error, f"source {ref!r} is recorded without a version "
                                                                      "(the audit reports it) and every column is flagged")
    records, problems = listed
    matches = find_source(records, ref)
    own, others = records_of(problems, [ref])
    pinned = any(s.record.digest == ref for s in matches)  # a digest is its version, whichever record registers it
    kept = "with its digest" if pinned else "without a version (the audit reports it)"
    unverified = unverified_warning(own, others, f"source {ref!r} is recorded {kept} and every column is flagged")
    if own and not pinned:
        return unversioned, (ALL_COLUMNS,), unverified
    if not matches:
        warning = (
            f"source {ref!r} is not registered in {settings.store}; it is recorded without a version "
            f"(register it with 'tdprov source add' so that the audit can trace the data to it)"
        )
        return unversioned, (), " ".join(filter(None, (warning, unverified)))
    record = max(matches, key=lambda s: sortable_time(s.record.registered_at)).record
    namespace, name = dataset_from_uri(record.location) if record.location else (SOURCE_NAMESPACE, record.name)
    flagged = (ALL_COLUMNS,) if own else record.masked_columns
    content = registered_content_facet(record)  # its digest's kind, so the statement names it truly
    return DatasetRecord(name=name, digest=None, version=record.digest, namespace=namespace, content=content), flagged, unverified


def step_sources(step: StepRun, settings: Settings) -> SourceListing:
    """The store's source records for ``step`` (:class:`SourceListing`), its store's setting and run named."""
    return SourceListing(settings, step.recorder.store_source, step.ol_run_id)


def declare_source(step: StepRun, settings: Settings, ref: str, warn: Callable[[str], None],
                   listing: SourceListing) -> tuple[str, ...]:
    """Add the source ``ref`` that an asset of ``step`` declares (``provenance_asset(source=...)``) to the step's
    inputs, once per step (staged with the step's next event), logging through ``warn`` a source that is not
    registered or whose record cannot be read, and source records that do not verify (see :func:`source_input`;
    ``listing``: the store's source records, :class:`SourceListing`).

    Returns the columns the source's record flags as personal or confidential (none when it is not registered,
    every one when its records cannot be read or do not verify).
    """
    source, flagged, warning = source_input(settings, ref, listing)
    if warning:
        warn(warning)
    if all(i.dataset != source.dataset for i in step.inputs):  # read already (by any name): what it read is its input
        step.inputs.append(source)
    return flagged
