"""Row granularity and snapshots in Airflow: which datasets get a row set or a snapshot, and recording them.

Per dataset, an inlet's or outlet's ``extra={"tdprov": {"granularity": "row", "snapshot": True}}``;
per task, ``@task.provenance(granularity="row", snapshot=True)``, the same options of tdprov's
operators, or ``params={"tdprov_granularity": "row", "tdprov_snapshot": True}`` on any task; per store,
``[tdprov] snapshot`` / ``TDPROV_SNAPSHOT``. The most specific setting wins.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prov_common.config import RECORDED_GRANULARITIES, check_flag, check_granularity, flag
from prov_common.lineage.datasets import DatasetRef

log = logging.getLogger(__name__)

GRANULARITY_ATTR = "tdprov_granularity"
"""Operator attribute (and task param) naming the granularity of the task's datasets: ``row`` or ``column``."""
SNAPSHOT_ATTR = "tdprov_snapshot"
"""Operator attribute (and task param): keep a content-addressed copy of the task's outlets."""
def mark_task(operator: Any, granularity: str | None, snapshot: bool | None) -> None:
    """Record a task's own granularity and snapshot options on its operator (read by the listener)."""
    if granularity is not None:
        setattr(operator, GRANULARITY_ATTR, check_granularity(granularity, f"task {operator.task_id!r}"))
    if snapshot is not None:
        setattr(operator, SNAPSHOT_ATTR, check_flag(snapshot, "snapshot", f"task {operator.task_id!r}"))


@dataclass(frozen=True)
class DatasetOptions:
    """What the listener records of one inlet or outlet beyond its digest."""

    granularity: str = "column"
    snapshot: bool = False


def _task_option(task: Any, name: str) -> Any:
    value = getattr(task, name, None)
    if value is not None:
        return value
    params = getattr(task, "params", None)
    try:
        return params.get(name) if params is not None else None
    except Exception:  # noqa: BLE001 - params that cannot be read set nothing
        return None


def options_for(item: Any, task: Any, store_snapshot: bool) -> DatasetOptions:
    """The options of inlet/outlet ``item`` of ``task``: its ``extra``, else the task's, else the store's."""
    extra = getattr(item, "extra", None)
    own = extra.get("tdprov") if isinstance(extra, Mapping) else None
    own = own if isinstance(own, Mapping) else {}
    granularity = own.get("granularity") or _task_option(task, GRANULARITY_ATTR) or "column"
    snapshot = own.get("snapshot")
    snapshot = _task_option(task, SNAPSHOT_ATTR) if snapshot is None else snapshot
    snapshot = store_snapshot if snapshot is None else flag(snapshot, f"snapshot of {getattr(item, 'uri', item)}", store_snapshot)
    if granularity not in RECORDED_GRANULARITIES:
        log.warning("tdprov: granularity %r of %s is not one of %s; recording it at column granularity",
                    granularity, getattr(item, "uri", item), ", ".join(RECORDED_GRANULARITIES))
        granularity = "column"
    return DatasetOptions(str(granularity), bool(snapshot))


def hashed_ref(lineage: Any, ref: DatasetRef, table: Any, granularity: str, file_sha256: str | None = None) -> DatasetRef:
    """``ref`` with the digest of ``table`` (a DataFrame, or an Arrow table as read from a file, whose bytes have the
    SHA-256 ``file_sha256``); at row granularity its row set is attached to the task's bundle."""
    import pyarrow as pa
    from prov_common.hashing import hash_dataframe, hash_table
    from prov_common.rowset import row_set_of, without_rows

    hash_of = hash_table if isinstance(table, pa.Table) else hash_dataframe
    digest = dataclasses.replace(hash_of(table, granularity="row" if granularity == "row" else "column"),
                                 file_sha256=file_sha256)
    if granularity != "row":
        return dataclasses.replace(ref, digest=digest)
    row_set = row_set_of(digest, ref.namespace, ref.name)
    if not lineage.attachments.add_or_warn(row_set.path, row_set.data, ref.namespace, ref.name, log.warning):
        return dataclasses.replace(ref, digest=without_rows(digest))  # without its row set: never another's file
    return dataclasses.replace(ref, digest=without_rows(digest), row_digests_file=row_set.path, rows_root=row_set.root)


def attach_row_sets(attachments: Any, captures: list[Any]) -> list[Any]:
    """Add the row sets of ``captures`` (``DatasetCapture``) to ``attachments`` (an ``Attachments``); returns the
    captures, one whose row set is refused (another content under its path) without it, with a warning."""
    from prov_airflow.capture import dataset_key

    kept = []
    for capture in captures:
        if capture.row_set is not None and not attachments.add_or_warn(
                capture.row_set.path, capture.row_set.data, *dataset_key(capture.uri), log.warning):
            capture = dataclasses.replace(capture, row_set=None)
        kept.append(capture)
    return kept


def snapshot_outlets(captures: list[Any], store: Any, limits: Any = None) -> list[Any]:
    """Keep a copy of every hashed outlet whose options ask for one (``s3://`` data read as ``limits``
    says, see :func:`~prov_airflow.capture.data_clients`); a failure is logged, never raised. Returns ``captures``,
    each with the copy kept for it (``kept``, recorded in its facet by the event sent after this)."""
    from prov_common.store.shard_snapshots import keep_dataset

    from prov_airflow.capture import data_clients_or_why, reading_data_with
    from prov_airflow.settings import ListenerLimits

    if not any(_to_keep(c) for c in captures):
        return captures
    clients, why = data_clients_or_why(limits or ListenerLimits())
    if why:  # the connection is read once, not once per outlet
        log.warning("tdprov: no snapshot of the outlets was kept (%s); the task is not affected", why)
        return captures
    out = []
    for capture in captures:
        if _to_keep(capture):
            try:
                with reading_data_with(clients):
                    capture = dataclasses.replace(capture, kept=keep_dataset(store, capture.uri, capture.digest))
            except Exception as exc:  # noqa: BLE001 - provenance never fails a task
                log.warning("tdprov: no snapshot of %s was kept (%s: %s); the task is not affected",
                            capture.uri, type(exc).__name__, exc)
        out.append(capture)
    return out


def _to_keep(capture: Any) -> bool:
    """Whether a copy of ``capture``'s data is kept: its options ask for one, and it was hashed whole."""
    return bool(capture.snapshot and capture.complete)
