"""Every picture README.md and docs/ show exists, and scripts/screenshots makes each one, where the docs take it."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "screenshots"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _shown() -> dict[Path, list[str]]:
    """Each picture a page shows (Markdown ``![alt](path)`` or ``<img src>``), with the pages that show it."""
    shown: dict[Path, list[str]] = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"!\[[^\]]*\]\(\s*([^)\s]+)", text) + re.findall(r"<img[^>]*\ssrc=\"([^\"]+)\"", text):
            if "://" not in target:
                shown.setdefault((page.parent / target).resolve(), []).append(str(page.relative_to(REPO)))
    return shown


def _made() -> set[Path]:
    """The pictures scripts/screenshots writes: the file each ``shot`` names, with the script's folders filled in."""
    script = SCRIPT.read_text(encoding="utf-8")
    folders = {"$OUT": re.search(r'^OUT="([^"]+)"', script, flags=re.M).group(1), "$REPO": str(REPO)}
    made = set()
    for target in re.findall(r'^\s*shot\s+"[^"]*"\s+"([^"]+)"', script, flags=re.M):
        for name, folder in folders.items():
            target = target.replace(name, folder)
        made.add(Path(target).resolve())
    return made


def _named(paths: object) -> list[str]:
    return sorted(str(path.relative_to(REPO)) for path in paths)


def test_every_picture_the_docs_show_exists() -> None:
    missing = {str(path.relative_to(REPO)): pages for path, pages in _shown().items() if not path.is_file()}
    assert not missing, f"pictures shown but not in the repository (shown by): {missing}"


def test_scripts_screenshots_makes_every_picture_the_docs_show_and_no_other() -> None:
    shown, made = set(_shown()), _made()
    assert made, "scripts/screenshots names no picture it makes: its shot lines changed shape"
    assert _named(shown - made) == [], "pictures the docs show that scripts/screenshots does not make"
    assert _named(made - shown) == [], "pictures scripts/screenshots makes that no page shows"


def test_every_picture_under_docs_is_shown() -> None:
    pictures = {path.resolve() for path in (REPO / "docs").rglob("*") if path.suffix in {".png", ".jpg", ".gif", ".svg"}}
    assert _named(pictures - set(_shown())) == [], "pictures in docs/ that no page shows: remove them or show them"


def _dag_run_checked(run: str, state: str) -> subprocess.CompletedProcess[str]:
    """scripts/screenshots' ``dag_run_checked`` function alone, run in bash on ``run`` and ``state``."""
    script = SCRIPT.read_text(encoding="utf-8")
    function = re.search(r"^dag_run_checked\(\) \{.*?^\}$", script, flags=re.M | re.S)
    assert function, "scripts/screenshots defines no dag_run_checked function"
    return subprocess.run(["bash", "-c", function[0] + '\ndag_run_checked "$@"', "check", run, state, "/w/airflow.log"],
                          capture_output=True, text=True, env={"AIRFLOW_HOME": "/w/airflow-home", "PATH": "/usr/bin:/bin"})


def test_scripts_screenshots_stops_naming_the_dag_run_that_did_not_succeed() -> None:
    """The script shot the Airflow pages whatever the example DAG run's state: a failed run, or none listed, gave
    pictures of an error page. It now checks the run first and stops, naming what failed, where a run did not succeed."""
    script = SCRIPT.read_text(encoding="utf-8")
    assert script.index('dag_run_checked "${DAG_RUN:-}" "${STATE:-}"') < script.index('shot "http://127.0.0.1:8080/')
    assert _dag_run_checked("manual__2026-01-01", "success").returncode == 0
    for run, state, said in (
            ("", "", "the example DAG breast_cancer_training lists no run after 'airflow dags trigger': see /w/airflow.log"),
            ("manual__2026-01-01", "failed",
             "the example DAG's run manual__2026-01-01 failed: see its task logs in the Airflow UI or under /w/airflow-home/logs"),
            ("manual__2026-01-01", "running",
             "the example DAG's run manual__2026-01-01 is running after 5 minutes, not done: see /w/airflow.log")):
        done = _dag_run_checked(run, state)
        assert done.returncode == 1 and done.stdout == "", (state, done)
        assert done.stderr == f"{said}; no Airflow screenshot taken\n", done.stderr
