"""An asset's declared source: the registered source record it derives from, recorded as an input.

The audit traces a version back to a source by digest, so the step that first brings external data
into Dagster names the source's registered digest as one of its inputs: the IO manager for an asset that
returns a DataFrame, ``ProvenanceResource.record(context=...)`` for one that writes its own data.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial

from prov_common.config import Settings
from prov_common.lineage.datasets import registered_content_facet
from prov_common.lineage.naming import dataset_from_uri
from prov_common.sources import find_source
from prov_common.sources.registry import Listing, settings_source_listing
from prov_common.sources.model import ALL_COLUMNS, SOURCE_NAMESPACE
from prov_common.sources.unverified import records_of, unverified_warning
from prov_common.store.errors import STORE_VARIABLE, store_read
from prov_common.w3cprov.identity import sortable_time
from prov_dagster.model import DatasetRecord
from prov_dagster.recorder import StepRun


def sources_once(settings: Settings) -> Callable[[], Listing]:
    """The store's source records (:func:`~prov_common.sources.registry.settings_source_listing`) for ``settings``,
    read on the first call and kept, so that the sources a step declares
    and the masking of its failure samples read the store once (a read that fails is tried again at the next call)."""
    return cache(partial(settings_source_listing, settings))


def source_input(settings: Settings, ref: str, listing: Callable[[], Listing], *, where: str = STORE_VARIABLE,
                 run: str | None = None) -> tuple[DatasetRecord, tuple[str, ...], str | None]:
    """The input record of the source ``ref`` (name or digest), the columns its registered record flags as
    personal or confidential, and a warning when it is not registered, its records cannot be read, or source
    records do not verify.

    With several registered versions under one name, the newest registration is used; name the digest
    to pin one. While the store cannot be used (unreachable, or its setting cannot be opened, a file say) and the
    settings are not strict, the source is recorded without a version and every column is flagged (a sample never
    shows what its record might flag), with a warning naming ``run``, the store's error and its fix (naming ``where``,
    the setting the store comes from), as the step's records are spooled or kept in the outbox; strict mode raises
    the store's error, its fix naming ``where``. A source record that does not verify is never used and never fails the step: one of ``ref``
    (by its key) flags every column (it may be the record that flags them) and, unless ``ref`` is a digest
    that a verified record registers, leaves the source without a version (it may be the newest version);
    the warning names it with the fix, and names the others, left out. ``listing`` gives the store's source records
    (:func:`sources_once`).
    """
    unversioned = DatasetRecord(name=ref, digest=None, namespace=SOURCE_NAMESPACE)
    listed, error = store_read(listing, where, strict=settings.strict)
    if listed is None:
        of_run = f"run {run}: " if run else ""
        return unversioned, (ALL_COLUMNS,), (f"{of_run}the source records in {settings.store} cannot be read ({error}); "
                                             f"source {ref!r} is recorded without a version (the audit reports it) "
                                             "and every column is flagged")
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


def declare_source(step: StepRun, settings: Settings, ref: str, warn: Callable[[str], None],
                   listing: Callable[[], Listing]) -> tuple[str, ...]:
    """Add the source ``ref`` that an asset of ``step`` declares (``provenance_asset(source=...)``) to the step's
    inputs, once per step (staged with the step's next event), logging through ``warn`` a source that is not
    registered or whose record cannot be read, and source records that do not verify (see :func:`source_input`;
    ``listing``: the store's source records, :func:`sources_once`).

    Returns the columns the source's record flags as personal or confidential (none when it is not registered,
    every one when its records cannot be read or do not verify).
    """
    source, flagged, warning = source_input(settings, ref, listing, where=step.recorder.store_source, run=step.ol_run_id)
    if warning:
        warn(warning)
    if all(i.dataset != source.dataset for i in step.inputs):  # read already (by any name): what it read is its input
        step.inputs.append(source)
    return flagged
