"""OpenLineage run events (plain JSON dicts from any producer) folded into one model per run.

No I/O. Every event is checked by :func:`prov_common.lineage.validate.parse_run_event` (the one check of
received events), so that a malformed event fails with a message naming the event and the field;
optional parts (facets, inputs, outputs) may be missing, and facets unknown.
Events of one run are applied in time order (START before COMPLETE at equal times) and facets are
merged, a later event's facet replacing an earlier one of the same name, as OpenLineage's
accumulative event model intends. Events are sorted first, so their order in the input never matters.
A dataset named at two versions (read, then read again after it changed) is two inputs, one per version; facets of
an entry that names no version apply to each (:func:`fold_runs`, ``versions_apart``).
A dataset that a producer names in ``file://localhost`` (or ``file://127.0.0.1``), or by a path not
normalised (``/data//x``), is the local file as tdprov names it (the producers of one run share one dataset).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prov_common import PRODUCER
from prov_common.errors import BadInputError
from prov_common.file_uri import local_dataset
from prov_common.lineage.facet_names import CONTENT_HASH
from prov_common.lineage.validate import TIME_FIX, timed_run_event, to_utc
from prov_common.w3cprov.identity import normal_version
from prov_common.w3cprov.ids import names_content
from prov_common.times import why_not_rfc3339
from prov_common.text import counted

TERMINAL = ("COMPLETE", "FAIL", "ABORT")
_RANK = {"START": 0, "RUNNING": 1, "OTHER": 2, "COMPLETE": 3, "FAIL": 3, "ABORT": 3}


@dataclass
class DatasetState:
    """One dataset a run read or wrote, with the facets of every event merged."""

    namespace: str
    name: str
    facets: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def facet(self, name: str) -> dict[str, Any]:
        """The facet ``name`` if it is a JSON object, else an empty dict (absent or malformed)."""
        value = self.facets.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def version(self) -> str | None:
        """``version.datasetVersion``, else this project's ``tdprov_contentHash.digest``."""
        for value in (self.facet("version").get("datasetVersion"), self.facet("tdprov_contentHash").get("digest")):
            if (version := version_text(value)) is not None:
                return version
        return None

    @property
    def names_content(self) -> bool:
        """Whether the version is a content digest tdprov vouches for: written as one (``algo:hex``) and given by
        tdprov's own ``tdprov_contentHash`` facet, or by a ``version`` facet tdprov produced. Another producer's
        ``sha256:<hex>`` with neither is a claim tdprov never checked: an opaque version id, as a Delta table's ``3``."""
        version = self.version
        return names_content(version) and self._vouched(version)

    @property
    def opaque_version(self) -> bool:
        """Whether the version is written as a content digest but names no content (:attr:`names_content`): an
        opaque version id."""
        version = self.version
        return names_content(version) and not self._vouched(version)

    def _vouched(self, version: str | None) -> bool:
        """Whether tdprov gave ``version``, this dataset's: its own ``tdprov_contentHash`` facet holds it, or a
        ``version`` facet tdprov produced does."""
        digest = self.facet(CONTENT_HASH).get("digest")
        if isinstance(digest, str) and normal_version(digest.strip()) == normal_version(version):
            return True
        return self.facet("version").get("_producer") == PRODUCER

    def count(self, field_name: str) -> int | None:
        """A count of the ``tdprov_contentHash`` facet (``rows``, ``shardCount``), see :func:`whole_count`."""
        return whole_count(self.facet("tdprov_contentHash").get(field_name))


def version_text(value: Any) -> str | None:
    """A recorded version (``version.datasetVersion``, ``tdprov_contentHash.digest``) as text: a string without its
    surrounding blanks, or a whole number's digits (``3``); None for anything else (blank, an object, a list, a decimal,
    a boolean, null: any producer can send one)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def whole_count(value: Any) -> int | None:
    """``value`` as a count to show: None unless it is a whole number of at least 0 (any producer can
    send the facets that counts come from)."""
    return value if type(value) is int and value >= 0 else None


def items_of(facet: Mapping[str, Any], field: str) -> list[Any]:
    """The items of a facet's list ``field`` (a Pandera result's ``checks``, a test facet's ``tests``): none unless it is
    a JSON array (any producer can send the facet, with a number or an object there)."""
    value = facet.get(field)
    return value if isinstance(value, list) else []


def extent_text(rows: int | None, shards: int | None) -> str | None:
    """How much data a version holds, as reports say it ("1,000 rows in 12 shards"), or None when neither is known."""
    in_shards = None if shards is None else counted(shards, "shard")
    if rows is None:
        return in_shards
    return counted(rows, "row") + (f" in {in_shards}" if in_shards else "")


def check_label(name: str, column: Any) -> str:
    """How every view names a quality check: its name, and the column it checked in brackets
    (``in_range(0, 9)[amount]``), so that one check on two columns is two checks."""
    return name + (f"[{column}]" if column else "")


@dataclass
class RunState:
    """Everything the events of one run say about it. ``started``: the time of its START, else of its earliest event
    (``start_recorded`` False)."""

    run_id: str
    job_namespace: str
    job_name: str
    state: str
    started: datetime
    ended: datetime | None
    producers: tuple[str, ...]
    run_facets: dict[str, Any]
    job_facets: dict[str, Any]
    inputs: list[DatasetState]
    outputs: list[DatasetState]
    start_recorded: bool = True

    def run_facet(self, name: str) -> dict[str, Any]:
        value = self.run_facets.get(name)
        return value if isinstance(value, dict) else {}

    def job_facet(self, name: str) -> dict[str, Any]:
        value = self.job_facets.get(name)
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class CheckedEvent:
    """A run event checked by :func:`check_event` (``index``: its place among the events read), with what orders it."""

    index: int
    event: Mapping[str, Any]
    event_type: str
    time: datetime
    run_id: str
    job: tuple[str, str]


def parse_time(value: Any, where: str, *, sealed: bool = False) -> datetime:
    """An RFC 3339 date-time as an aware UTC datetime (``sealed``: also any ISO 8601 date-time with a time, no offset
    = UTC, as a bundle sealed before event times had to be RFC 3339 may hold)."""
    if not isinstance(value, str) or not value.strip():
        raise BadInputError(f"{where}: field 'eventTime' is missing or not a string.", fix=TIME_FIX)
    moment = to_utc(value, sealed=sealed)
    if moment is None:
        raise BadInputError(f"{where}: field 'eventTime' is not an RFC 3339 date-time: {value!r:.60} ({why_not_rfc3339(value)}).",
                            fix=TIME_FIX)
    return moment


def check_event(index: int, event: Any, *, sealed: bool = False, where: str | None = None) -> CheckedEvent:
    """Check one run event (``index``: its 0-based position in the input, named in errors as ``#index`` unless
    ``where`` names its place, such as ``events.jsonl line 3``; ``sealed``: read from a sealed bundle, see
    :func:`parse_time`)."""
    where = where or f"#{index}"
    event, moment = timed_run_event(event, where=where, sealed=sealed)  # its time read once, as parse_time reads it
    job = event["job"]
    return CheckedEvent(index, event, event["eventType"], moment, event["run"]["runId"], (job["namespace"], job["name"]))


def _order_key(checked: CheckedEvent) -> tuple[Any, ...]:
    return (*order_head(checked), order_tail(checked.event))


def order_head(checked: CheckedEvent) -> tuple[datetime, int]:
    """What orders a run's events first: time, then START before the others and a terminal event last."""
    return checked.time, _RANK[checked.event_type]


def order_tail(event: Mapping[str, Any]) -> str:
    """What orders a run's events of one :func:`order_head`: the checked event's sorted JSON text."""
    return json.dumps(event, sort_keys=True, default=str)


def object_at(container: Any, key: str) -> dict[str, Any]:
    """A copy of the JSON object at ``key`` of ``container`` (an event's ``facets``, one facet of them); empty when
    ``container`` or the value there is no JSON object (any producer can send one of another shape), as
    :func:`items_of` gives a list field's items."""
    value = container.get(key) if isinstance(container, Mapping) else None
    return dict(value) if isinstance(value, Mapping) else {}


@dataclass
class _Named:
    """What a run's events say of one dataset: the facets of its entries that name no version (``common``) and each
    version they name, by version as identity compares it (:func:`~prov_common.w3cprov.identity.normal_version`)."""

    common: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, DatasetState] = field(default_factory=dict)

    def states(self, key: tuple[str, str]) -> list[DatasetState]:
        """Each version named (by version), else the dataset without a version."""
        return [self.versions[v] for v in sorted(self.versions)] or [DatasetState(*key, self.common)]


def _merge_datasets(target: dict[tuple[str, str], _Named], datasets: Any, extra_key: str, local_names: bool,
                    versions_apart: bool) -> None:
    """Merge the entries ``datasets`` of one event into ``target``. ``versions_apart``: an entry at a version merges
    into that version only, so a run that read a dataset at two versions keeps both; an entry without one applies
    to every version (False: one state per dataset, the version its last entry names, as before mapping 6)."""
    for dataset in datasets or ():
        key = local_dataset(dataset["namespace"], dataset["name"]) if local_names else (dataset["namespace"], dataset["name"])
        facets = {**object_at(dataset, "facets"), **object_at(dataset, extra_key)}
        named = target.setdefault(key, _Named())
        version = DatasetState(*key, facets).version if versions_apart else None
        if version is None:
            named.common.update(facets)
            for state in named.versions.values():
                state.facets.update(facets)
        else:
            named.versions.setdefault(normal_version(version), DatasetState(*key, dict(named.common))).facets.update(facets)


def _fold(events: list[CheckedEvent], local_names: bool = True, versions_apart: bool = True) -> RunState:
    events.sort(key=_order_key)
    return fold_ordered(events, local_names, versions_apart)


def fold_ordered(events: Iterable[CheckedEvent], local_names: bool = True, versions_apart: bool = True) -> RunState:
    """The :class:`RunState` of the checked events of one run given in their order (:func:`order_head`, then :func:`order_tail`), each applied as
    it comes and none held (``local_names``, ``versions_apart``: see :func:`fold_runs`)."""
    run_facets: dict[str, Any] = {}
    job_facets: dict[str, Any] = {}
    inputs: dict[tuple[str, str], _Named] = {}
    outputs: dict[tuple[str, str], _Named] = {}
    producers: set[str] = set()
    first = last = ended = None
    started: datetime | None = None
    for checked in events:
        event = checked.event
        run_facets.update(object_at(event["run"], "facets"))
        job_facets.update(object_at(event["job"], "facets"))
        _merge_datasets(inputs, event.get("inputs"), "inputFacets", local_names, versions_apart)
        _merge_datasets(outputs, event.get("outputs"), "outputFacets", local_names, versions_apart)
        if isinstance(event.get("producer"), str):
            producers.add(event["producer"])
        if checked.event_type == "START":
            started = checked.time if started is None else min(started, checked.time)
        if checked.event_type in TERMINAL:
            ended = checked
        first, last = first or checked, checked
    if first is None or last is None:
        raise ValueError("a run is folded from one event at least")
    return RunState(
        run_id=first.run_id,
        job_namespace=last.job[0],
        job_name=last.job[1],
        state=ended.event_type if ended else "RUNNING",
        started=first.time if started is None else started,
        ended=ended.time if ended else None,
        producers=tuple(sorted(producers)),
        run_facets=run_facets,
        job_facets=job_facets,
        inputs=[state for k in sorted(inputs) for state in inputs[k].states(k)],
        outputs=[state for k in sorted(outputs) for state in outputs[k].states(k)],
        start_recorded=started is not None,
    )


def folds_local_names(mapping: str | None) -> bool:
    """Whether bundles of PROV mapping ``mapping`` were folded with local names (from mapping 4 on)."""
    return _mapping_from(mapping, 4)


def folds_versions_apart(mapping: str | None) -> bool:
    """Whether bundles of PROV mapping ``mapping`` were folded with each version of a dataset apart (from mapping 6 on)."""
    return _mapping_from(mapping, 6)


def _mapping_from(mapping: str | None, version: int) -> bool:
    """Whether ``mapping`` names PROV mapping ``version`` or a later one: None (a bundle naming none) and the older
    versions do not; a name of no older version does."""
    return mapping is not None and mapping not in {f"tdprov-prov/{n}" for n in range(1, version)}


def fold_runs(events: Iterable[Any], *, local_names: bool = True, versions_apart: bool = True,
              sealed: bool = False, places: Sequence[str] | None = None) -> list[RunState]:
    """Check every event and fold them into one :class:`RunState` per run id (sorted by run id).
    ``local_names``: name a local file as tdprov does whatever the producer wrote (``file://localhost``, a path not
    normalised); False for a bundle sealed before this (its PROV mapping, :func:`folds_local_names`).
    ``versions_apart``: a dataset the events name at two versions is two inputs (or outputs), one per version; False
    for a bundle sealed before this, which kept the version named last (:func:`folds_versions_apart`).
    ``sealed``: the events were read from a sealed bundle (their times as :func:`parse_time` reads them).
    ``places``: where each event was read (``events.jsonl line 3``), named in errors instead of its position."""
    return fold_checked((check_event(index, event, sealed=sealed, where=places[index] if places else None)
                         for index, event in enumerate(events)), local_names=local_names, versions_apart=versions_apart)


def fold_checked(events: Iterable[CheckedEvent], *, local_names: bool = True, versions_apart: bool = True) -> list[RunState]:
    """:func:`fold_runs` of events checked already (:func:`check_event`, as ordering them checks them), in any order:
    none is checked again (``local_names``, ``versions_apart``: see :func:`fold_runs`)."""
    by_run: dict[str, list[CheckedEvent]] = {}
    for checked in events:
        by_run.setdefault(checked.run_id, []).append(checked)
    if not by_run:
        raise BadInputError("no OpenLineage run events given.", fix="pass the events of a run (JSON lines, one event per line)")
    return [_fold(by_run[run_id], local_names, versions_apart) for run_id in sorted(by_run)]
