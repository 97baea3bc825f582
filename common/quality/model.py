"""Results of a Pandera validation (no I/O here)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pandas as pd

from prov_common.quality.samples import mask_sample, samples_parquet

CheckStatus = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class CheckOutcome:
    """Outcome of one check of a schema.

    name: the check as Pandera reports it (e.g. ``greater_than_or_equal_to(0)``, ``not_nullable``,
    ``dtype('int64')``, ``column_in_dataframe``); checks Pandera names alike on one column (or the table) with their
    ``check_number`` (``<lambda>#0``, ``<lambda>#1``).
    column: the column or index level checked; ``None`` for a check on the whole table.
    status: ``pass``, ``fail`` or ``skip`` (not run, e.g. because its column is missing).
    passed: ``status == "pass"``.
    failure_count: number of failure cases Pandera found for this check.
    """

    name: str
    column: str | None
    passed: bool
    failure_count: int
    status: CheckStatus = "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "column": self.column,
            "passed": self.passed,
            "failureCount": self.failure_count,
            "status": self.status,
        }


@dataclass(frozen=True)
class QualityResult:
    """Result of validating one DataFrame against one Pandera schema.

    ``null_counts``: column -> number of missing values (for the ``dataQualityMetrics`` facet).
    ``failure_sample`` holds at most ``sample_rows`` failure cases (Pandera's failure-case columns, all
    values as text, masked columns shown as ``***``); it never goes into an event, only into the bundle.
    ``index_names``: the index levels of the validated frame when its index is data (``()`` for a
    default RangeIndex), so that masking a level also hides the row labels of the sample.
    """

    passed: bool
    schema_name: str
    schema_digest: str
    checks: tuple[CheckOutcome, ...]
    failure_count: int
    rows: int
    null_counts: dict[str, int] = field(default_factory=dict)
    failure_sample: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)
    index_names: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def has_samples(self) -> bool:
        """Whether the validation failed and kept failure cases to store."""
        return not self.passed and not self.failure_sample.empty

    def masked(self, columns: Iterable[str] | str) -> "QualityResult":
        """This result with the sample values of ``columns`` (``"*"``: every column) shown as ``***``."""
        return replace(self, failure_sample=mask_sample(self.failure_sample, columns, self.index_names))

    def samples_parquet(self) -> bytes:
        """The failure sample as Parquet, in the one column layout every producer stores."""
        return samples_parquet(self.failure_sample)

    @property
    def failed_checks(self) -> tuple[CheckOutcome, ...]:
        """Checks that did not pass (failed or skipped)."""
        return tuple(c for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no failure sample), keyed as in the ``tdprov_pandera`` facet."""
        return {
            "schemaName": self.schema_name,
            "schemaDigest": self.schema_digest,
            "passed": self.passed,
            "failureCount": self.failure_count,
            "rows": self.rows,
            "checks": [c.to_dict() for c in self.checks],
        }
