"""The plugin's page in Airflow's API server: the bundles of a DAG run with their verification status."""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote
from typing import Any

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, run_dag, tdprov_env

import pandas as pd
import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from prov_common.hashing import hash_path

# one xdist worker runs this module (scripts/test: --dist loadgroup), so the DAG run, the app and the API server is built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_airflow_page")

START = pendulum.datetime(2024, 1, 1, tz="UTC")
DAG_ID = "tdprov_page"


@pytest.fixture(scope="module")
def page_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One DAG run (two tasks, one output file) recorded in a store of its own, signed with a key that
    ``[tdprov]`` names and trusts; the API server lets every caller in as admin
    (``simple_auth_manager_all_admins``) once a token is fetched."""
    from prov_common.signing.keyfiles import write_keypair

    root = tmp_path_factory.mktemp("page")
    store, table = root / "store", root / "features.csv"
    private, public = write_keypair(root / "keys" / "airflow.key")
    env = {**tdprov_env(store), "AIRFLOW__TDPROV__SIGNING_KEY": str(private),
           "AIRFLOW__TDPROV__TRUSTED_KEYS": str(public), "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
           "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)

    def build() -> None:
        pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}).to_csv(table, index=False)

    with DAG(DAG_ID, start_date=START, schedule=None) as dag:
        first = PythonOperator(task_id="build", python_callable=build, outlets=[Asset(table.as_uri())])
        first >> PythonOperator(task_id="use", python_callable=lambda: None, inlets=[Asset(table.as_uri())])
    run = run_dag(dag, logical_date=START)
    assert run.state == "success"
    yield {"store": store, "table": table, "run_id": run.run_id, "root": root,
           "summaries": {s.job_name: s for s in bundles_of(store)}}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def client(page_run: dict):
    """Airflow's own API server app (core: plugins mounted, auth manager on), in process, with an admin token."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    with TestClient(create_app("core")) as test_client:
        token = test_client.get("/auth/token").json()["access_token"]
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client


def test_plugin_registers_the_page_and_the_dag_run_tab() -> None:
    from airflow import plugins_manager

    views, _ = plugins_manager._get_ui_plugins()
    ours = {v["url_route"]: v for v in views if v.get("url_route") in ("tdprov-bundles", "tdprov")}
    assert ours["tdprov-bundles"]["destination"] == "dag_run" and "{RUN_ID}" in ours["tdprov-bundles"]["href"]
    assert ours["tdprov"]["destination"] == "nav" and ours["tdprov"]["href"] == "/tdprov/"
    apps, _ = plugins_manager.get_fastapi_plugins()
    assert [a["url_prefix"] for a in apps if a["name"] == "tdprov lineage bundles"] == ["/tdprov"]


def test_page_lists_the_bundles_of_the_dag_run_verified(client, page_run: dict) -> None:
    summaries, table = page_run["summaries"], page_run["table"]
    url = f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}"
    got = client.get(url)
    assert got.status_code == 200, got.text
    body = got.json()
    by_job = {b["job"]["name"]: b for b in body["bundles"]}
    assert set(by_job) == {DAG_ID, f"{DAG_ID}.build", f"{DAG_ID}.use"} == set(summaries)
    for job, bundle in by_job.items():  # the job as 'tdprov runs --json' and 'tdprov show --json' give it: it was the name alone
        assert bundle["job"] == {"namespace": summaries[job].job_namespace, "name": job} == {"namespace": "default", "name": job}
        assert bundle["runId"] == summaries[job].run_id
        assert bundle["status"] == "verified" and bundle["findings"] == [], bundle["findings"]
        assert bundle["bundle"] == f"{page_run['store']}/bundles/{summaries[job].run_id}/"
    assert by_job[f"{DAG_ID}.build"]["outputs"][0]["version"] == hash_path(table).digest

    html = client.get(f"/tdprov/dag-runs/{DAG_ID}/{page_run['run_id']}")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "3 of 3 bundles verified" in html.text and hash_path(table).digest in html.text


def test_page_names_each_run_by_its_run_id_as_text(client, page_run: dict) -> None:
    """The page names each bundle's run by its task and try, and tells readers to run 'tdprov verify RUN_ID', but the
    run id was only in the row's ``data-run-id`` attribute (no text a reader sees or copies); each row's run cell shows
    it in full, as the page shows digests and locations."""
    from html.parser import HTMLParser

    class RunCells(HTMLParser):
        """The visible text of each row's first cell, by the row's ``data-run-id``."""

        def __init__(self) -> None:
            super().__init__()
            self.cells: dict[str, str] = {}
            self._row: str | None = None
            self._cell = 0

        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag == "tr":
                self._row, self._cell = dict(attrs).get("data-run-id"), 0
            elif tag == "td":
                self._cell += 1

        def handle_data(self, data: str) -> None:
            if self._row is not None and self._cell == 1:
                self.cells[self._row] = (self.cells.get(self._row, "") + " " + data).strip()

    html = client.get(f"/tdprov/dag-runs/{DAG_ID}/{page_run['run_id']}")
    assert html.status_code == 200, html.text
    parser = RunCells()
    parser.feed(html.text)
    run_ids = {job: s.run_id for job, s in page_run["summaries"].items()}
    assert parser.cells == {run_ids[DAG_ID]: f"DAG run {run_ids[DAG_ID]}",
                            run_ids[f"{DAG_ID}.build"]: f"build (try 1) {run_ids[f'{DAG_ID}.build']}",
                            run_ids[f"{DAG_ID}.use"]: f"use (try 1) {run_ids[f'{DAG_ID}.use']}"}, parser.cells


def test_page_names_the_bundles_of_a_relative_store_by_their_absolute_path(client, page_run: dict,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With [tdprov] store = ./store the page said 'in store ./store' and gave ./store/bundles/<run>/, a folder of
    whatever working folder reads it; it names the store and the bundles by their absolute path."""
    monkeypatch.chdir(page_run["root"])
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", "./store")
    body = client.get(f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}").json()
    assert {b["bundle"] for b in body["bundles"]} == {f"{page_run['store']}/bundles/{s.run_id}/" for s in page_run["summaries"].values()}
    assert body["store"] == str(page_run["store"]), body["store"]


def test_page_shows_a_damaged_bundle_as_failed_and_refuses_strangers(client, page_run: dict) -> None:
    from prov_common.bundle import layout

    summaries, store = page_run["summaries"], page_run["store"]
    events = store / layout.bundle_key(summaries[f"{DAG_ID}.use"].run_id, layout.EVENTS_FILE)
    original = events.read_bytes()
    events.chmod(0o644)
    events.write_bytes(original.replace(b"COMPLETE", b"COMPLETX"))
    try:
        body = client.get(f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}").json()
    finally:
        events.write_bytes(original)
    status = {b["job"]["name"]: b for b in body["bundles"]}[f"{DAG_ID}.use"]
    assert status["status"] == "failed" and any("digest mismatch" in f for f in status["findings"])
    assert client.get(f"/tdprov/api/dag-runs/{DAG_ID}/no-such-run").status_code == 404
    assert client.get(f"/tdprov/dag-runs/{DAG_ID}/{page_run['run_id']}", headers={"Authorization": ""}).status_code in (401, 403)


def test_page_checks_the_index_entry_of_each_bundle_as_verify_does(client, page_run: dict,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """An index entry edited to FAIL (what 'tdprov runs' lists) made 'tdprov verify RUN' exit 1 while the page showed
    the bundle verified: it checks the entry the bundle's ``indexed`` record names, as 'tdprov show' does."""
    from prov_common.bundle import layout
    from prov_common.cli import main

    store, run_id = page_run["store"], page_run["summaries"][f"{DAG_ID}.build"].run_id
    entry_key = (store / layout.bundle_key(run_id, layout.INDEXED_FILE)).read_text()
    entry = store / entry_key
    original = entry.read_bytes()
    assert b'"state":"COMPLETE"' in original
    entry.chmod(0o644)
    entry.write_bytes(original.replace(b'"state":"COMPLETE"', b'"state":"FAIL"'))
    try:
        body = client.get(f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}").json()
        html = client.get(f"/tdprov/dag-runs/{DAG_ID}/{page_run['run_id']}").text
        verified = main(["verify", run_id, "--store", str(store), "--trusted-keys", str(page_run["root"] / "keys" / "airflow.key.pub")])
    finally:
        entry.write_bytes(original)
    finding = f"{entry_key}: inconsistent: index entry fields state differ from the bundle's manifest"
    said = capsys.readouterr().out
    assert verified == 1 and said.startswith(f"FAIL  {run_id}") and [x.strip() for x in said.splitlines()[1:]] == [finding], said
    by_job = {b["job"]["name"]: b for b in body["bundles"]}
    assert by_job[f"{DAG_ID}.build"]["status"] == "failed" and by_job[f"{DAG_ID}.build"]["findings"] == [finding]
    assert {by_job[j]["status"] for j in (DAG_ID, f"{DAG_ID}.use")} == {"verified"}
    assert "2 of 3 bundles verified" in html and entry_key in html, html
    assert ("verified as 'tdprov verify RUN_ID' checks them (signature, manifest, events, and the index entry "
            "'tdprov runs' lists)") in html, html  # said '(signature, manifest, events)': the entry it failed on was unsaid
    assert {b["status"] for b in client.get(f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}").json()["bundles"]} == {"verified"}


def test_page_judges_bundles_by_the_store_identity_as_it_is_now(client, page_run: dict) -> None:
    """The API server is a long-running process that read the store's identity before: after _tdprov/store.json was
    truncated, its bundles fail as a fresh 'tdprov verify' finds them (the identity cannot be read), not verified by
    the copy read before; restored, they verify again."""
    from prov_common.store.identity import IDENTITY_KEY

    url = f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}"
    assert {b["status"] for b in client.get(url).json()["bundles"]} == {"verified"}
    identity = page_run["store"] / IDENTITY_KEY
    original = identity.read_bytes()
    identity.chmod(0o644)
    identity.write_bytes(original[: len(original) // 2])
    try:
        bundles = client.get(url).json()["bundles"]
    finally:
        identity.write_bytes(original)
    assert bundles and {b["status"] for b in bundles} == {"failed"}, bundles
    assert all(any("this store's identity cannot be read" in f for f in b["findings"]) for b in bundles), bundles
    assert {b["status"] for b in client.get(url).json()["bundles"]} == {"verified"}


def test_page_says_why_a_bundle_is_missing_and_what_to_do(client, page_run: dict) -> None:
    """A run with no bundle objects showed 'missing: no bundle objects for this run' whether its events were staged
    (not sealed yet) or nothing of it was in the store (spooled on the worker, or removed): it names the case and
    the command that helps. A bundle sealed and then deleted was called 'not sealed' (its staged events stay after
    sealing): its index entry says it was sealed, so it is 'sealed, then missing from the store', as it is when its staged
    events are removed with it (it said 'not in the store': the entry was looked for from the oldest staged event)."""
    from html import escape

    from prov_common.bundle import layout
    from prov_common.bundle.storage import index_keys
    from prov_common.store import open_store

    store, run_id = page_run["store"], page_run["summaries"][f"{DAG_ID}.use"].run_id
    bundle, staging = store / layout.bundle_prefix(run_id), store / layout.staging_prefix(run_id)
    [entry_key] = [k for k in index_keys(open_store(str(store))) if k.endswith(f"-{run_id}.json")]
    entry = store / entry_key
    aside, staging_aside, entry_aside = (page_run["root"] / name for name in ("aside", "staging-aside", "entry-aside"))
    assert any(staging.iterdir())  # the run's staged events stay after sealing

    def finding() -> str:
        body = client.get(f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}").json()
        status = {b["job"]["name"]: b for b in body["bundles"]}[f"{DAG_ID}.use"]
        assert status["status"] == "missing"
        [text] = status["findings"]
        html = client.get(f"/tdprov/dag-runs/{DAG_ID}/{page_run['run_id']}").text  # the words as the page shows them
        row = html.split(f"<tr data-run-id='{run_id}'>", 1)[1].split("</tr>", 1)[0]
        assert "missing" in row and f"<li>{escape(text)}</li>" in row and "2 of 3 bundles verified" in html, row
        return text

    bundle.rename(aside)
    try:
        deleted = finding()  # sealed and indexed, then its files removed
        staging.rename(staging_aside)
        try:
            swept = finding()  # its staged events removed too: the entry alone is left
        finally:
            staging_aside.rename(staging)
        entry.rename(entry_aside)
        try:
            unsealed = finding()  # staged events, no index entry: never sealed
            staging.rename(staging_aside)
            try:
                gone = finding()
            finally:
                staging_aside.rename(staging)
        finally:
            entry_aside.rename(entry)
    finally:
        aside.rename(bundle)
    assert deleted.startswith("sealed, then missing from the store") and entry_key in deleted, deleted
    assert deleted.endswith("Fix: restore the bundle from a backup or replica of the store; 'tdprov audit' names this "
                            "deletion and what else is missing") and "not sealed" not in deleted, deleted
    assert swept == deleted, swept
    assert gone.startswith("not in the store") and "'tdprov flush'" in gone and "tdprov audit" in gone
    assert unsealed.startswith("not sealed") and f"'tdprov store seal {run_id}'" in unsealed
    assert client.get(f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}").json()["bundles"][-1]["status"] == "verified"


def _read_through_a_counting_store(client, page_run: dict, query: str = "") -> tuple[dict, Any]:
    """The API page of the DAG run (``query``: its ``?offset=&limit=``), read by the page's own route with its store, as
    the hook opens it, replaced by one that counts its reads: ``(page, counting)``."""
    from counting_store import CountingStore

    from prov_airflow.hooks.provenance import ProvenanceHook

    counting = CountingStore(page_run["store"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ProvenanceHook, "get_conn", lambda hook: counting)
        got = client.get(f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}{query}")
    assert got.status_code == 200, got.text
    return got.json(), counting


def test_page_lists_the_index_once_for_the_bundles_whose_indexed_record_is_gone(client, page_run: dict) -> None:
    """A bundle whose ``indexed`` record is gone is checked against every index entry of its run, found by listing the
    whole index; the page listed it once per such bundle (a DAG run and its 2 task tries, each record gone: 3 listings of
    an index of every run in the store). It lists the index once per page, and says the same of each bundle."""
    from prov_common.bundle import layout

    store = page_run["store"]
    records = [store / layout.bundle_key(s.run_id, layout.INDEXED_FILE) for s in page_run["summaries"].values()]
    kept = {path: (path.read_bytes(), path.stat().st_mode) for path in records}
    before = client.get(f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}").json()
    for path in records:
        path.unlink()
    try:
        page, counting = _read_through_a_counting_store(client, page_run)
    finally:
        for path, (data, mode) in kept.items():
            path.write_bytes(data)
            path.chmod(mode)
    assert len(page["bundles"]) == len(records) == 3 and counting.lists[f"{layout.INDEX}/"] == 1, counting.lists
    gone = {s.run_id: [f"{layout.bundle_key(s.run_id, layout.INDEXED_FILE)}: missing: the bundle's indexed record, which "
                       "names its index entry, is gone though the run has an index entry"]
            for s in page_run["summaries"].values()}
    assert {b["runId"]: b["findings"] for b in page["bundles"]} == gone
    assert [b["status"] for b in page["bundles"]] == ["failed"] * 3 and [b["status"] for b in before["bundles"]] == ["verified"] * 3


def test_page_lists_the_index_once_for_the_bundles_sealed_and_then_removed(client, page_run: dict) -> None:
    """A bundle sealed and then removed, its staged events kept, is told 'sealed' by its index entry, looked for from its
    oldest staged event: the page listed the index from there once per such bundle (3 for a DAG run and its 2 task
    tries). It takes them from the page's one listing of the index, and says the same of each bundle."""
    from prov_common.bundle import layout

    store = page_run["store"]
    folders = {store / layout.bundle_prefix(s.run_id): page_run["root"] / f"aside-{s.run_id}" for s in page_run["summaries"].values()}
    assert all(any((store / layout.staging_prefix(s.run_id)).iterdir()) for s in page_run["summaries"].values())
    for folder, aside in folders.items():
        folder.rename(aside)
    try:
        page, counting = _read_through_a_counting_store(client, page_run)
    finally:
        for folder, aside in folders.items():
            aside.rename(folder)
    assert len(page["bundles"]) == 3 and counting.lists[f"{layout.INDEX}/"] == 1, counting.lists
    assert {b["status"] for b in page["bundles"]} == {"missing"}
    assert all(len(b["findings"]) == 1 and b["findings"][0].startswith("sealed, then missing from the store")
               for b in page["bundles"]), page["bundles"]


def test_page_checks_the_page_asked_for_once_and_refuses_a_bad_one_before_opening_the_store(
        client, page_run: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page checked the offset and limit asked for twice per request (before opening the store, and again where it
    verified the page): once, still refusing a bad page (400) before the store is opened."""
    from prov_airflow.hooks.provenance import ProvenanceHook
    from prov_airflow.ui import runs

    checked: list[tuple[int, int]] = []
    opened: list[str] = []
    check_page, get_conn = runs.check_page, ProvenanceHook.get_conn

    def counted_check(offset: int, limit: int) -> None:
        checked.append((offset, limit))
        check_page(offset, limit)

    def counted_conn(hook: ProvenanceHook):
        opened.append("store")
        return get_conn(hook)

    monkeypatch.setattr(runs, "check_page", counted_check)
    monkeypatch.setattr(ProvenanceHook, "get_conn", counted_conn)
    api = f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}"
    assert client.get(api + "?offset=1&limit=2").status_code == 200
    assert checked == [(1, 2)] and len(opened) == 1, (checked, opened)
    refused = client.get(api + "?limit=0")
    assert refused.status_code == 400 and "Fix: ask for ?offset=0&limit=100" in refused.json()["detail"], refused.text
    assert checked == [(1, 2), (0, 0)] and len(opened) == 1, (checked, opened)
    page = client.get(f"/tdprov/dag-runs/{DAG_ID}/{page_run['run_id']}?offset=-1")  # the HTML page, as linked
    assert page.status_code == 400 and "not offset -1 and limit 100" in page.text, page.text
    assert "<p class='error' data-status='400'>" in page.text, page.text  # a page in the tab, not JSON
    assert checked == [(1, 2), (0, 0), (-1, 100)] and len(opened) == 1, (checked, opened)


def test_page_verifies_one_page_of_bundles_and_links_to_the_rest(client, page_run: dict) -> None:
    """A DAG run of thousands of mapped task tries was verified whole on every view (one full verify per try per page
    load): the page verifies ``limit`` bundles from ``offset`` on, says how many the DAG run has in all, and links to
    the previous and next pages; the other pages' bundles are not read."""
    from urllib.parse import urljoin

    from prov_common.bundle import layout

    from prov_airflow.ui.runs import PAGE_SIZE

    api, route = f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}", f"/tdprov/dag-runs/{DAG_ID}/{page_run['run_id']}"
    whole = client.get(api).json()
    assert (whole["total"], whole["offset"], whole["limit"], whole["nextOffset"], whole["previousOffset"]) == (3, 0, PAGE_SIZE, None, None)
    first, last = client.get(api + "?limit=2").json(), client.get(api + "?offset=2&limit=2").json()
    assert [b["runId"] for b in first["bundles"] + last["bundles"]] == [b["runId"] for b in whole["bundles"]]
    assert (first["total"], first["nextOffset"], first["previousOffset"]) == (3, 2, None)
    assert (last["total"], last["nextOffset"], last["previousOffset"]) == (3, None, 0)

    html = client.get(route + "?limit=2").text
    assert "2 of 2 bundles verified (bundles 1&ndash;2 of the DAG run's 3) as 'tdprov verify RUN_ID'" in html, html
    assert html.count("<a rel='next' href='?offset=2&amp;limit=2'>next 1 bundle</a>") == 2 and "rel='prev'" not in html
    rest = client.get(urljoin(route + "?limit=2", "?offset=2&limit=2")).text  # the link, as a browser follows it
    assert f"data-run-id='{whole['bundles'][2]['runId']}'" in rest and rest.count("data-run-id=") == 1
    assert "1 of 1 bundle verified (bundles 3&ndash;3 of the DAG run's 3)" in rest and "previous 2 bundles</a>" in rest
    assert "3 of 3 bundles verified as" in client.get(route).text and "class='pages'" not in client.get(route).text
    past = client.get(route + "?offset=7").text
    assert "0 of 0 bundles verified (none from bundle 8 on: the DAG run has 3 bundles)" in past and "rel='prev' href='?offset=0&amp;limit=100'" in past
    refused = client.get(api + "?limit=0")
    assert refused.status_code == 400 and "Fix: ask for ?offset=0&limit=100" in refused.json()["detail"], refused.text

    page, counting = _read_through_a_counting_store(client, page_run, "?offset=1&limit=1")
    [shown] = page["bundles"]
    assert (shown["runId"], shown["status"], page["total"]) == (whole["bundles"][1]["runId"], "verified", 3)
    read = {key.split("/")[1] for key in [*counting.gets, *counting.ranges] if key.startswith(f"{layout.BUNDLES}/")}
    assert read == {shown["runId"]}, read


def test_page_links_back_from_an_offset_between_pages_to_the_bundles_before_it(client, page_run: dict) -> None:
    """From an offset that is not a multiple of the limit the previous link went to the first bundle but counted a whole
    page back: from bundle 31 of 120 with 50 a page, 'previous 50 bundles' for the 30 before it. It says the bundles
    before the page, and keeps the limit."""
    from html.parser import HTMLParser
    from urllib.parse import urljoin

    from prov_airflow.ui.page import render
    from prov_airflow.ui.runs import DagRunBundles

    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.links: list[tuple[str, str, str]] = []
            self._open: tuple[str, str] | None = None

        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag == "a":
                self._open = (dict(attrs)["rel"], dict(attrs)["href"])

        def handle_data(self, data: str) -> None:
            if self._open is not None:
                self.links.append((*self._open, data))
                self._open = None

    def links(html: str) -> list[tuple[str, str, str]]:
        parser = Links()
        parser.feed(html)
        return parser.links[:len(parser.links) // 2]  # the same links above and below the table

    assert links(render(DagRunBundles(DAG_ID, "r", "/store", (), 120, 30, 50))) == [
        ("prev", "?offset=0&limit=50", "previous 30 bundles"), ("next", "?offset=80&limit=50", "next 40 bundles")]
    assert links(render(DagRunBundles(DAG_ID, "r", "/store", (), 120, 70, 50))) == [
        ("prev", "?offset=20&limit=50", "previous 50 bundles")]
    assert links(render(DagRunBundles(DAG_ID, "r", "/store", (), 120, 500, 50))) == [
        ("prev", "?offset=70&limit=50", "previous 50 bundles")]

    route = f"/tdprov/dag-runs/{DAG_ID}/{page_run['run_id']}"
    second = client.get(route + "?offset=1&limit=2").text  # bundles 2-3 of 3: one before them
    assert links(second) == [("prev", "?offset=0&limit=2", "previous 1 bundle")], second
    first = client.get(urljoin(route + "?offset=1&limit=2", "?offset=0&limit=2")).text  # followed as a browser does
    assert "2 of 2 bundles verified (bundles 1&ndash;2 of the DAG run's 3)" in first, first


def test_page_does_not_show_another_dag_runs_task_as_this_task_s_bundle(client, page_run: dict) -> None:
    """Task 'load' of DAG 'tdprov_clash.daily' and task 'daily.load' (task group 'daily') of DAG 'tdprov_clash' are one
    job and, at one logical date, one run id (the provider's '<dag_id>.<task_id>'): the first run sealed keeps it. The
    page of the second DAG run showed that bundle, of the other DAG's run and its output, as its own task's, verified;
    it is missing there, named as another run's, whose parent is the other DAG run, with what this try left and the fix."""
    from airflow.sdk import TaskGroup

    one, two = page_run["root"] / "clash-one.csv", page_run["root"] / "clash-two.csv"
    with DAG("tdprov_clash.daily", start_date=START, schedule=None) as first:
        PythonOperator(task_id="load", python_callable=lambda: one.write_text("a\n1\n"), outlets=[Asset(one.as_uri())])
    with DAG("tdprov_clash", start_date=START, schedule=None) as second:
        with TaskGroup("daily"):
            PythonOperator(task_id="load", python_callable=lambda: two.write_text("a\n2\n"), outlets=[Asset(two.as_uri())])
    runs = [run_dag(dag, logical_date=START) for dag in (first, second)]
    assert [r.state for r in runs] == ["success", "success"]
    pages = [client.get(f"/tdprov/api/dag-runs/{r.dag_id}/{r.run_id}").json()["bundles"] for r in runs]
    own = {b["job"]["name"]: b for b in pages[0]}["tdprov_clash.daily.load"]
    assert own["status"] == "verified" and [o["name"] for o in own["outputs"]] == [str(one)]
    dag_run, task = ({b["job"]["name"]: b for b in pages[1]}[job] for job in ("tdprov_clash", "tdprov_clash.daily.load"))
    assert task["runId"] == own["runId"] and dag_run["status"] == "verified"
    assert (task["status"], task["state"], task["outputs"], task["inputs"]) == ("missing", None, [], []), task
    [finding] = task["findings"]
    assert finding.startswith(f"the bundle at run id {task['runId']} is another run's, of job default/tdprov_clash.daily.load "
                              f"with parent run {pages[0][0]['runId']}: this try, of DAG run {dag_run['runId']}, was given "
                              f"the same run id, so its events are in no bundle (they stay staged under staging/{task['runId']}/;"
                              " 'tdprov audit' names them). Fix: give each run its own run id."), finding
    assert "rename a DAG or task group" in finding
    html = client.get(f"/tdprov/dag-runs/tdprov_clash/{runs[1].run_id}").text
    assert "1 of 2 bundles verified" in html and str(two) not in html and str(one) not in html, html
    from dataclasses import replace

    from prov_common.bundle import layout
    from prov_common.bundle.storage import sealed_manifest
    from prov_common.store import open_store
    from prov_airflow.ui.runs import RunKey, another_runs

    sealed = sealed_manifest(open_store(str(page_run["store"])), own["runId"])
    key = RunKey("default", "tdprov_clash.daily.load", own["runId"], "load", -1, 1, ("earlier", pages[0][0]["runId"]))
    assert another_runs(sealed, key) is None  # its own DAG run's
    assert another_runs(sealed, replace(key, parents=(pages[0][0]["runId"], "cleared"))) is None  # a try before a clear
    assert layout.staging_prefix(own["runId"]) in another_runs(sealed, replace(key, parents=("another",)))


def test_page_does_not_show_another_dag_run_at_its_logical_date_as_this_one(client, page_run: dict) -> None:
    """Two DAG runs of one DAG at one logical date (``dag.test()`` twice: it deletes the first, as a DAG run deleted and
    triggered again) give their runs one run id each, and the first sealed keeps it; the manifest names no DAG run, so
    the second DAG run's page showed the first's bundles, its output too, as its own, verified. They are missing there,
    named as another DAG run's (the one their events name), with the fix."""
    out = page_run["root"] / "same-date.csv"
    runs = []
    for text in ("a\n1\n", "a\n2\n"):
        with DAG("tdprov_same_date_page", start_date=START, schedule=None) as dag:
            PythonOperator(task_id="write", python_callable=lambda text=text: out.write_text(text),
                           outlets=[Asset(out.as_uri())])
        runs.append(run_dag(dag, logical_date=START))
    assert [r.state for r in runs] == ["success", "success"]
    first = {s.run_id for s in bundles_of(page_run["store"]) if s.job_name.startswith("tdprov_same_date_page")}
    got = client.get(f"/tdprov/api/dag-runs/tdprov_same_date_page/{runs[1].run_id}").json()  # dag.test() deleted the first
    assert {b["runId"] for b in got["bundles"]} == first and len(first) == 2, got
    for other in got["bundles"]:
        assert (other["status"], other["state"], other["outputs"], other["inputs"]) == ("missing", None, [], []), other
        [finding] = other["findings"]
        this = "this DAG run" if other["taskId"] is None else f"this try, of DAG run {runs[1].run_id},"
        assert finding.startswith(f"the bundle at run id {other['runId']} is another DAG run's, Airflow DAG run "
                                  f"{runs[0].run_id} of DAG tdprov_same_date_page at this one's logical date: {this} was "
                                  f"given the same run id, so its events are in no bundle (they stay staged under "
                                  f"staging/{other['runId']}/; 'tdprov audit' names them). Fix: give each DAG run its own "
                                  "logical date."), finding
    html = client.get(f"/tdprov/dag-runs/tdprov_same_date_page/{runs[1].run_id}").text
    assert "0 of 2 bundles verified" in html and str(out) not in html, html


@pytest.fixture(scope="module")
def api_server(page_run: dict):
    """Airflow's API server app (core apps: the UI and the plugins), served by uvicorn as ``airflow api-server`` serves
    it, on a free port, on this test's metadata DB: in a thread of this process, which imported Airflow already (a
    process of its own imported Airflow again, several seconds of CPU, and took seconds to stop)."""
    import threading

    import uvicorn
    from airflow.api_fastapi.app import create_app

    from conftest import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app("core"), host="127.0.0.1", port=port, workers=1,
                                           access_log=False, log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, name="api-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 240
        while not server.started:
            assert thread.is_alive(), "the API server stopped while starting"
            assert time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.05)  # a poll of the server's started flag, not a wait for anything
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


@pytest.mark.slow
def test_browser_shows_the_run_bundle_digest_and_verified(api_server: str, page_run: dict) -> None:
    """Headless Chromium logs in to Airflow's UI, opens the DAG run's "tdprov bundles" tab and reads the
    page Airflow embeds there."""
    from urllib.parse import quote

    from playwright.sync_api import expect

    from browser_support import launched, new_page

    summaries, digest = page_run["summaries"], hash_path(page_run["table"]).digest
    build = summaries[f"{DAG_ID}.build"]
    tab = f"/dags/{DAG_ID}/runs/{quote(page_run['run_id'], safe='')}/plugin/tdprov-bundles"
    with launched() as browser, new_page(browser, 1280, 900) as page:
        page.goto(f"{api_server}/auth/token/login?next={quote(tab)}")  # the all-admins login sets the cookie
        frame = page.frame_locator("iframe").first
        row = frame.locator(f"tr[data-run-id='{build.run_id}']")
        expect(row).to_be_visible(timeout=60_000)
        expect(row.locator(".status")).to_have_text("verified")
        expect(row.locator(".digest")).to_have_text(digest)
        expect(row).to_contain_text(f"{page_run['store']}/bundles/{build.run_id}/")
        expect(frame.locator(".meta")).to_contain_text("3 of 3 bundles verified")


def test_page_names_a_store_it_cannot_open(client, page_run: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", "ftp://lineage/tdprov")
    got = client.get(f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}")
    assert got.status_code == 503
    assert "ftp://lineage/tdprov" in got.json()["detail"] and "Fix:" in got.json()["detail"]


def test_page_tells_the_tab_what_is_wrong_as_a_page_and_a_json_client_as_json(client, page_run: dict,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The DAG run's tab (a browser asking for HTML) got an error as JSON, {"detail": ...} shown raw where the page
    is; it gets a page saying what is wrong and the fix, escaped. A request asking for JSON still gets the JSON. A DAG
    run the metadata database does not hold (a link kept after the run was deleted, a run id mistyped) is named with
    where to find one that is there."""
    from html import escape

    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    missing = "no-<b>such-run"
    got = client.get(f"/tdprov/dag-runs/{DAG_ID}/{quote(missing, safe='')}", headers=browser)
    said = (f"DAG run {missing!r} of DAG {DAG_ID!r} is not in the Airflow metadata database. Fix: open the DAG run's "
            "tdprov bundles tab in the Airflow UI, or choose it under Browse > tdprov bundles (/tdprov/: the recent DAG "
            "runs you may read); a DAG run that was deleted has no page")
    assert (got.status_code, got.headers["content-type"].split(";")[0]) == (404, "text/html"), got.text
    assert f"<p class='error' data-status='404'>{escape(said)}</p>" in got.text and "<b>" not in got.text, got.text
    asked = client.get(f"/tdprov/dag-runs/{DAG_ID}/{quote(missing, safe='')}", headers={"Accept": "application/json"})
    assert (asked.status_code, asked.json()) == (404, {"detail": said}), asked.text

    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", "ftp://lineage/tdprov")
    page = f"/tdprov/dag-runs/{DAG_ID}/{quote(page_run['run_id'], safe='')}"
    detail = client.get(page, headers={"Accept": "application/json"}).json()["detail"]
    assert "ftp://lineage/tdprov" in detail and "Fix:" in detail, detail
    got = client.get(page, headers=browser)
    assert got.status_code == 503 and f"<p class='error' data-status='503'>{escape(detail)}</p>" in got.text, got.text


@pytest.mark.parametrize(("accept", "json"), [
    ("", False), ("*/*", False), ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
    ("application/json", True), ("application/json, text/plain, */*", True), ("text/html;q=0.5, application/json", True),
    ("application/json;q=0", False), ("application/json;Q=0", False), ("application/json; Q=0.5, text/html;q=0.4", True),
    ("text/html;Q=0.1, application/json;Q=0.2", True)])
def test_page_answers_json_to_a_request_that_prefers_it(accept: str, json: bool) -> None:
    """A weight's name is case-insensitive (RFC 9110): 'application/json;Q=0' (JSON not acceptable) was taken as JSON
    of quality 1, and 'Q=' weights were read as 1 whatever they said."""
    from prov_airflow.ui.app import wants_json

    assert wants_json(accept) is json


def test_page_names_trusted_keys_it_cannot_read_as_such(client, page_run: dict, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    """A [tdprov] trusted_keys path that does not exist was refused as 'the tdprov store cannot be read', with the CLI's
    fix (--trusted-keys, or TDPROV_TRUSTED_KEYS), though the store was readable and the API server reads neither; it is
    named as the trusted keys, with the setting that gave them."""
    missing = tmp_path / "no-keys"
    monkeypatch.setenv("AIRFLOW__TDPROV__TRUSTED_KEYS", str(missing))
    got = client.get(f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}")
    assert got.status_code == 503
    assert got.json()["detail"] == (
        f"the trusted keys the page verifies bundles with cannot be read: trusted key path {missing} does not exist. "
        "Fix: name existing .pub files or folders of them in [tdprov] trusted_keys")


def test_page_names_its_own_signing_key_setting_for_a_key_it_cannot_read(client, page_run: dict, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """With no trusted keys set, the page trusts the public key of the signing key [tdprov] signing_key names: one that
    cannot be read had the fix to point TDPROV_SIGNING_KEY at a key file, a variable the setting overrides. The fix
    names [tdprov] signing_key."""
    bad = tmp_path / "airflow.key"
    bad.write_bytes(b"not a key\n")
    monkeypatch.delenv("AIRFLOW__TDPROV__TRUSTED_KEYS")
    monkeypatch.delenv("TDPROV_TRUSTED_KEYS", raising=False)
    monkeypatch.setenv("AIRFLOW__TDPROV__SIGNING_KEY", str(bad))
    got = client.get(f"/tdprov/api/dag-runs/{DAG_ID}/{page_run['run_id']}")
    assert got.status_code == 503
    detail = got.json()["detail"]
    assert detail.startswith(f"the trusted keys the page verifies bundles with cannot be read: {bad} is not a readable "
                             "PEM private key (") and detail.endswith(
        "Fix: point [tdprov] signing_key at the private key file that 'tdprov keygen' wrote"), detail


def test_menu_page_links_the_recent_dag_runs(client, page_run: dict) -> None:
    from html.parser import HTMLParser
    from urllib.parse import urljoin

    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.hrefs: list[str] = []

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.hrefs += [v for k, v in attrs if tag == "a" and k == "href"]

    got = client.get("/tdprov/")
    assert got.status_code == 200
    links = Links()
    links.feed(got.text)
    (href,) = [h for h in links.hrefs if DAG_ID in h]
    followed = client.get(urljoin("/tdprov/", href))  # the relative link opens this run's bundles page
    assert followed.status_code == 200 and f"data-run-id='{page_run['summaries'][DAG_ID].run_id}'" in followed.text
    assert client.get("/tdprov/", headers={"Authorization": ""}).status_code == 401


def test_menu_page_of_no_dag_run_or_one_says_so() -> None:
    """With no DAG run to list the menu page says what brings one there, with no empty table; with one it names one
    run: it read 'The 0 most recent DAG runs you may read; each links to its bundles' over an empty table, and
    'The 1 most recent DAG runs'."""
    import re

    from prov_airflow.ui.page import render_index

    def text(page: str) -> str:
        return re.sub(r"<style>.*?</style>|<[^>]+>", " ", page, flags=re.S).split()

    none = render_index([])
    assert "<table" not in none
    assert " ".join(text(none)) == ("tdprov lineage bundles Lineage bundles by DAG run No DAG runs you may read yet: a DAG "
                                    "run of a DAG you may read is listed here once it is created, and links to its "
                                    "bundles, verified.")
    one = " ".join(text(render_index([("sales", "manual__1", "success")])))
    assert "The most recent DAG run you may read; it links to its bundles, verified. DAG DAG run state sales manual__1 success" in one
    assert "The 2 most recent DAG runs you may read" in " ".join(text(render_index([("a", "r1", "success"), ("a", "r2", "")])))


def test_page_says_when_its_namespace_names_none_of_the_dag_run_s_bundles(client, page_run: dict,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """With [openlineage] namespace set on the workers but not on the API server (or set otherwise there), the page
    computes the DAG run's run ids with another namespace than the workers sealed its bundles at (the provider makes run
    ids from it): every bundle showed as 'not in the store', with the fix to flush the workers' spools alone, and the
    page did not say that the namespace may be why. It says so, naming the namespace it looked with and the setting
    to set on the API server; with the namespaces alike (a bundle found) it says nothing of it."""
    from html import escape

    api, url = (f"/tdprov{at}/dag-runs/{DAG_ID}/{page_run['run_id']}" for at in ("/api", ""))
    assert client.get(api).json()["warning"] is None
    assert "class='warning'" not in client.get(url).text
    with monkeypatch.context() as api_server:  # the API server's namespace, read afresh (the provider caches it outside tests)
        api_server.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", "api-server")
        body = client.get(api).json()
        html = client.get(url).text
    assert {b["status"] for b in body["bundles"]} == {"missing"}
    assert {b["job"]["namespace"] for b in body["bundles"]} == {"api-server"}
    assert [b["findings"][0].split(":")[0] for b in body["bundles"]] == ["not in the store"] * 3, body["bundles"]
    warning = body["warning"]
    assert warning == ("nothing of this DAG run's 3 bundles is in the store at the run ids of job namespace 'api-server', "
                       "the API server's [openlineage] namespace: the OpenLineage provider makes run ids from the namespace, "
                       "so workers of another namespace seal their bundles at run ids this page does not look at. Fix: set "
                       "[openlineage] namespace (AIRFLOW__OPENLINEAGE__NAMESPACE) for the API server as for the workers; if "
                       "it is, the bundles may wait in the workers' spools ('tdprov flush' on each worker delivers them)"), warning
    assert f"<p class='warning'>{escape(warning)}</p>" in html, html
    assert client.get(api).json()["warning"] is None  # the namespace restored
