"""The audit report of real runs renders in headless Chromium: a picture that is not blank, a DOM
with the summary, the findings, the quality table and an inline lineage picture; nothing wider than
1,280 px or an A4 page (laid out with the print stylesheet: print media emulated); and a PDF printed by
Chromium (A4 pages, read back with pypdf). Chromium is driven by Playwright (``browser_support``).

The store holds a registered source, the first steps of the Dagster example (its IO manager and the
Pandera check) and one run sealed through ``ProvenanceTransport`` whose input has no recorded origin,
so the report has something in every section, including a finding.
"""
from __future__ import annotations

import io
import json
import struct
import uuid
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import dataset_version_dataset

from prov_common import PRODUCER
from prov_common.audit import run_audit
from prov_common.audit.result import AuditResult
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.cli import main as tdprov
from prov_common.config import Settings
from prov_common.store import open_store
from prov_common.audit.svg import PICTURE_WIDTH

from browser_support import browser, needs_chromium, new_page  # noqa: F401 (browser: a fixture)
from layout_geometry import edges_through_nodes, graphviz_edges_through_nodes, outside, overlaps, read_graphviz, read_picture

# one xdist worker runs this module (scripts/test: --dist loadgroup), so the audited store and its Chromium is built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_report_render")

WIDTH, HEIGHT = 1280, 1600
PRINT_WIDTH = 688  # CSS pixels across an A4 page inside 14 mm margins: (210 - 28) mm at 96 px per inch


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


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
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
    assert Path(str(result.report_html)).is_file()
    return result


@pytest.fixture(scope="module")
def report(audited: AuditResult) -> Path:
    return Path(str(audited.report_html))


@needs_chromium
def test_report_renders_in_headless_chromium(laid_out: dict[int, dict]) -> None:
    """One test (one store to build): the screenshot is a real page, the DOM has every section."""
    wide = laid_out[WIDTH]
    width, height, raw = png_pixels(wide["png"])
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(wide["png"]) > 30_000, "the screenshot is suspiciously small: an empty or unstyled page"
    assert distinct_rows(width, height, raw) > 150, "the screenshot is (nearly) blank"

    dom = wide["dom"]
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


# --- fits the page: measured by the browser itself ----------------------------------------------

MEASURE_JS = """(() => {
  const d = document.documentElement, b = document.body, fig = document.querySelector('figure.picture');
  const svg = fig.querySelector('svg'), style = getComputedStyle(fig);
  const wider = [...document.querySelectorAll('body *')].filter(e => !(e.closest('svg')) && e.scrollWidth > e.clientWidth + 1
      && getComputedStyle(e).display !== 'inline').map(e => e.tagName + '.' + e.className);
  return {scrollWidth: d.scrollWidth, viewport: window.innerWidth, bodyRight: b.getBoundingClientRect().right,
    svgWidth: svg.getBoundingClientRect().width, svgRight: svg.getBoundingClientRect().right,
    figureInner: fig.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight), wider: wider,
    fontSize: getComputedStyle(b).fontSize, headings: [...document.querySelectorAll('h2')].map(h => h.textContent),
    items: [...document.querySelectorAll('table.article10 strong')].map(s => s.textContent),
    findingRows: document.querySelectorAll('table.findings tbody tr').length, verdict: document.getElementById('verdict').textContent};
})()"""


def measure(browser, page: Path, width: int, *, media: str = "screen") -> dict:
    """Lay the page out at ``width`` CSS pixels in headless Chromium, with ``media`` ("print": the print
    stylesheet applies) emulated, and read sizes back from its DOM (the report itself has no script)."""
    with new_page(browser, width, 1200) as tab:
        tab.emulate_media(media=media)
        tab.goto(page.as_uri(), wait_until="load")
        return tab.evaluate(MEASURE_JS)


def assert_fits(m: dict, width: int) -> None:
    assert m["viewport"] == width
    assert m["scrollWidth"] <= width, f"the page scrolls sideways: {m['scrollWidth']} px at {width}"
    assert not m["wider"], f"elements wider than their box: {m['wider']}"
    assert m["svgWidth"] <= m["figureInner"] + 0.5 and m["svgRight"] <= m["bodyRight"] + 0.5, m


@needs_chromium
def test_report_fits_1280_px_and_prints(report: Path, browser, laid_out: dict[int, dict]) -> None:
    """At 1,280 px and at an A4 page's printable width nothing overflows and the picture fits; the
    findings and every Article 10 item are there; the PDF has A4 pages with the same content."""
    wide = laid_out[WIDTH]["measured"]
    assert_fits(wide, WIDTH)
    assert wide["headings"][:2] == ["Summary", "Findings (1)"] and wide["findingRows"] == 1
    assert wide["verdict"].startswith("1 finding:"), wide["verdict"]
    assert wide["items"][:10] == [f"Art. {i}" for i in ("10(2)(a)", "10(2)(b)", "10(2)(c)", "10(2)(d)", "10(2)(e)", "10(2)(f)",
                                                       "10(2)(g)", "10(2)(h)", "10(3)", "10(5)")]
    assert_fits(laid_out[PRINT_WIDTH]["measured"], PRINT_WIDTH)
    printed = measure(browser, report, PRINT_WIDTH, media="print")  # with the print stylesheet
    assert printed["fontSize"].startswith("13.3"), "the print stylesheet (10pt) was not applied"
    assert_fits(printed, PRINT_WIDTH)
    page = report.read_text()
    if "Drawn by Graphviz dot" in page:  # the picture as this machine drew it: no edge through a node either
        svg = page.split('<figure class="picture">', 1)[1].split("<figcaption>", 1)[0]
        assert len(read_graphviz(svg)[0]) >= 8 and not graphviz_edges_through_nodes(svg)

    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(laid_out[WIDTH]["pdf"])).pages
    assert len(pages) >= 3
    assert all(round(float(p.mediabox.width)) == 595 and round(float(p.mediabox.height)) == 842 for p in pages), "not A4 (@page)"
    starts: list[float] = []  # where each run of text starts on the page, in points (A4: 595 wide, 14 mm = 39.7 pt margins)
    text = " ".join(p.extract_text(visitor_text=lambda t, cm, tm, *_: starts.append(tm[4] * cm[0] + tm[5] * cm[2] + cm[4]) if t.strip() else None)
                    for p in pages)
    assert starts and 39 <= min(starts) and max(starts) < 595 - 39.7, "text printed outside the page's margins"
    for needle in ("Findings (1)", "scraped/cells.jsonl", "Art. 10(2)(a)", "Art. 10(3)", "Art. 10(5)", "Lineage of the training inputs",
                   "Assumptions"):  # the Article 10 items' words whole: long gaps beside them squeezed them apart
        assert needle in text, f"{needle!r} missing from the PDF"
    assert "Clean" not in text


BROKEN_CELLS_JS = """(columns) => [...document.querySelectorAll('table')].filter(t => t.querySelector('th')?.textContent === 'run')
  .flatMap(t => [...t.querySelectorAll('tbody tr')].flatMap(r => columns.map(i => {
    const text = r.cells[i].textContent, walker = document.createTreeWalker(r.cells[i], NodeFilter.SHOW_TEXT), range = document.createRange(), tops = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode())
      for (let k = 0; k < node.length; k++) { range.setStart(node, k); range.setEnd(node, k + 1); tops.push(Math.round(range.getBoundingClientRect().top)); }
    return [text, tops.flatMap((top, k) => k && top !== tops[k - 1] ? [text.slice(0, k)] : [])];
  })))"""
"""The text of the given columns of each row of the runs and preparation-runs tables, each with the text before each
line break in it (a cell of several text nodes, split by <wbr>, read as one)."""


@pytest.fixture(scope="module")
def laid_out(report: Path, browser) -> dict[int, dict]:
    """The report loaded once per width, 1,280 px and an A4 page's printable width, for every test that only reads
    the page as laid out: what MEASURE_JS reads ("measured") and the cells of the runs tables' first four columns,
    row by row ("cells"); at 1,280 px (a 1,280 x 1,600 viewport) also its screenshot ("png"), its DOM ("dom") and
    the PDF Chromium prints of it ("pdf": paper size and margins from the report's @page rule, no header or footer)."""
    pages: dict[int, dict] = {}
    for width in (WIDTH, PRINT_WIDTH):
        with new_page(browser, width, HEIGHT if width == WIDTH else 1200) as tab:
            tab.goto(report.as_uri(), wait_until="load")
            page: dict = {"measured": tab.evaluate(MEASURE_JS), "cells": tab.evaluate(BROKEN_CELLS_JS, [0, 1, 2, 3])}
            if width == WIDTH:
                page.update(png=tab.screenshot(), dom=tab.content(),
                            pdf=tab.pdf(prefer_css_page_size=True, display_header_footer=False))
        pages[width] = page
    return pages


@needs_chromium
def test_run_ids_states_and_times_are_not_broken_inside_a_word(laid_out: dict[int, dict]) -> None:
    """In the runs table and each preparation-runs table, beside long inputs and outputs, a state stays on one line,
    an end time breaks only between its date and its time of day, and a run id only after a hyphen, at 1,280 px and
    on an A4 page: they were broken anywhere (COMPL / ETE, 2026-12-05T15:59:49.2 / 90483Z)."""
    for width in (WIDTH, PRINT_WIDTH):
        cells = [cell for row in zip(*(laid_out[width]["cells"][i::4] for i in (0, 2, 3))) for cell in row]
        assert [text for text, _ in cells[1::3]].count("COMPLETE") >= 5, cells  # 3 runs, and 2 preparation runs
        ids, states, times = cells[0::3], cells[1::3], cells[2::3]
        assert all(not breaks for _, breaks in states), (width, [c for c in states if c[1]])
        assert all(breaks in ([], [text[:11]]) and text[10] == "T" for text, breaks in times), (width, times)
        assert all(head.endswith("-") for _, breaks in ids for head in breaks), (width, [c for c in ids if c[1]])


@needs_chromium
def test_job_names_are_broken_only_after_a_separator(laid_out: dict[int, dict]) -> None:
    """In the runs table and each preparation-runs table, a job name breaks only after a '/', '.', '_', ':' or '-'
    and not between two of them (dagster:// / default/ / clean_ / cells), at 1,280 px and on an A4 page: it was
    broken anywhere, as default/bre / ast_cancer / _training.in / gest, or dagster:/ / /default/."""
    for width in (WIDTH, PRINT_WIDTH):
        cells = laid_out[width]["cells"][1::4]
        assert any(text == "dagster://default/clean_cells" for text, _ in cells), cells
        assert any(breaks for _, breaks in cells) or width == WIDTH, cells  # an A4 page squeezes the column
        assert all(head[-1] in "/._:-" and text[len(head)] not in "/._:-" for text, breaks in cells for head in breaks), \
            (width, [c for c in cells if c[1]])


@needs_chromium
def test_a_long_run_id_state_or_time_still_fits(audited: AuditResult, browser, tmp_path: Path) -> None:
    """Run ids and job names of another producer may be 200 characters without a hyphen, and states and times what it
    wrote: those wrap anywhere as before, so the tables that keep short ones whole stay within the page."""
    from prov_common.audit.html import render_html

    report = json.loads(Path(str(audited.report_json)).read_text())
    report["runs"][0].update(runId="r" * 200, job={"namespace": "default", "name": "j" * 200}, state="S" * 80, endedAt="2026-05-01T12:00:00.000000+00:00" + "0" * 60)
    step = report["trainingData"][0]["article10"]["preparation"][0]
    step.update(runId="p" * 200, job={"namespace": "default", "name": "k" * 200}, state="T" * 80)
    page = tmp_path / "report.html"
    page.write_text(render_html(report, Path(str(audited.report_html)).read_text().split('<figure class="picture">', 1)[1]
                                .split("<figcaption>", 1)[0]))
    for width in (WIDTH, PRINT_WIDTH):
        assert_fits(measure(browser, page, width), width)


@needs_chromium
def test_report_picture_without_graphviz_fits_and_avoids_nodes(audited: AuditResult, browser, tmp_path: Path) -> None:
    """On a machine without Graphviz the built-in layout draws the same report's picture: no edge through
    a node, inside the page, and the page still fits 1,280 px."""
    from prov_common.audit.publish import render

    with pytest.MonkeyPatch.context() as env:
        env.setenv("PATH", str(tmp_path / "no-graphviz-here"))
        page_html = render(audited)[1].decode()
    assert "Drawn by built-in layered layout" in page_html
    svg = page_html.split('<figure class="picture">', 1)[1].split("<figcaption>", 1)[0]
    picture = read_picture(svg)
    assert len(picture.nodes) >= 8 and picture.edges
    assert not edges_through_nodes(picture) and not overlaps(picture) and not outside(picture, PICTURE_WIDTH)
    page = tmp_path / "builtin.html"
    page.write_text(page_html)
    assert_fits(measure(browser, page, WIDTH), WIDTH)
