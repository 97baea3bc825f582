"""An asset's declared source: the registered source record it derives from, recorded as an input.

The audit traces a version back to a source by digest, so the step that first brings external data
into Dagster names the source's registered digest as one of its inputs: the IO manager for an asset that
returns a DataFrame, ``ProvenanceResource.record(context=...)`` for one that writes its own data.
"""
from __future__ import annotations

from collections.abc import Callable

from prov_common.config import Settings
from prov_common.errors import StoreUnavailableError
from prov_common.lineage.naming import dataset_from_uri
from prov_common.signing import trust_from_settings
from prov_common.sources import find_source, iter_sources
from prov_common.sources.model import ALL_COLUMNS, SOURCE_NAMESPACE
from prov_common.store import open_store
from prov_common.w3cprov.identity import sortable_time
from prov_dagster.model import DatasetRecord
from prov_dagster.recorder import StepRun


def source_input(settings: Settings, ref: str) -> tuple[DatasetRecord, tuple[str, ...], str | None]:
    """The input record of the source ``ref`` (name or digest), the columns its registered record flags as
    personal or confidential, and a warning when it is not registered or its records cannot be read.

    With several registered versions under one name, the newest registration is used; name the digest
    to pin one. While the store cannot be reached (and the settings are not strict), the source is recorded
    without a version and every column is flagged (a sample never shows what its record might flag), with a
    warning, as the step's bundle is spooled.
    """
    unversioned = DatasetRecord(name=ref, digest=None, namespace=SOURCE_NAMESPACE)
    try:
        matches = find_source(list(iter_sources(open_store(settings=settings), trust_from_settings(settings))), ref)
    except StoreUnavailableError as exc:
        if settings.strict:
            raise
        return unversioned, (ALL_COLUMNS,), (f"the source records in {settings.store} cannot be read ({exc}); "
                                             f"source {ref!r} is recorded without a version (the audit reports it) "
                                             "and every column is flagged")
    if not matches:
        warning = (
            f"source {ref!r} is not registered in {settings.store}; it is recorded without a version "
            f"(register it with 'tdprov source add' so that the audit can trace the data to it)"
        )
        return unversioned, (), warning
    record = max(matches, key=lambda s: sortable_time(s.record.registered_at)).record
    namespace, name = dataset_from_uri(record.location) if record.location else (SOURCE_NAMESPACE, record.name)
    return DatasetRecord(name=name, digest=None, version=record.digest, namespace=namespace), record.masked_columns, None


def declare_source(step: StepRun, settings: Settings, ref: str, warn: Callable[[str], None]) -> tuple[str, ...]:
    """Add the source ``ref`` that an asset of ``step`` declares (``provenance_asset(source=...)``) to the step's
    inputs, once per step (staged with the step's next event), logging through ``warn`` a source that is not
    registered or whose record cannot be read.

    Returns the columns the source's record flags as personal or confidential (none when it is not registered,
    every one when the records cannot be read).
    """
    source, flagged, warning = source_input(settings, ref)
    if warning:
        warn(warning)
    if all((i.namespace, i.name) != (source.namespace, source.name) for i in step.inputs):
        step.inputs.append(source)
    return flagged
