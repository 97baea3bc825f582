"""The events of one run as bundle bytes: normalised, ordered, canonical JSON lines; PROV derived from them."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from prov_common.bundle.layout import SMALL_OBJECT_LIMIT
from prov_common.canonical_json import RepeatedKeyError, canonical_bytes, canonical_form, loads
from prov_common.errors import BadInputError
from prov_common.hashing.raw import short_digest
from prov_common.w3cprov.event_lines import EventBytes, fold_event_lines, part_lines
from prov_common.w3cprov.events import (TERMINAL, CheckedEvent, RunState, check_event, fold_checked, folds_local_names,
                                        folds_versions_apart, order_head, parse_time)

def event_dict(event: Any) -> dict[str, Any]:
    """A plain JSON dict of an event: dicts pass through, openlineage-python objects are serialised."""
    if isinstance(event, Mapping):
        return dict(event)
    try:
        from openlineage.client.serde import Serde

        raw = Serde.to_dict(event)
    except Exception as exc:  # noqa: BLE001 - anything Serde cannot handle is bad input here
        raise BadInputError(
            f"event of type {type(event).__name__} is not an OpenLineage RunEvent.", fix="pass RunEvent objects or dicts"
        ) from exc
    if not isinstance(raw, dict):
        raise BadInputError(f"event of type {type(event).__name__} is not an OpenLineage RunEvent.")
    return raw


def is_terminal(event: Mapping[str, Any]) -> bool:
    return event.get("eventType") in TERMINAL


def run_id_of(event: Mapping[str, Any]) -> str:
    run = event.get("run")
    run_id = run.get("runId") if isinstance(run, Mapping) else None
    if not isinstance(run_id, str) or not run_id:
        raise BadInputError("event has no run.runId.", fix="only OpenLineage RunEvents belong to a run's bundle")
    return run_id


def event_digest(event: Mapping[str, Any]) -> str:
    """The digest that names ``event`` in its staged key (``staging/<run>/<eventTime>-<digest>.json``): the first 32 hex
    of the BLAKE3 of its canonical JSON, the bytes its bundle's ``events.jsonl`` holds for it."""
    return short_digest(canonical_bytes(event))


def line_digests(data: bytes | EventBytes) -> frozenset[str]:
    """The :func:`event_digest` of each event of the ``events.jsonl`` bytes ``data`` as a bundle holds them (one canonical
    JSON event a line), taken from each line's bytes unparsed: a line not in canonical form gives another digest than
    its event's. A line longer than :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT` is left out, read past but
    neither held nor digested: no staged event is that long, so its digest would match none (a planted line of
    gigabytes costs the time to read it, not the memory). The lines are taken one at a time (:func:`~prov_common.w3cprov.event_lines.part_lines`), never all
    held beside ``data``; ``data`` held whole, or read in parts (then a part and a line of it held)."""
    source = EventBytes.of(data)
    return frozenset(short_digest(line) for *_, line in part_lines(source.parts, SMALL_OBJECT_LIMIT) if line and line.strip())


class LineDigests:
    """:func:`line_digests` of an events file taken as a fold reads its lines (:meth:`line`, the fold's ``each_line``,
    given each line that is not blank, none longer than a fold takes), so that the file is not read again for them:
    ``found`` once the fold has read every line (:meth:`done`), else None."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.found: frozenset[str] | None = None
        self.read = 0  # bytes of the lines given, each with its line end

    def line(self, line: bytes) -> None:
        self.taken.add(short_digest(line))
        self.read += len(line) + 1

    def done(self, size: int | None = None) -> None:
        """The fold has ended; ``size``: the file's, when the fold may have stopped before its end without an error
        (:func:`fold_written_lines` at a raw ``\r``): ``found`` only when the lines given are every byte of it (a file
        with a blank line, or one ending ``\r\n``, is then left to be read again)."""
        if size is None or self.read == size:
            self.found = frozenset(self.taken)


def parent_of(event: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(run id, job namespace, job name) of the run the event's ``parent`` run facet names, ``None`` when it names
    none in full."""
    run = event.get("run")
    return parent_in(run.get("facets") if isinstance(run, Mapping) else None)


def parent_in(facets: Any) -> tuple[str, str, str] | None:
    """(run id, job namespace, job name) of the run the ``parent`` facet of the run facets ``facets`` names (an
    event's, or a run's folded ones), ``None`` when it names none in full."""
    parent = facets.get("parent") if isinstance(facets, Mapping) else None
    if not isinstance(parent, Mapping) or not isinstance(parent.get("run"), Mapping) or not isinstance(parent.get("job"), Mapping):
        return None
    found = (parent["run"].get("runId"), parent["job"].get("namespace"), parent["job"].get("name"))
    return found if all(isinstance(v, str) and v for v in found) else None  # type: ignore[return-value]


def job_of(event: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(namespace, name) of the event's job, ``None`` when it names none in full."""
    job = event.get("job") if isinstance(event, Mapping) else None
    found = (job.get("namespace"), job.get("name")) if isinstance(job, Mapping) else (None, None)
    return found if all(isinstance(v, str) and v for v in found) else None  # type: ignore[return-value]


def airflow_dag_run_of(event: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(DAG id, DAG run id) of the Airflow DAG run that the event's ``airflow`` run facet (a task try's) or
    ``airflowDagRun`` run facet (the OpenLineage provider's DAG run events) names (``dagRun.dag_id``, else
    ``dag.dag_id``, and ``dagRun.run_id``); None when it names none in full."""
    run = event.get("run") if isinstance(event, Mapping) else None
    return dag_run_in(run.get("facets") if isinstance(run, Mapping) else None)


def dag_run_in(facets: Any) -> tuple[str, str] | None:
    """:func:`airflow_dag_run_of` of the run facets ``facets`` (an event's, or a run's folded ones)."""
    if not isinstance(facets, Mapping):
        return None
    for name in ("airflow", "airflowDagRun"):
        facet = facets.get(name)
        if not isinstance(facet, Mapping) or not isinstance(dag_run := facet.get("dagRun"), Mapping):
            continue
        dag = facet.get("dag")
        found = (dag_run.get("dag_id") or (dag.get("dag_id") if isinstance(dag, Mapping) else None), dag_run.get("run_id"))
        if all(isinstance(v, str) and v for v in found):
            return found  # type: ignore[return-value]
    return None


def another_dag_run(mine: tuple[str, str] | None, other: tuple[str, str] | None) -> str | None:
    """The DAG run id of ``other`` when it is another Airflow DAG run of the DAG of ``mine`` (each (DAG id, DAG run
    id), :func:`airflow_dag_run_of`), else None (the same one, another DAG's, or either None)."""
    if mine is None or other is None or other[0] != mine[0] or other == mine:
        return None
    return other[1]


def dag_run_pair(mine: tuple[str, str] | None, other: tuple[str, str] | None) -> tuple[str, str] | None:
    """(the DAG run id of ``mine``, that of ``other``) when ``other`` is another Airflow DAG run of the DAG of ``mine``
    (two DAG runs at one logical date, :func:`another_dag_run`), else None: the pair a warning or finding names
    (:func:`in_dag_run`), the sealed run's first."""
    other_id = another_dag_run(mine, other)
    return None if mine is None or other_id is None else (mine[1], other_id)


def with_parent(parent_run_id: str | None) -> str:
    """A run's parent as a warning names it: 'with parent run ID', or 'with no parent run'."""
    return f"with parent run {parent_run_id}" if parent_run_id else "with no parent run"


@dataclass(frozen=True)
class RunIdentity:
    """Which run a run id's events are of: its job (namespace, name) and its parent run (run id, job namespace, job
    name; None: none named). Another run given the same run id is of another job (a DAG run of Airflow DAG 'a.b.1'
    and try 1 of mapped task 'b' of DAG 'a', map index 0) or has a parent run of another job (task 'c' of DAG 'a.b'
    and task 'b.c' of DAG 'a'); a parent of the same job at another run id (a DAG run cleared while its task ran) is
    the same run's. Two Airflow DAG runs at one logical date (``dag.test()`` or ``airflow dags test`` run twice, a DAG
    run deleted and triggered again) give their tries one run id too: events naming another Airflow DAG run of the
    same DAG (``dag_run``: DAG id and DAG run id, :func:`airflow_dag_run_of`) than the run's are another run's."""

    job: tuple[str, str] | None
    parent: tuple[str, str, str] | None
    dag_run: tuple[str, str] | None = None

    @classmethod
    def of(cls, terminal: Mapping[str, Any] | None, events: Iterable[tuple[str, Mapping[str, Any]]]) -> RunIdentity:
        """The run of a ``terminal`` event (None: none) and the ``events`` (what names each, event) staged or sealed
        with it: the job its terminal event names, else its earliest event's; the parent run its terminal event names,
        else the earliest of that job's events that names one."""
        timed = sorted(((parse_time(e.get("eventTime"), what, sealed=True), i), e) for i, (what, e) in enumerate(events))
        job = job_of(terminal) or next((j for _, e in timed if (j := job_of(e)) is not None), None)
        parent = parent_of(terminal) if terminal is not None else None
        if parent is None:
            parent = next((p for _, e in timed if job_of(e) in (None, job) and (p := parent_of(e)) is not None), None)
        dag_run = airflow_dag_run_of(terminal) or next((d for _, e in timed if (d := airflow_dag_run_of(e))), None)
        return cls(job, parent, dag_run)

    @classmethod
    def folded(cls, state: RunState) -> RunIdentity:
        """The run of the folded ``state`` of its events: its job, and the parent run its folded run facets name (the
        last ``parent`` facet in the events' order, whose run id a manifest's ``parentRunId`` gives). Nothing is parsed
        again, where :meth:`of` takes the events themselves."""
        return cls((state.job_namespace, state.job_name), parent_in(state.run_facets), dag_run_in(state.run_facets))

    def is_other(self, event: Mapping[str, Any]) -> bool:
        """Whether ``event`` is of another run than this one that was given the same run id: it names a parent run of
        another job, or it is of another job and only one of the two names a parent run (a DAG run and a task). A job
        named otherwise under one parent, or with no parent on either side, is this run's: some producers rename a
        run's job as it goes (OpenLineage Spark appends the output's name to it). An event naming another Airflow DAG
        run than this run's (:meth:`other_dag_run`) is another run's whatever its job."""
        if self.other_dag_run(event) is not None:
            return True
        job, parent = job_of(event), parent_of(event)
        if None not in (self.parent, parent):
            return parent[1:] != self.parent[1:]  # type: ignore[index]
        return (self.parent is None) != (parent is None) and None not in (self.job, job) and job != self.job

    def other_dag_run(self, event: Mapping[str, Any] | None) -> str | None:
        """The Airflow DAG run id ``event`` names when this run names another DAG run of the same DAG (two DAG runs at
        one logical date), else None (the same one, another DAG's, or either names none)."""
        return another_dag_run(self.dag_run, airflow_dag_run_of(event))

    def fix_for(self, event: Mapping[str, Any] | None) -> str:
        """The fix of ``event`` being another run's at this run's id: :data:`SAME_DATE_FIX` when it names another
        Airflow DAG run, else :data:`SHARED_RUN_ID_FIX`."""
        return SAME_DATE_FIX if self.other_dag_run(event) is not None else SHARED_RUN_ID_FIX

    def named(self) -> str:
        """This run as a warning names it: 'of job NS/NAME with parent run ID of job NS/NAME' (or 'with no parent run'),
        then 'in Airflow DAG run RUN_ID' when its events name one."""
        job = "/".join(self.job) if self.job else "(none)"
        if self.parent is None:
            text = f"of job {job} {with_parent(None)}"
        else:
            text = f"of job {job} with parent run {self.parent[0]} of job {self.parent[1]}/{self.parent[2]}"
        return f"{text} {in_dag_run(self.dag_run[1])}" if self.dag_run else text


def in_dag_run(dag_run: str) -> str:
    """An Airflow DAG run as a warning names it: 'in Airflow DAG run RUN_ID'."""
    return f"in Airflow DAG run {dag_run}"


LATE_EVENT_FIX = ("a run's events must end with its terminal event: emit nothing for a run after it (re-run the step to "
                  "record what came late)")
SHARED_RUN_ID_FIX = (
    "give each run its own run id. Airflow (and its OpenLineage provider) makes a task run's job name and run id from "
    "'<dag_id>.<task_id>' and its logical date, try and map index, so task 'c' of DAG 'a.b' and task 'b.c' (task 'c' "
    "of task group 'b') of DAG 'a' are one job, and one run at one logical date: rename a DAG or task group so that no "
    "task's '<dag_id>.<task_id>' is another's; a DAG run's run id is made from '<dag_id>.<clear number>', so DAG "
    "'a.b.1' and mapped task 'b' of DAG 'a' share one too (try 1, map index 0): rename a DAG whose id ends in '.<number>'")
"""What to do when two runs were given one run id (their events are of different jobs, or name parents of different
jobs)."""
SAME_DATE_FIX = (
    "give each DAG run its own logical date. The OpenLineage provider makes a try's run id from its DAG, task, logical "
    "date, try and map index (and a DAG run's from its DAG, logical date and clear number), so two DAG runs of one DAG "
    "at one logical date ('dag.test()' or 'airflow dags test' run twice, a DAG run deleted and triggered again) give "
    "their tries one run id: trigger the next run at another logical date, or clear the earlier DAG run (its tries then "
    "get new run ids) rather than make another at its date. The later run's events are kept, staged under "
    "staging/<run id>/ in no bundle (or under the sealed bundle's refused/), and 'tdprov audit' names them; to record "
    "that run, run it again at another logical date")
"""What to do when two Airflow DAG runs at one logical date were given one run id (their events name different
``dagRun.run_id``)."""


def order_events(events: Iterable[Any], *, sealed: bool = False) -> list[dict[str, Any]]:
    """Events as JSON dicts, identical ones once, sorted by eventTime (START before terminal at equal times;
    ``sealed``: read from a sealed bundle, see :func:`~prov_common.w3cprov.events.parse_time`); :class:`BadInputError`
    naming the first (``#index`` among them, once each) that is not a run event
    (:func:`~prov_common.w3cprov.events.check_event`: an ``eventType`` that is a list, a ``run`` that is no object)."""
    return order_checked(events, sealed=sealed).events()


@dataclass(frozen=True)
class OrderedEvents:
    """A run's events as :func:`order_checked` gives them: ``checked``, in order, each checked once, and ``lines``, the
    canonical JSON each was read back from, where writing its event again gives the same bytes
    (:func:`~prov_common.canonical_json.canonical_form`; None: written again)."""

    checked: list[CheckedEvent]
    lines: list[bytes | None]

    def events(self) -> list[dict[str, Any]]:
        """The events as JSON dicts, in order."""
        return [cast(dict[str, Any], checked.event) for checked in self.checked]

    def jsonl(self) -> bytes:
        """:func:`events_jsonl` of the events, each line made once."""
        return b"".join((canonical_bytes(c.event) if line is None else line) + b"\n" for line, c in zip(self.lines, self.checked))


def order_checked(events: Iterable[Any], *, sealed: bool = False) -> OrderedEvents:
    """:func:`order_events` as the events were checked to order them, so that folding them checks none again
    (:func:`fold_one_run`), with the canonical JSON they were read back from."""
    unique: dict[bytes, tuple[dict[str, Any], bool]] = {}
    for event in events:
        raw = event_dict(event)
        # round-trip through canonical JSON: what is stored is exactly what PROV is derived from
        data, same = canonical_form(raw)
        if data not in unique:
            unique[data] = (loads(data), same)
    # each checked as a run event before its fields order it: an event of any other shape is refused by name
    checked = [check_event(i, e, sealed=sealed) for i, (e, _) in enumerate(unique.values())]
    keyed = [(*order_head(c), d, c, same) for (d, (_, same)), c in zip(unique.items(), checked)]
    keyed.sort(key=lambda item: item[:3])
    return OrderedEvents([item[3] for item in keyed], [item[2] if item[4] else None for item in keyed])


def events_jsonl(events: Iterable[Mapping[str, Any]]) -> bytes:
    """One canonical JSON event per line, each line ending with ``\\n``."""
    return b"".join(canonical_bytes(e) + b"\n" for e in events)


def event_listed(event: Mapping[str, Any]) -> dict[str, Any]:
    """What ``tdprov show`` lists of an event, verified or claimed: ``eventType``, ``eventTime``, ``producer``."""
    return {k: event.get(k) for k in ("eventType", "eventTime", "producer")}


class _AsWritten:
    """Whether the lines of an ``events.jsonl`` folded line by line are as :func:`events_jsonl` writes the events
    :func:`order_events` gives (each line canonical JSON ending with ``\\n``, none blank or repeated, in order), told
    from each line and its checked event as the fold gives them (:meth:`line`, then :meth:`event` when it is not a
    repeat); ``listed``: :func:`event_listed` of each event, in order."""

    def __init__(self) -> None:
        self.pending: bytes | None = None  # the line given, its event not yet
        self.last: tuple[Any, ...] | None = None
        self.size, self.written = 0, True
        self.listed: list[dict[str, Any]] = []

    def line(self, line: bytes) -> None:
        self.written = self.written and self.pending is None  # else the line before was a repeat: no event came
        self.pending, self.size = line, self.size + len(line) + 1

    def event(self, checked: CheckedEvent) -> None:
        key = (*order_head(checked), self.pending)
        self.written = self.written and self.pending == canonical_bytes(checked.event) and (self.last is None or key > self.last)
        self.pending, self.last = None, key
        self.listed.append(event_listed(checked.event))

    def of(self, size: int | None) -> bool:
        """Whether the lines were as written, and every byte of the ``size`` bytes of the file (None: not known, so
        not) is one of them or their line end, counted as one byte (none blank, none ending in ``\\r\\n``; a file
        holding a ``\\r`` is not given)."""
        return self.written and self.pending is None and self.size == size


class _RawReturn(Exception):
    """A part of an ``events.jsonl`` holds a raw ``\r``: not as :func:`events_jsonl` writes it."""


def _without_raw_return(parts: Iterable[bytes]) -> Iterator[bytes]:
    """``parts`` as they come, up to one that holds a ``\r`` (:class:`_RawReturn`): a line cut at a lone ``\r`` is
    counted as one cut at ``\n`` (no canonical line holds a raw ``\r``)."""
    for part in parts:
        if b"\r" in part:
            raise _RawReturn
        yield part


def fold_written_lines(data: bytes | EventBytes, name: str, *, local_names: bool, versions_apart: bool,
                       each_line: Callable[[bytes], None] | None = None) -> tuple[RunState, list[dict[str, Any]]] | None:
    """The one run of a sealed bundle's ``events.jsonl`` bytes ``data`` (named ``name``; held whole, or read in parts
    of a file of the size ``data.size``) and what ``tdprov show`` lists of each of its events (:func:`event_listed`),
    folded line by line (:func:`~prov_common.w3cprov.event_lines.fold_event_lines`: what is held grows with the run's
    PROV and count of events, not with the file), when they are the bytes :func:`events_jsonl` writes of the events
    :func:`order_events` gives (so the events give the same run folded whole); None when they are not, or are events
    of several runs (:class:`BadInputError` for a line that is not an event). Parsing the events whole then names what
    is wrong. ``each_line``: as :func:`~prov_common.w3cprov.event_lines.fold_event_lines` takes it."""
    source, lines = EventBytes.of(data), _AsWritten()

    def line(read: bytes) -> None:
        lines.line(read)
        if each_line is not None:
            each_line(read)

    try:
        states = fold_event_lines(replace(source, parts=_without_raw_return(source.parts)), name, sealed=True,
                                  local_names=local_names, versions_apart=versions_apart, each=lines.event,
                                  each_line=line)
    except _RawReturn:
        return None
    return (states[0], lines.listed) if len(states) == 1 and lines.of(source.size) else None


def parse_events_jsonl(data: bytes | EventBytes, name: str = "events.jsonl") -> list[dict[str, Any]]:
    """:func:`parse_event_lines` of the lines of ``data``, held whole, or read in parts (the bytes then never held
    whole: :meth:`~prov_common.w3cprov.event_lines.EventBytes.lines`)."""
    return parse_event_lines(data.lines() if isinstance(data, EventBytes) else data.splitlines(), name)


def parse_event_lines(lines: Iterable[bytes], name: str = "events.jsonl") -> list[dict[str, Any]]:
    """The events of JSON ``lines`` (blank ones skipped); :class:`BadInputError` naming ``name`` and the line for one
    that is not JSON, or not a JSON object (``[1]``, ``"x"``, ``null``: no event, as an altered file may hold)."""
    numbered = numbered_event_lines(lines, name)
    if (odd := next((number for number, event in numbered if not isinstance(event, dict)), None)) is not None:
        raise BadInputError(f"{name} line {odd} is not a JSON object.")
    return [event for _, event in numbered]


def numbered_event_lines(lines: Iterable[bytes], name: str = "events.jsonl", *, once: bool = False) -> list[tuple[int, Any]]:
    """:func:`parse_event_lines` with each event's 1-based line number; ``once``: a line whose JSON gives a key twice
    in an object is refused (:meth:`~prov_common.canonical_json.RepeatedKeyError.refused`), as another producer's
    events are read."""
    events = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append((number, loads(line, once=once)))
        except RepeatedKeyError as exc:
            raise exc.refused(f"{name} line {number}") from None
        except ValueError as exc:
            raise BadInputError(f"{name} line {number} is not JSON ({exc}).") from exc
    return events


def fold_one_run(events: Iterable[CheckedEvent], *, local_names: bool = True, versions_apart: bool = True) -> RunState:
    """The run state of checked events (:func:`order_checked`) that must all belong to one run, none checked again
    (``local_names``, ``versions_apart``: see :func:`~prov_common.w3cprov.events.fold_runs`)."""
    return one_run(fold_checked(events, local_names=local_names, versions_apart=versions_apart))


def one_run(states: list[RunState]) -> RunState:
    """The one run of ``states`` folded from a bundle's events; :class:`BadInputError` for events of several runs."""
    if len(states) != 1:
        raise BadInputError(
            f"events of {len(states)} runs given ({', '.join(s.run_id for s in states[:5])}); a bundle holds one run.",
            fix="group events by run.runId and build one bundle per run",
        )
    return states[0]


def fold_bundle_events(data: bytes | EventBytes, name: str, mapping: str | None,
                       each: Callable[[CheckedEvent], None] | None = None,
                       each_line: Callable[[bytes], None] | None = None) -> RunState:
    """The one run of a sealed bundle's ``events.jsonl`` bytes (named ``name``; held whole, or read in parts), folded line by line
    (:func:`~prov_common.w3cprov.event_lines.fold_event_lines`: what is held grows with the run's PROV, not with the
    file) as the PROV ``mapping`` its manifest names folds them (None: the current one); ``each``, ``each_line``: as
    there."""
    if mapping is None:
        from prov_common.w3cprov.mapping import PROV_MAPPING

        mapping = PROV_MAPPING
    return one_run(fold_event_lines(data, name, sealed=True, local_names=folds_local_names(mapping),
                                    versions_apart=folds_versions_apart(mapping), each=each, each_line=each_line))


def prov_json(state: RunState, mapping: str) -> bytes:
    """Deterministic PROV-JSON of a run folded from its events by PROV mapping version ``mapping`` (what
    the bundle stores and verification re-derives)."""
    from prov_common.w3cprov import serialize
    from prov_common.w3cprov.mapping import runs_to_document

    return serialize(runs_to_document([state], mapping), "json")
