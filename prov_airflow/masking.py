"""Failure samples of the Airflow operators: their size and the columns they mask.

Flagged columns travel downstream through XCom: a tdprov task pushes the columns it knows to be
personal or confidential (``masked_columns``, its schemas' flags, its named source records' flags and
those of its upstream tdprov tasks) under ``tdprov_flagged_columns``; a task that reads its XCom masks them too.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from prov_common.config import flag
from prov_common.quality.samples import DEFAULT_SAMPLE_ROWS, check_sample_rows, column_names

FLAGS_XCOM_KEY = "tdprov_flagged_columns"


def _flag_names(value: Any) -> set[str]:
    """The columns in a pulled ``tdprov_flagged_columns``: a task's list, or a mapped task's list of its map
    indexes' lists."""
    if not isinstance(value, list | tuple):
        return set()
    return set().union(*(_flag_names(v) if isinstance(v, list | tuple) else {str(v)} for v in value if v is not None))


@dataclass(frozen=True)
class SampleOptions:
    """How a failed validation's sample is kept: its size (``0``: none) and the columns it masks.

    Columns flagged by the schema, listed in ``masked_columns`` (``"*"``: every column) or flagged by a
    registered source record of the dataset (named in ``source_records``, or found by the dataset's
    digest or location in the store of ``tdprov_conn_id``) show ``***``.
    """

    sample_rows: int = DEFAULT_SAMPLE_ROWS
    masked_columns: tuple[str, ...] = ()
    source_records: tuple[str, ...] = ()
    tdprov_conn_id: str | None = None
    public_columns: tuple[str, ...] = ()
    raw_samples: bool = False
    declared_masked: tuple[str, ...] = ()

    @classmethod
    def of(cls, where: str, *, sample_rows: int = DEFAULT_SAMPLE_ROWS, masked_columns: Iterable[str] | str = (),
           source_records: Iterable[str] | str = (), tdprov_conn_id: str | None = None,
           public_columns: Iterable[str] | str = (), raw_samples: bool = False) -> "SampleOptions":
        masked = tuple(sorted(column_names(masked_columns)))
        return cls(check_sample_rows(sample_rows, where), masked, tuple(sorted(column_names(source_records))), tdprov_conn_id,
                   tuple(sorted(column_names(public_columns))), flag(raw_samples, f"raw_samples of {where}"), masked)

    def validate(self, df: Any, schema: Any) -> Any:
        """Validate ``df``: private by default (see :func:`prov_common.quality.validate`); the task's own
        ``masked_columns`` must name columns of ``df``."""
        from prov_common.quality import validate
        from prov_common.quality.samples import check_known_columns, data_index_names

        check_known_columns(self.declared_masked, [*map(str, df.columns), *data_index_names(df)], "masked_columns", "the table")
        return validate(df, schema, sample_rows=self.sample_rows, masked_columns=self.masked_columns,
                        public_columns=self.public_columns, raw_samples=self.raw_samples)

    def _settings(self, call: Any, **kwargs: Any) -> Any:
        """``call(settings, store=opener, **kwargs)`` with the tdprov settings of the connection and the
        opener of its store."""
        from prov_airflow.hooks.provenance import ProvenanceHook

        hook = ProvenanceHook(self.tdprov_conn_id)
        return call(hook.get_settings(), store=hook.get_conn, **kwargs)

    def mask(self, result: Any, digest: str, uri: str | None, log: Any) -> Any:
        """``result`` with the columns its source records flag masked (the store is read only for a sample)."""
        from prov_common.sources.masking import mask_by_sources

        if not result.has_samples:
            return result
        return self._settings(lambda settings, store: mask_by_sources(result, settings, refs=self.source_records,
                                                                      digest=digest, uri=uri, warn=log.warning,
                                                                      store=store))

    def with_refs(self, refs: Iterable[str]) -> "SampleOptions":
        """These options with more source records (names or digests) to apply."""
        return replace(self, source_records=tuple(dict.fromkeys((*self.source_records, *refs))))

    def with_flags(self, context: Any, upstream_task_ids: Iterable[str], log: Any) -> "SampleOptions":
        """These options masking also what upstream tdprov tasks flagged and what the named records flag."""
        from prov_common.sources.masking import source_masking

        flagged = set(self.masked_columns)
        for task_id in upstream_task_ids:
            flagged |= _flag_names(context["ti"].xcom_pull(task_ids=task_id, key=FLAGS_XCOM_KEY))
        if self.source_records:
            masking = self._settings(source_masking, refs=self.source_records)
            if masking.warning:
                log.warning("tdprov: %s", masking.warning)
            flagged |= set(masking.columns)
        return replace(self, masked_columns=tuple(sorted(flagged)))

    def push_flags(self, context: Any, schemas: Iterable[Any]) -> None:
        """Push the columns this task knows to be flagged, for the tasks that read its XCom."""
        from prov_common.quality import load_schema
        from prov_common.quality.validate import flagged_columns

        flagged = set(self.masked_columns).union(*(flagged_columns(load_schema(s)) for s in schemas if s is not None))
        if flagged:
            context["ti"].xcom_push(key=FLAGS_XCOM_KEY, value=sorted(flagged))
