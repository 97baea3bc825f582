"""Dataset naming per the OpenLineage naming spec, and the run context (git, libraries, host, user)."""
from __future__ import annotations

import os
import socket
import subprocess
import uuid
from importlib import metadata
from pathlib import Path

import pytest

from prov_common.errors import BadInputError
from prov_common.lineage import (
    DEFAULT_JOB_NAMESPACE,
    DatasetRef,
    build_run_event,
    clean_namespace,
    collect_run_context,
    dataset_from_uri,
    dataset_uri,
    event_to_dict,
)


@pytest.mark.parametrize(
    ("uri", "namespace", "name"),
    [
        ("file:///data/train.parquet", "file", "/data/train.parquet"),
        ("file://localhost/data/a%20b.csv", "file", "/data/a b.csv"),
        ("file://nas01/share/x.csv", "file://nas01", "/share/x.csv"),
        ("s3://my-bucket/raw/2026/x.parquet", "s3://my-bucket", "raw/2026/x.parquet"),
        ("s3a://my-bucket/raw/x.parquet?versionId=3", "s3://my-bucket", "raw/x.parquet"),  # one identity per object
        ("gcs://gbucket/f", "gs://gbucket", "f"),
        ("s3://AKIAIOSFODNN7EXAMPLE:secret@my-bucket/k", "s3://my-bucket", "k"),
        ("gs://gbucket/dir/f.jsonl", "gs://gbucket", "dir/f.jsonl"),
        ("postgresql+psycopg2://u:pw@db:5432/sales.public.orders", "postgres://db:5432", "sales.public.orders"),
        ("hdfs://nn:8020/warehouse/t", "hdfs://nn:8020", "/warehouse/t"),
        ("s3://my-bucket/corpus/v3/", "s3://my-bucket", "corpus/v3"),  # a prefix of shards: as Airflow and a local folder, no '/'
        ("gs://gbucket/dir/", "gs://gbucket", "dir"),
        ("s3://b/x%20y.csv", "s3://b", "x%20y.csv"),  # the key as written: the object the store reads
        ("s3://b/regional/us%2Feast.parquet", "s3://b", "regional/us%2Feast.parquet"),  # not regional/us/east.parquet
    ],
)
def test_dataset_from_uri(uri: str, namespace: str, name: str) -> None:
    assert dataset_from_uri(uri) == (namespace, name)


def test_local_paths_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert dataset_from_uri("data/x.parquet") == ("file", (tmp_path / "data/x.parquet").as_posix())
    assert dataset_from_uri(Path("y.csv")) == ("file", (tmp_path / "y.csv").as_posix())
    assert dataset_uri("file", "/d/a b.csv") == "file:///d/a%20b.csv"
    assert dataset_uri("s3://b", "k/x.parquet") == "s3://b/k/x.parquet"
    assert dataset_uri("dagster://default", "raw/orders") == "dagster://default/raw/orders"
    assert dataset_uri("https://host", "/a/b") == "https://host/a/b"
    assert dataset_from_uri(dataset_uri("s3://b", "k/x.parquet")) == ("s3://b", "k/x.parquet")


@pytest.mark.parametrize("uri", ["s3://bucket", "s3://bucket/", ""])
def test_bad_dataset_uris(uri: str) -> None:
    with pytest.raises(BadInputError, match="bucket and an object key|path is empty"):
        dataset_from_uri(uri)


def test_clean_namespace_drops_user_info() -> None:
    assert clean_namespace("postgres://bob:pw@db:5432") == "postgres://db:5432"
    assert clean_namespace("file") == "file" and clean_namespace("s3://b") == "s3://b"


def test_job_namespace_default_and_override() -> None:
    rid = str(uuid.uuid4())
    assert event_to_dict(build_run_event("START", run_id=rid, job_name="j"))["job"]["namespace"] == DEFAULT_JOB_NAMESPACE == "tdprov"
    assert event_to_dict(build_run_event("START", run_id=rid, job_name="j", job_namespace="dagster://prod"))["job"]["namespace"] == "dagster://prod"


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True, env=env).stdout.strip()


def test_run_context_from_a_git_work_tree(tmp_path: Path, ol_validator) -> None:
    git(tmp_path, "init", "-q")
    git(tmp_path, "remote", "add", "origin", "https://bob:ghp_abcdefghijklmnopqrstuv@github.com/o/r.git")
    (tmp_path / "f.txt").write_text("x")
    git(tmp_path, "add", "f.txt")
    git(tmp_path, "commit", "-q", "-m", "c")
    commit = git(tmp_path, "rev-parse", "HEAD")
    ctx = collect_run_context(
        orchestrator="dagster", code_version="cv1", owner="team:ml", user="alice", executor="in_process",
        parameters={"lr": 0.1, "password": "pw"}, cwd=tmp_path,
    )
    assert ctx.git_commit == commit and ctx.git_remote == "https://bob:***@github.com/o/r.git"
    assert ctx.libraries["pandas"] == metadata.version("pandas") and ctx.libraries["dagster"] == metadata.version("dagster")
    assert ctx.orchestrator_version == metadata.version("dagster")
    assert ctx.host == socket.gethostname() and ctx.user == "alice" and not ctx.partial
    assert ctx.parameters == {"lr": 0.1, "password": "***"}
    event = event_to_dict(build_run_event("START", run_id=str(uuid.uuid4()), job_name="j", context=ctx))
    ol_validator.validate_event(event)
    facet = event["run"]["facets"]["tdprov_runContext"]
    assert facet["gitCommit"] == commit and facet["codeVersion"] == "cv1" and facet["owner"] == "team:ml"
    assert facet["executor"] == "in_process" and facet["orchestrator"] == "dagster" and "partial" not in facet
    location = event["job"]["facets"]["sourceCodeLocation"]
    assert location["type"] == "git" and location["version"] == commit and "ghp_" not in location["url"]
    assert event["run"]["facets"]["processing_engine"]["version"] == metadata.version("dagster")
    (tmp_path / "f.txt").write_text("y")  # a deploy moves the work tree on: the next run sees the new commit
    git(tmp_path, "commit", "-q", "-am", "d")
    assert collect_run_context(cwd=tmp_path).git_commit == git(tmp_path, "rev-parse", "HEAD") != commit


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("../upstream repo", "file://{parent}/upstream%20repo"),  # a local clone: a file URI, not a path
        ("/srv/git/etl.git", "file:///srv/git/etl.git"),
        ("git@github.com:o/r.git", "ssh://***@github.com/o/r.git"),  # user names are redacted like passwords
        ("ssh://git@host:2222/o/r.git", "ssh://***@host:2222/o/r.git"),
        # what a URI cannot hold is percent-encoded; an scp-like path is literal ("#" is no fragment there)
        ("git@github.com:o/my repo.git", "ssh://***@github.com/o/my%20repo.git"),
        ("git@host:o/répo#1.git", "ssh://***@host/o/r%C3%A9po%231.git"),
        ("https://host/o/my repo.git", "https://host/o/my%20repo.git"),
        ("git@[::1]:o/r.git", "ssh://***@[::1]/o/r.git"),
    ],
)
def test_source_code_location_is_a_uri_whatever_the_remote(tmp_path: Path, ol_validator, remote: str, expected: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    git(work, "remote", "add", "origin", remote)
    (work / "f.txt").write_text("x")
    git(work, "add", "f.txt")
    git(work, "commit", "-q", "-m", "c")
    ctx = collect_run_context(cwd=work)
    event = event_to_dict(build_run_event("START", run_id=str(uuid.uuid4()), job_name="j", context=ctx))
    assert event["job"]["facets"]["sourceCodeLocation"]["url"] == expected.format(parent=tmp_path.as_posix())
    ol_validator.validate_event(event)
    event["job"]["facets"]["sourceCodeLocation"]["url"] = remote  # what git prints is not always a URI
    if "://" not in remote:
        with pytest.raises(ol_validator.EventInvalid, match="sourceCodeLocation/url"):
            ol_validator.validate_event(event)


def test_run_context_outside_git_is_partial(tmp_path: Path) -> None:
    ctx = collect_run_context(cwd=tmp_path, libraries=("pandas", "no-such-distribution-tdprov"))
    assert ctx.git_commit is None and ctx.partial
    assert set(ctx.libraries) == {"pandas"}
    event = event_to_dict(build_run_event("START", run_id=str(uuid.uuid4()), job_name="j", context=ctx))
    assert event["run"]["facets"]["tdprov_runContext"]["partial"] is True
    assert event["run"]["facets"]["processing_engine"]["name"] == "tdprov"
    assert "ownership" not in event["job"]["facets"]


def test_dataset_ref_from_uri() -> None:
    ref = DatasetRef.from_uri("s3://b/k.parquet", severity="warn")
    assert (ref.namespace, ref.name, ref.severity, ref.label) == ("s3://b", "k.parquet", "warn", "s3://b/k.parquet")


def test_a_file_uri_is_read_where_it_is_named(tmp_path: Path) -> None:
    """The hashing reads a file:// URI at the path its name says: on this machine for every local host
    (empty, localhost, 127.0.0.1), so the version recorded is that of the dataset named."""
    from prov_common.hashing import hash_path
    from prov_common.hashing.targets import local_target

    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    for host in ("", "localhost", "127.0.0.1"):
        uri = f"file://{host}{data}"
        assert dataset_from_uri(uri) == ("file", str(data)) and local_target(uri) == str(data), host
        assert hash_path(local_target(uri)).digest == hash_path(data).digest
