"""Only the outlets a task try wrote are its outputs, with tdprov alone and beside the OpenLineage provider: a try
that fails or skips itself wrote none, and an outlet it left as it found it (a file; a folder or glob: its shards) or
that is not there after it is not its output (named in the ``tdprov_outlets`` facet; the audit notes the unchanged)."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pendulum
import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags import outlets_run
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import asset_events, bundles_of, child_env, events_of, run_dag, tdprov_env

from prov_common.audit.engine import run_audit
from prov_common.audit.model import CHECK_COMPLETENESS, NOTE
from prov_common.hashing import hash_path
from prov_common.hashing.targets import hash_dataset
from prov_common.lineage.facets import OUTLETS
from prov_common.store import open_store
from prov_common.w3cprov.events import parse_time

HERE = Path(__file__).resolve().parent
START = pendulum.datetime(2024, 1, 1, tz="UTC")
PROVIDER = {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "prov_common.bundle.transport.ProvenanceTransport"})}


@pytest.mark.parametrize("mode", ["alone", "provider"])
def test_only_the_outlets_a_try_changed_are_its_outputs(tmp_path: Path, mode: str, ol_validator,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capfd: pytest.CaptureFixture[str],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """The three DAGs run in one process per mode (outlets_run.py; the deferred task's DAG last): with tdprov alone,
    this one (the provider is off in it); beside the provider, a subprocess whose provider feeds ProvenanceTransport.
    The audit of their store has a note for each outlet a try left as it found it, and no error."""
    store = tmp_path / "store"
    if mode == "alone":  # no Airflow start-up of its own (a subprocess cost one: about 8 s of CPU)
        for key, value in tdprov_env(store).items():
            monkeypatch.setenv(key, value)
        states, said = outlets_run.run_dags(tmp_path), capfd.readouterr()
        output = said.out + said.err + caplog.text  # where Airflow's logging set-up in this process sends warnings
    else:
        done = subprocess.run([sys.executable, str(HERE / "airflow_dags" / "outlets_run.py"), str(tmp_path)],
                              env=child_env(**tdprov_env(store), **PROVIDER), capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        states, output = json.loads(done.stdout.strip().splitlines()[-1]), done.stdout + done.stderr
    tasks = [s for s in bundles_of(store) if "." in s.job_name]
    unchanged = _only_what_a_try_wrote(tmp_path, store, states["tdprov_outlets_written"], tasks, ol_validator)
    unchanged += _a_try_that_left_an_outlet_as_it_found_it(tmp_path, store, states["tdprov_outlets_shared"], tasks,
                                                            output, ol_validator)
    _an_outlet_written_while_its_task_was_deferred_is_an_output(tmp_path, store, states["tdprov_deferred_outlet"], tasks,
                                                                mode, ol_validator)
    audit = run_audit(open_store(str(store)), stale_after=timedelta(0), report_dir=tmp_path / "report", progress=False)
    notes = [f for f in audit.check(CHECK_COMPLETENESS).findings if f.severity == NOTE]
    assert sorted((f.object, f.run_id) for f in notes) == sorted(unchanged)
    assert all("did not write it" in f.what for f in notes)
    assert audit.check(CHECK_COMPLETENESS).errors == []


def _only_what_a_try_wrote(tmp_path: Path, store: Path, states: dict, tasks: list, ol_validator) -> list[tuple[str, str]]:
    """A try that fails or skips itself wrote none of its outlets; one it left as it found it (a file; a folder or
    glob: its shards) is no output. The (object, run id) of each audit note expected."""
    assert states == {"write": "failed", "skipper": "skipped", "keep": "success", "copy": "success", "drop_shard": "success",
                      "rewrite_shard": "success", "keep_shards": "success", "keep_name": "success",
                      "wait_skipped": "failed"}  # the sensor is not satisfied by a try that wrote nothing
    by_job = {s.job_name.split(".", 1)[-1]: s for s in tasks if s.job_name.startswith("tdprov_outlets_written.")}
    old, copied = tmp_path / "old.csv", tmp_path / "copied.csv"
    assert [(s, by_job[s].state, by_job[s].outputs) for s in ("write", "skipper", "keep", "keep_shards", "keep_name")] == [
        ("write", "FAIL", ()), ("skipper", "COMPLETE", ()), ("keep", "COMPLETE", ()), ("keep_shards", "COMPLETE", ()),
        ("keep_name", "COMPLETE", ())]
    assert [(o.name, o.version) for o in by_job["copy"].outputs] == [(str(copied), hash_path(copied).digest)]
    shards = tmp_path / "shards"  # a removed shard touches none of those left, but it changes their folder
    assert [(o.name, o.version) for o in by_job["drop_shard"].outputs] == [(str(shards), hash_dataset(str(shards)).digest)]
    parts = str(tmp_path / "parts" / "part-*.csv")  # one shard rewritten in place: the glob's folder did not change
    assert [(o.name, o.version) for o in by_job["rewrite_shard"].outputs] == [(parts, hash_dataset(parts).digest)]
    kept, name = tmp_path / "kept", tmp_path / "names" / "x[1].csv"  # a glob, while no file has that name

    def not_written(task: str) -> list[dict]:
        events = events_of(store, by_job[task].run_id)
        for event in events:
            ol_validator.validate_event(event, custom_schemas=True)
        facets = [e["run"]["facets"]["tdprov_outlets"] for e in events if "tdprov_outlets" in e["run"]["facets"]]
        return [{k: v for k, v in o.items() if k in ("name", "reason", "version")} for o in facets[-1]["notWritten"]]

    assert not_written("write") == [{"name": str(tmp_path / "p.csv"), "reason": "failed"}]
    assert not_written("skipper") == [{"name": str(tmp_path / "s.csv"), "reason": "skipped"}]
    assert not_written("keep") == [{"name": str(old), "reason": "unchanged", "version": hash_path(old).digest}]
    assert not_written("keep_shards") == [{"name": str(kept), "reason": "unchanged", "version": hash_dataset(str(kept)).digest}]
    assert not_written("keep_name") == [{"name": str(name), "reason": "unchanged", "version": hash_dataset(str(name)).digest}]

    unchanged = [(f"{old}@{hash_path(old).digest}", "keep"), (f"{kept}@{hash_dataset(str(kept)).digest}", "keep_shards"),
                 (f"{name}@{hash_dataset(str(name)).digest}", "keep_name")]
    return [(o, by_job[t].run_id) for o, t in unchanged]


def _an_outlet_written_while_its_task_was_deferred_is_an_output(tmp_path: Path, store: Path, states: dict, tasks: list,
                                                                mode: str, ol_validator) -> None:
    """The resumed part of a deferred try runs in a new task process, whose listener never saw the try start: the
    export written while the task waited is its output, with its digest, in the try's one bundle (COMPLETE, started at
    its first START). The resume is a second START (the provider's, beside it), and beside the provider each START
    names the outlet it lists, a declaration, as ``declared`` in ``tdprov_outlets``; no event says it was not
    written."""
    assert states == {"export": "success"}
    (export,) = [s for s in tasks if s.job_name == "tdprov_deferred_outlet.export"]
    target = tmp_path / "export.csv"
    assert (export.state, export.inputs) == ("COMPLETE", ())
    assert [(o.name, o.version) for o in export.outputs] == [(str(target), hash_path(target).digest)]
    events = events_of(store, export.run_id)
    for event in events:
        ol_validator.validate_event(event, custom_schemas=True)
    assert [e["eventType"] for e in events if e["eventType"] in ("START", "COMPLETE", "FAIL", "ABORT")] == [
        "START", "START", "COMPLETE"]
    assert parse_time(export.started_at, "started_at") == parse_time(events[0]["eventTime"], "START")
    outlets = [(e["eventType"], e["run"]["facets"].get(OUTLETS)) for e in events]
    declared = {"namespace": "file", "name": str(target), "reason": "declared"}
    assert [f and (f["declared"], f["notWritten"]) for kind, f in outlets if kind == "START"] == (
        [([declared], [])] * 2 if mode == "provider" else [None, None])
    assert [f for kind, f in outlets if kind != "START" and f is not None] == []


def _a_try_that_left_an_outlet_as_it_found_it(tmp_path: Path, store: Path, states: dict, tasks: list, output: str,
                                               ol_validator) -> list[tuple[str, str]]:
    """What each local outlet holds is noted when the try starts: a mapped instance that starts right after its
    sibling wrote a shared outlet did not write it, nor did a try that added a non-shard beside a folder's or glob's
    shards; a declared file that is not there after the try (``q?.csv`` names ``q``) is no output either. The
    (object, run id) of each audit note expected."""
    assert states == {"mapped": "success", "marker": "success", "log_beside": "success", "qmark": "success"}
    data = tmp_path / "data"
    m0, m1, fold, glob = data / "m0.csv", data / "m1.csv", data / "fold", str(data / "globd" / "*.csv")
    tasks = [s for s in tasks if s.job_name.startswith("tdprov_outlets_shared.")]

    def not_written(run_id: str) -> list[tuple]:
        events = events_of(store, run_id)
        for event in events:
            ol_validator.validate_event(event, custom_schemas=True)
        facets = [e["run"]["facets"]["tdprov_outlets"] for e in events if "tdprov_outlets" in e["run"]["facets"]]
        return [(o["name"], o["reason"], o.get("version")) for o in facets[-1]["notWritten"]] if facets else []

    mapped = sorted((s for s in tasks if s.job_name.endswith(".mapped")), key=lambda s: [o.name for o in s.outputs])
    assert [[(o.name, o.version) for o in s.outputs] for s in mapped] == [
        [(str(m0), hash_path(m0).digest)], [(str(m1), hash_path(m1).digest)]]  # each instance its own file only
    others = [not_written(s.run_id) for s in mapped]  # the first to run: the other file is not there yet
    assert [[name for name, _, _ in facet] for facet in others] == [[str(m1)], [str(m0)]]
    assert sorted((reason, version) for facet in others for name, reason, version in facet) == sorted(
        [("missing", None)] + [("unchanged", hash_path(Path(name)).digest) for facet in others
                               for name, reason, _ in facet if reason == "unchanged"])
    assert sorted(reason for facet in others for _, reason, _ in facet) == ["missing", "unchanged"]
    by_job = {s.job_name.split(".", 1)[-1]: s for s in tasks}
    assert [(t, by_job[t].outputs) for t in ("marker", "log_beside", "qmark")] == [
        ("marker", ()), ("log_beside", ()), ("qmark", ())]
    assert not_written(by_job["marker"].run_id) == [(str(fold), "unchanged", hash_dataset(str(fold)).digest)]
    assert not_written(by_job["log_beside"].run_id) == [(glob, "unchanged", hash_dataset(glob).digest)]
    assert not_written(by_job["qmark"].run_id) == [(str(data / "q"), "missing", None)]
    assert "write '?' as %3F and '#' as %23" in output

    (left,) = [(f"{name}@{version}", s.run_id) for s, facet in zip(mapped, others)
               for name, reason, version in facet if reason == "unchanged"]
    return [left, (f"{fold}@{hash_dataset(str(fold)).digest}", by_job["marker"].run_id),
            (f"{glob}@{hash_dataset(glob).digest}", by_job["log_beside"].run_id)]


def test_an_s3_object_outlet_that_is_not_there_after_the_try_is_no_output(s3_server, store: Path, ol_validator,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    """A declared S3 object that is not there when the try ends (mapped instances writing one object each, all
    declared on ``.partial``) was recorded as an output of every try, without a version, as if the try had made it:
    a local file that is not there was named missing. Such an object is now no output either: the try's
    ``tdprov_outlets`` facet names it ``missing``, its asset event gets no tdprov extra, and the warning says it is not
    there; each instance's own object is its output with its digest."""
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG, Asset

    client, bucket = s3_server.client(), s3_server.create_bucket()
    keys = ["parts/p0.csv", "parts/p1.csv", "parts/never.csv"]

    def write(index: int) -> None:
        client.put_object(Bucket=bucket, Key=keys[index], Body=f"i\n{index}\n".encode())

    with DAG("tdprov_s3_missing", start_date=START, schedule=None) as dag:
        PythonOperator.partial(task_id="part", python_callable=write,
                               outlets=[Asset(f"s3://{bucket}/{key}") for key in keys]).expand(op_args=[[0], [1]])
    with caplog.at_level("WARNING"):
        assert run_dag(dag, logical_date=START).state == "success"
    tries = [s for s in bundles_of(store) if s.job_name == "tdprov_s3_missing.part"]
    outputs = [{(o.namespace, o.name): o.version for o in s.outputs} for s in tries]
    for key in keys[:2]:  # each instance wrote its own object, and only that one
        assert [o[(f"s3://{bucket}", key)] for o in outputs if (f"s3://{bucket}", key) in o] == [
            hash_path(f"s3://{bucket}/{key}").digest], outputs
    assert len(tries) == 2 and not [o for o in outputs if (f"s3://{bucket}", keys[2]) in o], outputs
    for summary in tries:
        events = events_of(store, summary.run_id)
        for event in events:
            ol_validator.validate_event(event, custom_schemas=True)
        (facet,) = [e["run"]["facets"][OUTLETS] for e in events if OUTLETS in e["run"]["facets"]]
        missing = [(o["namespace"], o["name"]) for o in facet["notWritten"] if o["reason"] == "missing"]
        assert (f"s3://{bucket}", keys[2]) in missing, facet
    assert "tdprov" not in asset_events("tdprov_s3_missing")[f"s3://{bucket}/{keys[2]}"]["extra"]
    messages = [r.getMessage() for r in caplog.records]
    assert f"tdprov: outlet s3://{bucket}/{keys[2]} is not there after the try" in "\n".join(messages)
    assert not [m for m in messages if f"s3://{bucket}/{keys[2]} recorded without a content hash" in m], messages


def _mapped_on_s3(s3_server, store: Path, dag_id: str, write_shared: tuple[bool, bool], versioned: bool = False,
                  before: bytes | None = None) -> tuple[str, dict[int, tuple[dict, dict]]]:
    """Run two mapped instances declaring one S3 object, ``shared.csv``; instance ``i`` writes ``i\\n0\\n`` to it when
    ``write_shared[i]`` (``before``: what it holds before the run). Returns the bucket and, by map index, the try's
    outputs (key -> version) and the outlets it did not write (key -> reason)."""
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG, Asset

    from prov_airflow.naming import task_run_id

    client, bucket = s3_server.client(), s3_server.create_bucket()
    if versioned:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    if before is not None:
        client.put_object(Bucket=bucket, Key="shared.csv", Body=before)
        hash_path(f"s3://{bucket}/shared.csv")  # the hashing loaded, as in a warm worker: the next try starts at once

    def write(index: int) -> None:
        if write_shared[index]:
            client.put_object(Bucket=bucket, Key="shared.csv", Body=b"i\n0\n")

    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PythonOperator.partial(task_id="part", python_callable=write,
                               outlets=[Asset(f"s3://{bucket}/shared.csv")]).expand(op_args=[[0], [1]])
    assert run_dag(dag, logical_date=START).state == "success"
    tries: dict[int, tuple[dict, dict]] = {}
    summaries = {s.run_id: s for s in bundles_of(store)}
    for index in (0, 1):
        summary = summaries[task_run_id(dag_id, "part", 1, START, index)]
        events = events_of(store, summary.run_id)
        facets = [e["run"]["facets"][OUTLETS] for e in events if OUTLETS in e["run"]["facets"]]
        tries[index] = ({o.name: o.version for o in summary.outputs},
                        {o["name"]: o["reason"] for o in (facets[-1]["notWritten"] if facets else [])})
    return bucket, tries


def test_a_mapped_try_does_not_claim_the_s3_object_a_sibling_wrote_just_before(s3_server, store: Path,
                                                                               caplog: pytest.LogCaptureFixture) -> None:
    """An S3 outlet was judged written by a try when its ``LastModified`` (whole seconds) was at most CLOCK_SKEW
    before the try started, so a mapped instance starting right after a sibling wrote the shared object recorded it
    as its own output. What each S3 object outlet holds (ETag, VersionId) is now noted when the try starts: the
    instance that did not write it (there before the run, so in either order) names it unchanged."""
    with caplog.at_level("WARNING"):
        bucket, tries = _mapped_on_s3(s3_server, store, "tdprov_s3_sibling", (True, False), before=b"i\nold\n")
    (wrote, _), (left, not_written) = tries[0], tries[1]
    assert wrote["shared.csv"] == hash_path(f"s3://{bucket}/shared.csv").digest, tries
    assert "shared.csv" not in left and not_written == {"shared.csv": "unchanged"}, tries
    assert not [r for r in caplog.records if "judged written by the try by its LastModified" in r.getMessage()]


@pytest.mark.parametrize("versioned", [True, False])
def test_an_s3_object_rewritten_with_the_same_bytes(s3_server, store: Path, versioned: bool) -> None:
    """An S3 object a try puts again with the bytes it held (the same ETag) is written by it on a versioned bucket,
    where the put makes a new VersionId, and unchanged on an unversioned one, where nothing tells the put apart."""
    bucket, tries = _mapped_on_s3(s3_server, store, f"tdprov_s3_same_{'v' if versioned else 'u'}", (False, True),
                                  versioned=versioned, before=b"i\n0\n")
    (untouched, not_written0), (rewrote, not_written1) = tries[0], tries[1]
    assert "shared.csv" not in untouched and not_written0 == {"shared.csv": "unchanged"}, tries
    if versioned:
        assert rewrote["shared.csv"] == hash_path(f"s3://{bucket}/shared.csv").digest and not not_written1, tries
    else:
        assert "shared.csv" not in rewrote and not_written1 == {"shared.csv": "unchanged"}, tries


def _kept_by_the_try(s3_server, store: Path, dag_id: str, event: str,
                     meanwhile: str = "put") -> tuple[str, dict, dict, list[str]]:
    """Run a task that declares the S3 object ``kept.csv`` (holding ``i\\nold\\n``) as its outlet and leaves it as it
    found it, while another writer puts ``i\\nnew\\n`` to it once (``meanwhile="delete"``: deletes it; ``"none"``:
    does nothing), at ``event`` of the first GetObject tdprov sends (the hash at the try's end: nothing else reads the
    object), tdprov reading it through the S3 endpoint the AWS environment names. Returns the digest of the old bytes,
    the try's outputs (key -> version), its outlets not written (key -> (reason, version)) and the S3 operations tdprov
    sent during the try, in order (``put``: the other writer's)."""
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG, Asset

    from prov_common.hashing.remote import s3_client

    client, bucket = s3_server.client(), s3_server.create_bucket()
    client.put_object(Bucket=bucket, Key="kept.csv", Body=b"i\nold\n")
    old = hash_path(f"s3://{bucket}/kept.csv").digest  # the hashing loaded, as in a warm worker
    sent: list[str] = []

    def put_once(**_) -> None:
        if "put" not in sent and meanwhile != "none":
            sent.append("put")
            if meanwhile == "delete":
                client.delete_object(Bucket=bucket, Key="kept.csv")
            else:
                client.put_object(Bucket=bucket, Key="kept.csv", Body=b"i\nnew\n")

    def count(model, **_) -> None:
        sent.append(model.name)

    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PythonOperator(task_id="keep", python_callable=lambda: None, outlets=[Asset(f"s3://{bucket}/kept.csv")])
    events = s3_client().meta.events  # the client tdprov reads data objects through
    events.register(f"{event}.s3.GetObject", put_once)
    events.register("before-call.s3", count)
    try:
        assert run_dag(dag, logical_date=START).state == "success"
    finally:
        events.unregister(f"{event}.s3.GetObject", put_once)
        events.unregister("before-call.s3", count)
    (summary,) = [s for s in bundles_of(store) if s.job_name == f"{dag_id}.keep"]
    facets = [e["run"]["facets"][OUTLETS] for e in events_of(store, summary.run_id) if OUTLETS in e["run"]["facets"]]
    return old, {o.name: o.version for o in summary.outputs}, {
        o["name"]: (o["reason"], o.get("version")) for o in (facets[-1]["notWritten"] if facets else [])}, sent


def test_an_s3_outlet_put_after_its_hash_is_judged_by_the_bytes_hashed(s3_server, store: Path) -> None:
    """At a try's end an S3 object outlet was hashed, then a HEAD request read its ETag and VersionId: a put between
    the two paired the digest of the old bytes with the new object's ETag, so a try that left the object as it found
    it was credited with bytes it did not write. Its state is now read by one HEAD before the hash (which gives its
    size too), and the hash reads the bytes with that ETag (If-Match): the try left them unchanged, the version named
    is the digest of those bytes, and the object gets one HEAD at the start and one at the end."""
    old, outputs, not_written, sent = _kept_by_the_try(s3_server, store, "tdprov_s3_put_after_hash", "after-call")
    assert "kept.csv" not in outputs and not_written == {"kept.csv": ("unchanged", old)}, (outputs, not_written)
    assert [name for name in sent if name in ("HeadObject", "GetObject", "put")] == [
        "HeadObject", "HeadObject", "GetObject", "put"], sent


def test_an_s3_outlet_put_between_its_head_and_its_hash_has_no_digest(s3_server, store: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A put between the HEAD that notes an S3 object outlet's state at the try's end and the hash is another
    writer's, as a local outlet changed between its notes: the hash, which asks for the bytes of that ETag, is refused,
    and the outlet is recorded without a content hash, in the words a local outlet's refusal has."""
    with caplog.at_level("WARNING"):
        _, outputs, not_written, sent = _kept_by_the_try(s3_server, store, "tdprov_s3_put_before_hash", "before-call")
    assert "put" in sent and outputs == {"kept.csv": None} and not not_written, (outputs, not_written)
    assert [r for r in caplog.records if "kept.csv' changed while it was hashed: another writer wrote it meanwhile"
            in r.getMessage() and "recorded without a content hash (error)" in r.getMessage()], caplog.text


def test_an_s3_outlet_over_max_bytes_is_judged_by_its_etag(s3_server, store: Path, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """An S3 object outlet over ``[tdprov] max_bytes`` is not hashed; what it held at the end was not noted, so it
    counted as written by a try that left it as it found it. The end's HEAD, which gives its size, notes its ETag and
    VersionId too: the try that did not write it names it unchanged, as a local outlet over the limit."""
    monkeypatch.setenv("AIRFLOW__TDPROV__MAX_BYTES", "4")
    with caplog.at_level("WARNING"):
        _, outputs, not_written, _ = _kept_by_the_try(s3_server, store, "tdprov_s3_too_large", "after-call")
    assert "kept.csv" not in outputs and not_written == {"kept.csv": ("unchanged", None)}, (outputs, not_written)
    assert [r for r in caplog.records if "kept.csv recorded without a content hash (too_large)" in r.getMessage()]


@pytest.fixture
def s3_answering_pinned_outlet_reads_without_etag(s3_server, tmp_path_factory: pytest.TempPathFactory):
    """The session's S3 server behind a proxy that drops the ``ETag`` header from the answer to a read of ``kept.csv``
    asked with ``If-Match`` (which the server honours), as an S3-compatible server or proxy that gives no ETag with the
    bytes; everything else, the HEAD's ETag among it, is passed on as it is."""
    from conftest import _rewriting_proxy

    with _rewriting_proxy(s3_server, tmp_path_factory, drop_pinned_etag_under="/kept.csv") as proxy:
        yield proxy


def test_an_s3_outlet_whose_pinned_read_gives_no_etag_is_hashed(s3_server, store: Path, monkeypatch: pytest.MonkeyPatch,
                                                                s3_answering_pinned_outlet_reads_without_etag,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """An endpoint (or a proxy before it) that answers the hash's read at the ETag of the end's HEAD with bytes given
    no ETag proves no put: the outlet was recorded without a content hash, with the warning that another writer wrote
    it meanwhile. It is now hashed as before the read was pinned, its state read again after the hash and compared:
    the try left it as it found it, named unchanged at the digest of its bytes."""
    s3_answering_pinned_outlet_reads_without_etag.point(monkeypatch)
    with caplog.at_level("WARNING"):
        old, outputs, not_written, _ = _kept_by_the_try(s3_server, store, "tdprov_s3_pin_no_etag", "after-call",
                                                        meanwhile="none")
    assert "kept.csv" not in outputs and not_written == {"kept.csv": ("unchanged", old)}, (outputs, not_written)
    assert "changed while it was hashed" not in caplog.text, caplog.text


def test_an_s3_outlet_deleted_between_its_head_and_its_hash_is_missing(s3_server, store: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """An S3 object outlet deleted between the end's HEAD and its hash was recorded without a content hash, with the
    warning that another writer wrote it meanwhile and the fix to let one task write it: it is now not there after the
    try, as an object deleted before the HEAD is (missing), and no writer is blamed."""
    with caplog.at_level("WARNING"):
        _, outputs, not_written, sent = _kept_by_the_try(s3_server, store, "tdprov_s3_deleted_before_hash",
                                                         "before-call", meanwhile="delete")
    assert "put" in sent and "kept.csv" not in outputs and not_written == {"kept.csv": ("missing", None)}, (
        outputs, not_written)
    assert "changed while it was hashed" not in caplog.text, caplog.text
    assert "is not there after the try" in caplog.text, caplog.text


def test_an_s3_prefix_outlet_named_without_its_slash_gets_one_head_at_the_end(s3_server, store: Path) -> None:
    """An S3 prefix declared as ``Asset("s3://b/parts")`` (Airflow drops the trailing ``/``) got two HEAD requests at
    the try's end, both answered 404: one noting the object's state before the hash, then one finding what the URI
    names. The first answer is now taken for both: the end sends one HEAD, then lists the prefix, and the prefix's
    shards are its output."""
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG, Asset

    from prov_common.hashing.remote import s3_client

    client, bucket = s3_server.client(), s3_server.create_bucket()
    sent: list[str] = []

    def write() -> None:
        client.put_object(Bucket=bucket, Key="parts/a.csv", Body=b"i\n1\n")
        sent.append("written")

    def count(model, **_) -> None:
        sent.append(model.name)

    with DAG("tdprov_s3_prefix_heads", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=write, outlets=[Asset(f"s3://{bucket}/parts")])
    events = s3_client().meta.events  # the client tdprov reads data objects through
    events.register("before-call.s3", count)
    try:
        assert run_dag(dag, logical_date=START).state == "success"
    finally:
        events.unregister("before-call.s3", count)
    (summary,) = [s for s in bundles_of(store) if s.job_name == "tdprov_s3_prefix_heads.write"]
    assert {o.name: o.version for o in summary.outputs} == {"parts": hash_dataset(f"s3://{bucket}/parts/").digest}
    end = sent[sent.index("written") + 1:]
    assert end.count("HeadObject") == 1, sent
