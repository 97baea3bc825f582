"""Per-asset provenance settings, read from the asset's definition metadata (no I/O here).

``metadata={"pandera_schema": schema}`` declares the Pandera schema (a ``DataFrameSchema``, a
``DataFrameModel`` class or ``"pkg.module:Name"``); ``provenance_asset`` fills the other keys.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dagster import MetadataValue

from prov_common.config import check_flag, check_granularity, flag, unknown_keys
from prov_common.errors import BadInputError
from prov_common.quality.samples import DEFAULT_SAMPLE_ROWS, check_sample_rows

QualityPolicy = Literal["fail", "block", "warn", "record"]
QUALITY_POLICIES: tuple[str, ...] = ("fail", "block", "warn", "record")
"""What a failed Pandera validation does (it is always recorded: event, bundle, metadata):

fail    the step fails with a clear error; nothing is written (the default, as Pandera does).
block   the data is written; the asset's blocking Pandera check fails with severity ERROR, so
        downstream assets in the run do not execute.
warn    the data is written; the check fails with severity WARN and a warning is logged.
record  the data is written; the check result is recorded with severity WARN, nothing is logged.
"""

SCHEMA_KEY = "pandera_schema"
POLICY_KEY = "tdprov/quality_policy"
SOURCE_KEY = "tdprov/source"
OWNERS_KEY = "tdprov/owners"
MASKED_KEY = "tdprov/masked_columns"
PUBLIC_KEY = "tdprov/public_columns"
RAW_SAMPLES_KEY = "tdprov/raw_samples"
SAMPLE_ROWS_KEY = "tdprov/sample_rows"
TRAINING_KEY = "tdprov/training"  # metadata or tag: the asset trains a model (jobType TRAINING)
GRANULARITY_KEY = "granularity"  # "row": record the asset's row set, for 'tdprov contains'
GRANULARITY_ALIAS = "tdprov/granularity"  # the same as GRANULARITY_KEY, named as the other tdprov/ keys are
SNAPSHOT_KEY = "tdprov/snapshot"  # keep a content-addressed copy of what the asset wrote, for 'tdprov checkout'
def check_policy(policy: str, where: str) -> QualityPolicy:
    """``policy`` if it is one of :data:`QUALITY_POLICIES`, else a clear error naming ``where``."""
    if policy not in QUALITY_POLICIES:
        raise BadInputError(
            f"quality policy {policy!r} of {where} is not one of {', '.join(QUALITY_POLICIES)}",
            fix="use quality_policy='fail' (default), 'block', 'warn' or 'record'",
        )
    return policy  # type: ignore[return-value]


@dataclass(frozen=True)
class AssetProvenance:
    """What the asset's metadata asks of the IO manager."""

    schema: Any = None
    policy: QualityPolicy = "fail"
    source: str | None = None
    owners: tuple[str, ...] = ()
    masked_columns: tuple[str, ...] = ()
    sample_rows: int = DEFAULT_SAMPLE_ROWS
    training: bool = False
    public_columns: tuple[str, ...] = ()
    raw_samples: bool = False
    granularity: str = "column"
    snapshot: bool | None = None  # None: the store's setting (TDPROV_SNAPSHOT / the IO manager's ``snapshot``)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None, where: str,
                      tags: Mapping[str, str] | None = None) -> "AssetProvenance":
        """What an asset's metadata (and its tags: ``tdprov/training``) ask of its output; a bad value is refused
        naming ``where``."""
        meta = dict(metadata or {})
        unknown_keys((key for key in meta if str(key).startswith("tdprov/")), _known_metadata_keys(),
                     f"the metadata of {where}")
        policy = check_policy(str(raw_value(meta.get(POLICY_KEY)) or "fail"), where)
        source = raw_value(meta.get(SOURCE_KEY))
        rows = raw_value(meta.get(SAMPLE_ROWS_KEY))
        snapshot = raw_value(meta.get(SNAPSHOT_KEY))
        return cls(
            schema=raw_value(meta.get(SCHEMA_KEY)),
            policy=policy,
            source=str(source) if source else None,
            owners=names(raw_value(meta.get(OWNERS_KEY))),
            masked_columns=names(raw_value(meta.get(MASKED_KEY))),
            sample_rows=check_sample_rows(DEFAULT_SAMPLE_ROWS if rows is None else rows, where),
            training=marks_training(meta, tags, where),
            public_columns=names(raw_value(meta.get(PUBLIC_KEY))),
            raw_samples=flag(raw_value(meta.get(RAW_SAMPLES_KEY)), RAW_SAMPLES_KEY),
            granularity=check_granularity(_granularity(meta, where) or "column", where),
            snapshot=None if snapshot is None else check_flag(snapshot, SNAPSHOT_KEY, where),
        )


def _granularity(meta: Mapping[str, Any], where: str) -> Any:
    """``granularity`` or its alias ``tdprov/granularity``; both with different values is an error."""
    bare, prefixed = raw_value(meta.get(GRANULARITY_KEY)), raw_value(meta.get(GRANULARITY_ALIAS))
    if bare is not None and prefixed is not None and bare != prefixed:
        raise BadInputError(f"{where} sets {GRANULARITY_KEY}={bare!r} and {GRANULARITY_ALIAS}={prefixed!r}.",
                            fix=f"keep one of them ({GRANULARITY_ALIAS} is the same as {GRANULARITY_KEY})")
    return bare if bare is not None else prefixed


@functools.cache
def _known_metadata_keys() -> frozenset[str]:
    """The ``tdprov/*`` metadata keys that tdprov reads or writes (imported on use: those modules import this one)."""
    from prov_dagster import metadata, masking
    from prov_dagster.graphs import READ_KEY

    return frozenset({POLICY_KEY, SOURCE_KEY, OWNERS_KEY, MASKED_KEY, PUBLIC_KEY, RAW_SAMPLES_KEY, SAMPLE_ROWS_KEY,
                      TRAINING_KEY, GRANULARITY_ALIAS, SNAPSHOT_KEY, masking.FLAGGED_KEY, READ_KEY,
                      metadata.SCHEMA_CHECKS_KEY, metadata.DIGEST_KEY, metadata.DIGEST_KIND_KEY, metadata.DATA_KEY,
                      metadata.NAMESPACE_KEY, metadata.BUNDLE_KEY, metadata.RECORDED_KEY, metadata.NOT_RECORDED_KEY, metadata.SPOOLED_KEY,
                      "tdprov/columns", "tdprov/pandera", "tdprov/pandera_passed"})


def names(value: str | Iterable[Any] | None) -> tuple[str, ...]:
    """Owners or columns given as one name (``"team:ml"``) or as many: one string is one name, never its letters."""
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(str(name) for name in value)


def marks_training(metadata: Mapping[str, Any] | None, tags: Mapping[str, str] | None, where: str) -> bool:
    """Whether an asset's metadata (``provenance_asset(training=True)``) or tags (``{"tdprov/training": "true"}``)
    mark it as one that trains a model; a value that is no yes/no value (``"ture"``) is refused naming ``where``
    (an empty tag value is no mark)."""
    marked = False
    for found in (raw_value((metadata or {}).get(TRAINING_KEY)), (tags or {}).get(TRAINING_KEY)):
        if found is not None and found != "":
            marked = check_flag(found, TRAINING_KEY, where) or marked
    return marked


def raw_value(value: Any) -> Any:
    """The plain value of a Dagster ``MetadataValue`` (or the value itself)."""
    return value.value if isinstance(value, MetadataValue) else value
