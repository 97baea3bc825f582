"""The Dagster UI as a user sees it: the real webserver on a Dagster home where the chain was materialized
through ProvenanceIOManager, opened in headless Chromium (Playwright driving the system Chromium)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, materialize

import test_dagster_defs as pipeline
from browser_support import launched, needs_chromium, new_page
from conftest import free_port
from test_dagster_defs import url_path
from prov_dagster import ProvenanceIOManager, pandera_checks

pytestmark = needs_chromium
TESTS = Path(__file__).resolve().parent
LOAD_TIMEOUT_MS = 180_000  # the webserver loads the code location in a subprocess: slow on a loaded machine


@dataclass(frozen=True)
class Served:
    url: str
    digest: str
    bundle: str
    data_version: str


def _wait_until_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + LOAD_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                return
        except OSError:
            time.sleep(0.2)  # polled often: the page is opened as soon as the webserver answers
    pytest.fail(f"dagster-webserver did not answer at {url}:\n{log.read_text()[-3000:]}")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The chain materialized (with its Pandera check) into a Dagster home, and the webserver serving it."""
    home, store = tmp_path / "dagster_home", tmp_path / "store"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("TDPROV_STORE", str(store))
    with DagsterInstance.get() as instance:
        result = materialize([*pipeline.CHAIN, *pandera_checks(pipeline.CHAIN)], instance=instance,
                             resources={"io_manager": ProvenanceIOManager()})
        assert result.success
        [mat] = [e.materialization for e in result.get_asset_materialization_events()
                 if e.materialization.asset_key == AssetKey(["raw", "orders"])]
        recorded = instance.get_latest_materialization_event(AssetKey(["raw", "orders"])).asset_materialization
        data_version = recorded.tags["dagster/data_version"]  # what Dagster's staleness compares
    port = free_port()
    log = tmp_path / "webserver.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-webserver")), "-m", "dagster_ui_defs",
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url, proc, log)
        yield Served(url, mat.metadata["tdprov/digest"].value, mat.metadata["tdprov/bundle"].value, data_version)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the webserver and the code server it started: nothing of theirs is kept
        proc.wait()


@pytest.fixture
def page():
    with launched() as browser, new_page(browser, 1400, 1000, timeout_ms=LOAD_TIMEOUT_MS) as tab:
        yield tab


def test_asset_page_shows_the_digest_the_check_result_and_a_bundle_link(served: Served, page, tmp_path: Path) -> None:
    assert served.digest == served.data_version  # the digest the page must show is the asset's data version
    page.goto(f"{served.url}/assets/raw/orders")
    page.get_by_text(served.digest, exact=True).first.wait_for(state="visible")
    link = page.locator(f'a[href="{served.bundle}"]').first  # the bundle as a link, not as plain text
    link.wait_for(state="visible")
    assert (url_path(link.get_attribute("href")) / "statement.dsse.json").is_file()
    page.get_by_text("test_dagster_defs:RAW_SCHEMA", exact=True).first.wait_for(state="visible")
    page.get_by_text("isin(['DE', 'FR', 'US']); not null", exact=True).first.wait_for(state="visible")
    assert "unserializable" not in page.inner_text("body")
    page.screenshot(path=str(tmp_path / "asset.png"), full_page=True)

    page.goto(f"{served.url}/assets/raw/orders?view=checks")
    page.get_by_text("Pandera validation of raw/orders", exact=False).first.wait_for(state="visible")
    page.get_by_text("Passed", exact=True).first.wait_for(state="visible")
    page.locator(f'a[href="{served.bundle}"]').first.wait_for(state="visible")  # the check links the bundle too
    page.get_by_text(served.digest, exact=True).first.wait_for(state="visible")
