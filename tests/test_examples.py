"""The example training pipelines and the README's main command.

The main command (``bash scripts/main``, exactly as the README writes it) runs both pipelines on a
store of the test's own; the store it leaves must verify and audit clean, and the trained models'
lineage must reach the registered source. A corrupted batch must fail the Pandera check and stop
everything downstream, with the failure recorded in a bundle.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from prov_common.audit import run_audit
from prov_common.bundle import list_bundles, read_bundle, verify_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.config import Settings
from prov_common.hashing import hash_path
from prov_common.signing import trust_from_settings
from prov_common.store import open_store

REPO = Path(__file__).resolve().parents[1]
MAIN_TIMEOUT = 900  # seconds: the whole main job runs in the first test's set-up, slower on a loaded machine

pytestmark = [pytest.mark.timeout(MAIN_TIMEOUT),  # the suite's 300 s would stop the main job before its own bound
              pytest.mark.xdist_group("test_examples")]  # one xdist worker (scripts/test: --dist loadgroup) runs the main job once


@pytest.fixture(scope="module")
def main_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str], dict[str, str]]:
    root = tmp_path_factory.mktemp("main-command")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TDPROV_", "AIRFLOW", "DAGSTER"))}
    env.update(
        TDPROV_STORE=str(root / "store"),
        TDPROV_EXAMPLE_DATA=str(root / "data"),
        TDPROV_HOME=str(root / "home"),
        HOME=str(root / "user"),
    )
    proc = subprocess.run(["bash", "scripts/main"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=MAIN_TIMEOUT)
    proc.stderr = ""  # one stream, in the order a person sees it (headings go to stderr, trees to stdout)
    return root, proc, env


def test_main_command_runs_both_pipelines_and_audits_clean(main_run, monkeypatch) -> None:
    root, proc, env = main_run
    monkeypatch.setenv("TDPROV_HOME", env["TDPROV_HOME"])  # trust the key the main command signed with
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "audit clean" in proc.stdout + proc.stderr
    assert "(incremental: the example DAG's audit task audited this store first (audit " in proc.stdout  # why, in one line
    store = open_store(str(root / "store"))
    settings = Settings.from_env(env)
    summaries = list(list_bundles(store))
    jobs = {s.job_name for s in summaries}
    assert any(j.endswith("breast_cancer_training.train_model") for j in jobs), jobs  # Airflow task
    assert "model" in jobs, jobs  # Dagster step
    trust = trust_from_settings(settings)
    for summary in summaries:
        report = verify_bundle(store, summary.run_id, trust)
        assert report.ok, (summary.run_id, report.findings)
    # an independent audit of what the main command left is clean as well
    result = run_audit(store, settings, full=True, report_dir=root / "report")
    assert result.exit_code == 0, [f for c in result.checks for f in c.findings]
    assert (root / "report" / "report.html").exists()
    report = json.loads((root / "report" / "report.json").read_text())
    checks = [q for entry in report["trainingData"] for q in entry["article10"]["qualityChecks"]]
    # the Airflow pipeline validates clean_cells in a task of its own: that result reaches the training data
    assert {"schema": "breast_cancer_clean", "passed": True} in [{"schema": q["schema"], "passed": q["passed"]} for q in checks]
    assert all(e["article10"]["origin"] for e in report["trainingData"]), "a training dataset without its source"


def test_main_command_report_describes_the_whole_store(main_run) -> None:
    """The report the main command points to covers every run, though its audit may have examined only the newest."""
    _root, proc, _env = main_run
    html_path, json_path = re.search(r"report: (\S+) \((\S+), blake3:", proc.stdout).groups()
    report = json.loads(Path(json_path).read_text())
    html = Path(html_path).read_text()
    assert report["summary"]["runs"] == len(report["runs"]) > 0 and report["summary"]["trainingRuns"] == sum(r["training"] for r in report["runs"])
    assert report["trainingData"] and "no runs recorded" not in html and "No training runs recorded" not in html
    assert f'{len(report["runs"])} runs in the store' in html


@pytest.mark.parametrize("orchestrator", ["airflow", "dagster"])
def test_model_lineage_reaches_the_registered_source(main_run, orchestrator: str) -> None:
    root, proc, env = main_run
    assert proc.returncode == 0, proc.stdout[-4000:]
    from example_pipelines.training.source import source_file

    source_digest = hash_path(source_file()).digest
    model = root / "data" / orchestrator / "model.pkl"
    assert model.exists()
    out = subprocess.run(
        [str(REPO / ".venv" / "bin" / "tdprov"), "lineage", model.as_uri(), "--json", "--store", str(root / "store")],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert hash_path(model).digest in out
    assert source_digest in out, "the model's lineage does not reach the source CSV"
    assert "breast-cancer-wisconsin" in out


def test_readme_contains_line_answers_with_a_proof(main_run) -> None:
    """The README tour's `tdprov contains` line, run as written after the main command, finds its record in
    the version the Dagster pipeline recorded at row granularity, with a proof, and names the training run."""
    _root, proc, env = main_run
    assert proc.returncode == 0, proc.stdout[-4000:]
    line = re.search(r"^(tdprov contains .*?)\s+#", (REPO / "README.md").read_text(), re.MULTILINE).group(1)
    argv = [str(REPO / ".venv" / "bin" / "tdprov"), *shlex.split(line)[1:]]
    out = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, (line, out.stdout, out.stderr)
    lines = out.stdout.splitlines()  # a short answer for a person: the bucket's digests are in --json and --proof
    assert lines[0].startswith("contained") and len(lines) < 30, out.stdout
    assert "clean_cells.parquet@blake3:" in lines[1] and "verified against the signed rows root" in out.stdout, out.stdout
    training = lines[next(i for i, text in enumerate(lines) if text.startswith("  training runs")) + 1:]
    assert "model" in [text.split()[1].rsplit("/", 1)[-1] for text in training if text.startswith("    ")], out.stdout
    out = subprocess.run([*argv, "--json"], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, (line, out.stdout, out.stderr)
    answer = json.loads(out.stdout)
    assert answer["contained"] and answer["proof"], answer
    assert answer["name"].endswith("clean_cells.parquet"), answer
    assert "model" in [r["job"]["name"] for r in answer["trainingRuns"]], answer["trainingRuns"]


def test_main_command_shows_each_models_own_lineage(main_run) -> None:
    """The two pipelines write the same bytes under different names: each model's tree lists its own
    pipeline's runs only, back to the source, and the two trees differ."""
    _root, proc, _env = main_run
    assert proc.returncode == 0, proc.stdout[-4000:]
    out = proc.stdout + proc.stderr
    dagster = out.split("== lineage of the Dagster model", 1)[1].split("== lineage of the Airflow model", 1)[0]
    airflow = out.split("== lineage of the Airflow model", 1)[1].split("\ndone in", 1)[0]
    runs = lambda tree: [line.split("generated by ", 1)[1].split("  run ")[0] for line in tree.splitlines() if "generated by " in line]  # noqa: E731
    assert runs(dagster) and runs(airflow) and dagster != airflow
    assert not any(job.startswith("breast_cancer_training.") for job in runs(dagster)), runs(dagster)
    assert all(job.startswith("breast_cancer_training.") for job in runs(airflow)), runs(airflow)
    assert "[source: breast-cancer-wisconsin" in dagster and "[source: breast-cancer-wisconsin" in airflow
    assert "same content as" in dagster  # equal bytes in the other pipeline are shown as a fact, not as lineage


def test_corrupted_batch_fails_the_pandera_check_and_blocks_downstream(tmp_path: Path, monkeypatch) -> None:
    from dagster import AssetKey, asset, materialize

    from example_pipelines.dagster_training import definitions as example
    from example_pipelines.training import steps
    from example_pipelines.training.source import source_file
    from prov_dagster import ProvenanceIOManager, pandera_checks

    monkeypatch.setenv("TDPROV_STORE", str(tmp_path / "store"))

    @asset(name="raw_cells", group_name=example.GROUP)
    def corrupted_raw_cells() -> pd.DataFrame:
        return steps.corrupt_batch(steps.ingest(source_file()))

    assets = [corrupted_raw_cells, example.clean_cells, example.features]
    result = materialize(
        [*assets, *pandera_checks(assets)],
        resources={"io_manager": ProvenanceIOManager(store=str(tmp_path / "store"), data_root=str(tmp_path / "data"))},
        raise_on_error=False,
    )
    assert not result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert AssetKey("features") not in materialized, "a failed clean batch must not reach the features"
    store = open_store(str(tmp_path / "store"))
    clean_runs = [s for s in list_bundles(store) if s.job_name == "clean_cells"]
    assert len(clean_runs) == 1
    bundle = read_bundle(store, clean_runs[0].run_id)
    events = parse_events_jsonl(bundle.files["events.jsonl"])
    pandera = [o["facets"]["tdprov_pandera"] for e in events for o in e.get("outputs", []) if "tdprov_pandera" in o.get("facets", {})]
    assert pandera and not pandera[-1]["passed"], "the failed validation is not recorded in the bundle"
    failed = {c.get("column") for c in pandera[-1]["checks"] if not c["passed"]}
    assert {"mean_radius", "mean_area"} <= failed, failed
    assert any(name.startswith("quality/") for name in bundle.files), "failure samples missing from the bundle"
