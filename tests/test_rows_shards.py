"""Row sets of sharded versions: one row set over the rows of all shards, recorded by the Airflow listener
for a folder outlet and by ``ProvenanceResource.record(granularity="row")`` in Dagster, answered by
``tdprov contains`` with a proof that the standalone verifier of docs/verification.md accepts."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, events_of, run_dag

import numpy as np
import pandas as pd
import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset
from dagster import MaterializeResult, asset, materialize

from prov_common.errors import BadInputError
from prov_common.hashing import hash_dataframe, hash_path
from prov_common.hashing.shards import hash_shards
from prov_common.hashing.rows import digests_chunks
from prov_common.rowset import RowProof, row_set_of
from prov_common.rowset.format import bits_for, sorted_keys
from prov_common.rowset import runs as runs_module
from prov_common.rowset.runs import merged_ranges
from prov_common.store.outbox import default_spool_dir
from prov_dagster import ProvenanceResource

from rows_support import contains_cli, verifier_script

START = pendulum.datetime(2024, 1, 1, tz="UTC")
SHARDS = 3
PER_SHARD = 2_000
FRAME = pd.DataFrame({"id": np.arange(SHARDS * PER_SHARD, dtype=np.int64),
                      "text": [f"document {i}" for i in range(SHARDS * PER_SHARD)]})
IN = {"id": 4321, "text": "document 4321"}  # a row of the third shard
OUT = {"id": 4321, "text": "document 4322"}


def write_shards(folder: Path, frame: pd.DataFrame = FRAME) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(SHARDS):
        frame.iloc[i * PER_SHARD:(i + 1) * PER_SHARD].to_parquet(folder / f"part-{i:05d}.parquet", index=False)
    return folder


def test_row_set_of_shards_is_the_row_set_of_their_rows_in_one_table(tmp_path: Path) -> None:
    folder = write_shards(tmp_path / "corpus")
    rows = hash_shards(str(folder), granularity="row", cache=False)
    assert rows.digest == hash_shards(str(folder), cache=False).digest  # granularity does not change the version
    assert rows.no_rows_because is None and rows.row_keys.rows == len(FRAME)
    assert all(s.row_keys is None for s in rows.shards)  # kept once, for the whole version
    one = hash_dataframe(FRAME, granularity="row")
    # each shard's 8-byte keys, sorted where it was hashed and spilled to a file of one temporary folder
    spilled = rows.row_keys.folder.name
    assert [os.path.dirname(r.path) for r in rows.row_keys.runs] == [spilled] * SHARDS
    merged = np.concatenate([keys for keys, _ in merged_ranges(rows.row_keys, bits_for(len(FRAME)))])
    assert np.array_equal(merged, sorted_keys(digests_chunks(one.row_digests)))
    one_table = row_set_of(hash_dataframe(FRAME, granularity="row"), "file", "corpus")
    assert row_set_of(rows, "file", "corpus").data == one_table.data  # sorted digests: where a row sits does not matter
    on_dask = hash_shards(str(folder), granularity="row", cache=False, scheduler="local", workers=1)
    assert all(r.path is not None and r.keys is None for r in on_dask.row_keys.runs)  # a LocalCluster's workers spill too
    assert on_dask.engine.startswith("dask") and row_set_of(on_dask, "file", "corpus").data == one_table.data
    del rows, on_dask
    assert not os.path.exists(spilled)  # the keys' folder goes with the digest


def test_row_keys_and_the_row_set_built_of_them_are_on_the_spools_disk(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the temporary folder is a tmpfs its files are memory: a version's key runs and the row set built of them
    go in a hidden folder of the spool folder (on its disk), whatever TMPDIR says, and go with the digest and the
    row set; a spool folder where nothing can be made gives the temporary folder, as before. Both give the same row
    set."""
    import gc

    folder = write_shards(tmp_path / "corpus")
    one_table = row_set_of(hash_dataframe(FRAME, granularity="row"), "file", "corpus")
    elsewhere = tmp_path / "tmpfs"
    elsewhere.mkdir()
    monkeypatch.setenv("TMPDIR", str(elsewhere))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read again from TMPDIR
    (tmp_path / "a-file").write_text("")
    for spool, within in ((tmp_path / "spool", tmp_path / "spool"), (tmp_path / "a-file" / "spool", elsewhere)):
        monkeypatch.setenv("TDPROV_SPOOL", str(spool))
        rows = hash_shards(str(folder), granularity="row", cache=False, scheduler="none")
        runs = Path(rows.row_keys.folder.name)
        assert runs.parent == within and runs.name.startswith(
            ".tdprov-rowkeys-" if within != elsewhere else "tdprov-rowkeys-")
        assert {Path(r.path).parent for r in rows.row_keys.runs} == {runs}
        got = row_set_of(rows, "file", "corpus")
        maps = Path("/proc/self/maps").read_text().splitlines()
        assert any(f" {runs}/" in line and ".rowset (deleted)" in line for line in maps)  # the row set, mapped there
        assert (got.root, bytes(got.data)) == (one_table.root, bytes(one_table.data))
        del rows, got
        gc.collect()
        assert not runs.exists()
    assert os.listdir(tmp_path / "spool") == [] and os.listdir(elsewhere) == []  # nothing left behind


def _hashed_then_held(folder: str, out: Connection) -> None:
    """Hashes ``folder`` at row granularity and, its version's key runs all in the spool, sends their folder's name on
    ``out`` and holds them there until the process is killed."""
    import time

    from prov_common.hashing import shards

    def held(found, spill=None) -> None:  # noqa: ANN001
        out.send(spill.name)
        time.sleep(120)

    shards.with_row_keys = held
    shards.hash_shards(folder, granularity="row", cache=False, scheduler="none")


def _held_by_children(target: Callable[[str, Connection], None], arg: str, count: int) -> list[tuple[BaseProcess, Path]]:
    """``count`` processes forked from this one (everything imported: they start in milliseconds, where a process of
    its own imported pandas and tdprov's hashing first), each running ``target(arg, out)`` until it sends on ``out``
    the folder it holds: each process with that folder."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    children = []
    for _ in range(count):
        here, there = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=target, args=(arg, there))
        proc.start()
        children.append((proc, here))
    try:
        for proc, here in children:
            assert here.poll(60), f"process {proc.pid} named no folder (exit code {proc.exitcode})"
        return [(proc, Path(here.recv())) for proc, here in children]
    except BaseException:
        for proc, _ in children:
            _killed(proc)
        raise


def _killed(proc: BaseProcess) -> bool:
    """Kill -9 ``proc`` (a forked child) and wait for it: whether it ended by that signal."""
    import signal

    proc.kill()
    proc.join(60)
    return proc.exitcode == -signal.SIGKILL


def test_row_keys_left_in_the_spool_by_a_killed_process_go_with_the_next_folder_or_flush(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process killed (kill -9) while it hashed a sharded version at row granularity leaves its hidden folder of key
    runs in the spool folder, which no reboot empties: the next such folder made there, or the next flush of that
    spool, removes it, as it does one whose pid a process started since has. The folder of a live process stays, as
    do those of another pid namespace (a container sharing the folder) and hidden folders that name no process."""
    from prov_common.owner import mark
    from prov_common.store import Outbox

    folder, spool = write_shards(tmp_path / "corpus"), tmp_path / "spool"
    monkeypatch.setenv("TDPROV_SPOOL", str(spool))
    made_by = _held_by_children(_hashed_then_held, str(folder), 3)
    try:
        (first, left), (second, later), (live, held) = made_by
        assert {left.parent, later.parent, held.parent} == {spool}
        assert left.name.startswith(f".tdprov-rowkeys-{first.pid}-") and len(list(left.glob("*.keys"))) == SHARDS
        assert _killed(first) and left.is_dir()  # left behind
        unnamed = spool / ".tdprov-rowkeys-abc123de"  # named as before: whose it is, nothing says
        unnamed.mkdir()
        pid, boot, _, namespace = mark().split("-")
        reused = spool / f".tdprov-rowkeys-{pid}-{boot}-1-{namespace}-abcdefgh"  # this pid, once another process's
        container = spool / f".tdprov-rowkeys-{first.pid}-{boot}-1-1-abcdefgh"  # another pid namespace's: not seen here
        reused.mkdir()
        container.mkdir()

        made = runs_module.spill_folder()
        assert made is not None and Path(made.name).name.startswith(f".tdprov-rowkeys-{mark()}-")
        assert not left.exists() and not reused.exists()
        assert held.is_dir() and len(list(held.glob("*.keys"))) == SHARDS and later.is_dir() and unnamed.is_dir()
        assert container.is_dir()

        assert _killed(second) and later.is_dir()
        assert Outbox(spool).flush().ok
        assert sorted(p.name for p in spool.iterdir()) == sorted(
            [held.name, unnamed.name, container.name, Path(made.name).name])
        assert len(list(held.glob("*.keys"))) == SHARDS
        made.cleanup()
    finally:
        for proc, _ in made_by:
            _killed(proc)
    assert Outbox(spool).flush().ok and not held.exists()  # killed now: the next flush takes its folder too


def _spilled_then_held(shared: str, out: Connection) -> None:
    """Makes a folder of key runs in the shared spill folder ``shared`` and sends its name on ``out``, then holds it
    until the process is killed."""
    import time

    from prov_common.rowset.runs import key_run, spill_folder

    folder = spill_folder(shared)  # as hash_shards makes it for a shared spill folder (a cluster reached by address)
    key_run(np.arange(4, dtype=np.uint64), folder.name)  # a worker's run of keys in it
    out.send(folder.name)
    time.sleep(120)


def test_row_keys_left_in_a_shared_spill_folder_by_a_killed_process_go_with_the_next_folder_made_there(
        tmp_path: Path) -> None:
    """A process killed (kill -9) while it hashed with a shared Dask spill folder leaves its tdprov-rowkeys-* folder
    there: the next such folder made there removes it, as it is named for this machine and a process that is gone. A
    live process's folder stays; another machine's (whose processes are not seen from here) stays until it is older
    than prov_common.scratch.SHARED_MAX_AGE (7 days); a folder named as before (whose, nothing says) stays."""
    import time

    from prov_common.owner import mark

    shared = tmp_path / "shared-spill"
    shared.mkdir()
    made_by = _held_by_children(_spilled_then_held, str(shared), 2)
    try:
        (killed, left), (live, held) = made_by
        from prov_common.scratch import _host  # the host name as the folder's name writes it

        host = _host()
        assert left.parent == shared and left.name.startswith(f"tdprov-rowkeys-{killed.pid}-")
        assert f"-{host}-" in left.name and len(list(left.glob("*.keys"))) == 1
        assert _killed(killed) and left.is_dir()  # left behind
        now, process = int(time.time()), mark()
        recent = shared / f"tdprov-rowkeys-{process}-{now - 3600}-other-host.example-abcdefgh"
        old = shared / f"tdprov-rowkeys-{process}-{now - 8 * 24 * 3600}-other-host.example-abcdefgh"
        unnamed = shared / "tdprov-rowkeys-abc123de"
        for folder in (recent, old, unnamed):
            folder.mkdir()

        made = runs_module.spill_folder(str(shared))
        assert made is not None and Path(made.name).name.startswith(f"tdprov-rowkeys-{mark()}-")
        assert sorted(p.name for p in shared.iterdir()) == sorted(
            [held.name, recent.name, unnamed.name, Path(made.name).name])
        assert len(list(held.glob("*.keys"))) == 1
        made.cleanup()
    finally:
        for proc, _ in made_by:
            _killed(proc)


def test_a_shared_spill_folder_of_this_host_name_in_another_pid_namespace_goes_once_old(tmp_path: Path) -> None:
    """A container sharing this machine's host name (Docker's host network, a restarted pod named as before) has another
    pid namespace, whose processes are not seen from here: its folder in a shared spill folder was never removed, as its
    host name was this machine's and its process could not be told gone, nor was the age of another machine's applied.
    It goes once older than prov_common.scratch.SHARED_MAX_AGE, as another machine's does; a younger one stays."""
    import time

    from prov_common.owner import _boot, _namespace
    from prov_common.scratch import _host, remove_shared_orphans

    if _namespace() == "0":
        pytest.skip("this system does not tell its pid namespace")
    shared, now = tmp_path / "shared-spill", int(time.time())
    other = f"{os.getpid()}-{_boot()}-1-{int(_namespace()) + 1}"  # a live pid, seen from another pid namespace
    old = shared / f"tdprov-rowkeys-{other}-{now - 8 * 24 * 3600}-{_host()}-abcdefgh"
    recent = shared / f"tdprov-rowkeys-{other}-{now - 3600}-{_host()}-abcdefgh"
    for folder in (old, recent):
        folder.mkdir(parents=True)
    assert remove_shared_orphans(shared) == [old]
    assert [p.name for p in shared.iterdir()] == [recent.name]


def test_shards_that_are_not_all_alike_tables_have_no_row_set_and_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_shards(tmp_path / "corpus")
    (folder / "README.txt").write_text("not a table")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    found = hash_shards(str(folder), granularity="row", cache=False)
    assert found.no_rows_because == "shard README.txt is not a table (Parquet, CSV or JSON lines)"
    assert found.row_keys is None and os.listdir(tmp_path / "tmp") == []  # the shards' keys are removed at once
    with pytest.raises(BadInputError, match="has no row set: shard README.txt is not a table") as info:
        row_set_of(found, "file", "corpus")
    assert "column granularity" in info.value.fix
    (folder / "README.txt").unlink()
    FRAME.head(5).rename(columns={"text": "body"}).to_parquet(folder / "part-00009.parquet", index=False)
    found = hash_shards(str(folder), granularity="row", cache=False)
    assert found.no_rows_because == ("shard part-00009.parquet has other columns than part-00000.parquet: "
                                     "(id int64, body string) against (id int64, text string)")


def _check_with_the_docs_verifier(digest: str, store_uri: str, events: list[dict], tmp_path: Path,
                                  capsys: pytest.CaptureFixture) -> None:
    """``tdprov contains`` answers for a row of the third shard, and the standard-library verifier of
    docs/verification.md checks the proof against the rows root of the signed event."""
    (root,) = {o["facets"]["tdprov_contentHash"]["rowsRoot"] for e in events for o in e.get("outputs", [])
               if o["facets"].get("tdprov_contentHash", {}).get("digest") == digest}
    code, answer, _ = contains_cli(digest, IN, store_uri, capsys)
    assert code == 0 and answer["contained"] and answer["proof"]["rowsRoot"] == root
    assert answer["proof"]["rows"] == len(FRAME)
    RowProof.from_dict(answer["proof"]).check(root)
    script, proof = tmp_path / "verify_row_proof.py", tmp_path / "proof.json"
    script.write_text(verifier_script(), encoding="utf-8")
    for record, expected in ((IN, (0, "OK: contained\n")), (OUT, (1, "OK: not contained\n"))):
        _, answer, _ = contains_cli(digest, record, store_uri, capsys)
        proof.write_text(json.dumps(answer), encoding="utf-8")
        done = subprocess.run([sys.executable, "-I", "-S", str(script), str(proof), root], capture_output=True, text=True)
        assert (done.returncode, done.stdout) == expected


def test_airflow_folder_outlet_at_row_granularity(tmp_path: Path, store: Path, capsys: pytest.CaptureFixture,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    corpus, mixed, notes = tmp_path / "corpus", tmp_path / "mixed", tmp_path / "notes.txt"

    def write() -> None:
        write_shards(corpus)
        write_shards(mixed)
        (mixed / "notes.txt").write_text("not a table")
        notes.write_text("one file, not a table")

    row = {"tdprov": {"granularity": "row"}}
    with DAG("tdprov_rows_shards", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=write, outlets=[
            Asset(corpus.as_uri() + "/", extra=row), Asset(mixed.as_uri() + "/", extra=row), Asset(notes.as_uri(), extra=row)])
    with caplog.at_level(logging.WARNING, logger="prov_airflow"):
        assert run_dag(dag, logical_date=START).state == "success"
    digest = hash_shards(str(corpus), cache=False).digest
    (summary,) = [s for s in bundles_of(store) if s.job_name == "tdprov_rows_shards.write"]
    events = events_of(store, summary.run_id)
    facets = {o["name"]: o["facets"]["tdprov_contentHash"] for o in events[-1]["outputs"]}
    assert facets[str(corpus)]["kind"] == "shards" and facets[str(corpus)]["granularity"] == "row"
    # the folder with a file among its tables is recorded all the same, at column granularity, with the reason
    assert facets[str(mixed)]["digest"] == hash_shards(str(mixed), cache=False).digest
    assert "rowsRoot" not in facets[str(mixed)]
    assert f"{mixed.as_uri()} recorded at column granularity, no row set: shard notes.txt is not a table" in caplog.text
    # one file that is not a table: recorded by its bytes, and the log says why it has no row set
    assert facets[str(notes)]["digest"] == hash_path(notes).digest and "rowsRoot" not in facets[str(notes)]
    assert f"{notes.as_uri()} recorded at column granularity, no row set: the file is not a table" in caplog.text
    _check_with_the_docs_verifier(digest, str(store), events, tmp_path, capsys)


def test_dagster_record_of_a_sharded_output_at_row_granularity(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from prov_common.store import open_store

    store_uri, corpus = str(tmp_path / "store"), tmp_path / "corpus"

    @asset
    def training_corpus(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        write_shards(corpus)
        recorded = provenance.record(outputs={"training/corpus": str(corpus)}, context=context, granularity="row")
        return MaterializeResult(metadata=recorded.metadata, data_version=recorded.data_version)

    assert materialize([training_corpus], resources={"provenance": ProvenanceResource(store=store_uri)}).success
    digest = hash_shards(str(corpus), cache=False).digest
    (run_id,) = {key.split("/")[1] for key in open_store(store_uri).list("bundles/") if key.endswith("/events.jsonl")}
    events = [json.loads(line) for line in open_store(store_uri).get(f"bundles/{run_id}/events.jsonl").splitlines()]
    _check_with_the_docs_verifier(digest, store_uri, events, tmp_path, capsys)

    (corpus / "notes.txt").write_text("not a table")
    staged = sorted(open_store(store_uri).list("staging/"))
    with pytest.raises(BadInputError, match="'training/corpus' has no row set: shard notes.txt is not a table"):
        ProvenanceResource(store=store_uri).record(inputs=[str(corpus / "part-00000.parquet")],
                                                   outputs={"training/corpus": str(corpus)}, granularity="row")
    assert sorted(open_store(store_uri).list("staging/")) == staged  # refused before the run started: no START left
    with pytest.raises(BadInputError, match="granularity 'rows' of record"):
        ProvenanceResource(store=store_uri).record(outputs={"training/corpus": str(corpus)}, granularity="rows")


def test_dagster_record_of_a_file_that_is_no_table_at_row_granularity_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a table")
    with pytest.raises(BadInputError, match="is a file, not a table") as info:
        ProvenanceResource(store=str(tmp_path / "store")).record(outputs={"notes": str(notes)}, granularity="row")
    assert info.value.fix == "record it at column granularity"



def test_a_capture_keeps_the_row_set_and_not_the_rows_it_stands_for(tmp_path: Path) -> None:
    """The listener's capture of a folder at row granularity holds the row set (8.75 bytes a row) and a
    digest without the row-set keys (8 bytes a row more until the task's bundle is written)."""
    from prov_airflow.capture import hash_one
    from prov_airflow.settings import ListenerLimits
    from prov_common.rowset import without_rows

    folder = write_shards(tmp_path / "corpus")
    capture = hash_one(folder.as_uri(), ListenerLimits(), 60.0, granularity="row")
    assert capture.status == "hashed", capture.message
    rows = hash_shards(str(folder), granularity="row", cache=False)
    assert capture.digest.row_keys is None and rows.row_keys is not None
    assert capture.digest == without_rows(rows) and capture.digest.digest == rows.digest
    assert capture.row_set.data == row_set_of(rows, "file", "corpus").data
    table = hash_dataframe(FRAME, granularity="row")
    assert without_rows(table).row_digests is None and without_rows(table).digest == table.digest


def _proof(row_set, store_dir: Path, record: dict) -> dict:
    """The proof for ``record`` from ``row_set`` put in a local store, as ``tdprov contains`` reads it (by ranges)."""
    from prov_common.rowset import SignedRowSet, prove_record
    from prov_common.store import open_store

    store = open_store(str(store_dir))
    store.put(row_set.path, bytes(row_set.data))
    return prove_record(store, SignedRowSet("run", row_set.path, row_set.root, len(row_set.data)), record).to_dict()


@pytest.fixture
def s3_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """moto's S3 server in a process of its own (so that its memory is not this process's), with a bucket; the AWS
    environment points at it. Gives its boto3 client and the bucket."""
    import time

    import boto3
    from conftest import free_port, s3_env

    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for name, value in s3_env(f"http://127.0.0.1:{port}", tmp_path).items():
            monkeypatch.setenv(name, value)
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
        for _ in range(200):
            try:
                client.create_bucket(Bucket="spill-bucket")
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)
        yield client, "spill-bucket"
    finally:
        server.terminate()
        server.wait(10)


def test_row_keys_of_a_cluster_reached_by_address_go_through_the_shared_spill_location(
        tmp_path: Path, s3_elsewhere, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Workers of a cluster reached by address put each shard's sorted keys under the S3 spill location and send back
    only where they are: the recording process copies them a part at a time, so its peak stays far below the keys of
    all shards (which came back to it in memory), and the row set, its root and the proofs are those hashed here."""
    import tracemalloc

    from prov_common.hashing import shards as shards_module
    from prov_common.hashing.remote import s3_client
    from prov_common.hashing.shard_engine import local_cluster

    client, bucket = s3_elsewhere
    per, count = 150_000, 4
    frame = pd.DataFrame({"id": np.arange(per * count, dtype=np.int64), "text": [f"doc {i}" for i in range(per * count)]})
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(count):
        frame.iloc[i * per:(i + 1) * per].to_parquet(folder / f"part-{i:05d}.parquet", index=False)
    here = hash_shards(str(folder), granularity="row", cache=False, scheduler="none")
    expected = row_set_of(here, "file", "corpus")
    # the shared folder and the unwritable location measure no memory: the same shards, of 1,000 rows each
    small = tmp_path / "small"
    small.mkdir()
    for i in range(count):
        frame.iloc[i * per:i * per + 1_000].to_parquet(small / f"part-{i:05d}.parquet", index=False)
    expected_small = row_set_of(hash_shards(str(small), granularity="row", cache=False, scheduler="none"),
                                "file", "corpus").root
    spilled: list[tuple[str, int]] = []

    def listed_then_removed(prefix: str) -> None:  # what the workers put, seen before it is removed
        found = client.list_objects_v2(Bucket=bucket, Prefix=prefix.split("/", 3)[3]).get("Contents", [])
        spilled.extend((o["Key"], o["Size"]) for o in found)
        remove_prefix(prefix)

    remove_prefix = shards_module.remove_prefix
    monkeypatch.setattr(shards_module, "remove_prefix", listed_then_removed)
    monkeypatch.setenv("TDPROV_DASK_SPILL", f"s3://{bucket}/spill")
    monkeypatch.setattr(runs_module, "RANGE_KEYS", 1 << 14)  # 128 KiB of keys merged at a time
    s3_client()  # made before the measure, as in a recording process that reads its S3 data (its model is 11 MB)
    with local_cluster(2) as cluster:
        tracemalloc.start()
        try:
            there = hash_shards(str(folder), granularity="row", cache=False, scheduler=cluster.scheduler_address)
            hashed = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            got = row_set_of(there, "file", "corpus")
            built = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        shared = tmp_path / "shared-spill"  # a folder the workers reach too (a shared file system)
        shared.mkdir()
        in_folder = hash_shards(str(small), granularity="row", cache=False, scheduler=cluster.scheduler_address,
                                spill=str(shared))
        with caplog.at_level(logging.WARNING, logger="prov_common"):
            unwritable = hash_shards(str(small), granularity="row", cache=False, scheduler=cluster.scheduler_address,
                                     spill="s3://no-such-bucket/spill")
    keys_bytes = 8 * per * count  # 4.8 MB, all of which came back to this process from the workers before
    assert there.engine.startswith("dask tcp://") and there.digest == here.digest
    assert sorted(size for _, size in spilled) == [8 * per] * count  # one run a shard, its keys only
    assert all(key.startswith("spill/tdprov-rowkeys-") and key.endswith(".keys") for key, _ in spilled[:count])
    assert client.list_objects_v2(Bucket=bucket, Prefix="spill/")["KeyCount"] == 0  # removed once copied here
    assert all(r.uri is None and r.keys is None and r.path is not None for r in there.row_keys.runs)
    assert {Path(r.path).parent.parent for r in there.row_keys.runs} == {default_spool_dir()}  # copied to its disk
    for peak in (hashed, built):
        assert peak < keys_bytes // 2, f"{peak:,} bytes held by the recording process for {keys_bytes:,} bytes of keys"
    assert (got.root, bytes(got.data)) == (expected.root, bytes(expected.data))
    for record in (IN, OUT, {"id": 7, "text": "doc 7"}):
        assert _proof(got, tmp_path / "a", record) == _proof(expected, tmp_path / "b", record)
    # a shared folder: the runs are read where the workers wrote them, and removed with the digest
    assert {os.path.dirname(os.path.dirname(r.path)) for r in in_folder.row_keys.runs} == {str(shared)}
    assert row_set_of(in_folder, "file", "corpus").root == expected_small
    del in_folder
    assert os.listdir(shared) == []
    # a location the workers cannot write: the keys come back in memory, as without the setting, and a warning says so
    assert all(r.keys is not None for r in unwritable.row_keys.runs)
    assert row_set_of(unwritable, "file", "corpus").root == expected_small
    warned = [r.getMessage() for r in caplog.records if "could not put the row-set keys" in r.getMessage()]
    assert len(warned) == 1 and f"of {count} shards" in warned[0] and "s3://no-such-bucket/spill/tdprov-rowkeys-" in warned[0]
    assert "set spill to one they can write" in warned[0]  # the setting it was given by
    assert not [r for r in caplog.records if "could not remove" in r.getMessage()]  # nothing was put: one warning


def test_keys_that_came_back_in_memory_are_warned_of_naming_the_shard_or_counting_them(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The warning of row-set keys the workers could not put under the spill location names one shard as "shard X"
    (it read "the row-set keys of 1 shard (the first: X)") and counts more, naming the first."""
    from prov_common.hashing.shard_model import ShardDigest
    from prov_common.hashing.shards import _runs_copied_here
    from prov_common.rowset.runs import key_run

    def came_back(path: str) -> ShardDigest:  # hashed by a worker whose put failed: its keys in memory
        return ShardDigest(path, "table", "blake3:" + "0" * 64, 1, 1, rows=3,
                           row_keys=key_run(np.sort(np.array([3, 1, 2], dtype=np.uint64)), None))

    for paths, named in ((["a.parquet"], "shard a.parquet"),
                         (["a.parquet", "b.parquet", "c.parquet"], "3 shards (the first: a.parquet)")):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="prov_common"):
            _runs_copied_here([came_back(p) for p in paths], str(tmp_path), "s3://no-such-bucket/spill/x", "spill")
        assert [r.getMessage() for r in caplog.records] == [
            f"tdprov: the Dask workers could not put the row-set keys of {named} under s3://no-such-bucket/spill/x, so "
            "they came back to this process in memory (the workers' logs say why). Fix: give the workers write access "
            "to that location, or set spill to one they can write"]


def test_removing_the_runs_under_a_bucket_that_does_not_exist_warns_nothing(
        s3_bucket: str, caplog: pytest.LogCaptureFixture) -> None:
    """A spill bucket that does not exist holds no run: the workers' failed puts are warned about once, as keys that
    came back in memory, not a second time as runs left behind. Runs under a bucket that exists are removed."""
    from prov_common.hashing.remote import s3_client
    from prov_common.rowset.spill import put_run, remove_prefix, version_prefix

    prefix = version_prefix(f"s3://{s3_bucket}/spill/")
    put_run(prefix, memoryview(np.arange(4, dtype=np.uint64)).cast("B"))
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        remove_prefix(prefix)
        remove_prefix(f"s3://no-such-bucket/spill/tdprov-rowkeys-{'0' * 16}/")
    assert s3_client().list_objects_v2(Bucket=s3_bucket, Prefix="spill/")["KeyCount"] == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_shared_spill_setting_that_names_no_folder_is_refused_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_shards(tmp_path / "corpus")
    monkeypatch.setenv("TDPROV_DASK_SPILL", str(tmp_path / "missing"))
    with pytest.raises(BadInputError, match="TDPROV_DASK_SPILL '.*missing' is not a folder on this machine") as caught:
        hash_shards(str(folder), granularity="row", cache=False, scheduler="tcp://127.0.0.1:9")
    assert "shared file system" in caught.value.fix
    with pytest.raises(BadInputError, match="spill 's3://' names no bucket"):
        hash_shards(str(folder), granularity="row", cache=False, scheduler="tcp://127.0.0.1:9", spill="s3://")


def test_a_spilled_run_that_cannot_be_read_back_is_named_not_a_botocore_error(s3_bucket: str, tmp_path: Path) -> None:
    """A run a worker put in the S3 spill location and that is gone when the recording process copies it back (a
    lifecycle rule, a delete) stopped the hashing with botocore's NoSuchKey: it is a store error naming the object and
    what to do, and leaves no partial file."""
    from prov_common.errors import StoreError
    from prov_common.rowset.runs import KeyRun, copied_here

    uri = f"s3://{s3_bucket}/spill/tdprov-rowkeys-{'0' * 16}/run-0"
    index = np.zeros(4097, dtype=np.int64)
    index[-1] = 2
    with pytest.raises(StoreError) as refused:
        copied_here([KeyRun(index, uri=uri)], str(tmp_path))
    assert refused.value.what == (f"the row-set keys a Dask worker spilled to {uri} cannot be read back (NoSuchKey)")
    assert refused.value.fix.startswith("hash the dataset again")
    assert list(tmp_path.iterdir()) == []
