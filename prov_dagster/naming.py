"""How Dagster assets are named in tdprov: datasets after where their data lives, data files after key and partition.

A dataset is ``(namespace, name)`` per the OpenLineage naming spec, from the location the IO manager
(or ``ProvenanceResource``) wrote: ``("file", "/abs/data/raw/orders.parquet")`` or
``("s3://bucket", "prefix/raw/orders.parquet")``; data recorded without a location (a DataFrame
handed to ``ProvenanceResource.record``) is ``("inmemory://", <name>)``. The asset key as Dagster
shows it (``AssetKey(["raw", "orders"])`` -> ``raw/orders``) rides along as a ``symlinks`` identifier
in the deployment's namespace ``dagster://default`` (``dagster://<name>`` when configured: pick one
per deployment, not per code location). Jobs are named ``dagster://<name>`` / ``<step key>`` (``asset:<asset key>``
for an asset's step whose key the step key does not name, and of the first of its op's keys for an op named after
none, ``asset:<asset key>:<op>`` for a step of a graph-backed asset whose graph node does not name it,
``job:<Dagster job name>:<step key>`` for a step of an op job, ``check:<asset key>:<check name>`` for the step of
asset checks, its first check; a mapped op's step of each mapping key as the op's step, see :func:`step_job`), and
the Dagster job a step ran in, its run's parent, ``dagster://<name>`` / ``job:<Dagster job name>``.

A data file's path holds neither the namespace nor which segments are partitions, so two owners can map to
one file; :mod:`prov_dagster.owners` keeps either from overwriting the other.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence

from dagster import AssetCheckKey, AssetKey
from dagster._core.definitions.partitions.utils import MultiPartitionKey

from prov_common.config import unset
from prov_common.errors import BadInputError
from prov_common.lineage.naming import IN_MEMORY_SCHEME, dataset_from_uri
from prov_dagster.storage import NAME_ADDED_BYTES, NAME_MAX_BYTES

DEFAULT_NAMESPACE = "dagster://default"
DATA_SUFFIX = ".parquet"


def _file_segment_bytes(suffix: str = DATA_SUFFIX) -> int:
    """Bytes the last segment of a data file's path ending in ``suffix`` may hold: the longest file name less
    ``suffix`` and the temporary names written beside the file."""
    return NAME_MAX_BYTES - NAME_ADDED_BYTES - len(suffix.encode())


MAX_FILE_SEGMENT_BYTES = _file_segment_bytes()
"""Bytes the last segment of a data file's path (percent-encoded, in UTF-8) may hold: the longest file name less
the suffix and the temporary names written beside the file (225); a folder segment may hold ``NAME_MAX_BYTES``."""
_RUN_NAMESPACE = uuid.UUID("6b1c7e44-2f0a-5d7e-9a57-7464707276a1")


def namespace_uri(namespace: str | None) -> str:
    """``dagster://<namespace>`` from a bare name or a full ``dagster://`` URI; default ``dagster://default``, also
    for one given empty or blank (:func:`~prov_common.config.unset`: not given)."""
    if unset(namespace):  # None too
        return DEFAULT_NAMESPACE
    given = str(namespace)
    return given if "://" in given else f"dagster://{given}"


IN_MEMORY_NAMESPACE = f"{IN_MEMORY_SCHEME}://"
"""The naming spec's namespace for data that is recorded without a place it is kept."""
ASSET_SYMLINK_TYPE = "DAGSTER_ASSET"
"""``type`` of the ``symlinks`` identifier that carries an asset key."""


def dataset_name(asset_key: AssetKey) -> str:
    """An asset's key as users type it (``raw/orders``; a ``/`` inside a part escaped, ``raw\\/orders``, as
    Dagster's own selection syntax writes it, so two keys never share a name): its ``symlinks`` name and
    its name in messages."""
    return asset_key.to_escaped_user_string()


DAGSTER_JOB_PREFIX = "job:"
"""Start of the OpenLineage job name of a Dagster job, the ``parent`` of its steps' runs."""


def dagster_job(job_name: str) -> str:
    """The OpenLineage job name of Dagster job ``job_name`` (``job:features``), in its steps' namespace: no step key
    holds a ``:``, so a Dagster job and a step of one name are two jobs."""
    return f"{DAGSTER_JOB_PREFIX}{job_name}"


ASSET_JOB_PREFIX = "asset:"
"""Start of the OpenLineage job name of an asset's step whose step key does not name the asset."""
CHECK_JOB_PREFIX = "check:"
"""Start of the OpenLineage job name of the step of one asset check (``check:<asset key>:<check name>``)."""


_MAPPED_STEP = re.compile(r"(?P<op>.+)\[(?P<key>[^\[\]]+)\]")


def mapped_step(step_key: str) -> tuple[str, str | None]:
    """``(op step key, mapping key)`` of step ``step_key``: Dagster names the step of each mapping key of a mapped op
    (``fan().map(work)``) ``<step key>[<mapping key>]`` (``work[a]``; ``work[?]`` in a plan before the keys are known),
    and no node name holds a ``[``; ``(step_key, None)`` for a step that is not mapped."""
    found = _MAPPED_STEP.fullmatch(step_key)
    return (found["op"], found["key"]) if found else (step_key, None)


def step_job(step_key: str, asset_keys: Iterable[AssetKey], graph_assets: Iterable[AssetKey] = (),
             op_job: str | None = None, checks: Iterable[AssetCheckKey] = ()) -> str:
    """The OpenLineage job name of step ``step_key``, which writes ``asset_keys``: its step key, unless it is the own
    step of an asset whose key the step key does not name (Dagster joins key parts with ``__`` and turns ``-`` and
    ``.`` into ``_``: ``a/b`` and ``a__b`` both give the step ``a__b``, ``a-b/c`` and ``a_b/c`` both ``a_b__c``);
    that one is ``asset:<asset key>`` (``asset:a__b``, ``asset:a-b/c``). A step key that splits at ``__`` into the
    asset's key stays the job name: it names that one key only, so no two assets share a job. The step of an op named
    after none of its keys (``@multi_asset(name="orders")`` writing ``p`` and ``q``; an asset ``orders`` elsewhere has
    the step ``orders``) is ``asset:<asset key>`` of the first of them in order (``asset:p``): ``asset_keys`` are then
    all the op's keys, also those a run did not select, so a run of ``q`` alone is ``asset:p`` too.

    A step inside a graph-backed asset (``<graph node>.<op>``), whose graph writes ``graph_assets`` (all its keys,
    also those a run did not select), is likewise ``asset:<asset key>:<op>`` (the first of them in order), unless the
    graph node splits at ``__`` into one of them: Dagster names a graph's node after the graph (two assets made of one graph are both ``shaped``, in one run
    ``shaped`` and ``shaped_2``) or after its asset's key (``a/b`` and ``a__b`` are both ``a__b``). No asset key part
    holds a ``:`` and no op a ``.`` or ``:``, so the asset and the op are read apart.

    A step of an op job (a Dagster job that materializes no asset and evaluates no check), ``op_job``, is
    ``job:<op_job>:<step key>``, the step of that Dagster job (whose own job is ``job:<op_job>``): ops are named by
    their job, so two ops named ``load`` in the jobs ``etl_a`` and ``etl_b`` are two jobs.

    A step that writes no asset and evaluates asset checks ``checks`` is ``check:<asset key>:<check name>`` of the
    first of them in order: Dagster names the step of an ``@asset_check`` ``<asset key>_<check name>``, so check ``b_c``
    of asset ``a``, check ``c`` of asset ``a_b`` and asset ``a_b_c`` would all be ``a_b_c``, and the step of a
    ``@multi_asset_check`` after its op, which may be any asset's key; no step key names a check apart from every
    asset, while a check is evaluated by one step only. Check names hold no ``:``.

    The step of one mapping key of a mapped op (``work[a]``, :func:`mapped_step`) is a run of the op's job, named as
    the op's step (``job:etl:work``, ``asset:x:work``): mapping keys, which data may choose, make runs, never jobs."""
    step_key, _ = mapped_step(step_key)
    if op_job is not None:
        return f"{dagster_job(op_job)}:{step_key}"
    first_check = min(checks, key=lambda c: (dataset_name(c.asset_key), c.name), default=None)
    if first_check is not None:
        return f"{CHECK_JOB_PREFIX}{dataset_name(first_check.asset_key)}:{first_check.name}"
    node, _, op = step_key.partition(".")
    graph = sorted(graph_assets, key=dataset_name) if op else []
    if graph and all(node.split("__") != list(key.path) for key in graph):
        return f"{ASSET_JOB_PREFIX}{dataset_name(graph[0])}:{op}"
    keys = list(asset_keys)
    for key in keys:
        if key.to_python_identifier() == step_key and step_key.split("__") != list(key.path):
            return f"{ASSET_JOB_PREFIX}{dataset_name(key)}"
    if keys and not op and all(key.to_python_identifier() != step_key for key in keys):
        return f"{ASSET_JOB_PREFIX}{dataset_name(min(keys, key=dataset_name))}"
    return step_key


def located_dataset(uri: str | None, name: str) -> tuple[str, str]:
    """``(namespace, name)`` of data written at ``uri`` (OpenLineage naming), or in memory as ``name`` when it has none."""
    if uri is None:
        return IN_MEMORY_NAMESPACE, name
    return dataset_from_uri(uri)


def partition_segments(partition_key: str | None) -> tuple[str, ...]:
    """Path segments of a partition: ``()`` when unpartitioned; multi-partitions as ``dim=value`` sorted by dimension."""
    if partition_key is None:
        return ()
    if isinstance(partition_key, MultiPartitionKey):
        dims: Mapping[str, str] = partition_key.keys_by_dimension
        return tuple(_safe_segment(f"{d}={dims[d]}") for d in sorted(dims))
    return (_safe_segment(str(partition_key)),)


def data_relpath(asset_key: AssetKey, partition_key: str | None, suffix: str = DATA_SUFFIX) -> str:
    """Relative ``/`` path of an asset's data file: ``raw/orders.parquet`` or ``raw/orders/2024-01-01.parquet``;
    a key part or partition key too long for a file name is refused, naming the asset and partition."""
    parts = tuple(_safe_segment(p) for p in asset_key.path) + partition_segments(partition_key)
    what = f"asset {_shown(dataset_name(asset_key))}" + (f", partition {_shown(str(partition_key))}" if partition_key is not None else "")
    return _fitting_path(parts, suffix, what)


OP_OUTPUTS_FOLDER = ".tdprov-ops"
"""Folder of the data root holding op outputs that are no asset (the steps of a graph-backed asset hand them on)."""


def op_output_relpath(identifier: Sequence[str], suffix: str = DATA_SUFFIX) -> str:
    """Relative ``/`` path of an op output that is no asset, from Dagster's identifier of it (Dagster run id,
    step key, output name, mapping key of a dynamic output): ``.tdprov-ops/<run>/<step>/<output>.parquet``,
    one file per run, step and output, so each one is a dataset of its own."""
    parts = (OP_OUTPUTS_FOLDER, *map(_safe_segment, identifier))
    return _fitting_path(parts, suffix, f"op output {_shown('/'.join(identifier))}")


def step_run_id(dagster_run_id: str, step_key: str, attempt: int = 0, part: int = 0,
                namespace: str = DEFAULT_NAMESPACE, *, direct: bool = False) -> str:
    """The OpenLineage run id of one attempt of one step of a Dagster run, as a job of ``namespace``: stable, so a
    sensor can close it later; a retry (``attempt`` > 0) is a run of its own, and so is a later ``part`` of an attempt
    (what the IO manager recorded after ``ProvenanceResource.record`` had ended the step's run), and so is the step as
    a job of each namespace it records in (outputs handed to IO managers of two namespaces). The default namespace's
    ids are those tdprov gave before the namespace was part of them. A ``direct`` record (outside a Dagster run,
    ``dagster_run_id`` from :func:`direct_run_id`) gets a UUIDv7 of the time that id holds, as OpenLineage recommends."""
    suffix = (f"/attempt-{attempt}" if attempt else "") + (f"/part-{part}" if part else "")
    scope = "" if namespace == DEFAULT_NAMESPACE else f"{namespace}|"
    name = f"{scope}{dagster_run_id}/{step_key}{suffix}"
    if direct:
        return str(_uuid7(uuid.UUID(dagster_run_id).int >> 80, hashlib.sha256(name.encode()).digest()))
    return str(uuid.uuid5(_RUN_NAMESPACE, name))


def direct_run_id() -> str:
    """A new id standing for the Dagster run of a record made outside one: a UUIDv7 of now (RFC 9562)."""
    return str(_uuid7(time.time_ns() // 1_000_000, secrets.token_bytes(10)))


def _uuid7(millis: int, rest: bytes) -> uuid.UUID:
    """The UUIDv7 of Unix time ``millis`` (its first 48 bits) whose other bits are taken from ``rest``'s first 10 bytes."""
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(rest[:10], "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    return uuid.UUID(int=value & ~(0x3 << 62) | 0x2 << 62)  # the RFC 4122 / 9562 variant


def _safe_segment(segment: str) -> str:
    if segment in ("", ".", "..") or "\x00" in segment:
        raise BadInputError(
            f"asset key or partition segment {segment!r} cannot be used as a path segment",
            fix="use asset keys and partition keys made of ordinary names",
        )
    # percent-encoded, '%' first: partitions "eu/west" and "eu%2Fwest" are two files, never one
    return segment.replace("%", "%25").replace("/", "%2F").replace("\\", "%5C")


def _fitting_path(parts: Sequence[str], suffix: str, what: str) -> str:
    """``parts`` joined as a relative path ending in ``suffix``, when each folder name, the file's name and the names
    written beside the file fit in a file name (:data:`NAME_MAX_BYTES`); else a ``BadInputError`` naming ``what``,
    before anything is written (the write failed half-way with 'File name too long')."""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        room = _file_segment_bytes(suffix) if last else NAME_MAX_BYTES
        size = len(part.encode("utf-8", "surrogatepass"))
        if size > room:
            beside = f", leaving room for {suffix!r} and the temporary files written beside it" if last else ""
            raise BadInputError(
                f"{what}: its path segment {_shown(part)} is {size} bytes, too long for a file name "
                f"(a {'file' if last else 'folder'} name takes at most {room} bytes in UTF-8, percent-encoded{beside})",
                fix=f"use a shorter asset key part or partition key (at most {room} bytes)",
            )
    return "/".join(parts) + suffix


def _shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, cut after ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "…")
