"""Dataset identity: which recorded generation of a dataset version a run read (no I/O but for
:func:`location_of_ref`, which looks a relative path given by a user up on the local disk).

A dataset is ``(namespace, name)``; a version is that dataset at a content digest, made by one run.
A run that reads a dataset records ``(namespace, name, digest)`` but not who wrote it, so the version
it read is resolved here, the same way for every reader of the records (``tdprov lineage``, the
audit, the merged PROV export): among the runs that generated that dataset at that digest, the one
that ended last at or before the reader started (:func:`read_time`), a run that
completed before one that failed. Where the clocks of the machines disagree so that every generation
ended later, the oldest one is taken if it ended within :data:`CLOCK_SKEW` of the reader's start; a
generation that ended later still is not what the reader read (the reader's input then has no recorded
generation: it is an origin, matched to registered sources).

Equal content in another dataset, or the same dataset at the same digest written by another run, is
never a generation or a use of what was read: readers show it as "same content as" instead.
"""
from __future__ import annotations

import functools
import itertools
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from prov_common.errors import BadInputError
from prov_common.file_uri import home_hint, is_file_uri, is_short_uri
from prov_common.times import iso_utc

CLOCK_SKEW = timedelta(minutes=15)
"""How far apart the clocks of two machines that record runs of one store may be: a time later than
another by more is later, not a clock difference."""
COMPLETE = "COMPLETE"
"""The state of a run that completed (OpenLineage ``RunState.COMPLETE``)."""
FAILED = "FAIL"
"""The state of a run that failed (OpenLineage ``RunState.FAIL``)."""

VersionKey = tuple[str, str, str]
"""``(namespace, name, version)``; version ``""`` for a dataset recorded without one."""

T = TypeVar("T")
_DIGEST = re.compile(r"(?P<algo>[a-z][a-z0-9]{1,15}):(?P<hex>[0-9a-fA-F]{16,128})")  # as PROV ids read a digest


PAIR_SEPARATOR = "::"
"""Between the namespace and the name of a dataset written as a pair, ``NAMESPACE::NAME`` (:func:`pair_text`): how a
dataset whose URI would spell another dataset's location is shown, and a reference to any dataset."""


def dataset_label(namespace: str | None, name: str) -> str:
    """How people are shown a dataset: its path for a local file, its URI (``s3://bucket/key``,
    ``xcom://dag/task``) for a namespace that is one, else ``namespace:name``; never the bare name of a
    dataset elsewhere, which could be another's. A namespace with a path after its authority
    (``s3://lake/raw``, ``s3://lake/``: no namespace the OpenLineage naming spec gives, but another producer
    may) is shown as ``NAMESPACE::NAME`` (``s3://lake/raw::x``): its URI ``s3://lake/raw/x`` is the location of
    the dataset (``s3://lake``, ``raw/x``), which is another dataset."""
    if not namespace or namespace == "file":
        return name
    if spelled_apart(namespace):
        return pair_text(namespace, name)
    if namespace.endswith("://"):  # no authority (the spec's "inmemory://"): as its URI spells it
        return namespace + name.lstrip("/")
    if "://" in namespace:
        return namespace.rstrip("/") + "/" + name.lstrip("/")
    return f"{namespace}:{name}"


def spelled_apart(namespace: str | None) -> bool:
    """Whether a dataset in ``namespace`` is shown as ``NAMESPACE::NAME`` (:func:`dataset_label`): a URI
    namespace with a path after its authority, whose ``namespace/name`` is another dataset's location."""
    return "/" in (namespace or "").partition("://")[2]


def pair_text(namespace: str | None, name: str) -> str:
    """The dataset ``(namespace, name)`` written as ``NAMESPACE::NAME``: its namespace and name as recorded, which names
    it where its label is another dataset's too (``inmemory://::/x`` beside ``inmemory://::x``, both shown as
    ``inmemory://x``)."""
    return f"{namespace or ''}{PAIR_SEPARATOR}{name}"


DatasetLabels = dict[tuple[str | None, str], str]
"""How a listing shows each of its datasets, by ``(namespace, name)``: :func:`distinct_labels`."""


def distinct_labels(datasets: Iterable[tuple[str | None, str]],
                    label: Callable[[str, str], str] = dataset_label) -> DatasetLabels:
    """How a listing of ``datasets`` (``(namespace, name)`` pairs) shows each one, no two alike: its ``label``
    (:func:`dataset_label`, or another way a listing shows a dataset), or its :func:`pair_text` where another of them
    has that label too or is that text written as a pair (``file::x`` of the name ``(None, 'file::x')`` beside
    ``('file', 'x')``), so that each text shown names one of them (and, pasted back, that one: :func:`written_as_pair`).
    Texts that differ only in Unicode normalisation (``café`` composed and decomposed: two files, shown alike) are
    shown with their non-ASCII characters escaped (:func:`spelled_out`), so that they look apart too, and named when
    pasted back (:func:`as_written_else_unescaped`); where that text is another of them as written (a name
    ``caf\\xe9`` beside ``café``), in a form that is not (:func:`_spelled_apart`). Two pairs that are one text (a
    namespace ending in ``:`` or holding ``::`` beside a name so written: ``(a:, :c)``, ``(a, ::c)``) are the first
    of them shown so, each other as that text and a number (:func:`_numbered`); one whose own label names it alone is
    shown so instead (``(None, ':')`` as ``:`` beside ``(':', '')``, whose label ``::`` is ``(None, '')``'s pair)."""
    unique = list(dict.fromkeys(datasets))
    labels = {d: label(d[0] or "", d[1]) for d in unique}
    shared = Counter(labels.values())
    pairs = Counter(pair_text(*d) for d in unique)
    shown = {d: text if shared[text] == 1 and pairs[text] == (text == pair_text(*d)) else pair_text(*d)
             for d, text in labels.items()}  # a plain label no other dataset has, nor is as a pair
    taken = {*labels.values(), *shown.values(), *pairs}  # each names its dataset as written
    alike = Counter(unicodedata.normalize("NFC", text) for text in set(shown.values()))
    for d, text in shown.items():
        if alike[unicodedata.normalize("NFC", text)] > 1:
            shown[d] = _spelled_apart(text, pair_text(*d), taken)
            taken.add(shown[d])  # a form taken here is no other's
    first: set[str] = set()
    for d, text in shown.items():
        if text in first:  # a pair that is another's pair too
            shown[d] = _numbered(text, taken)
            taken.add(shown[d])
        first.add(text)
    return shown


def _spelled_apart(text: str, pair: str, taken: set[str]) -> str:
    """How :func:`distinct_labels` shows a dataset whose ``text`` (its label or :func:`pair_text` ``pair``) only Unicode
    normalisation tells apart from another's: :func:`spelled_out`, else (that text is another dataset's as written,
    ``caf\\xe9`` beside ``café``, or shown already) spelled out wide, else its :func:`pair_text` spelled out,
    whichever is first none of ``taken`` but its own; else (every one of them taken: contrived names, such as datasets
    named by those very texts) the last of them :func:`_numbered`."""
    forms = [spelled_out(text), spelled_out(text, wide=True), spelled_out(pair), spelled_out(pair, wide=True)]
    free = (form for form in forms if form not in taken or form in (text, pair))
    return next(free, None) or _numbered(forms[-1], taken)


def _numbered(text: str, taken: set[str]) -> str:
    """``text`` followed by the first :data:`LAST_RESORT` number that makes it, and the text it is read back as
    (:func:`unescaped`: ``file::café.csv #2``, another dataset's ``NAMESPACE::NAME``), none of ``taken``: a text shown
    apart that names nothing when pasted (its ``--json`` gives the dataset's namespace and name)."""
    return next(form for n in itertools.count(2)
                if (form := LAST_RESORT.format(text, n)) not in taken and unescaped(form) not in taken)


LAST_RESORT = "{} #{}"
"""How :func:`distinct_labels` shows a look-alike dataset none of whose spelled-out forms is free (the last of them), or
a pair that is another's pair too (that text): the text, a space, ``#`` and a number from 2
(``file::caf\\U000000e9.csv #2``, ``a:::c #2``)."""


_ESCAPE = re.compile(r"\\(?:(\\)|x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8}))")


def spelled_out(text: str, wide: bool = False) -> str:
    """``text`` with each non-ASCII character escaped by its code point (``caf\\xe9``, ``cafe\\u0301``; ``wide``:
    each as ``\\U`` and 8 hex digits, ``caf\\U000000e9``) and, where it has one, each backslash doubled (``a\\\\b\\xe9``
    of ``a\\bé``: no text of its own is read as an escape), as :func:`distinct_labels` shows two labels that only
    Unicode normalisation tells apart; :func:`unescaped` reads it back. ASCII text is as it is."""
    if text.isascii():
        return text
    text = text.replace("\\", "\\\\")
    if wide:
        return "".join(c if c.isascii() else f"\\U{ord(c):08x}" for c in text)
    return text.encode("ascii", "backslashreplace").decode("ascii")


def unescaped(text: str) -> str | None:
    """``text`` (given by a user) with the escapes :func:`spelled_out` writes (``\\xe9``, ``\\u0301``,
    ``\\U0001f600``: non-ASCII code points; ``\\\\``: a backslash) read back, or None where it holds no escape of a
    non-ASCII code point (no text :func:`spelled_out` writes): how a label shown spelled out names its dataset when
    pasted (:func:`as_written_else_unescaped`). No other escape is read."""
    read = False

    def char(match: re.Match[str]) -> str:
        nonlocal read
        if match[1]:
            return "\\"
        point = int(next(g for g in match.groups()[1:] if g), 16)
        non_ascii = 0x80 <= point <= 0x10FFFF
        read = read or non_ascii
        return chr(point) if non_ascii else match[0]

    plain = _ESCAPE.sub(char, text)
    return plain if read else None


def as_written_else_unescaped(ref: str, named: Callable[[str], list[T]]) -> list[T]:
    """What ``named`` finds for ``ref`` (given by a user) as written, else, where that is nothing and ``ref`` holds the
    escapes of :func:`spelled_out`, for ``ref`` :func:`unescaped`: a label :func:`distinct_labels` showed spelled out,
    pasted back, names its dataset; a name so written names itself first."""
    found = named(ref)
    return found if found or (plain := unescaped(ref)) is None else named(plain)


JobLabels = dict[tuple[str | None, str], str]
"""How a listing shows each of its jobs, by ``(namespace, name)``: :func:`distinct_jobs`."""


def distinct_jobs(jobs: Iterable[tuple[str | None, str]]) -> JobLabels:
    """How a listing of ``jobs`` (``(namespace, name)`` pairs) names each one: by its name, or ``namespace/name`` (as
    ``tdprov runs`` shows every job) where another of them has that name in another namespace."""
    unique = list(dict.fromkeys(jobs))
    names = Counter(name for _, name in unique)
    return {(namespace, name): name if names[name] == 1 else f"{namespace}/{name}" for namespace, name in unique}


def written_as_pair(ref: str, namespace: str | None, name: str) -> bool:
    """Whether ``ref`` (given by a user) is the dataset ``(namespace, name)`` written as ``NAMESPACE::NAME``
    (:func:`pair_text`): then it names that dataset only, never one that the text also spells as a location or a name."""
    return ref == pair_text(namespace, name)


def spells(ref: str, namespace: str | None, name: str) -> bool:
    """Whether ``ref`` (given by a user) writes the dataset ``(namespace, name)`` out: as its
    :func:`dataset_label`, as ``NAMESPACE::NAME`` (:func:`pair_text`), or as ``namespace/name`` (the OpenLineage
    dataset URI; a leading ``/`` of the name once), a trailing ``/`` aside; a local file recorded by a relative path,
    which has no URI, also as ``file:name``, as ``tdprov runs`` and ``tdprov show`` print it. ``namespace/name`` of a
    namespace with a path is also another dataset's location: the caller finds both, and a name of several datasets is
    the user's to choose among (a text that is one's ``NAMESPACE::NAME`` means that one: :func:`written_as_pair`)."""
    texts = {ref, ref.rstrip("/")}
    return (dataset_label(namespace, name) in texts or pair_text(namespace, name) in texts
            or f"{namespace}/{name}" in texts or f"{namespace}/{name.lstrip('/')}" in texts
            or (namespace == "file" and f"file:{name}" in texts))


def version_key(namespace: str, name: str, version: str | None) -> VersionKey:
    """The identity of a dataset version (``version`` None: the dataset recorded without a version); a content
    digest's hex digits in either case are one version (``sha256:3B06...`` is ``sha256:3b06...``), as in the
    PROV ids."""
    return (namespace, name, normal_version(version))


def normal_version(version: str | None) -> str:
    """A version as identity compares it: a content digest with its hex digits in lower case, anything else as it
    is (``""`` for None)."""
    text = version or ""
    digest = _DIGEST.fullmatch(text)
    return f"{digest['algo']}:{digest['hex'].lower()}" if digest else text


def moment(text: str | None) -> datetime | None:
    """An RFC 3339 or ISO-8601 time as an aware UTC datetime (naive times are UTC), else None
    (:func:`prov_common.times.iso_utc`: for times read back, not for checking a new event's)."""
    return iso_utc(text) if text else None


def iso_z(value: datetime | None) -> str | None:
    """An aware time as ISO-8601 text in UTC ending in ``Z``, as the index and reports write times; None for None."""
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def utc_text(text: object) -> str:
    """A time as UTC text ending in ``Z``, as the index and reports write times (also one read as ``...+00:00``); a
    value that is no time as its text, '' for None."""
    when = moment(text) if isinstance(text, str) else None
    return iso_z(when) if when is not None else ("" if text is None else str(text))


def sortable_time(text: str | None) -> str:
    """An ISO-8601 time as text that sorts in time order (UTC, microseconds always written: ``...:00Z`` sorts
    after ``...:00.4Z`` as written); text that is no time as it is, '' for none."""
    when = moment(text)
    return f"{when.year:04d}-{when:%m-%dT%H:%M:%S.%f}Z" if when is not None else (text or "")


def read_time(started: str | None, ended: str | None) -> str | None:
    """When a run read its inputs, for telling which generation it read: its start, else (not recorded) its end.

    A run's start is the time of its START, else of its first event (a RUNNING: the run was running then, with what
    that event names read already), as its bundle's manifest and index entry state it; its PROV states no start time
    without a START (mapping 5), so a reader of that PROV takes the start from the index entry (``tdprov export`` and
    ``tdprov lineage --checks`` do), never its end."""
    return started or ended


def pick_generation(candidates: Iterable[T], read_at: str | None, ended: Callable[[T], str | None],
                    completed: Callable[[T], bool] = lambda _: True) -> T | None:
    """The generation a reader at ``read_at`` read: the latest that ended at or before it, one whose run
    completed before one whose run failed, else the oldest if it ended within :data:`CLOCK_SKEW` after
    ``read_at`` (or at a time not known); None when there is none.

    ``candidates`` are the generations of one dataset at one version, other than the reader's own;
    ``ended`` gives each one's end time (ISO), ``completed`` whether its run completed: a failed run's
    output may never have been written (its quality policy refused it), so equal bytes that a completed
    run wrote are what the reader read. With ``read_at`` unknown, the latest is taken (completed first).
    """
    timed = sorted(((moment(ended(c)), i, c) for i, c in enumerate(candidates)),
                   key=lambda x: (x[0] or datetime.min.replace(tzinfo=timezone.utc), x[1]))
    if not timed:
        return None
    reader = moment(read_at)
    before = [c for when, _, c in timed if reader is None or (when is not None and when <= reader)]
    done = [c for c in before if completed(c)]
    if done or before:
        return done[-1] if done else before[-1]
    oldest, first = timed[0][0], timed[0][2]
    return first if reader is None or oldest is None or oldest - reader <= CLOCK_SKEW else None


def holds_content(generated_by: Iterable[str | None], read: bool) -> bool:
    """Whether a dataset version can be said to hold its bytes: a run read it, or not every run that generated
    it failed (``generated_by``: the states of those runs). A version that only failed runs generated and no run
    read may never have been written (a Dagster quality policy ``fail`` refuses the write but records the refused
    version as the failed run's output), so every "same content" statement leaves it out: the ``alternateOf``
    of ``tdprov export``, "same content as" in ``tdprov lineage`` and ``sameContent`` in ``tdprov contains``.
    It is still shown as that run's output."""
    states = list(generated_by)
    return read or not states or any(state != FAILED for state in states)


def is_location(ref: str) -> bool:
    """Whether a reference given by a user is written as a location: an absolute path or a URI (``file:/p``,
    RFC 8089's short form, and ``dbfs:/p`` too; not another ``scheme:/path``, which names no dataset and may be a
    name, an Airflow asset's: :func:`~prov_common.file_uri.short_uri`)."""
    return ("://" in ref or ref.startswith("/") or is_file_uri(ref)
            or (is_short_uri(ref) and located_dataset(ref) is not None))


def location_of_ref(ref: str) -> tuple[str, str] | None:
    """The dataset ``(namespace, name)`` that a reference given by a user names by its location (an absolute
    path, a URI, or a relative path to a file or folder that exists, taken from the working folder as
    ``tdprov hash`` reads it), else None (a name, ``namespace/name``, a Dagster asset key, a digest). A location
    names only the dataset there: a local path is the dataset in namespace ``file``, never a dataset of that
    name in another namespace (but a relative path that exists may also be such a name: see :func:`is_location`)."""
    return located_dataset(ref) if is_location(ref) or (ref.strip() and os.path.exists(ref)) else None


DIGEST_PREFIX_MIN = 12
"""Hex digits at least of a content digest given on a command line (``tdprov runs`` prints 12)."""
SHORT_DIGEST = re.compile(rf"[a-z0-9]+:[0-9a-f]{{{DIGEST_PREFIX_MIN},}}")
"""A content digest as given on a command line, ``algo:`` and its hex digits: in full, or its first 12 or more."""
BARE_DIGEST = re.compile(rf"[0-9a-f]{{{DIGEST_PREFIX_MIN},}}")
"""The hex digits of a content digest without ``algo:`` (of any algorithm: tdprov records ``blake3:``)."""
TOO_SHORT_DIGEST = re.compile(rf"(?:[a-z0-9]+:)?[0-9a-f]{{1,{DIGEST_PREFIX_MIN - 1}}}")
"""A digest prefix with fewer hex digits than :data:`DIGEST_PREFIX_MIN`: it would match too much."""
DIGEST_RULE = (f"a digest is matched in full or by at least its first {DIGEST_PREFIX_MIN} hex digits, with or without "
               "'blake3:', as 'tdprov runs' prints them")


VERSION_ARGUMENT = "DATASET|DIGEST"
"""The name of a dataset version given on a command line, in every verb's help ('tdprov lineage', 'record',
'contains', 'checkout', 'export --training-record')."""
VERSION_FORMS = ("a dataset name, namespace/name, URI or Dagster asset key (its newest recorded version), a digest "
                 f"(blake3:<64 hex>, or its first {DIGEST_PREFIX_MIN} or more hex digits, with or without 'blake3:'), or "
                 "DATASET@DIGEST (that dataset's version at that digest), as 'tdprov runs' shows them")
"""What :data:`VERSION_ARGUMENT` may be, in the help of each verb that takes it and the fix of :func:`nothing_named`."""


DIGEST_ALGORITHMS = ("blake3", "sha256")
"""The algorithms whose ``algo:`` begins a digest tdprov records (a dataset version, a registered source)."""


def not_a_digest(ref: str) -> BadInputError | None:
    """The refusal of ``ref`` (or, in ``REF@DIGEST``, the part after its last ``@``) written as a digest
    (``blake3:`` or ``sha256:``, in either case) whose digits are not hex (``blake3:zz``, ``sha256:``), naming why
    and :data:`DIGEST_RULE`; else None. For a reference that names nothing recorded: it names no dataset either."""
    base, at, tail = ref.strip().rpartition("@")
    versioned = bool(at and base.strip())  # REF@DIGEST, as split_version splits it
    given = tail if versioned else ref.strip()
    algo, colon, hexdigits = given.partition(":")
    if not colon or algo.lower() not in DIGEST_ALGORITHMS or re.fullmatch(r"[0-9a-f]*", hexdigits.lower()) and hexdigits:
        return None  # no digest, or one of hex digits (too short ones are refused saying the rule)
    why = (f"{hexdigits!r} after '{algo}:' is not hex digits (0-9, a-f)" if hexdigits
           else f"no hex digits (0-9, a-f) follow '{algo}:'")
    what = f"{ref!r} names no version: after its '@', {why}" if versioned else f"{given!r} is not a digest: {why}"
    return BadInputError(f"{what}.", fix=f"give its hex digits (0-9, a-f): {DIGEST_RULE}")


def no_version_starting(query: str, fix: str = "") -> BadInputError:
    """The refusal of the :func:`digest_query` ``query`` that begins no recorded version's digest, in the same words
    whichever verb looked it up (``fix``: what the verb adds to the fix)."""
    return BadInputError(f"no recorded version's digest starts with '{query}'.",
                         fix="pass the digest as 'tdprov runs' or 'tdprov lineage' shows it" + fix)


def nothing_named(ref: str, where: str = "", fix: str = "") -> BadInputError:
    """The refusal of ``ref``, a :data:`VERSION_ARGUMENT` that names no recorded dataset or version, in the same words
    whichever verb looked it up: :func:`not_a_digest` where it is written as a digest of no hex digits,
    :func:`no_version_starting` where it is written as a digest with its ``algo:`` (no name; ``where`` is not said, as
    no verb says it there), else naming the recorded runs (``where``: what more the verb can say of them), with the fix
    :data:`DIGEST_RULE` for too short a digest, else the forms :data:`VERSION_FORMS` (``fix``: what the verb adds), led
    for a ``ref`` starting with ``~`` by the reminder that ``~`` is not expanded (:func:`~prov_common.file_uri.home_hint`)."""
    if (refused := not_a_digest(ref)) is not None:
        return refused
    if (query := digest_query(ref)) is not None and ":" in query:
        return no_version_starting(query, fix)
    rule = DIGEST_RULE if TOO_SHORT_DIGEST.fullmatch(ref.strip().lower()) else f"give {VERSION_FORMS}"
    return BadInputError(f"no dataset or version {ref!r} in the recorded runs{where}.", fix=home_hint(ref, rule + fix))


def digest_query(ref: str) -> str | None:
    """The digest or digest prefix that ``ref`` gives (lower case; :data:`SHORT_DIGEST` or :data:`BARE_DIGEST`),
    else None."""
    text = ref.strip().lower()
    return text if SHORT_DIGEST.fullmatch(text) or BARE_DIGEST.fullmatch(text) else None


def digest_starts(digest: str | None, query: str) -> bool:
    """Whether ``digest`` (``algo:hex``) is one that the :func:`digest_query` ``query`` means: it begins with
    ``query``, or with a query of hex digits alone, its hex digits do."""
    if not digest:
        return False
    digest = digest.lower()
    return digest.startswith(query) if ":" in query else digest.partition(":")[2].startswith(query)


def at_location(located: tuple[str, str] | None, namespace: str, name: str) -> bool:
    """Whether the dataset ``(namespace, name)`` is the one at ``located`` (a prefix of shards recorded
    with a trailing ``/`` too), or another producer's dataset at that location in a namespace spelled otherwise than
    tdprov names it (``s3a://b``, ``s3n://b``: the objects of ``s3://b``; :func:`store_namespace`)."""
    return (located is not None and located[1] in (name, name.rstrip("/"))
            and located[0] in (namespace, store_namespace(namespace)))


@functools.lru_cache(maxsize=4096)
def store_namespace(namespace: str) -> str:
    """The namespace tdprov names the objects of a URI ``namespace`` in, by the OpenLineage naming spec
    (:func:`~prov_common.lineage.naming.dataset_from_uri`): ``s3://b`` of Hadoop's ``s3a://b`` and ``s3n://b``,
    ``gs://b`` of ``gcs://b``, ``abfss://`` of ``abfs://``; any other namespace as it is (one that is no such
    URI, or one whose names the location does not keep as they are: a table's, a local file's)."""
    if "://" not in namespace or not namespace.partition("://")[2]:
        return namespace
    placed = located_dataset(namespace.rstrip("/") + "/x")
    return placed[0] if placed is not None and placed[1] == "x" and "://" in placed[0] else namespace


def located_dataset(location: str | None) -> tuple[str, str] | None:
    """The dataset ``(namespace, name)`` at a location (path or URI), e.g. a registered source's; None
    when there is no location or it names no dataset."""
    if not location:
        return None
    from prov_common.lineage.naming import dataset_from_uri  # loads on use: the lineage package imports pandas

    try:
        return dataset_from_uri(location)
    except (BadInputError, ValueError):
        return None
