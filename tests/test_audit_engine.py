"""run_audit end to end on a local store: clean pipeline, incremental audits, findings by check."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from prov_common.audit import run_audit
from prov_common.audit.model import CHECK_COMPLETENESS, CHECK_QUALITY, CHECK_UNFINISHED
from prov_common.bundle.transport import staged_event_key
from prov_common.canonical_json import canonical_bytes
from prov_common.cli import main
from prov_common.config import Settings

from bundle_support import signed_staged
from test_audit_support import T0, Pipeline, dataset, digest, run_events, seal


@pytest.fixture()
def pipe(tmp_path: Path) -> Pipeline:
    return Pipeline(str(tmp_path / "store"))


def _audit(pipe: Pipeline, tmp_path: Path, **kw):
    return run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), report_dir=tmp_path / "report", progress=False, **kw)


def m2_run(result) -> str:
    """The run of the audit's index that wrote /models/m2.pkl."""
    return next(r.run_id for r in result.index.runs.values() if any(d.name == "/models/m2.pkl" for d in r.outputs))


def test_clean_pipeline_audits_clean_and_incrementally(pipe: Pipeline, tmp_path: Path) -> None:
    first = _audit(pipe, tmp_path)
    assert first.clean, [f.what for f in first.errors]
    assert first.checkpoint is not None and first.checkpoint.checkpoint.size == 2 and first.bundles_examined == 2
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["summary"]["clean"] and report["log"]["treeSize"] == 2
    entry = report["trainingData"][0]
    assert entry["version"] == pipe.features and entry["article10"]["origin"][0]["name"] == "vendor-raw"
    assert [s["job"] for s in entry["article10"]["preparation"]] == [{"namespace": "tests", "name": "prepare_features"}]
    assert entry["annexIV"]["lineageComplete"] is True
    html = (tmp_path / "report" / "report.html").read_text()
    assert "<svg" in html and "Article 10" in html and "vendor-raw" in html
    # nothing new: no bundle examined, same checkpoint
    second = _audit(pipe, tmp_path)
    assert second.clean and second.bundles_examined == 0 and second.checkpoint.checkpoint.size == 2
    # one new bundle: only it is examined, the checkpoint chain grows
    seal(pipe.store, run_events("train_model", [dataset("/data/features.parquet", pipe.features)], [dataset("/models/m2.pkl", digest("m2"))],
                                start=T0 + timedelta(hours=2), job_type="TRAINING"))
    third = _audit(pipe, tmp_path)
    assert third.clean and third.bundles_examined == 1 and third.checkpoint.checkpoint.size == 3
    assert third.checkpoint.checkpoint.previous == first.checkpoint.digest
    # the older runs were not re-read (their records are the catalog's): one bundle examined, every run in the index
    assert third.examined == {m2_run(third)} and len(third.index.runs) == 3
    assert third.summary()["runs"] == 3 and third.summary()["trainingRuns"] == 2
    # the audit is recorded as a signed PROV activity naming the report's digest and the checkpoints
    from prov_common.signing import Envelope, TrustStore, default_signing_key, verify_envelope
    from prov_common.w3cprov import deserialize

    env = Envelope.from_json(pipe.store.get(third.prov_key))
    verify_envelope(env, TrustStore.of([default_signing_key().public]))
    prov = json.loads(env.payload)
    activity = next(iter(prov["activity"].values()))
    assert activity["tdprov:mode"] == "incremental" and activity["tdprov:clean"] is True
    report_entity = next(v for k, v in prov["entity"].items() if "audit-report" in k)
    assert report_entity["tdprov:digest"] == third.report_digest
    assert any(k.endswith("log-checkpoint-3") for k in prov["entity"])
    assert len(list(deserialize(env.payload).get_records())) >= 5
    assert _audit(pipe, tmp_path, full=True).bundles_examined == 3


def test_completeness_names_the_broken_link(pipe: Pipeline, tmp_path: Path) -> None:
    orphan = digest("scraped")
    prep = seal(pipe.store, run_events("prepare_scraped", [dataset("scraped.jsonl", orphan, namespace="s3://crawl")],
                                       [dataset("/data/scraped.parquet", digest("scraped-clean"))]))
    train = seal(pipe.store, run_events("train_ranker", [dataset("/data/scraped.parquet", digest("scraped-clean"))], [],
                                        start=T0 + timedelta(hours=3)))
    result = _audit(pipe, tmp_path)
    found = result.check(CHECK_COMPLETENESS).errors
    assert any(f.run_id == prep and "s3://crawl/scraped.jsonl" in f.what and orphan in f.what for f in found), found
    assert any(f.run_id == train and "training run" in f.what and f"run {prep}" in f.what for f in found), found
    assert result.exit_code == 1
    report = json.loads(Path(result.report_json).read_text())
    gaps = next(e for e in report["trainingData"] if e["dataset"].endswith("scraped.parquet"))["article10"]["knownGaps"]
    assert any("s3://crawl/scraped.jsonl" in g for g in gaps)


def test_quality_names_runs_that_used_failing_data(pipe: Pipeline, tmp_path: Path) -> None:
    bad = digest("bad-features")
    seal(pipe.store, run_events("prepare_features", [dataset(pipe.raw_name, pipe.raw)],
                                [dataset("/data/features2.parquet", bad, passed=False, failed=("greater_than(0)",))]))
    user = seal(pipe.store, run_events("train_model", [dataset("/data/features2.parquet", bad)], [], start=T0 + timedelta(hours=4)))
    result = _audit(pipe, tmp_path)
    found = result.check(CHECK_QUALITY).errors
    assert len(found) == 1 and found[0].run_id == user and "greater_than(0)[amount]" in found[0].what
    row = next(r for r in result.quality_rows if r.dataset.version == bad)
    assert row.used_by == [user] and not row.dataset.quality.passed


def test_unfinished_runs(pipe: Pipeline, tmp_path: Path) -> None:
    events = run_events("hung_job", [], [], end_type=None)
    pipe.store.put(staged_event_key(events[0]), canonical_bytes(events[0]))
    result = _audit(pipe, tmp_path, stale_after=timedelta(hours=1))
    found = result.check(CHECK_UNFINISHED).errors
    assert len(found) == 1 and found[0].object == f"staging/{events[0]['run']['runId']}/"
    # a fresh staged run is only a note
    assert _audit(pipe, tmp_path, stale_after=timedelta(days=100000)).check(CHECK_UNFINISHED).errors == []


def test_a_run_dated_in_the_future_or_before_year_1000_is_not_hidden_from_the_unfinished_check(pipe: Pipeline, tmp_path: Path) -> None:
    """A staged START dated ahead of the audit (a producer's clock running ahead, year 2100) was only an "it may be
    running" note until that date came; one dated before year 1000 was staged under an unpadded stamp the audit could
    not read, so the stuck run vanished. Future dates are a finding, staleness counts from when an audit first named
    the run, and the stamp always has a 4-digit year (keys written unpadded are still read)."""
    from prov_common.audit.state import UnsealedRun
    from prov_common.audit.unfinished import unfinished_runs
    from prov_common.w3cprov.identity import iso_z

    now = datetime.now(timezone.utc)
    future = run_events("clock_ahead", [], [], start=datetime(2100, 1, 1, tzinfo=timezone.utc), end_type=None)
    soon = run_events("days_ahead", [], [], start=now + timedelta(days=26), end_type=None)
    early = run_events("typo_year", [], [], start=datetime(226, 3, 1, 10, tzinfo=timezone.utc), end_type=None)
    legacy = run_events("legacy_key", [], [], start=datetime(226, 3, 1, 10, tzinfo=timezone.utc), end_type=None)
    for events in (future, soon, early):
        pipe.store.put(staged_event_key(events[0]), canonical_bytes(events[0]))
    assert staged_event_key(early[0]).split("/")[-1].startswith("02260301T100000000000Z-")
    legacy_id = legacy[0]["run"]["runId"]
    pipe.store.put(f"staging/{legacy_id}/2260301T100000000000Z-{'0' * 32}.json", canonical_bytes(legacy[0]))
    result = _audit(pipe, tmp_path, stale_after=timedelta(hours=1))
    check = result.check(CHECK_UNFINISHED)
    errors = [(f.run_id, f.what) for f in check.errors]
    run_id = lambda events: events[0]["run"]["runId"]  # noqa: E731

    def named(events: list[dict], text: str) -> bool:
        return any(r == run_id(events) and text in what for r, what in errors)

    assert named(future, "staged an event dated 2100-01-01T00:00:00Z, in the future"), errors
    assert named(soon, f"staged an event dated {soon[0]['eventTime']}, in the future"), errors
    assert named(early, "staged events until 0226-03-01T10:00:00Z and never ended"), errors
    assert named(legacy, "staged events until 0226-03-01T10:00:00Z and never ended"), errors
    # staleness counts from when an audit first named the run: two hours after that, the run never ended
    first = [UnsealedRun(run_id(future), "first-audit", iso_z(now))]
    later, _, _ = unfinished_runs(pipe.store, {}, stale_after=timedelta(hours=1), now=now + timedelta(hours=2), reported=first)
    assert any(f.run_id == run_id(future) and "never ended" in f.what for f in later.errors), [f.what for f in later.errors]
    assert not any(f.run_id == run_id(soon) and "never ended" in f.what for f in later.errors)  # first named only now


def test_runs_are_listed_in_time_order_not_in_the_order_of_their_time_text(pipe: Pipeline, tmp_path: Path) -> None:
    """Runs that ended at 10:00:00Z, 10:00:00.5Z and 10:00:01Z: the report listed the one at 10:00:00Z as newer than
    the one half a second later ('Z' sorts after '.'), and so did the picture's roots and 'tdprov contains'."""
    from prov_common.audit.lineage import LineageIndex
    from prov_common.audit.membership import downstream
    from prov_common.audit.model import DatasetUse
    from prov_common.audit.svg import MAX_TRAINING_RUNS, lineage_graph
    from prov_common.w3cprov.identity import sortable_time

    ends = ["2026-05-01T10:00:00Z", "2026-05-01T10:00:00.5Z", "2026-05-01T10:00:01Z"]
    for i, end in enumerate(ends):
        events = run_events(f"train_model_{i}", [dataset("/data/features.parquet", pipe.features)],
                            [dataset(f"/models/m{i}.pkl", digest(f"m{i}"))], job_type="TRAINING")
        events[1]["eventTime"] = end
        seal(pipe.store, events)
    firsts = [f"2026-05-01T09:00:00.{n}Z" for n in range(1, MAX_TRAINING_RUNS + 1)]
    for i, end in enumerate(["2026-05-01T09:00:00Z", *firsts]):  # the newest runs are the picture's roots
        events = run_events(f"copy_{i}", [dataset("/data/features.parquet", pipe.features)], [dataset(f"/copies/c{i}", digest(f"c{i}"))])
        events[1]["eventTime"] = end
        seal(pipe.store, events)
    result = _audit(pipe, tmp_path)
    listed = [r["job"]["name"] for r in result.runs_listed() if r["job"]["name"].startswith("train_model_")]
    assert listed == ["train_model_2", "train_model_1", "train_model_0"], listed
    _, training = downstream(result.index, DatasetUse("file", "/data/features.parquet", pipe.features))
    order = [r.job.rsplit("/", 1)[-1] for r in training if r.job.rsplit("/", 1)[-1].startswith("train_model_")]
    assert order == ["train_model_0", "train_model_1", "train_model_2"], order
    copies = {r.run_id: r for r in result.index.runs.values() if r.job.rsplit("/", 1)[-1].startswith("copy_")}
    untrained = LineageIndex(list(copies.values()))  # no training run: the newest runs are the roots
    shown = {node_id for node_id in lineage_graph(untrained).nodes}
    oldest = next(r for r in copies.values() if r.ended_at.startswith("2026-05-01T09:00:00Z"))
    assert not any(oldest.run_id in node_id for node_id in shown), sorted(shown)
    assert sortable_time("0999-12-31T23:59:59Z") < sortable_time("1000-01-01T00:00:00Z")  # the year written with 4 digits


def test_a_completed_run_its_writer_could_not_seal_is_named_so_and_sealed_by_the_cli(pipe: Pipeline, tmp_path: Path,
                                                                                      capsys: pytest.CaptureFixture) -> None:
    """A writer staged START and COMPLETE, then could not sign the bundle (its key unreadable) and spooled nothing:
    the audit said the run "never ended ... it may be running", and its fix named no tool. It says the run completed
    and was never sealed; 'tdprov store seal RUN_ID' seals it from what is staged, and the next audit is clean."""
    events = run_events("prepare_late", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/late.parquet", digest("late"))])
    run_id = events[0]["run"]["runId"]
    for event in events:
        pipe.store.put(staged_event_key(event), signed_staged(event))
    (finding,) = _audit(pipe, tmp_path, stale_after=timedelta(hours=1)).check(CHECK_UNFINISHED).errors
    assert f"run {run_id} staged its COMPLETE event at" in finding.what and "was never sealed" in finding.what, finding.what
    assert "tdprov store seal RUN_ID" in finding.fix
    # the audit cannot see the writer's spool, where the bundle usually waits after an outage: it says so, and the
    # fix flushes that spool before sealing from staging (which would leave the spooled bundle undeliverable)
    assert "did not spool" not in finding.what
    assert "its bundle was not stored" in finding.what and "writer's spool ('tdprov flush' on that machine)" in finding.what
    assert "could not sign it" in finding.what
    assert finding.fix.index("tdprov flush") < finding.fix.index("tdprov store seal RUN_ID"), finding.fix
    assert main(["store", "seal", run_id, "--store", pipe.store.uri]) == 0
    assert capsys.readouterr().out.startswith(f"written        {run_id}  index/")
    again = _audit(pipe, tmp_path, stale_after=timedelta(hours=1))
    assert again.clean and run_id in {r.run_id for r in again.index.runs.values()}, [f.what for f in again.errors]
    assert main(["store", "seal", "0190b7a4-2c1e-7cc1-9a4e-5b2f0e8c1d22", "--store", pipe.store.uri]) == 2
    assert "no staged events or bundle for run id '0190b7a4-2c1e-7cc1-9a4e-5b2f0e8c1d22'" in capsys.readouterr().err
    # a run with only its START staged, a moment ago, may still be running: sealed now, its COMPLETE would be in no bundle
    running = run_events("still_running", [dataset(pipe.raw_name, pipe.raw)], [], end_type=None)
    running[0]["eventTime"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    pipe.store.put(staged_event_key(running[0]), signed_staged(running[0]))
    running_id = running[0]["run"]["runId"]
    assert main(["store", "seal", running_id, "--store", pipe.store.uri]) == 2
    assert f"run {running_id} may still be running" in capsys.readouterr().err
    assert main(["store", "seal", running_id, "--force", "--store", pipe.store.uri]) == 0
    assert capsys.readouterr().out.startswith(f"written        {running_id}")


def test_cli_exit_codes(pipe: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["audit", "--store", pipe.store.uri, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "audit clean" in out and "audit/reports/" in out
    seal(pipe.store, run_events("train_x", [dataset("/x.csv", digest("x"))], []))
    assert main(["audit", "--store", pipe.store.uri]) == 1
    assert "[completeness]" in capsys.readouterr().out
    (tmp_path / "file").write_text("x")
    assert main(["audit", "--store", str(tmp_path / "file")]) == 2


def test_backdated_bundle_is_noted(pipe: Pipeline, tmp_path: Path) -> None:
    from prov_common.audit.model import CHECK_LOG, NOTE
    from prov_common.bundle import build_bundle
    from prov_common.bundle.storage import deliver_bundle
    from prov_common.signing import default_signing_key

    assert _audit(pipe, tmp_path).clean
    bundle = build_bundle(run_events("train_model", [dataset("/data/features.parquet", pipe.features)], []), None, default_signing_key(),
                          sealed_at=T0)
    deliver_bundle(pipe.store, bundle)
    result = _audit(pipe, tmp_path)
    notes = [f for f in result.check(CHECK_LOG).findings if f.run_id == bundle.run_id]
    assert notes and notes[0].severity == NOTE and "back-dated" in notes[0].what and result.clean


def test_a_run_that_starts_after_it_ends_is_noted_with_both_times(pipe: Pipeline, tmp_path: Path) -> None:
    """START stamped 12:05 by one host, COMPLETE 12:04 by another: the record keeps the times as stamped (its PROV
    then has startedAtTime after endedAtTime), and the PROV check notes the run, both times and the likely cause."""
    from prov_common.audit.model import CHECK_PROV, NOTE

    events = run_events("skewed", [], [dataset("/data/skewed.csv", digest("skewed"))], start=T0 + timedelta(minutes=5), minutes=-1)
    run_id = seal(pipe.store, events)
    result = _audit(pipe, tmp_path)
    notes = [f for f in result.check(CHECK_PROV).findings if f.run_id == run_id]
    assert len(notes) == 1 and notes[0].severity == NOTE and result.clean, [f.what for f in result.check(CHECK_PROV).findings]
    assert "2026-05-01T12:05:00Z" in notes[0].what and "2026-05-01T12:04:00Z" in notes[0].what and "clock" in notes[0].fix
    assert not [f for f in result.check(CHECK_PROV).findings if f.run_id != run_id]
