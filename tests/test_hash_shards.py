"""Sharded dataset versions: a folder, a glob or an S3 prefix of shards hashed as one version, a Merkle root
over the shards sorted by path; recorded shard digests are reused, so a re-hash reads only changed shards."""
from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from blake3 import blake3

from prov_common.cli import main
from prov_common.errors import BadInputError
from prov_common.hashing import hash_dataframe, hash_path, hash_shards
from prov_common.hashing.shard_engine import run_map

OLD = 1_600_000_000  # a modification time well in the past: shards are not "just written", so they are cached


def _frame(i: int) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(i * 100, i * 100 + 100), "x": np.arange(100) / (i + 1),
                         "s": [f"r{i}-{k}" for k in range(100)]})


def _age(path: Path, seconds: int = 0) -> None:
    os.utime(path, (OLD + seconds, OLD + seconds))


@pytest.fixture()
def shards(tmp_path: Path) -> Path:
    """Four Parquet shards, a CSV shard in a sub-folder, a JSON-lines shard and Spark's marker files."""
    root = tmp_path / "ds"
    (root / "sub").mkdir(parents=True)
    for i in range(4):
        _frame(i).to_parquet(root / f"part-{i}.parquet")
    _frame(4).to_csv(root / "sub" / "part-4.csv", index=False)
    _frame(5).to_json(root / "part-5.jsonl", orient="records", lines=True)
    (root / "_SUCCESS").write_text("")
    (root / ".part-0.parquet.crc").write_bytes(b"\x00")
    for p in root.rglob("*"):
        if p.is_file():
            _age(p)
    return root


def _expected_digest(shard_digests: dict[str, tuple[str, str]]) -> str:
    """The documented construction, written from docs/content-hash.md with hashlib and blake3 only."""
    def lp(b: bytes) -> bytes:
        return struct.pack("<Q", len(b)) + b

    def mth(leaves: list[bytes]) -> bytes:  # RFC 6962 Merkle tree hash
        if len(leaves) == 1:
            return leaves[0]
        k = 1 << ((len(leaves) - 1).bit_length() - 1)
        return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()

    leaves = []
    for path in sorted(shard_digests, key=lambda p: p.encode()):
        kind, digest = shard_digests[path]
        algo, hexd = digest.split(":")
        data = b"tdprov-shard-v1" + lp(path.encode()) + lp(kind.encode()) + lp(algo.encode()) + bytes.fromhex(hexd)
        leaves.append(hashlib.sha256(b"\x00" + data).digest())
    return "blake3:" + blake3(b"tdprov-shards-v1" + struct.pack("<Q", len(leaves)) + mth(leaves)).hexdigest()


def test_digest_is_the_documented_merkle_root_of_the_shards_canonical_digests(shards: Path) -> None:
    d = hash_shards(str(shards), cache=False, scheduler="none")
    assert [s.path for s in d.shards] == ["part-0.parquet", "part-1.parquet", "part-2.parquet", "part-3.parquet",
                                          "part-5.jsonl", "sub/part-4.csv"]  # markers skipped, sorted by path
    for s in d.shards:
        assert s.digest == hash_path(shards / s.path).digest
    assert d.shards[0].digest == hash_dataframe(_frame(0)).digest
    assert d.shards[-1].digest == hash_dataframe(_frame(4)).digest
    assert d.digest == _expected_digest({s.path: (s.kind, s.digest) for s in d.shards})
    assert d.rows == 600
    # a file that is not a table is a shard too, hashed as bytes
    (shards / "README.txt").write_text("about\n")
    with_readme = hash_shards(str(shards), cache=False, scheduler="none")
    assert with_readme.digest == _expected_digest({**{s.path: (s.kind, s.digest) for s in d.shards},
                                                   "README.txt": ("file", "blake3:" + blake3(b"about\n").hexdigest())})


def test_paths_are_part_of_the_digest_and_order_is_by_path(shards: Path, tmp_path: Path) -> None:
    before = hash_shards(str(shards), cache=False, scheduler="none").digest
    os.rename(shards / "part-3.parquet", shards / "part-9.parquet")  # same bytes, another name
    renamed = hash_shards(str(shards), cache=False, scheduler="none").digest
    assert renamed != before
    os.rename(shards / "part-9.parquet", shards / "part-3.parquet")
    assert hash_shards(str(shards), cache=False, scheduler="none").digest == before
    # the same shards written in another order, elsewhere: the same version
    other = tmp_path / "copy"
    (other / "sub").mkdir(parents=True)
    for p in sorted(shards.rglob("*"), reverse=True):
        if p.is_file():
            (other / p.relative_to(shards)).write_bytes(p.read_bytes())
    assert hash_shards(str(other), cache=False, scheduler="none").digest == before
    # a glob of the same files
    assert hash_shards(str(other / "**" / "*.*"), cache=False, scheduler="none").digest == before


class _Opens:
    """Counts the files Python opens under a folder (an audit hook: it sees every open, pandas' and pyarrow's)."""

    active: "_Opens | None" = None

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.paths: list[str] = []

    def __enter__(self) -> "_Opens":
        _Opens.active = self
        return self

    def __exit__(self, *exc: object) -> None:
        _Opens.active = None

    @property
    def shards(self) -> set[str]:
        return {os.path.relpath(p, self.root) for p in self.paths}


def _hook(event: str, args: tuple) -> None:
    watcher = _Opens.active
    if watcher is not None and event == "open" and isinstance(args[0], str) and args[0].startswith(watcher.root):
        watcher.paths.append(args[0])


sys.addaudithook(_hook)


def test_rehash_after_one_shard_changed_reads_only_that_shard(shards: Path) -> None:
    with _Opens(shards) as first:
        full = hash_shards(str(shards), scheduler="none")
    assert len(full.read) == 6 and first.shards >= {s.path for s in full.shards}
    with _Opens(shards) as unchanged:
        again = hash_shards(str(shards), scheduler="none")
    assert again.digest == full.digest and again.read == () and unchanged.shards == set()
    changed = _frame(2)
    changed.loc[5, "x"] = -1.0
    changed.to_parquet(shards / "part-2.parquet")
    _age(shards / "part-2.parquet", 60)
    with _Opens(shards) as second:
        after = hash_shards(str(shards), scheduler="none")
    assert after.read == ("part-2.parquet",)
    assert second.shards == {"part-2.parquet"}  # one shard opened, the five others not
    assert after.digest == hash_shards(str(shards), cache=False, scheduler="none").digest != full.digest
    with _Opens(shards) as forced:
        hash_shards(str(shards), cache=False, scheduler="none")
    assert forced.shards >= {s.path for s in full.shards}  # --no-cache reads every shard


@pytest.mark.parametrize("damage", ["not a database", "a folder", "a damaged record", "a record of other types"])
def test_a_cache_that_cannot_be_used_is_skipped_and_every_shard_read(damage: str, shards: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The shard digest cache only saves reads: a cache file that is no database, a folder in its place or a record
    that cannot be read stopped every hashing of a sharded dataset ("unexpected DatabaseError"), in the CLI and in
    the pipelines alike. The cache is skipped with a warning naming it (a record: not taken), every shard is read."""
    from prov_common.hashing.shard_cache import default_cache_path

    cache = default_cache_path()
    if damage in ("a damaged record", "a record of other types"):
        full = hash_shards(str(shards), scheduler="none")
        import sqlite3
        with sqlite3.connect(cache) as db:
            if damage == "a damaged record":
                db.execute("UPDATE shard_digests SET record = '{\"kind\": 5}'")
            else:  # parses, but its digest is a number: it was taken as the shard's digest
                db.execute("UPDATE shard_digests SET record = json_set(record, '$.digest', 5)")
    else:
        full = hash_shards(str(shards), cache=False, scheduler="none")
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.mkdir() if damage == "a folder" else cache.write_bytes(b"no SQLite file" * 10)
    again = hash_shards(str(shards), scheduler="none")
    assert again.digest == full.digest and len(again.read) == 6
    warned = "record" not in damage
    assert (f"the shard digest cache {cache} cannot be used" in caplog.text) is warned, caplog.text


def test_a_cache_in_a_folder_this_user_cannot_search_is_skipped(shards: Path) -> None:
    """A cache whose folder this user cannot search (mode 000) is skipped like an unusable one, not an end of the
    hashing: looking whether the cache file exists raised PermissionError before the cache's own guard. As root,
    tdprov runs without the capabilities that read every folder (``setpriv --bounding-set``)."""
    import shutil
    import subprocess

    from prov_common.hashing.shard_cache import default_cache_path

    full = hash_shards(str(shards), cache=False, scheduler="none")
    folder = default_cache_path().parent
    folder.mkdir(parents=True, exist_ok=True)
    plain: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: every folder can be searched")
        plain = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    folder.chmod(0o000)
    try:
        if subprocess.run([*plain, "ls", str(folder)], capture_output=True).returncode == 0:
            pytest.skip("this user lists a folder of mode 000")
        done = subprocess.run([*plain, sys.executable, "-m", "prov_common", "hash", str(shards)],
                              capture_output=True, text=True, timeout=120)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == full.digest, done.stdout
    assert f"the shard digest cache {default_cache_path()} cannot be used (PermissionError" in done.stderr, done.stderr


def test_a_same_size_same_mtime_rewrite_is_seen_by_its_change_time(shards: Path) -> None:
    """A local rewrite in place that keeps size and inode and puts the modification time back (cp -p,
    rsync -t --inplace) still moves the change time, which no user can set: the shard is read again."""
    recorded = hash_shards(str(shards), scheduler="none")
    target = shards / "part-5.jsonl"
    before = target.stat()
    data = bytearray(target.read_bytes())
    data[data.index(b'"r5-0"') + 2] = ord("X")  # same size
    with open(target, "r+b") as f:  # in place: same inode
        f.write(bytes(data))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old modification time
    after = target.stat()
    assert (after.st_size, after.st_ino, after.st_mtime_ns) == (before.st_size, before.st_ino, before.st_mtime_ns)
    again = hash_shards(str(shards), scheduler="none")
    assert again.read == ("part-5.jsonl",)
    fresh = hash_shards(str(shards), cache=False, scheduler="none")
    assert fresh.digest == again.digest != recorded.digest
    assert [s.path for s in fresh.shards if s.digest != dict((t.path, t.digest) for t in recorded.shards)[s.path]] \
        == ["part-5.jsonl"]


def test_a_shard_renamed_over_after_its_listing_is_recorded_and_cached_as_the_file_read(shards: Path) -> None:
    """A shard replaced (a new version renamed over it) between the listing and its hash was recorded with the size
    listed beside the digest of the new bytes, and that digest was kept in the shard-digest cache under the stamp of
    the file listed. Its size and stamp are now those of the one open its digest is read from."""
    from prov_common.hashing.shard_cache import ShardCache
    from prov_common.hashing.shard_list import list_shards
    from prov_common.hashing.shards import ShardOptions

    listed = list_shards(str(shards))
    target, new = shards / "part-5.jsonl", shards / ".part-5.jsonl.tmp"
    _frame(5).head(50).to_json(new, orient="records", lines=True)
    _age(new, 60)
    os.replace(new, target)  # the writer publishes its new version between the listing and the hash
    found = hash_shards(str(shards), shards=listed, scheduler="none")
    shard = {s.path: s for s in found.shards}["part-5.jsonl"]
    listed_size = {r.path: r.size for r in listed}["part-5.jsonl"]
    assert (shard.size, shard.digest) == (target.stat().st_size, hash_path(target).digest)
    assert shard.size != listed_size
    cache, key = ShardCache(), ShardOptions().key()
    assert str(target) not in cache.lookup(listed, key)  # nothing kept under the stamp of the file listed
    assert cache.lookup(list_shards(str(shards)), key)[str(target)] == shard  # but under the file read
    again = hash_shards(str(shards), scheduler="none")
    assert again.read == () and again.digest == found.digest


def test_files_written_just_now_are_not_cached(shards: Path) -> None:
    (shards / "part-0.parquet").touch()  # modified now: another write may follow within the same timestamp tick
    hash_shards(str(shards), scheduler="none")
    assert hash_shards(str(shards), scheduler="none").read == ("part-0.parquet",)


def test_cli_diff_names_changed_added_and_removed_shards(shards: Path, tmp_path: Path, capsys) -> None:
    other = tmp_path / "v2"
    other.mkdir()
    for p in shards.glob("*.parquet"):
        (other / p.name).write_bytes(p.read_bytes())
    changed = _frame(1)
    changed.loc[0, "s"] = "edited"
    changed.to_parquet(other / "part-1.parquet")
    os.remove(other / "part-3.parquet")
    _frame(7).to_parquet(other / "part-7.parquet")
    assert main(["hash", "--diff", str(shards / "*.parquet"), str(other)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"differ  {shards / '*.parquet'}  {other}", "  changed shard: part-1.parquet (columns: s)",
                   "  added shard: part-7.parquet", "  removed shard: part-3.parquet"]
    assert main(["hash", "--diff", "--json", str(shards / "*.parquet"), str(other)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["changedShards"], doc["addedShards"], doc["removedShards"]) == (
        ["part-1.parquet"], ["part-7.parquet"], ["part-3.parquet"])
    assert main(["hash", "--diff", str(shards / "part-[0-2].parquet"), str(other / "part-[0-2].parquet")]) == 1
    assert main(["hash", "--diff", str(shards / "part-[02].parquet"), str(other / "part-[02].parquet")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("same  blake3:")


def test_cli_prints_one_digest_per_dataset_and_json_lists_the_shards(shards: Path, capsys) -> None:
    assert main(["hash", "--scheduler", "none", str(shards)]) == 0
    digest = hash_shards(str(shards), cache=False, scheduler="none").digest
    assert capsys.readouterr().out == f"{digest}  {shards}\n"
    assert main(["hash", "--json", "--no-cache", "--scheduler", "none", str(shards)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "shards" and doc["digest"] == digest and doc["shardCount"] == 6 and doc["shardsRead"] == 6
    assert doc["shards"][0]["columns"] == hash_dataframe(_frame(0)).column_digests()


def test_bad_input_names_the_thing_and_the_fix(tmp_path: Path, shards: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    for argv, words in ((["hash", str(tmp_path / "empty")], "no shards in"),
                        (["hash", str(tmp_path / "*.nothing")], "no shards in"),
                        (["hash", "--scheduler", "somewhere", str(shards)], "not an address"),
                        (["hash", "--row-digests", str(tmp_path / "r.parquet"), str(shards)], "sharded dataset")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert words in err and "Fix:" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises(BadInputError, match="no shards"):
        hash_shards(str(tmp_path / "empty"))
    odd = tmp_path / "odd[1].parquet"  # a file, though its name reads as a glob
    _frame(1).to_parquet(odd)
    assert main(["hash", str(odd)]) == 0
    assert capsys.readouterr().out == f"{hash_dataframe(_frame(1)).digest}  {odd}\n"


def test_a_bracket_name_that_names_no_file_is_a_glob_and_the_warning_names_both_readings(tmp_path: Path, caplog) -> None:
    _frame(1).to_parquet(tmp_path / "x1.parquet")
    name = str(tmp_path / "x[1].parquet")
    with caplog.at_level("WARNING", logger="prov_common.hashing.shard_list"):
        assert [s.path for s in hash_shards(name, cache=False, scheduler="none").shards] == ["x1.parquet"]
        hash_shards(name, cache=False, scheduler="none")  # once per name and process
        hash_shards(str(tmp_path / "x[1]*.parquet"), cache=False, scheduler="none")  # a '*': a glob, no warning
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "prov_common.hashing.shard_list"]
    assert f"nothing is named '{name}'" in warning and "x1.parquet" in warning and "give the pattern a '*'" in warning


def test_a_folder_or_glob_changes_with_any_of_its_shards_and_with_the_folders_that_hold_them(tmp_path: Path) -> None:
    """A shard written in place changes only itself; one removed, with its folder or not, changes a folder."""
    import shutil
    import time

    from prov_common.hashing.shard_list import list_shards, local_changed_at

    for sub in ("a", "b", "c"):
        (tmp_path / "ds" / sub / "x").mkdir(parents=True)
        for i in (0, 1):
            (tmp_path / "ds" / sub / "x" / f"part-{i}.csv").write_text(f"a\n{i}\n")
    folder, pattern = str(tmp_path / "ds"), str(tmp_path / "ds" / "*" / "x" / "part-*.csv")

    def changed_later(change) -> None:
        before = {t: local_changed_at(t, list_shards(t)) for t in (folder, pattern)}
        time.sleep(0.05)
        change()
        assert all(local_changed_at(t, list_shards(t)) > before[t] for t in (folder, pattern))

    changed_later(lambda: (tmp_path / "ds" / "a" / "x" / "part-1.csv").write_text("a\n2\n"))
    changed_later(lambda: (tmp_path / "ds" / "a" / "x" / "part-0.csv").unlink())
    changed_later(lambda: [p.unlink() for p in (tmp_path / "ds" / "b" / "x").iterdir()])  # b/x stays, empty
    changed_later(lambda: shutil.rmtree(tmp_path / "ds" / "c" / "x"))


# --- S3 (moto's server on localhost) ------------------------------------------------------------

def test_s3_prefix_hashes_like_the_folder_and_rehash_gets_only_the_changed_object(shards: Path, s3_server,
                                                                                  monkeypatch) -> None:
    from prov_common.hashing.remote import s3_client

    s3_server.point(monkeypatch)
    bucket = s3_server.create_bucket()
    raw = s3_server.client()
    for p in shards.rglob("*"):
        if p.is_file():
            raw.put_object(Bucket=bucket, Key=f"corpus/v1/{p.relative_to(shards).as_posix()}", Body=p.read_bytes())
    raw.put_object(Bucket=bucket, Key="corpus/v10/other.parquet", Body=b"not in v1/")
    local = hash_shards(str(shards), cache=False, scheduler="none")
    gets: list[str] = []

    def count_get(params: dict, **_: object) -> None:
        gets.append(params["Key"])

    events = s3_client().meta.events  # the client tdprov reads through: every GetObject it sends is counted
    events.register("provide-client-params.s3.GetObject", count_get)
    try:
        _rehash_s3(shards, bucket, raw, local, gets)
    finally:
        events.unregister("provide-client-params.s3.GetObject", count_get)


def _rehash_s3(shards: Path, bucket: str, raw, local, gets: list[str]) -> None:
    first = hash_shards(f"s3://{bucket}/corpus/v1/", scheduler="none")
    assert first.digest == local.digest
    assert sorted(gets) == sorted(f"corpus/v1/{s.path}" for s in local.shards)
    gets.clear()
    assert hash_shards(f"s3://{bucket}/corpus/v1/", scheduler="none").read == () and gets == []
    changed = _frame(3)
    changed.loc[9, "id"] = -9
    changed.to_parquet(shards / "part-3.parquet")
    raw.put_object(Bucket=bucket, Key="corpus/v1/part-3.parquet", Body=(shards / "part-3.parquet").read_bytes())
    after = hash_shards(f"s3://{bucket}/corpus/v1/", scheduler="none")
    assert gets == ["corpus/v1/part-3.parquet"]  # the new ETag: that object only
    assert after.digest == hash_shards(str(shards), cache=False, scheduler="none").digest != local.digest
    globbed = hash_shards(f"s3://{bucket}/corpus/v1/part-*.parquet", cache=False, scheduler="none")
    assert [s.path for s in globbed.shards] == [f"part-{i}.parquet" for i in range(4)]
    with pytest.raises(BadInputError, match="cannot list"):
        hash_shards(f"s3://no-such-bucket-{bucket}/x/", scheduler="none")


def test_an_s3_bracket_name_that_names_no_object_is_a_glob_and_says_so(s3_server, monkeypatch, caplog) -> None:
    s3_server.point(monkeypatch)
    bucket = s3_server.create_bucket()
    s3_server.client().put_object(Bucket=bucket, Key="d/x1.csv", Body=b"a\n1\n")
    with caplog.at_level("WARNING", logger="prov_common.hashing.shard_list"):
        assert [s.path for s in hash_shards(f"s3://{bucket}/d/x[1].csv", cache=False, scheduler="none").shards] == ["x1.csv"]
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "prov_common.hashing.shard_list"]
    assert f"nothing is named 's3://{bucket}/d/x[1].csv'" in warning and "x1.csv" in warning


# --- Dask ----------------------------------------------------------------------------------------

def test_same_digest_in_process_on_one_and_two_dask_workers_and_on_a_running_scheduler(shards: Path,
                                                                                       monkeypatch) -> None:
    """One digest in this process and on Dask. The running scheduler is a LocalCluster as tdprov starts one, which also
    shows its workers run without the malloc trim threshold: Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 for its
    workers, which made hashing a shard 1.4x-1.8x slower there than in this process; the LocalCluster tdprov starts
    leaves glibc's default. The nanny's settings for its workers do not stay in this process's environment (a
    pipeline's own subprocesses would otherwise run with one BLAS thread and a fixed hash seed), and what this process
    set while the cluster ran stays after it."""
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    from prov_common.hashing.shard_engine import local_cluster

    for name in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "PYTHONHASHSEED"):
        monkeypatch.delenv(name, raising=False)  # a plain Dask cluster puts them in this process
    monkeypatch.setenv("TDPROV_TEST_KEEP", "kept")
    before = dict(os.environ)
    in_process = hash_shards(str(shards), cache=False, scheduler="none")
    threaded = hash_shards(str(shards), cache=False, scheduler="none", threads=3)  # threads per shard
    one = hash_shards(str(shards), cache=False, scheduler="local", workers=1)
    assert one.engine == "dask LocalCluster (1 worker)"
    assert dict(os.environ) == before, "the cluster hash_shards started left its workers' settings here"
    assert str(dask.config.get("distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_")) == "65536"
    with local_cluster(2) as cluster:
        with distributed.Client(cluster) as client:
            seen = client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS")))
        assert dict(os.environ) == before
        two = hash_shards(str(shards), cache=False, scheduler=cluster.scheduler_address)
        monkeypatch.setenv("TDPROV_DASK_SCHEDULER", cluster.scheduler_address)
        from_env = hash_shards(str(shards), cache=False)
        ran_there = "hash_shard_batch" in cluster.scheduler.task_prefixes  # the shards were tasks of this cluster
        told: list[str] = []  # what a progress bar is told, as each task finishes (Dask's as_completed)
        assert run_map(str.upper, ["a", "b", "c"], cluster.scheduler_address, done=told.append)[0] == ["A", "B", "C"]
        assert sorted(told) == ["a", "b", "c"]
        (shards / "part-6.parquet").write_bytes(b"PAR1 not parquet PAR1")
        with pytest.raises(BadInputError, match="part-6.parquet"):  # a worker's error names the shard
            hash_shards(str(shards), cache=False)
    assert list(seen.values()) == [(None, "1")] * 2  # Dask's other worker settings stay, for the workers
    # what this process set while the cluster ran stays (the nanny's settings alone are taken out on leaving)
    assert os.environ.get("TDPROV_DASK_SCHEDULER") == cluster.scheduler_address
    monkeypatch.delenv("TDPROV_DASK_SCHEDULER")
    assert dict(os.environ) == before
    assert str(dask.config.get("distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_")) == "65536"
    assert two.engine == from_env.engine == f"dask {cluster.scheduler_address}"
    assert in_process.digest == threaded.digest == one.digest == two.digest == from_env.digest
    assert in_process.shards == threaded.shards == one.shards == two.shards
    assert ran_there


def test_each_item_is_told_as_its_result_comes_in() -> None:
    """``run_map`` tells ``done`` each item once its result is in (a progress bar's updates), in this process as on
    Dask (above)."""
    told: list[str] = []
    results = run_map(lambda item: told.append(f"ran {item}") or item.upper(), ["a", "b"], "none",
                      done=lambda item: told.append(f"done {item}"))
    assert results == (["A", "B"], "in-process") and told == ["ran a", "done a", "ran b", "done b"]


def test_the_default_engine_follows_the_work_and_what_is_installed(monkeypatch) -> None:
    from prov_common.hashing import shard_engine
    from prov_common.hashing.shard_engine import resolve_scheduler

    monkeypatch.delenv("TDPROV_DASK_SCHEDULER", raising=False)
    monkeypatch.setattr(shard_engine, "usable_cpus", lambda: 2)
    big = 1 << 30
    assert resolve_scheduler(None, 63, big) == "none" and resolve_scheduler(None, 64, big // 4) == "none"
    assert resolve_scheduler(None, 64, big) == "local"
    monkeypatch.setenv("TDPROV_DASK_SCHEDULER", "tcp://10.0.0.5:8786")
    assert resolve_scheduler(None, 1, 0) == "tcp://10.0.0.5:8786"
    assert resolve_scheduler("none", 1000, big) == "none"  # the argument wins over the environment
    monkeypatch.delenv("TDPROV_DASK_SCHEDULER", raising=False)  # set within the cluster, which restores what it found
    monkeypatch.setattr(shard_engine.importlib.util, "find_spec", lambda name: None)  # Dask not installed
    assert resolve_scheduler(None, 1000, big) == "none"
    assert resolve_scheduler("LOCAL", 1, 0) == "local"  # asked for: started even for one shard


def test_shards_go_to_dask_in_batches_of_about_equal_size() -> None:
    from prov_common.hashing.shard_model import ShardRef
    from prov_common.hashing.shards import MIN_TASKS, TASK_BYTES, batches

    small = [ShardRef(f"/d/{i}", f"{i}", 1000, "s") for i in range(1000)]
    parts = batches(small)
    assert len(parts) == MIN_TASKS and [r for p in parts for r in p] == small  # every shard once, in order
    assert max(map(len, parts)) - min(map(len, parts)) <= 2
    big = [ShardRef(f"/d/{i}", f"{i}", TASK_BYTES // 2, "s") for i in range(200)]
    assert len(batches(big)) == 100 and all(len(p) == 2 for p in batches(big))
    assert [len(p) for p in batches(small[:5])] == [1] * 5 and batches([]) == []


def test_a_shard_is_proven_part_of_the_version_with_the_merkle_logs_inclusion_proof(shards: Path) -> None:
    from prov_common.errors import VerificationError
    from prov_common.hashing.shard_tree import shard_leaf
    from prov_common.tlog.merkle import inclusion_proof, root_from_hashes, verify_inclusion

    d = hash_shards(str(shards), cache=False, scheduler="none")
    leaves = [shard_leaf(s) for s in d.shards]
    root = root_from_hashes(leaves)
    assert d.digest == "blake3:" + blake3(b"tdprov-shards-v1" + struct.pack("<Q", len(leaves)) + root).hexdigest()
    proof = inclusion_proof(3, leaves)
    verify_inclusion(leaves[3], 3, len(leaves), proof, root)  # raises when it does not verify
    with pytest.raises(VerificationError):
        verify_inclusion(leaves[2], 3, len(leaves), proof, root)
