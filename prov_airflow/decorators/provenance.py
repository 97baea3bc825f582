"""``@provenance_task`` (also ``@task.provenance``): a TaskFlow task for pandas that records its data.

DataFrames passed in (through XCom or as arguments) are hashed as the task's inputs; a returned
DataFrame is hashed (and validated against ``schema``) as its output. They are named after the XCom
that carries them (``xcom://<dag_id>/<task_id>/<key>``), so the output of one task and the input of
the next are the same dataset version and lineage runs across the DAG. Everything is recorded in the
task's lineage bundle by the listener, and given to the official OpenLineage provider as well.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
from airflow.providers.common.compat.sdk import AirflowException, task_decorator_factory
from airflow.providers.standard.decorators.python import _PythonDecoratedOperator

from prov_common.lineage.datasets import DatasetRef

from prov_airflow.lineage import LineageMixin
from prov_airflow.masking import SampleOptions
from prov_airflow.operators.pandera import (
    DEFAULT_SAMPLE_ROWS,
    check_on_failure,
    failure_message,
    validate_into,
    xcom_dataset,
)
from prov_airflow.rows import hashed_ref, mark_task
from prov_airflow.runinfo import TRAINING_ATTR


def _xcom_source(value: Any) -> tuple[str, str] | None:
    operator, key = getattr(value, "operator", None), getattr(value, "key", None)
    task_id = getattr(operator, "task_id", None)
    return (task_id, key or "return_value") if task_id and isinstance(key, str | None) else None


class _ProvenanceDecoratedOperator(LineageMixin, _PythonDecoratedOperator):
    """The operator behind ``@provenance_task``."""

    custom_operator_name = "@task.provenance"
    tdprov_granularity = "column"

    def __init__(self, *, schema: Any = None, input_schemas: Mapping[str, Any] | None = None,
                 on_failure: str = "fail", masked_columns: Iterable[str] | str = (),
                 sample_rows: int = DEFAULT_SAMPLE_ROWS, source_records: Iterable[str] | str = (),
                 tdprov_conn_id: str | None = None, public_columns: Iterable[str] | str = (), raw_samples: bool = False,
                 training: bool = False, granularity: str = "column", snapshot: bool | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        setattr(self, TRAINING_ATTR, bool(training))
        mark_task(self, granularity, snapshot)
        self.schema = schema
        self.input_schemas = dict(input_schemas or {})
        self.on_failure = check_on_failure(on_failure)
        self.samples = SampleOptions.of(f"task {self.task_id!r}", sample_rows=sample_rows, masked_columns=masked_columns,
                                        source_records=source_records, tdprov_conn_id=tdprov_conn_id,
                                        public_columns=public_columns, raw_samples=raw_samples)
        self._tdprov_sources = self._sources()

    def _parameter_names(self) -> list[str]:
        try:
            return list(inspect.signature(self.python_callable).parameters)
        except (TypeError, ValueError):
            return []

    def _sources(self) -> dict[str, tuple[str, str]]:
        """Argument name -> (upstream task id, XCom key), taken before XCom arguments are resolved."""
        names = self._parameter_names()
        sources = {}
        for index, value in enumerate(self.op_args or ()):
            source = _xcom_source(value)
            if source:
                sources[names[index] if index < len(names) else f"arg{index}"] = source
        for name, value in (self.op_kwargs or {}).items():
            source = _xcom_source(value)
            if source:
                sources[name] = source
        return sources

    def _input_frames(self) -> dict[str, pd.DataFrame]:
        names = self._parameter_names()
        frames = {names[i] if i < len(names) else f"arg{i}": v for i, v in enumerate(self.op_args or ())}
        frames.update(self.op_kwargs or {})
        return {name: value for name, value in frames.items() if isinstance(value, pd.DataFrame)}

    def _input_ref(self, name: str) -> DatasetRef:
        task_id, key = self._tdprov_sources.get(name, (self.task_id, f"argument.{name}"))
        return xcom_dataset(self.dag_id, task_id, key)

    def execute(self, context: Any) -> Any:
        from prov_common.quality import load_schema

        lineage = self.record_lineage()
        samples = self.samples.with_flags(context, {task_id for task_id, _ in self._tdprov_sources.values()}, self.log)
        samples.push_flags(context, [self.schema, *self.input_schemas.values()])
        failures = []
        known_inputs = len(lineage.inputs)
        for name, frame in self._input_frames().items():
            ref = self._input_ref(name)
            if name in self.input_schemas:
                result = validate_into(lineage, frame, load_schema(self.input_schemas[name]), ref, self.on_failure,
                                       samples, self.log, granularity=self.tdprov_granularity)
                if not result.passed:
                    failures.append(failure_message(f"input {name!r}", result))
            else:
                lineage.inputs.append(hashed_ref(lineage, ref, frame, self.tdprov_granularity))
        if failures and self.on_failure == "fail":
            raise AirflowException("; ".join(failures))
        value = super().execute(context)
        if isinstance(value, pd.DataFrame):
            ref = xcom_dataset(self.dag_id, self.task_id, "return_value")
            if self.schema is not None:
                # the inputs' source records apply to what the task made of them
                read = [r.digest.digest for r in lineage.inputs[known_inputs:] if r.digest is not None]
                result = validate_into(lineage, value, load_schema(self.schema), ref, self.on_failure,
                                       samples.with_refs(read), self.log, output=True, granularity=self.tdprov_granularity)
                if not result.passed:
                    failures.append(failure_message("output", result))
            else:
                lineage.outputs.append(hashed_ref(lineage, ref, value, self.tdprov_granularity))
        if failures:
            if self.on_failure == "fail":
                raise AirflowException("; ".join(failures))
            self.log.warning("%s (on_failure='warn': the task succeeds)", "; ".join(failures))
        return value


def provenance_task(python_callable: Callable | None = None, multiple_outputs: bool | None = None,
                    **kwargs: Any) -> Any:
    """TaskFlow decorator recording the DataFrames a task reads and returns (with ``schema`` validation).

    ``schema``: Pandera schema (object or ``"pkg.mod:Schema"``) for the returned DataFrame;
    ``input_schemas``: ``{argument name: schema}``; ``on_failure``: ``fail`` (default) or ``warn``;
    ``masked_columns``, ``public_columns``, ``raw_samples``, ``sample_rows``, ``source_records``,
    ``tdprov_conn_id``: failure samples, as for
    :class:`~prov_airflow.operators.pandera.PanderaValidationOperator`; ``training=True``: the task trains
    a model (its runs get the OpenLineage jobType TRAINING, which the audit's training sections follow);
    ``granularity="row"``: the task's DataFrames and table outlets get a row set in its bundle, for
    ``tdprov contains``; ``snapshot=True``: its outlets are kept as content-addressed copies, for
    ``tdprov checkout`` (default ``[tdprov] snapshot``).
    Any other task is marked with ``params={"tdprov_training": True}``.
    """
    return task_decorator_factory(python_callable=python_callable, multiple_outputs=multiple_outputs,
                                  decorated_operator_class=_ProvenanceDecoratedOperator, **kwargs)
