"""A dataset is (namespace, name) and a version is that dataset at a digest, whatever the audit prints for it: two
datasets can print alike (``s3://lake`` with ``/x`` and with ``x`` are both ``s3://lake/x``; ``a:b`` with ``c`` and ``a``
with ``b:c`` are both ``a:b:c``), and the audit's checks, counts and sections keep them apart, in full and
incremental audits alike."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from prov_common.audit import run_audit
from prov_common.audit.accepted import apply_acceptances, item_key, propose
from prov_common.audit.checks import Evaluation
from prov_common.audit.model import CHECK_COMPLETENESS, CHECK_QUALITY, CHECK_SIGNATURES, NOTE, CheckResult, DatasetUse
from prov_common.audit.state import STATE_PREFIX, AcceptedRun, CheckState, OpenLink, read_state
from prov_common.config import Settings
from prov_common.signing import TrustStore, default_signing_key
from prov_common.store import open_store
from prov_common.store.base import Store
from prov_common.w3cprov.identity import dataset_label

from test_audit_support import T0, dataset, digest, run_events, seal

LAKE = "s3://lake"
SAME = digest("the same bytes under two names")
assert dataset_label(LAKE, "/x") == dataset_label(LAKE, "x") and dataset_label("a:b", "c") == dataset_label("a", "b:c")


def _audit(store: Store, out: Path, **kw):
    result = run_audit(store, Settings.from_env(store=store.uri), report_dir=out, progress=False, **kw)
    return result, json.loads((out / "report.json").read_text())


def _made(store: Store, name: str, hours: int, namespace: str = LAKE, **quality) -> str:
    return seal(store, run_events(f"make_{name.strip('/')}", [], [dataset(name, SAME, namespace=namespace, **quality)],
                                  start=T0 + timedelta(hours=hours)))


def test_a_run_that_read_the_passing_one_of_two_datasets_printed_alike_used_no_failing_data(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    _made(store, "/x", 0, passed=False, failed=("greater_than(0)",))  # validated by its own schema: fails
    _audit(store, tmp_path / "first")  # the failing version is kept in the audit state, the next audit continues from it
    _made(store, "x", 1, passed=True)  # the same bytes in another dataset, another schema: passes
    reader = seal(store, run_events("read_x", [dataset("x", SAME, namespace=LAKE)], [], start=T0 + timedelta(hours=2)))
    for result, report in (_audit(store, tmp_path / "incremental"), _audit(store, tmp_path / "full", full=True)):
        quality = result.check(CHECK_QUALITY)
        assert quality.errors == [], [f.what for f in quality.errors]
        assert [f.severity for f in quality.findings] == [NOTE] and "no recorded run used it" in quality.findings[0].what
        rows = {(r.dataset.namespace, r.dataset.name): r for r in result.quality_rows}
        assert set(rows) == {(LAKE, "/x"), (LAKE, "x")}, rows
        assert rows[LAKE, "/x"].failed and rows[LAKE, "/x"].used_by == []
        assert not rows[LAKE, "x"].failed
        assert report["qualityPassedVersions"] == 1
        assert [(q["namespace"], q["name"], q["usedBy"]) for q in report["quality"]] == [(LAKE, "/x", [])]
        assert reader not in json.dumps(report["quality"])


def test_two_failing_datasets_printed_alike_are_two_rows_and_a_reader_uses_one(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    _made(store, "c", 0, namespace="a:b", passed=False, failed=("isin",))
    _made(store, "b:c", 0, namespace="a", passed=False, failed=("unique",))
    reader = seal(store, run_events("read_bc", [dataset("b:c", SAME, namespace="a")], [], start=T0 + timedelta(hours=1)))
    result, report = _audit(store, tmp_path / "report", full=True)
    (used,) = result.check(CHECK_QUALITY).errors
    assert used.run_id == reader and "schema b:c_schema" in used.what and "unique" in used.what, used.what
    rows = {(q["namespace"], q["name"]): q for q in report["quality"]}
    assert set(rows) == {("a:b", "c"), ("a", "b:c")} and report["qualityPassedVersions"] == 0
    assert rows["a", "b:c"]["usedBy"] == [reader] and rows["a:b", "c"]["usedBy"] == []
    assert [q["dataset"] for q in report["quality"]] == ["a::b:c", "a:b::c"]  # both a:b:c: shown as NAMESPACE::NAME


def test_training_on_two_datasets_printed_alike_gives_two_training_data_sections(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    first = seal(store, run_events("train_first", [dataset("/x", SAME, namespace=LAKE)], [dataset("/m/1", digest("m1"))],
                                   job_type="TRAINING"))
    second = seal(store, run_events("train_second", [dataset("x", SAME, namespace=LAKE)], [dataset("/m/2", digest("m2"))],
                                    start=T0 + timedelta(hours=1), job_type="TRAINING"))
    _, report = _audit(store, tmp_path / "report", full=True)
    runs = sorted(tuple(e["trainingRuns"]) for e in report["trainingData"])
    assert runs == sorted([(first,), (second,)]) and report["trainingDataTotal"] == 2


def test_a_closed_link_is_not_kept_open_by_another_dataset_printed_alike(tmp_path: Path) -> None:
    """A run read two datasets printed alike, neither traced; then the run that made one of them is recorded: in the
    next (incremental) audit the training run downstream has that maker's broken link as its gap, as a full audit says."""
    store = open_store(str(tmp_path / "store"))
    prepare = seal(store, run_events("prepare", [dataset("/z", SAME, namespace=LAKE), dataset("z", SAME, namespace=LAKE)],
                                     [dataset("/data/f.parquet", digest("f"))], start=T0 + timedelta(hours=1)))
    seal(store, run_events("train_model", [dataset("/data/f.parquet", digest("f"))], [dataset("/m/1", digest("m1"))],
                           start=T0 + timedelta(hours=2), job_type="TRAINING"))
    _audit(store, tmp_path / "first")
    maker = seal(store, run_events("crawl", [dataset("raw.jsonl", digest("raw"), namespace="s3://crawl")],
                                   [dataset("/z", SAME, namespace=LAKE)]))  # ended before 'prepare' read it

    def gap_text(result) -> str:
        return next(f.what for f in result.check(CHECK_COMPLETENESS).errors if "training run" in f.what)

    def gaps_kept() -> list[tuple[str, ...]]:  # the training gaps the audit state hands to the next audit
        state = read_state(store, TrustStore.of([default_signing_key().public]), list(store.list(STATE_PREFIX))[-1])
        return sorted(item_key(g) for g in state.checks.gaps)

    incremental, _ = _audit(store, tmp_path / "incremental")
    kept = gaps_kept()
    full, _ = _audit(store, tmp_path / "full", full=True)
    assert f"run {maker}" in gap_text(full) and f"run {prepare}" in gap_text(full)
    assert gap_text(incremental) == gap_text(full)
    assert kept == gaps_kept() and len(kept) == 2  # prepare's open link of (s3://lake, z), the crawl run's of its input


def test_an_acceptance_recorded_with_the_printed_name_still_covers_its_finding() -> None:
    """Acceptances signed before the audit keyed versions by dataset name the link by how it printed: still honoured."""
    link = OpenLink("run-1", "tests/prepare", "index/1", DatasetUse(LAKE, "/x", SAME), "no origin")
    state = CheckState(broken=[link])
    legacy = AcceptedRun("run-1", "checked by hand", "auditor", "key", "2026-05-01T00:00:00Z", "audit/accepted/1.json",
                         (("input", "run-1", "s3://lake/x", SAME),))
    assert propose("run-1", state, [legacy], unended=[]).nothing is not None  # nothing more to accept
    findings = [f"run run-1 (tests/prepare) used s3://lake/x version {SAME}: no origin"]
    evaluation = Evaluation([CheckResult(CHECK_COMPLETENESS), CheckResult(CHECK_SIGNATURES)], [], state)
    evaluation.check(CHECK_COMPLETENESS).findings = []
    [entry] = apply_acceptances(evaluation, [legacy], unended=[])
    assert [f["what"] for f in entry["findings"]] == findings and evaluation.check(CHECK_COMPLETENESS).findings == []
    # a new acceptance names the link by its dataset, so another dataset printed alike is not covered by it
    assert item_key(link) == ("input", "run-1", LAKE, "/x", SAME)


def test_a_training_run_that_made_nothing_names_no_dataset_printed_alike(tmp_path: Path) -> None:
    """A training run that recorded no inputs and no outputs is a gap the audit state keeps under a stand-in named by
    its job ('tests', 'b:c', printed 'tests:b:c'), which is no dataset: incremental audits named the dataset ('tests:b',
    'c'), printed alike, as 'tests:b::c' beside it, where the first and every full audit name it 'tests:b:c'."""
    store = open_store(str(tmp_path / "store"))
    seal(store, run_events("b:c", [], [], job_type="TRAINING"))
    seal(store, run_events("fit", [dataset("c", digest("x"), namespace="tests:b")], [dataset("/m.pkl", digest("m"))],
                           start=T0 + timedelta(hours=1)))

    def objects(**kw) -> list[str]:
        report = _audit(store, tmp_path / f"report-{len(list(tmp_path.iterdir()))}", **kw)[1]
        return sorted(f["object"] for c in report["checks"] for f in c["findings"] if not f["object"].startswith("run "))

    assert objects() == [f"tests:b:c@{digest('x')}"]
    seal(store, run_events("other", [], [dataset("/o", digest("o"))], start=T0 + timedelta(hours=2)))
    assert objects() == [f"tests:b:c@{digest('x')}"]  # incremental: the stand-in was labelled among the datasets
    assert objects(full=True) == [f"tests:b:c@{digest('x')}"]
