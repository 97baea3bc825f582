"""Snapshots of what Dagster steps write: one place for the IO manager and ``ProvenanceResource``."""
from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from prov_common.bundle.outlived import Worker
from prov_common.config import exit_timeout
from prov_common.errors import StoreError, TdprovError
from prov_common.store.errors import FIX_SNAPSHOT, outage_refix, strict_refix
from prov_dagster.model import DatasetRecord
from prov_dagster.recorder import recorder_for


def wants_snapshot(config: Any, asked: bool | None) -> bool:
    """The asset's (or call's) own setting, else the store's (``snapshot`` field / ``TDPROV_SNAPSHOT``)."""
    return asked if asked is not None else config.settings().snapshot


def restore_fix(config: Any, digest: str, uri: str) -> str:
    """How to bring back version ``digest`` of the data at ``uri`` (what the fix of a digest mismatch says): from its
    snapshot when the store of ``config`` holds one (one lookup, on the error path), else by re-materializing. A store
    that cannot be asked (any error it raises or lets through, or no answer within the transport's bound or the exit
    bound, ``TDPROV_EXIT_TIMEOUT``, whichever is shorter: a hung mount) does not take the place of the refusal this fix
    is for, nor hold it: the fix says so and offers no command that may fail."""
    from prov_common.store.snapshots import has_snapshot

    lookup = Worker("tdprov-snapshot-lookup")  # a daemon thread: a lookup that hangs is left to it, never joined
    try:
        transport = recorder_for(config).transport()
        bound = min(transport.config.timeout, exit_timeout())
        kept = lookup.submit(lambda: has_snapshot(transport.store, digest)).result(timeout=bound)
    except concurrent.futures.TimeoutError:
        return (f"re-materialize the upstream asset (whether the store keeps a snapshot of {digest} to restore is not "
                f"known: the store did not answer within {bound:g}s)")
    except Exception as exc:  # noqa: BLE001 - the refusal this fix is for always stands
        error = exc.what.rstrip(".") if isinstance(exc, TdprovError) else f"{type(exc).__name__}: {exc}"
        return (f"re-materialize the upstream asset (whether the store keeps a snapshot of {digest} to restore is not "
                f"known: it could not be asked ({error}))")
    finally:
        lookup.shutdown(wait=False)
    if not kept:
        return (f"re-materialize the upstream asset (the store holds no snapshot of {digest} to restore; with snapshots "
                "on, provenance_asset(snapshot=True) or TDPROV_SNAPSHOT=1, the next change can be undone with 'tdprov checkout')")
    if uri.startswith("s3://"):
        return (f"re-materialize the upstream asset, restore it from its snapshot with 'tdprov checkout {digest} -o <file> "
                f"--force' and upload the file to {uri}")
    return f"re-materialize the upstream asset, restore it from its snapshot with 'tdprov checkout {digest} -o {uri} --force'"


def keep_snapshot(config: Any, record: DatasetRecord, run_id: str, warn: Callable[[str], None]) -> DatasetRecord:
    """Keep a content-addressed copy of the file or sharded dataset ``record`` names (unchanged bytes, and
    unchanged shards, are stored once); returns ``record`` with what was kept, which its facet records (the
    copy is kept before the event that names the version is sent).

    A store that cannot take it (tdprov's error, or an ``OSError`` its backend or the copy of the data let through,
    such as a full disk) raises only in strict mode, which spools nothing and says so (:func:`strict_refix`);
    otherwise ``warn`` says that this version has no snapshot in run ``run_id`` (the step's), an outage's fix saying
    that a snapshot is never spooled (:data:`~prov_common.store.errors.FIX_SNAPSHOT`), the step goes on and
    ``record`` is returned as it was (no snapshot recorded). Either way the store's error's fix names the setting the
    store came from (:meth:`~prov_dagster.recorder.Recorder.named`)."""
    assert record.digest is not None and record.uri is not None
    from prov_common.store.shard_snapshots import keep_dataset

    recorder = recorder_for(config)
    try:
        kept = keep_dataset(recorder.transport().store, record.uri, record.digest)
    except (TdprovError, OSError) as exc:
        recorder.named(exc)  # in place
        if config.settings().strict:
            if isinstance(exc, StoreError):
                strict_refix(exc)  # in place: nothing was spooled
            raise
        if isinstance(exc, StoreError):
            outage_refix(exc, FIX_SNAPSHOT)  # in place: a flush delivers no snapshot
        warn(f"tdprov: no snapshot of {record.name} version {record.digest.digest} of run {run_id} was kept: {exc}")
        return record
    return replace(record, snapshot=kept)
