"""PanderaValidationOperator: validate a table against a Pandera schema and record the result."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import pandas as pd
from airflow.providers.common.compat.sdk import AirflowException, BaseOperator

from prov_common.errors import BadInputError
from prov_common.lineage.datasets import DatasetRef
from prov_common.lineage.naming import XCOM_SCHEME
from prov_common.quality.failed import failed_schema_text
from prov_common.quality.mask_key import check_mask_key
from prov_common.quality.samples import DEFAULT_SAMPLE_ROWS

from prov_airflow.capture import data_clients, reading_data_with
from prov_airflow.lineage import LineageMixin
from prov_airflow.masking import SampleOptions
from prov_airflow.rows import GRANULARITY_ATTR, hashed_ref, mark_task
from prov_airflow.settings import ListenerLimits
from prov_airflow.strict import require_store
from prov_airflow.tables import Table, as_frame, read_table

OnFailure = Literal["fail", "warn"]


def xcom_dataset(dag_id: str, task_id: str, key: str = "return_value", map_index: int = -1,
                 parts: Sequence[object] = ()) -> DatasetRef:
    """The dataset that an XCom value stands for: ``xcom://<dag_id>/<task_id>/<key>``; the XCom of map index
    ``i`` of a mapped task is ``.../<task_id>/<i>/<key>``, a DataFrame inside a value (a list's element, a
    dict's entry) ``.../<key>/<index or name>``. Named as written, never parsed as a URI: a DAG id keeps its case
    (a host's would not) and a key holding ``#``, ``?`` or ``%`` keeps them, so two DAGs or two entries are never
    one dataset."""
    mapped = f"/{map_index}" if map_index >= 0 else ""
    inside = "".join(f"/{part}" for part in parts)
    return DatasetRef(namespace=f"{XCOM_SCHEME}://{dag_id}", name=f"/{task_id}{mapped}/{key}{inside}")


def check_on_failure(value: str) -> OnFailure:
    if value not in ("fail", "warn"):
        raise BadInputError(f"on_failure={value!r} is not supported", fix="use on_failure='fail' or 'warn'")
    return value  # type: ignore[return-value]


def validate_into(lineage: Any, table: Table, schema: Any, ref: DatasetRef, on_failure: OnFailure,
                  samples: SampleOptions, log: Any, *, uri: str | None = None, output: bool = False,
                  granularity: str = "column", file_sha256: str | None = None) -> Any:
    """Hash ``table`` as read and validate it as a DataFrame; add the dataset (digest, the SHA-256 of the file it
    was read from, quality, masked samples; its row set at row granularity) to ``lineage``; returns the result."""
    from prov_common.bundle import samples_path

    ref = hashed_ref(lineage, ref, table, granularity, file_sha256)
    digest = ref.digest
    result = samples.validate(as_frame(table), schema)
    result = samples.mask(result, digest.digest, uri, log)
    samples_file = None
    if result.has_samples:
        path = samples_path(ref.namespace, ref.name, version=digest.digest)
        # refused: the result is recorded, its samples are not, never over others'
        if lineage.attachments.add_or_warn(path, result.samples_parquet(), ref.namespace, ref.name, log.warning):
            samples_file = path
    ref = dataclasses.replace(ref, digest=digest, quality=result, samples_file=samples_file,
                              severity="error" if on_failure == "fail" else "warn")
    (lineage.outputs if output else lineage.inputs).append(ref)
    return result


def failure_message(what: str, result: Any) -> str:
    """``what`` failed ``result``'s schema (a :class:`~prov_common.quality.QualityResult`), said as Dagster's step
    failure and ``pandera`` check say it: the checks that failed first, then those that could not run."""
    return failed_schema_text(what, result.to_dict())


class PanderaValidationOperator(LineageMixin, BaseOperator):
    """Validate a table against a Pandera schema; the result is recorded in the task's lineage bundle.

    :param schema: a ``DataFrameSchema``/``DataFrameModel`` or its import path (``"pkg.mod:Schema"``).
    :param source: path, ``file://`` or ``s3://`` URI of a Parquet, CSV or JSON-lines table (templated), read
        as ``tdprov hash`` reads it, so the version validated is the file's recorded version.
    :param xcom_task_id: instead of ``source``, validate the DataFrame this task pushed to XCom.
    :param xcom_key: XCom key of that DataFrame (default ``return_value``).
    :param on_failure: ``fail`` fails the task on any failed check; ``warn`` logs and succeeds.
    :param masked_columns: columns whose values never appear in the failure sample (``"*"``: every column).
    :param sample_rows: failure cases kept in the bundle (default 20); ``0`` stores no sample.
    :param public_columns: columns declared non-personal, whose failing values are shown; every other
        value is ``***`` with a keyed digest, unless the schema declares it ``metadata={"personal": False}``.
    :param raw_samples: show the values of every column not flagged or masked (opt-in).
    :param source_records: names or digests of registered source records whose personal or
        confidential columns are masked; records whose digest or location is the table's apply as well.
    :param tdprov_conn_id: ``tdprov`` connection (store for strict mode and source records); default ``[tdprov]``.
    :param granularity: ``row`` records the table's row set in the bundle, for ``tdprov contains``.

    Returns (XCom) ``{"passed", "failure_count", "digest", "schema"}``. Implements
    ``get_openlineage_facets_on_complete`` so the official OpenLineage provider sees the quality facets.
    """

    template_fields: Sequence[str] = ("source", "xcom_task_id", "xcom_key")
    ui_color = "#e8f4e8"

    def __init__(self, *, schema: Any, source: str | None = None, xcom_task_id: str | None = None,
                 xcom_key: str = "return_value", on_failure: str = "fail", masked_columns: Iterable[str] | str = (),
                 sample_rows: int = DEFAULT_SAMPLE_ROWS, source_records: Iterable[str] | str = (),
                 tdprov_conn_id: str | None = None, public_columns: Iterable[str] | str = (), raw_samples: bool = False,
                 granularity: str = "column", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        mark_task(self, granularity, None)
        if (source is None) == (xcom_task_id is None):
            raise BadInputError(f"task {self.task_id!r}: give exactly one of source= or xcom_task_id=",
                                fix="source='s3://bucket/table.parquet' or xcom_task_id='make_frame'")
        self.schema = schema
        self.source = source
        self.xcom_task_id = xcom_task_id
        self.xcom_key = xcom_key
        self.on_failure = check_on_failure(on_failure)
        self.tdprov_conn_id = tdprov_conn_id
        self.samples = SampleOptions.of(f"task {self.task_id!r}", sample_rows=sample_rows, masked_columns=masked_columns,
                                        source_records=source_records, tdprov_conn_id=tdprov_conn_id,
                                        public_columns=public_columns, raw_samples=raw_samples)

    def _load(self, context: Any) -> tuple[Table, DatasetRef, str | None, str | None]:
        """The table, its dataset, its URI and the SHA-256 of its file (the last two None for an XCom value)."""
        if self.source is not None:
            table, uri, sha256 = read_table(self.source)
            return table, DatasetRef.from_uri(uri), uri, sha256
        df = context["ti"].xcom_pull(task_ids=self.xcom_task_id, key=self.xcom_key)
        if not isinstance(df, pd.DataFrame):
            raise BadInputError(
                f"XCom {self.xcom_key!r} of task {self.xcom_task_id!r} is {type(df).__name__}, not a DataFrame",
                fix="return a pandas DataFrame from that task, or validate a file with source=")
        return df, xcom_dataset(self.dag_id, self.xcom_task_id, self.xcom_key), None, None

    def execute(self, context: Any) -> dict[str, Any]:
        from prov_common.quality import load_schema

        require_store(self.tdprov_conn_id)
        check_mask_key()  # a wrong TDPROV_MASK_KEY is named now, not when a check first fails
        with reading_data_with(data_clients(ListenerLimits.from_conf())):  # an s3:// source: [tdprov] data_aws_conn_id
            table, ref, uri, sha256 = self._load(context)
            samples = self.samples.with_flags(context, [self.xcom_task_id] if self.xcom_task_id else [], self.log)
            result = validate_into(self.record_lineage(), table, load_schema(self.schema), ref, self.on_failure, samples,
                                   self.log, uri=uri, granularity=getattr(self, GRANULARITY_ATTR, "column"),
                                   file_sha256=sha256)
        summary = {"passed": result.passed, "failure_count": result.failure_count,
                   "digest": self.record_lineage().inputs[-1].digest.digest, "schema": result.schema_name}
        if not result.passed:
            message = failure_message(ref.label, result)
            if self.on_failure == "fail":
                raise AirflowException(message)
            self.log.warning("%s (on_failure='warn': the task succeeds)", message)
        return summary
