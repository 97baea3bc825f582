"""The audit report of real runs renders in headless Chromium: a picture that is not blank, and a DOM
with the summary, the findings, the quality table and an inline lineage picture.

The store holds a registered source, the first steps of the Dagster example (its IO manager and the
Pandera check) and one run sealed through ``ProvenanceTransport`` whose input has no recorded origin,
so the report has something in every section, including a finding.
"""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tempfile
import uuid
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import dataset_version_dataset

from prov_common import PRODUCER
from prov_common.audit import run_audit
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.cli import main as tdprov
from prov_common.config import Settings
from prov_common.store import open_store

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome")) if p), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed: apt-get install chromium (Debian/Ubuntu), then re-run"
)
WIDTH, HEIGHT = 1280, 1600


def chromium(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run headless Chromium with a throw-away profile and no network chatter."""
    assert CHROMIUM is not None
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
             f"--user-data-dir={profile}", *args],
            capture_output=True, timeout=120, check=False,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw scanlines (filter byte + RGB/RGBA) of an 8-bit, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    idat, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def distinct_rows(width: int, height: int, raw: bytes) -> int:
    """How many different scanlines the picture has (a blank page has one or two)."""
    stride = len(raw) // height
    return len({raw[y * stride + 1 : (y + 1) * stride] for y in range(height)})


def seal_orphan_training_run(store_uri: str, clean_version: str, clean_path: str) -> None:
    """A training run sealed by ``ProvenanceTransport`` that reads the clean table where the IO manager wrote
    it (the same dataset: its identity is its location) and a file nobody recorded."""
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, timeout=30))
    run_id, job = str(uuid.uuid4()), Job(namespace="dagster://default", name="train_from_scrape")
    version = lambda digest: {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=digest)}  # noqa: E731
    inputs = [
        InputDataset(namespace="file", name=clean_path, facets=version(clean_version)),
        InputDataset(namespace="s3://crawl", name="scraped/cells.jsonl", facets=version("blake3:" + "ab" * 32)),
    ]
    outputs = [OutputDataset(namespace="dagster://default", name="scrape_model", facets=version("blake3:" + "cd" * 32))]
    for state in (RunState.START, RunState.COMPLETE):
        transport.emit(RunEvent(eventType=state, eventTime=datetime.now(timezone.utc).isoformat(), run=Run(runId=run_id),
                                job=job, producer=PRODUCER, inputs=inputs, outputs=outputs if state == RunState.COMPLETE else []))
    transport.close()


@pytest.fixture
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real runs in a fresh store, then ``run_audit`` with the report in its own folder."""
    from dagster import materialize

    from example_pipelines.dagster_training import definitions as example
    from example_pipelines.training.source import source_add_args
    from prov_dagster import ProvenanceIOManager, pandera_checks

    root = tmp_path_factory.mktemp("render")
    store_uri = str(root / "store")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TDPROV_HOME", str(root / "home"))
        env.setenv("TDPROV_STORE", store_uri)
        assert tdprov([*source_add_args(), "--store", store_uri]) == 0
        assets = [example.raw_cells, example.clean_cells]
        done = materialize([*assets, *pandera_checks(assets)], resources={
            "io_manager": ProvenanceIOManager(store=store_uri, data_root=str(root / "data"))})
        assert done.success
        clean = next(e for e in done.get_asset_materialization_events() if e.asset_key.to_user_string() == "clean_cells")
        seal_orphan_training_run(store_uri, str(clean.materialization.metadata["tdprov/digest"].value), str(root / "data" / "clean_cells.parquet"))
        result = run_audit(open_store(store_uri), Settings.from_env(store=store_uri), report_dir=root / "report", progress=False)
    assert result.exit_code == 1, "the input with no origin must be a finding"
    checks = json.loads(Path(str(result.report_json)).read_text())["checks"]
    errors = [f"{f['check']}: {f['object']} {f['what']}" for c in checks for f in c["findings"] if f["severity"] == "error"]
    assert errors and all(e.startswith("completeness:") and "scraped/cells.jsonl" in e for e in errors), errors
    page = Path(str(result.report_html))
    assert page.is_file()
    return page


@needs_chromium
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    """One test (one store to build): the screenshot is a real page, the DOM has every section."""
    shot = tmp_path / "report.png"
    done = chromium(f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", report.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr.decode(errors="replace")[-2000:]
    width, height, raw = png_pixels(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    assert shot.stat().st_size > 30_000, "the screenshot is suspiciously small: an empty or unstyled page"
    assert distinct_rows(width, height, raw) > 150, "the screenshot is (nearly) blank"

    done = chromium("--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    dom = done.stdout.decode()
    for heading in ("<h2>Summary", "<h2>Findings", "<h2>Lineage of the training inputs", "<h2>Quality", "<h2>Sources"):
        assert heading in dom, f"{heading!r} missing from the rendered page"
    assert "<svg" in dom.split("<h2>Lineage of the training inputs", 1)[1].split("<h2>", 1)[0], "no inline lineage picture"
    findings = dom.split("<h2>Findings", 1)[1].split("<h2>", 1)[0]
    assert "scraped/cells.jsonl" in findings, "the input with no origin is not named among the findings"
    assert "breast-cancer-wisconsin" in dom and "breast_cancer_clean" in dom, "source record or Pandera schema missing"


def test_png_reader_tells_a_blank_page_from_a_picture() -> None:
    """The blank-page check itself: one colour fails, stripes pass (runs without Chromium)."""
    def png(rows: list[bytes], width: int) -> bytes:
        chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))  # noqa: E731
        header = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(b"\0" + r for r in rows))) + chunk(b"IEND", b"")

    blank = png([b"\xff" * 30] * 200, 10)
    stripes = png([bytes([y % 251]) * 30 for y in range(200)], 10)
    assert distinct_rows(*png_pixels(blank)) == 1
    assert distinct_rows(*png_pixels(stripes)) == 200
