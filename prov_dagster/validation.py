"""An asset output checked against its Pandera schema under its quality policy: the one path that the IO manager
(a DataFrame it writes) and ``ProvenanceResource.record`` (a table the asset wrote itself) share."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import NoReturn

import pandas as pd
from dagster import Failure

from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.quality.failed import failed_schema_text
from prov_common.quality.model import QualityResult
from prov_common.quality.samples import check_known_columns, data_index_names
from prov_common.sources.masking import mask_by_sources
from prov_common.sources.model import ALL_COLUMNS
from prov_dagster.metadata import output_metadata
from prov_dagster.model import DatasetRecord
from prov_dagster.policy import AssetProvenance
from prov_dagster.recorder import StepRun
from prov_dagster.sources import SourceListing


class PanderaValidationError(BadInputError):
    """An asset's output failed its Pandera schema under the ``fail`` quality policy."""


@dataclass(frozen=True)
class Checked:
    """The Pandera outcome of one output: ``quality`` (``None`` without a schema) and whether the ``fail`` policy
    refuses it."""

    quality: QualityResult | None
    policy: str

    @property
    def refused(self) -> bool:
        return self.quality is not None and not self.quality.passed and self.policy == "fail"


def check_output(df: pd.DataFrame, wants: AssetProvenance, masked: Iterable[str]) -> Checked:
    """Validate ``df`` against the asset's schema (none: nothing to check), masking ``masked`` in the samples."""
    if wants.schema is None:
        return Checked(None, wants.policy)
    from prov_common.quality.validate import validate  # Pandera loads for an asset that declares a schema

    check_known_columns(wants.masked_columns, [*map(str, df.columns), *data_index_names(df)], "masked_columns", "the asset's output")
    return Checked(validate(df, wants.schema, masked_columns=set(masked), sample_rows=wants.sample_rows,
                            public_columns=wants.public_columns, raw_samples=wants.raw_samples), wants.policy)


def masked_samples(checked: Checked, wants: AssetProvenance, settings: Settings, *, digest: str, uri: str | None,
                   warn: Callable[[str], None], listing: SourceListing) -> tuple[Checked, set[str]]:
    """``checked`` with the sample columns that the dataset's registered source flags shown as ``***``, and the
    columns the schema flags as personal or confidential (``listing``: the step's source records, as for
    :func:`~prov_common.sources.masking.source_masking`, read only when there is a sample to store). When they cannot
    be read every value is masked, and ``warn`` says so unless a warning of the step said already that they cannot be
    read (a declared source's: every column is flagged)."""
    if checked.quality is None:
        return checked, set()
    from prov_common.quality.schema import load_schema
    from prov_common.quality.validate import flagged_columns

    quality = checked.quality
    try:
        error: Exception | None = listing.read()[1] if quality.has_samples else None
    except Exception as exc:  # noqa: BLE001 - as source_masking: reading the records never breaks the step; all masked
        error = exc
    if error is not None:
        if not listing.told:
            warn(listing.unreadable(error, "every value of the failure sample is masked"))
        quality = quality.masked((ALL_COLUMNS,))
    else:
        quality = mask_by_sources(quality, settings, digest=digest, uri=uri, warn=warn, listing=listing)
    return replace(checked, quality=quality), set(flagged_columns(load_schema(wants.schema)))


def quality_error(what: str, quality: QualityResult) -> BadInputError:
    """The error naming ``what`` (an asset, a partition) and the checks it failed."""
    return BadInputError(
        f"{failed_schema_text(what, quality.to_dict())}.",
        fix="fix the data or the schema, or set quality_policy='block', 'warn' or 'record' on the asset",
    )


def refuse(step: StepRun, record: DatasetRecord, what: str, policy: str) -> NoReturn:
    """Seal the step's run FAIL with the output that failed its schema under the ``fail`` policy, and fail the step
    once the FAIL event is delivered: the ``Failure``'s metadata then says where the record is (the bundle, or the
    spool while the store is unreachable, or why none could be written)."""
    assert record.quality is not None
    failure = quality_error(what, record.quality)
    bundle = step.fail(failed_output=record, error=failure)
    step.recorder.wait()
    error = PanderaValidationError(f"{failure.what} The failure was recorded in bundle {bundle}.", fix=failure.fix)
    raise Failure(description=str(error), metadata=output_metadata(record, policy, bundle, step.recorder.status(),
                                                                              step.recorder.namespace)) from error


def warn_written(what: str, checked: Checked, warn: Callable[[str], None]) -> None:
    """Log a failed validation that the ``warn`` policy lets through."""
    if checked.quality is not None and not checked.quality.passed and checked.policy == "warn":
        warn(f"{quality_error(what, checked.quality).what} (policy 'warn': written anyway)")
