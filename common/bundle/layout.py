"""Where a bundle's objects live in the store, and what its files are called (no I/O).

::

    bundles/<run_id>/events.jsonl              the run's OpenLineage events, canonical JSON, by eventTime
    bundles/<run_id>/prov.json                 PROV-JSON derived from the events (deterministic bytes)
    bundles/<run_id>/quality/<ds>.samples.parquet   Pandera failure samples (when attached)
    bundles/<run_id>/rows/<ds>.rows.parquet    row-digest sidecars (when attached)
    bundles/<run_id>/rows/<ds>.rowset          row sets of versions recorded at row granularity
                                               (<ds>: see dataset_stem, one per dataset of the run)
    bundles/<run_id>/manifest.json             every file above with digest and size, plus the run summary
    bundles/<run_id>/statement.dsse.json       signed in-toto statement over the manifest: the commit marker
    bundles/<run_id>/indexed                   the bundle's index key, recorded once before the index entry
    index/<YYYY>/<MM>/<DD>/<YYYYMMDDTHHMMSSffffffZ>-<run_id>.json   summary, written last, once
    staging/<run_id>/<eventTime>-<digest>.json in-flight events of runs that have not ended, each signed by its writer
    staging/<run_id>/attachments/<path>        attachments waiting for the run's bundle
    staging/<run_id>/attachment-signatures/<path>.dsse   each one's size and digest, signed by its writer
    staging/<run_id>/delivered-late/<eventTime>-<digest>   the key a spooled event of a run sealed before it was
                                               delivered was staged under instead (stamped at delivery), recorded once
    bundles/<run_id>/refused/<time>-<digest>.json   staged objects of the run refused, with the reason
    bundles/<run_id>/refused/combined-<count>-<digest>.jsonl   all of them, one a line, when a file each would
                                               list more files than a manifest may (model.MANIFEST_FILES_MAX)
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from prov_common.canonical_json import canonical_bytes
from prov_common.errors import BadInputError
from prov_common.text import first_of

BUNDLES = "bundles"
INDEX = "index"
STAGING = "staging"
LATE_RECORDS = "delivered-late"  # under a run's staging prefix: see late_record_key
STAGED_ATTACHMENTS = "attachments/"  # under a run's staging prefix: its staged attachments, by bundle path

EVENTS_FILE = "events.jsonl"
PROV_FILE = "prov.json"
MANIFEST_FILE = "manifest.json"
STATEMENT_FILE = "statement.dsse.json"
INDEXED_FILE = "indexed"
RESERVED = (EVENTS_FILE, PROV_FILE, MANIFEST_FILE, STATEMENT_FILE)
SMALL_OBJECT_LIMIT = 64 << 20
"""Bytes at most read of a manifest, signed statement, ``indexed`` record or index entry (each a few kB, a
huge run's a few MB): a larger object is refused, never read whole into memory."""
REFUSED_FOLDER = "refused"
ATTACHMENT_FOLDERS = ("quality", "rows", "extra", REFUSED_FOLDER)

_RUN_ID = re.compile(r"[A-Za-z0-9_~=+@,:%-][A-Za-z0-9._~=+@,:%-]{0,199}\Z")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_STAMP = "%Y%m%dT%H%M%S%fZ"
_STAMP_TEXT = re.compile(r"(\d{1,4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(\d{6})Z")  # 1-3 year digits: keys written unpadded
SETTLE_SECONDS = 300.0
"""Writers finish out of order (a slow or retried write, a second process): a consumer of the index that must see
every entry re-lists this far back from the newest key it saw (see :func:`rewind_cursor`)."""


def check_run_id(run_id: object) -> str:
    """A run id usable as one key segment (OpenLineage run ids are UUIDs)."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise BadInputError(
            f"run id {run_id!r} cannot name a bundle.", fix="use the OpenLineage run.runId (a UUID) of the run"
        )
    return run_id


def is_run_id(run_id: object) -> bool:
    """Whether ``run_id`` can name a bundle (:func:`check_run_id` would take it)."""
    return isinstance(run_id, str) and bool(_RUN_ID.match(run_id))


RUN_ID_PREFIX_MIN = 8
"""Characters at least of the beginning or ending of a run id given for the run id (a UUID's first block). Airflow's
task runs of one DAG run share their first 15 characters (UUIDv7s whose time field is the DAG run's logical date), and
records made outside a Dagster run within a minute or so their first 8 (UUIDv7s of the time they were made), so for
them it is the ending that tells them apart."""
SHOWN_RUNS = 10  # run ids an error names; the rest are counted


def runs_meant(typed: str, known: Iterable[str]) -> list[str]:
    """The run ids among ``known`` that ``typed`` (a run id given by a person) means: itself, else every one it
    begins or ends, when it has at least :data:`RUN_ID_PREFIX_MIN` characters."""
    known = list(dict.fromkeys(known))
    if typed in known:
        return [typed]
    if len(typed) < RUN_ID_PREFIX_MIN:
        return []
    return sorted(run_id for run_id in known if run_id.startswith(typed) or run_id.endswith(typed))


def one_run_meant(typed: str, known: Iterable[str], where: str) -> str | None:
    """The one run id of ``known`` that ``typed`` means (see :func:`runs_meant`), None when it means none; a
    beginning or ending of several is refused, naming them (``where``: the store or log they are in)."""
    found = runs_meant(typed, known)
    if len(found) > 1:
        shown = first_of(found, SHOWN_RUNS)
        raise BadInputError(f"'{typed}' begins or ends {len(found)} run ids in {where}: {shown}.",
                            fix="give more characters of the run id (of its beginning or its ending), or the full id "
                                "('tdprov runs' lists them)")
    return found[0] if found else None


def prefix_hint(typed: str) -> str:
    """What a run id that names nothing lacks when it is shorter than the beginning or ending of a run id may be
    ('' otherwise)."""
    return f" (a beginning or ending of a run id needs at least {RUN_ID_PREFIX_MIN} characters)" if len(typed) < RUN_ID_PREFIX_MIN else ""


def bundle_prefix(run_id: str) -> str:
    return unchecked_bundle_key(check_run_id(run_id))


def bundle_location(store_uri: str, run_id: str) -> str:
    """``<store>/bundles/<run id>/``: where the bundle of ``run_id`` is (or will be, once delivered)."""
    return f"{store_uri.rstrip('/')}/{bundle_prefix(run_id)}"


def bundle_key(run_id: str, path: str) -> str:
    return unchecked_bundle_key(check_run_id(run_id), path)


def unchecked_bundle_key(run_id: str, path: str = "") -> str:
    """``bundles/<run_id>/<path>`` (the bundle's folder without ``path``) for a run id as it was read, unchecked: the
    key a listing or an unsigned index entry names, which a finding names as it is (:func:`bundle_key` refuses what
    no run id is)."""
    return f"{BUNDLES}/{run_id}/{path}"


READ_WHOLE = (STATEMENT_FILE, MANIFEST_FILE, PROV_FILE)
"""The files of a bundle that a reader of its lineage and its verification both read whole."""


def held_keys(run_id: str) -> tuple[str, ...]:
    """The keys of the objects of the bundle of ``run_id`` (as read, unchecked) that a store holding bundle reads may
    hold (:func:`~prov_common.store.held_reads.bundle_reads_held`): those of :data:`READ_WHOLE`, and its events, which a
    reader holds where verification reads them whole after it."""
    return tuple(unchecked_bundle_key(run_id, path) for path in (*READ_WHOLE, EVENTS_FILE))


def is_read_whole(key: str) -> bool:
    """Whether ``key`` is a bundle's file of :data:`READ_WHOLE` (``bundles/RUN_ID/prov.json``)."""
    top, _, rest = key.partition("/")
    run_id, _, path = rest.partition("/")
    return top == BUNDLES and bool(run_id) and path in READ_WHOLE


def staging_prefix(run_id: str) -> str:
    return f"{STAGING}/{check_run_id(run_id)}/"


def staged_parts(key: str) -> tuple[str, str] | None:
    """The run id and the rest of a key under ``staging/<run_id>/`` (a staged event, or ``attachments/<path>``);
    None for any other key."""
    head, _, tail = key.partition("/")
    run_id, _, rest = tail.partition("/")
    return (run_id, rest) if head == STAGING and run_id and rest else None


class StagedEvent(NamedTuple):
    """The parts of a staged event's key ``staging/<run_id>/<name>.json``: its run, its name (``<eventTime>-<digest>``)
    and its own time."""

    run_id: str
    name: str
    moment: datetime

    @property
    def digest(self) -> str:
        """The event's digest (:func:`~prov_common.bundle.events.event_digest`), as its key names it."""
        return self.name.partition("-")[2]


def staged_event_parts(key: str) -> StagedEvent | None:
    """The parts of the staged event ``key`` (``staging/<run_id>/<eventTime>-<digest>.json``); None for any other key
    (an attachment, a record beside one, a name whose time does not read)."""
    parts = staged_parts(key)
    return None if parts is None else staged_event_of(*parts)


def staged_event_of(run_id: str, rest: str) -> StagedEvent | None:
    """:func:`staged_event_parts` of a key already split by :func:`staged_parts` (``run_id``, ``rest``)."""
    if "/" in rest or not rest.endswith(".json"):
        return None
    try:
        return StagedEvent(run_id, rest.removesuffix(".json"), parse_stamp(rest.split("-", 1)[0]))
    except ValueError:
        return None


def staged_attachment_path(key: str) -> str | None:
    """The bundle path of the attachment staged at ``key`` (``staging/<run_id>/attachments/<path>``); None for any
    other key."""
    parts = staged_parts(key)
    return attachment_of(parts[1]) if parts else None


def attachment_of(rest: str) -> str | None:
    """:func:`staged_attachment_path` of a key already split by :func:`staged_parts` (its ``rest``)."""
    return rest[len(STAGED_ATTACHMENTS):] if rest.startswith(STAGED_ATTACHMENTS) else None


def staged_event_template(run_id: str, tail: str) -> str:
    """The key ``staging/<run_id>/<write time>-<tail>`` as a ``LateKey`` template (a staged event keyed when it is
    delivered: see :mod:`prov_common.bundle.late`)."""
    return f"{staging_prefix(run_id)}{{now:{_STAMP}}}-{tail}"


def late_record_key(run_id: str, name: str) -> str:
    """Where the key chosen for the staged event ``name`` (``<eventTime>-<digest>``, without ``.json``: no seal reads
    it as an event) of ``run_id`` delivered after the run's sealing is recorded."""
    return f"{staging_prefix(run_id)}{LATE_RECORDS}/{name}"


def stamp(moment: datetime) -> str:
    """Sortable UTC timestamp with microseconds, e.g. ``20260501T120000123456Z`` (the year always 4 digits)."""
    m = moment.astimezone(timezone.utc)
    return f"{m.year:04d}{m:%m%dT%H%M%S%f}Z"


def parse_stamp(text: str) -> datetime:
    """The UTC time of a :func:`stamp` (also of one whose year before 1000 was written with fewer than 4 digits)."""
    found = _STAMP_TEXT.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a time stamp like 20260501T120000123456Z")
    return datetime(*map(int, found.groups()), tzinfo=timezone.utc)


def index_key_template(run_id: str) -> str:
    """The index key of a run (``index/YYYY/MM/DD/<stamp>-<run_id>.json``) as a ``LateKey`` template:
    the time is filled in when the entry is written."""
    return f"{INDEX}/{{now:%Y/%m/%d}}/{{now:{_STAMP}}}-{check_run_id(run_id)}.json"


def index_cursor(moment: datetime) -> str:
    """A listing cursor that sorts before every index key written at or after ``moment``."""
    m = moment.astimezone(timezone.utc)
    return f"{INDEX}/{m.year:04d}/{m:%m/%d}/{stamp(m)}"


def rewind_cursor(cursor: str, seconds: float) -> str:
    """``cursor`` moved ``seconds`` back: re-list a settle window, as writers finish out of order."""
    stamp_text = cursor.rsplit("/", 1)[-1].partition("-")[0]  # a stamp holds no '-' (its year may have 1-3 digits)
    return index_cursor(parse_stamp(stamp_text) - timedelta(seconds=seconds))


def run_id_of_index_key(key: str) -> str:
    """The run id in an index key (``.../<stamp>-<run_id>.json``); "" when its name does not parse so
    (:func:`index_name_parses`): such a key names no run, whatever a cut of its name would give."""
    return index_run_id(key) or ""


def index_name_parses(key: str) -> bool:
    """Whether the name of the index key ``key`` is ``<stamp>-<run id>.json`` with a time stamp, as tdprov writes it:
    any other name names no run (:func:`run_id_of_index_key` gives "")."""
    return index_run_id(key) is not None


def index_run_id(key: str) -> str | None:
    """What follows the stamp of the name ``<stamp>-<run id>.json`` of the index key ``key`` (None for another name):
    whether the name parses and its run id, in one reading of it."""
    stamp_text, dash, rest = key.rsplit("/", 1)[-1].partition("-")
    if not dash or not rest.endswith(".json"):
        return None
    try:
        parse_stamp(stamp_text)
    except ValueError:
        return None
    return rest.removesuffix(".json")


UNPARSED_INDEX_FIX = "remove it and find out who wrote it; see 'tdprov verify'"


def unparsed_index_entry(key: str) -> str:
    """What the index key ``key``, whose name does not parse (:func:`index_name_parses`), is, as the audit,
    'tdprov verify' and the listings name it (with :data:`UNPARSED_INDEX_FIX`)."""
    return f"index entry '{key}' has a name that does not parse as <stamp>-<run id>.json: tdprov wrote no such entry"


def safe_name(text: str) -> str:
    """A key-safe file name fragment for a dataset name (unsafe runs become ``_``; its last 120 characters).
    Readable, not unique: ``a/b`` and ``a_b`` give the same fragment (:func:`dataset_stem` is unique)."""
    return _UNSAFE.sub("_", text).strip("._-")[-120:].lstrip("._-") or "dataset"


def dataset_stem(namespace: str, name: str, shown_as: str | None = None, version: str | None = None) -> str:
    """The file name stem of a dataset's (version's) attachments in a bundle: ``<safe name>-<16 hex>``, the hex
    from the SHA-256 of the canonical JSON of ``[namespace, name]`` (``[namespace, name, version]`` given a
    version), so that two datasets of a run, or two versions of one (a file a task reads and rewrites), never
    share a file. The readable part is ``shown_as`` (e.g. a Dagster asset key), default ``name``."""
    identity = hashlib.sha256(canonical_bytes([namespace, name, *([version] if version else [])])).hexdigest()[:16]
    return f"{safe_name(name if shown_as is None else shown_as)}-{identity}"


def samples_path(namespace: str, name: str, shown_as: str | None = None, version: str | None = None) -> str:
    """Bundle path of a dataset version's Pandera failure samples: ``quality/<dataset stem>.samples.parquet``."""
    return f"quality/{dataset_stem(namespace, name, shown_as, version)}.samples.parquet"


def rows_path(namespace: str, name: str, shown_as: str | None = None) -> str:
    """Bundle path of a dataset's row-digest sidecar: ``rows/<dataset stem>.rows.parquet``."""
    return f"rows/{dataset_stem(namespace, name, shown_as)}.rows.parquet"


def check_attachment_path(path: object) -> str:
    """An attachment lives in ``quality/``, ``rows/`` or ``extra/`` of the bundle, never over a reserved file."""
    from prov_common.store.keys import validate_key

    if not isinstance(path, str) or path.split("/", 1)[0] not in ATTACHMENT_FOLDERS or "/" not in path:
        raise BadInputError(
            f"attachment name {path!r} is not under {', '.join(f + '/' for f in ATTACHMENT_FOLDERS)}.",
            fix="use samples_path(namespace, name) or rows_path(namespace, name), e.g. 'quality/train.samples.parquet'",
        )
    validate_key(path)
    return path
