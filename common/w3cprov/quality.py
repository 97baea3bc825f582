"""Quality results found in OpenLineage facets, as plain measurements (no I/O, no PROV yet).

Sources: this project's ``tdprov_pandera`` dataset facet, the standard ``dataQualityAssertions``
(input) facet, the ``dataQualityMetrics`` facet and the run-level ``test`` facet (TestRunFacet).
A check becomes a boolean measurement (``True`` = passed); a metric becomes a numeric one.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prov_common.text import first_of, shown_value
from prov_common.w3cprov.events import DatasetState, RunState, check_label, items_of

_METRIC_FIELDS = ("rowCount", "bytes", "fileCount")
_COLUMN_METRIC_FIELDS = ("nullCount", "distinctCount", "sum", "count", "min", "max")


@dataclass(frozen=True)
class Measurement:
    """One quality measurement: a check outcome (``value`` bool) or a metric value (number)."""

    source: str  # pandera | dataQualityAssertions | test | dataQualityMetrics
    kind: str  # "check" or "metric"
    name: str
    column: str | None
    value: bool | int | float | None
    status: str | None = None  # pass | fail | skip | error (checks)
    failure_count: int | None = None
    severity: str | None = None
    schema: str | None = None
    description: str | None = None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def recorded_int(value: Any) -> int | None:
    """``value`` when it is an integer (never a boolean), else None: a count as any producer may record it."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> int | float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


PANDERA_FACET = "tdprov_pandera"


_CHECKS_NAMED = 5  # failed checks that a contradiction names, the rest counted


def pandera_faults(facet: Any, field: str = PANDERA_FACET) -> list[str]:
    """Why a recorded Pandera result (a ``tdprov_pandera`` facet, or the ``tdprov/pandera`` metadata Dagster keeps of it:
    ``field``) lacks an outcome, or contradicts itself, each naming the field and its value in JSON: its ``passed``
    missing or not a boolean (text such as ``"false"``, null, a number: any producer can send the facet), or true while
    the ``passed`` of one of its ``checks`` is false (a contradiction: ``passed`` says every check passed), naming
    those checks; it or one of its checks true while its ``failureCount`` is not 0 (a contradiction too: a count
    above 0 or none at all, :func:`_counted_failures`), naming both fields (the facet's count only when no check failed);
    its own false while its ``failureCount`` is 0 and every check passed (a contradiction too, :func:`_nothing_failed`:
    a failed outcome that names nothing failing); or the ``passed`` of one of its ``checks`` not
    a boolean, naming the check; none when the result is absent (empty) or agrees with its checks and counts, every
    ``passed`` true or false. Its PROV states each field as recorded: a ``passed`` that is no boolean as a measurement with no value (status ``unknown``), as :func:`_check` makes it."""
    return [text for text, _ in _faults_of(facet, field)]


def pandera_contradicts(facet: Any) -> bool:
    """Whether a recorded Pandera result (a ``tdprov_pandera`` facet) contradicts itself, as :func:`pandera_faults`
    names it: its ``passed``, or a check's, true beside a failed check or failure cases, or its own false with nothing
    failing. Told from what the facet records, never from the fault's text, which holds the checks' names."""
    return any(contradiction for _, contradiction in _faults_of(facet, PANDERA_FACET))


def _faults_of(facet: Any, field: str) -> list[tuple[str, bool]]:
    """:func:`pandera_faults`, each with whether it is a contradiction (:func:`_contradiction`)."""
    if not isinstance(facet, dict):
        return [(f"{field} is {shown_value(facet)}, not a JSON object", False)] if facet is not None else []
    found = []
    if facet and not isinstance(facet.get("passed"), bool):
        found.append((f"{field}.passed is missing" if "passed" not in facet
                      else f"{field}.passed is {shown_value(facet['passed'])}, not true or false", False))
    checks = [(f"{field}.checks[{at}]", check) for at, check in enumerate(items_of(facet, "checks")) if isinstance(check, dict)]
    failed = [_check_passed(at, check) for at, check in checks if check.get("passed") is False]
    if facet.get("passed") is True and failed:
        found.append(_contradiction(f"{field}.passed", True, f"{first_of(failed, _CHECKS_NAMED)} "
                                                             f"{'is' if len(failed) == 1 else 'are'} false"))
    elif _counted_failures(facet):  # a failed check names the contradiction already
        found.append(_contradiction(f"{field}.passed", True, f"{field}.failureCount is {shown_value(facet['failureCount'])}"))
    elif _nothing_failed(facet):
        found.append(_contradiction(f"{field}.passed", False, f"{field}.failureCount is 0 and it names no failed check"))
    for at, check in checks:
        if _counted_failures(check):
            found.append(_contradiction(_check_passed(at, check), True,
                                        f"{at}.failureCount is {shown_value(check['failureCount'])}"))
        if not isinstance(check.get("passed"), bool):
            found.append((f"{_check_passed(at, check)} is {shown_value(check['passed']) if 'passed' in check else 'missing'}"
                          f"{', not true or false' if 'passed' in check else ''}", False))
    return found


def _contradiction(passed: str, said: bool, against: str) -> tuple[str, bool]:
    """The fault of a Pandera result, or one of its checks, whose ``passed`` field (``passed``: where it is recorded) says
    ``said`` while what it recorded beside it says otherwise (``against``), as every contradiction is worded, marked as
    one (:func:`_faults_of`)."""
    return f"{passed} is {'true' if said else 'false'}, but {against}", True


def _nothing_failed(facet: dict[str, Any]) -> bool:
    """Whether a Pandera result (``facet``) says it failed while naming nothing that failed: its ``failureCount`` is 0 and
    each of its ``checks`` (none, or a list of them) passed with no failure case counted. Such a result contradicts
    itself (:func:`pandera_contradicts`) and stays failed, as it says. A missing count says nothing, and a check whose
    ``passed`` is false with 0 failure cases is a check that did not run (tdprov records a skipped check so), not a
    contradiction: only the facet itself is judged."""
    checks = facet.get("checks", [])
    return (facet.get("passed") is False and "failureCount" in facet and recorded_int(facet["failureCount"]) == 0
            and isinstance(checks, list)
            and all(isinstance(c, dict) and c.get("passed") is True and not _counted_failures(c) for c in checks))


def _check_passed(at: str, check: dict[str, Any]) -> str:
    """The ``passed`` field of the check recorded at ``at`` (``tdprov_pandera.checks[1]``), as a fault names it."""
    return f"{at}.passed of check {check_label(str(check.get('name')), check.get('column'))}"


def _counted_failures(result: dict[str, Any]) -> bool:
    """Whether a Pandera result or one of its checks (``result``) says it passed while its ``failureCount`` is not 0: more
    failure cases, or no count at all (negative, text, a float); a check that only warns records none. Such a result
    contradicts itself as one with a failed check does (:func:`pandera_contradicts`), and failed. A missing count says nothing."""
    return result.get("passed") is True and "failureCount" in result and recorded_int(result["failureCount"]) != 0


def pandera_fault(facet: Any, field: str = PANDERA_FACET) -> str | None:
    """:func:`pandera_faults` in one text (``; `` between them), as the audit and ``tdprov show`` name it; None when
    there is none."""
    return "; ".join(pandera_faults(facet, field)) or None


def pandera_outcome(facet: Any) -> bool | None:
    """The outcome of a recorded Pandera result (see :func:`pandera_faults`): its ``passed`` when that and the ``passed``
    of each of its checks are booleans and agree, with their counts; False when its own is false, one of its checks
    failed, or it or a check says it passed with failure cases (a known failure stays a failure: a failed check is a
    failed validation, though its own ``passed`` is true or none), else None
    (no known outcome: its own ``passed``, or a check's, is none)."""
    if not isinstance(facet, dict):
        return None
    if isinstance(facet.get("passed"), bool) and (facet["passed"] is False or not pandera_faults(facet)):
        return facet["passed"]
    return False if _counted_failures(facet) or any(isinstance(c, dict) and (c.get("passed") is False or _counted_failures(c))
                                                   for c in items_of(facet, "checks")) else None


_STATUSES = frozenset({"pass", "fail", "skip"})
_ERRORED = _STATUSES | {"error"}


def _check(source: str, name: str | None, column: str | None, passed: Any, status: Any = None, *,
           statuses: frozenset[str] = _STATUSES, **extra: Any) -> Measurement | None:
    """A check outcome; an explicit ``status`` of ``skip`` or ``error`` (the check raised: mapping 7 on, where
    ``statuses`` holds it), or no boolean outcome, records no value."""
    if not name:
        return None
    status = status if status in statuses else None
    if isinstance(passed, bool) and status not in ("skip", "error"):
        return Measurement(source, "check", name, column, passed, status or ("pass" if passed else "fail"), **extra)
    return Measurement(source, "check", name, column, None, status or "unknown", **extra)


def _pandera(facet: dict[str, Any]) -> Iterator[Measurement]:
    if not facet:
        return
    schema = _text(facet.get("schemaName")) or "schema"
    whole = _check("pandera", f"pandera:{schema}", None, facet.get("passed"),
                   failure_count=recorded_int(facet.get("failureCount")), schema=schema)
    if whole:
        yield whole
    for check in items_of(facet, "checks"):
        if isinstance(check, dict):
            found = _check("pandera", _text(check.get("name")), _text(check.get("column")), check.get("passed"),
                           check.get("status"), failure_count=recorded_int(check.get("failureCount")), schema=schema)
            if found:
                yield found


def _assertions(facet: dict[str, Any], errors: bool) -> Iterator[Measurement]:
    """One check per assertion; from mapping 7 on (``errors``), an assertion's ``params.status`` of ``error`` (a check
    that raised: tdprov records it with ``success`` false, the field being required) and its ``description``."""
    for item in items_of(facet, "assertions"):
        if isinstance(item, dict):
            name = _text(item.get("name")) or _text(item.get("assertion"))
            params = item.get("params") if isinstance(item.get("params"), dict) else {}
            more = {"statuses": _ERRORED, "description": _text(item.get("description"))} if errors else {}
            found = _check("dataQualityAssertions", name, _text(item.get("column")), item.get("success"),
                           params.get("status") if errors else None, severity=_text(item.get("severity")), **more)
            if found:
                yield found


def _metrics(facet: dict[str, Any]) -> Iterator[Measurement]:
    for key in _METRIC_FIELDS:
        if (value := _number(facet.get(key))) is not None:
            yield Measurement("dataQualityMetrics", "metric", key, None, value)
    columns = facet.get("columnMetrics")
    for column in sorted(columns) if isinstance(columns, dict) else ():
        metrics = columns[column] if isinstance(columns[column], dict) else {}
        for key in _COLUMN_METRIC_FIELDS:
            if (value := _number(metrics.get(key))) is not None:
                yield Measurement("dataQualityMetrics", "metric", key, column, value)


def dataset_measurements(dataset: DatasetState, *, errors: bool = True) -> list[Measurement]:
    """Measurements that a dataset's own facets carry (``errors``: checks that raised told apart, mapping 7 on)."""
    found = [
        *_pandera(dataset.facet("tdprov_pandera")),
        *_assertions(dataset.facet("dataQualityAssertions"), errors),
        *_metrics(dataset.facet("dataQualityMetrics")),
    ]
    return _unique(found)


def run_test_measurements(run: RunState, *, errors: bool = True,
                          origin: bool = True) -> list[tuple[Measurement, list[DatasetState]]]:
    """Checks of the run-level ``test`` facet (TestRunFacet), each with the outputs it concerns:
    those named by ``params.dataset`` (``name`` or ``namespace/name``), else all of the run's outputs
    (``errors``: a test of status ``error``, a check that raised, told apart, with its description; mapping 7 on).
    ``origin`` (mapping 8 on): a test keeps the Pandera schema its ``params.schema`` names (tdprov writes it on a Pandera
    check's test only), and tests of one name and column are one check only when they name the same schema: an asset
    check ``not_null`` beside a Pandera frame-wide check ``not_null`` are two (before, the first was kept)."""
    found: dict[tuple[str, str | None, str | None], tuple[Measurement, list[DatasetState]]] = {}
    for test in items_of(run.run_facet("test"), "tests"):
        if not isinstance(test, dict) or not _text(test.get("name")):
            continue
        params = test.get("params") if isinstance(test.get("params"), dict) else {}
        status = _text(test.get("status"))
        more = {"statuses": _ERRORED, "description": _text(test.get("description"))} if errors else {}
        measurement = _check("test", test["name"], _text(params.get("column")), {"pass": True, "fail": False}.get(status or ""),
                             status, severity=_text(test.get("severity")),
                             schema=_text(params.get("schema")) if origin else None, **more)
        if measurement is None:
            continue
        named = [d for d in run.outputs if params.get("dataset") in _labels(d)]
        found.setdefault((measurement.name, measurement.column, measurement.schema), (measurement, named or list(run.outputs)))
    return list(found.values())


PanderaCheck = tuple[str | None, str, str | None]
"""A Pandera result recorded on a version: (schema name, check name, column); a schema's overall outcome is
(schema name, ``pandera:<schema>``, None)."""


def pandera_checks(found: Iterable[Measurement]) -> set[PanderaCheck]:
    """The Pandera results among the measurements ``found``."""
    return {(m.schema, m.name, m.column) for m in found if m.source == "pandera"}


def repeats_pandera(source: str, name: str, column: str | None, pandera: set[PanderaCheck], schema: str | None = None) -> bool:
    """Whether the check ``name`` (on ``column``) of a ``dataQualityAssertions`` facet or the run's ``test`` facet
    (``source``) only repeats one of the Pandera results ``pandera`` on the same version, as tdprov (and the Airflow
    operator before it) writes each into both: named as the check, ``SCHEMA.CHECK`` or ``SCHEMA.COLUMN.CHECK`` (a test
    also ``DATASET:CHECK`` or ``DATASET:COLUMN:CHECK``), on the same column, or as the schema for its overall outcome;
    a test only when it names that schema (``schema``: its ``params.schema``, which tdprov writes on a Pandera check's
    test only), or, naming none (another producer's, an event written by hand), only in a form that names the schema
    (the schema itself, ``SCHEMA.CHECK``). Any other check (a Dagster asset check, though named as a frame-wide Pandera
    check; another producer's) is a result of its own."""
    for known, check, on in pandera:
        if column != on or (source == "test" and schema is not None and schema != known):
            continue
        if check.startswith("pandera:"):
            names, tail = {check, known}, f":{known}"
        else:
            names = {check, f"{known}.{on}.{check}" if on else f"{known}.{check}"}
            tail = f":{on}:{check}" if on else f":{check}"
        if source == "test" and schema is None:  # no schema named: only a name that holds it
            if name == known or name.startswith(f"{known}.") and name in names:
                return True
            continue
        if name in names or (source == "test" and name.endswith(tail)):
            return True
    return False


RunTests = list[tuple[Measurement, list[DatasetState]]]
"""A run's tests, each with the datasets it concerns (:func:`run_test_measurements`)."""


def other_checks(run: RunState, dataset: DatasetState, tests: RunTests | None = None) -> list[Measurement]:
    """The checks recorded on ``dataset`` (an input or output of ``run``) besides its Pandera schema's: the assertions
    of its ``dataQualityAssertions`` facet and the run's tests that concern it, each once, less those that only
    repeat a Pandera check (:func:`repeats_pandera`). Every reader of check results (show, the audit) takes them
    from here, as the PROV mapping states them. ``tests``: :func:`run_test_measurements` of ``run``, where the caller
    reads the checks of several of its datasets (read once, not once per dataset: a run of many outputs has as many
    tests)."""
    own = dataset_measurements(dataset)
    pandera = pandera_checks(own)
    found = [m for m in own if m.source == "dataQualityAssertions"]
    found += [m for m, concerned in (run_test_measurements(run) if tests is None else tests)
              if any(d is dataset for d in concerned)]
    return [m for m in found if not repeats_pandera(m.source, m.name, m.column, pandera, m.schema)]


def _labels(dataset: DatasetState) -> tuple[str, ...]:
    """The ways a test's ``params.dataset`` may name a dataset."""
    return (dataset.name, f"{dataset.namespace}/{dataset.name}", f"{dataset.namespace}/{dataset.name.lstrip('/')}")


def _unique(found: list[Measurement]) -> list[Measurement]:
    seen: dict[tuple[Any, ...], Measurement] = {}
    for measurement in found:
        seen.setdefault((measurement.source, measurement.kind, measurement.name, measurement.column), measurement)
    return list(seen.values())
