"""``@provenance_task`` (also ``@task.provenance``): a TaskFlow task for pandas that records its data.

DataFrames passed in (through XCom or as arguments) are hashed as the task's inputs; a returned
DataFrame is hashed (and validated against ``schema``) as its output; so is each DataFrame in a list
or dict passed or returned. They are named after the XCom that carries them
(``xcom://<dag_id>/<task_id>/<key>``, with the map index of a mapped task), so the output of one task
and the input of the next are the same dataset version and lineage runs across the DAG. Everything is
recorded in the task's lineage bundle by the listener, and given to the official OpenLineage provider
as well.
"""
from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from airflow.providers.common.compat.sdk import AirflowException, task_decorator_factory
from airflow.providers.standard.decorators.python import _PythonDecoratedOperator

from prov_common.lineage.datasets import DatasetRef
from prov_common.quality.mask_key import check_mask_key

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


@dataclass(frozen=True)
class _Source:
    """The XCom an argument's value comes from."""

    task_id: str
    key: str = "return_value"
    mapped: bool = False  # the upstream task is mapped: its XCom is one value per map index
    split: bool = False  # the upstream pushes a returned dict key by key (multiple_outputs)
    index: int | None = None  # an expanded argument: the element of the XCom this map index was given

    def ref(self, dag_id: str, item: object = None) -> DatasetRef:
        """The dataset of the DataFrame at ``item`` of the value (None: the value itself)."""
        map_index, key, parts = -1, self.key, []
        for step in (self.index, item):
            if step is None:
                continue
            if self.mapped and map_index < 0 and isinstance(step, int):  # the first step into a mapped task's XCom
                map_index = step
            elif self.split and key == "return_value" and not parts and isinstance(step, str):
                key = step  # the dict a multiple_outputs task returned: each entry is an XCom of its own
            else:
                parts.append(step)
        return xcom_dataset(dag_id, self.task_id, key, map_index, parts)


def _xcom_source(value: Any) -> _Source | None:
    """The XCom an operator argument (an ``XComArg`` of an upstream task) stands for, else None."""
    operator, key = getattr(value, "operator", None), getattr(value, "key", None)
    task_id = getattr(operator, "task_id", None)
    if not task_id or not isinstance(key, str | None):
        return None
    return _Source(task_id, key or "return_value", mapped=bool(getattr(operator, "is_mapped", False)),
                   split=bool(getattr(operator, "multiple_outputs", False)))


def _frames(value: Any) -> Iterator[tuple[object, pd.DataFrame]]:
    """The DataFrames in a value, one at a time: the value itself (item None), or the DataFrames among a
    dict's values (by key) or a list's elements (by index), a mapped task's XComs included."""
    if isinstance(value, pd.DataFrame):
        yield None, value
    elif isinstance(value, Mapping):
        yield from ((key, frame) for key, frame in value.items() if isinstance(frame, pd.DataFrame))
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
        yield from ((index, frame) for index, frame in enumerate(value) if isinstance(frame, pd.DataFrame))


def _position(names: list[str], name: str, map_index: int, length: Callable[[str], int]) -> int:
    """The element of argument ``name`` that map index ``map_index`` is given by ``expand(**names)``
    (Airflow's order: the last argument varies fastest)."""
    for other in reversed(names):
        if other == name:
            return map_index if other == names[0] else map_index % length(other)
        map_index //= length(other)
    raise KeyError(name)


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

    def _arguments(self) -> dict[str, Any]:
        """Argument name -> value (``arg<i>`` for a positional argument beyond the signature)."""
        names = self._parameter_names()
        values = {names[i] if i < len(names) else f"arg{i}": v for i, v in enumerate(self.op_args or ())}
        values.update(self.op_kwargs or {})
        return values

    def _sources(self) -> dict[str, _Source]:
        """Argument name -> the XCom it comes from, taken before XCom arguments are resolved."""
        sources = {name: _xcom_source(value) for name, value in self._arguments().items()}
        return {name: source for name, source in sources.items() if source is not None}

    def _expanded_sources(self, context: Any) -> dict[str, _Source]:
        """The XComs that a mapped task instance's expanded arguments come from, each with the element this
        map index was given (Airflow builds the instance from the values, so ``_sources`` does not see them)."""
        map_index = _map_index(context)
        mapped = self.dag.task_dict.get(self.task_id) if map_index >= 0 and self.has_dag() else None
        expanded = getattr(getattr(mapped, "op_kwargs_expand_input", None), "value", None)
        if not isinstance(expanded, Mapping):  # not mapped, or expand_kwargs(): named after this task
            return {}
        names, lengths = list(expanded), {}

        def length(name: str) -> int:
            if name not in lengths:
                arg = expanded[name]
                lengths[name] = len(arg.resolve(context) if _xcom_source(arg) else arg)
            return lengths[name]

        try:
            return {name: dataclasses.replace(source, index=_position(names, name, map_index, length))
                    for name, arg in expanded.items() if (source := _xcom_source(arg)) is not None}
        except Exception as exc:  # noqa: BLE001 - provenance never fails a task
            self.log.warning("tdprov: task %r: the XComs its expanded arguments come from are not known (%s: %s); "
                             "they are recorded as arguments of this task", self.task_id, type(exc).__name__, exc)
            return {}

    def _record(self, lineage: Any, ref: DatasetRef, frame: pd.DataFrame, schema: Any, samples: SampleOptions,
                what: str, *, output: bool = False) -> list[str]:
        """Hash ``frame`` into ``lineage`` as ``ref`` (validated against ``schema`` when given); its failure, if any."""
        from prov_common.quality import load_schema

        if schema is None:
            (lineage.outputs if output else lineage.inputs).append(
                hashed_ref(lineage, ref, frame, self.tdprov_granularity))
            return []
        result = validate_into(lineage, frame, load_schema(schema), ref, self.on_failure, samples, self.log,
                               output=output, granularity=self.tdprov_granularity)
        return [] if result.passed else [failure_message(what, result)]

    def execute(self, context: Any) -> Any:
        if self.schema is not None or self.input_schemas:
            check_mask_key()  # a wrong TDPROV_MASK_KEY is named before the task's work, not when a check first fails
        lineage = self.record_lineage()
        sources = {**self._tdprov_sources, **self._expanded_sources(context)}
        samples = self.samples.with_flags(context, {source.task_id for source in sources.values()}, self.log)
        samples.push_flags(context, [self.schema, *self.input_schemas.values()])
        failures = []
        known_inputs = len(lineage.inputs)
        for name, value in self._arguments().items():
            source = sources.get(name) or _Source(self.task_id, f"argument.{name}")
            for item, frame in _frames(value):
                what = f"input {name!r}" + ("" if item is None else f" [{item!r}]")
                failures += self._record(lineage, source.ref(self.dag_id, item), frame, self.input_schemas.get(name),
                                         samples, what)
        if failures and self.on_failure == "fail":
            raise AirflowException("; ".join(failures))
        value = super().execute(context)
        # the inputs' source records apply to what the task made of them
        read = [r.digest.digest for r in lineage.inputs[known_inputs:] if r.digest is not None]
        map_index = _map_index(context)
        own = _Source(self.task_id, mapped=map_index >= 0, split=bool(self.multiple_outputs),
                      index=map_index if map_index >= 0 else None)
        for item, frame in _frames(value):
            what = "output" + ("" if item is None else f" [{item!r}]")
            failures += self._record(lineage, own.ref(self.dag_id, item), frame, self.schema, samples.with_refs(read),
                                     what, output=True)
        if failures:
            if self.on_failure == "fail":
                raise AirflowException("; ".join(failures))
            self.log.warning("%s (on_failure='warn': the task succeeds)", "; ".join(failures))
        return value


def _map_index(context: Any) -> int:
    """The map index of the running task instance; -1 when it is not mapped."""
    map_index = getattr(context["ti"], "map_index", -1)
    return map_index if isinstance(map_index, int) else -1


def provenance_task(python_callable: Callable | None = None, multiple_outputs: bool | None = None,
                    **kwargs: Any) -> Any:
    """TaskFlow decorator recording the DataFrames a task reads and returns (with ``schema`` validation).

    ``schema``: Pandera schema (object or ``"pkg.mod:Schema"``) for the returned DataFrame (each one, when a
    list or dict of them is returned); ``input_schemas``: ``{argument name: schema}``; ``on_failure``: ``fail`` (default) or ``warn``;
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
