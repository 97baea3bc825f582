"""``tdprov prov`` and ``tdprov graph`` end to end."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from prov_common.cli import main, prov
from prov_common.w3cprov import FORMATS, deserialize, events_to_document, serialize

# prov's RDF serialiser uses an rdflib API that rdflib deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")

EVENTS = Path(__file__).parent / "data" / "ol_events"
STEP = EVENTS / "tdprov_step.jsonl"


def events(path: Path = STEP) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_prov_json_to_stdout_is_the_canonical_document(capsysbinary) -> None:
    assert main(["prov", str(STEP)]) == 0
    assert capsysbinary.readouterr().out == serialize(events_to_document(events()), "json")


@pytest.mark.parametrize("fmt", FORMATS)
def test_prov_each_format_to_a_file(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"run.{fmt}"
    assert main(["prov", str(EVENTS / "dbt_model.jsonl"), "--format", fmt, "-o", str(out)]) == 0
    assert deserialize(out.read_bytes(), fmt) == events_to_document(events(EVENTS / "dbt_model.jsonl"))


def test_prov_reads_a_json_array_and_stdin(tmp_path: Path) -> None:
    array = tmp_path / "events.json"
    array.write_text(json.dumps(events(), indent=2))
    out = tmp_path / "a.json"
    assert main(["prov", str(array), "-o", str(out)]) == 0
    proc = subprocess.run([sys.executable, "-m", "prov_common", "prov", "-", "-f", "json"], input=STEP.read_bytes(),
                          capture_output=True, check=True)
    assert proc.stdout == out.read_bytes()


def test_prov_malformed_event_exits_2_naming_the_field(tmp_path: Path, capsys) -> None:
    bad = events()
    del bad[1]["run"]["runId"]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in bad))
    assert main(["prov", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"OpenLineage event at {path} line 2 (" in err and "'run.runId'" in err and "Fix:" in err
    path.write_text(STEP.read_text() + "{not json\n")
    assert main(["prov", str(path)]) == 2
    assert "line 3 is not JSON" in capsys.readouterr().err
    assert main(["prov", str(tmp_path / "missing.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["prov", "graph"])
def test_a_bad_event_is_named_by_its_file_and_line(tmp_path: Path, verb: str, capsys) -> None:
    """With several files, blank lines or a JSON list, a 0-based position over all of them ('event #3') named no place
    a person could open: the file and its line (or list item) are named instead."""
    good, bad, listed = tmp_path / "good.jsonl", tmp_path / "bad.jsonl", tmp_path / "listed.json"
    good.write_text(STEP.read_text())
    broken = events()[-1]
    del broken["outputs"][0]["name"]
    bad.write_text(json.dumps(events()[0]) + "\n\n" + json.dumps(broken) + "\n")
    assert main([verb, str(good), str(bad), "-o", str(tmp_path / "out.dot")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tdprov {verb}: OpenLineage event at {bad} line 3 (COMPLETE job "), err
    assert "field 'outputs.0.name' is missing" in err and "#" not in err, err
    listed.write_text(json.dumps([events()[0], 7]))
    assert main([verb, str(listed), "-o", str(tmp_path / "out.dot")]) == 2
    assert capsys.readouterr().err.startswith(
        f"tdprov {verb}: OpenLineage event at {listed} item 2 must be a JSON object, got int. Fix: ")
    naive = events()
    naive[0]["eventTime"] = "2026-03-01T10:00:00"
    bad.write_text("\n" + "".join(json.dumps(e) + "\n" for e in naive))
    assert main([verb, str(good), str(bad), "-o", str(tmp_path / "out.dot")]) == 0
    assert f"taken as UTC (as in bundles sealed before event times had to be RFC 3339): {bad} line 2 (START run " in \
        capsys.readouterr().err


@pytest.mark.parametrize("verb", ["prov", "graph"])
def test_an_event_giving_a_key_twice_is_refused_naming_its_place_and_the_key(tmp_path: Path, verb: str, capsys) -> None:
    """Python's reader kept the last of {"eventType": "START", "eventType": "COMPLETE"}, another reader (or a signature
    over the bytes) the first: one event read two ways. The line, list item or file and the key are named."""
    first, second = (json.dumps(e) for e in events()[:2])
    twice = second.replace('"eventType": ', '"eventType": "START", "eventType": ', 1)
    lines, listed, one = tmp_path / "e.jsonl", tmp_path / "listed.json", tmp_path / "one.json"
    lines.write_text(f"{first}\n\n{twice}\n")
    listed.write_text(f"[{first},\n {twice}]")
    one.write_text(second.replace('"runId": ', '"runId": "x", "runId": ', 1))
    fix = " Fix: write each key of an object once (its producer wrote one twice: only it knows which value it meant)\n"
    for path, place, key in ((lines, f"{lines} line 3", "eventType"), (listed, f"{listed} item 2", "eventType"),
                             (one, str(one), "runId")):
        assert main([verb, str(path), "-o", str(tmp_path / "out.dot")]) == 2
        assert capsys.readouterr().err == (f"tdprov {verb}: {place} gives the key {key!r} more than once in one object: one "
                                           "reader takes its first value, another its last, so it is not one record." + fix)
    assert not (tmp_path / "out.dot").exists()


@pytest.mark.parametrize("verb", ["prov", "graph"])
def test_a_large_events_file_giving_a_key_twice_is_refused_with_its_own_fix(tmp_path: Path, verb: str, capsys,
                                                                             monkeypatch) -> None:
    """A file past EVENT_LIMIT is read line by line: the refusal of a line giving a key twice had its fix replaced by
    the one for a file that is not JSON lines, which the file is."""
    first, second = (json.dumps(e) for e in events()[:2])
    twice = second.replace('"eventType": ', '"eventType": "START", "eventType": ', 1)
    lines = tmp_path / "e.jsonl"
    lines.write_text(f"{first}\n{twice}\n")
    monkeypatch.setattr(prov, "EVENT_LIMIT", max(len(first), len(twice)) + 10, raising=False)
    assert lines.stat().st_size > prov.EVENT_LIMIT
    assert main([verb, str(lines), "-o", str(tmp_path / "out.dot")]) == 2
    assert capsys.readouterr().err == (f"tdprov {verb}: {lines} line 2 gives the key 'eventType' more than once in one "
                                       "object: one reader takes its first value, another its last, so it is not one "
                                       "record. Fix: write each key of an object once (its producer wrote one twice: "
                                       "only it knows which value it meant)\n")


def test_prov_bad_format_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["prov", str(STEP), "--format", "yaml"])
    assert exited.value.code == 2 and "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["prov", "graph"])
def test_help_has_an_example(verb: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main([verb, "--help"])
    assert exited.value.code == 0
    assert f"example:\n  tdprov {verb} events.jsonl" in capsys.readouterr().out


def test_graph_dot_and_builtin_svg(tmp_path: Path, capsys) -> None:
    dot = tmp_path / "lineage.dot"
    assert main(["graph", str(STEP), "-o", str(dot)]) == 0
    assert dot.read_text().startswith('digraph "lineage"')
    assert capsys.readouterr().err == f"wrote {dot}: 1 run, 2 datasets/versions\n"
    svg = tmp_path / "lineage.svg"
    assert main(["graph", str(STEP), "-o", str(svg), "--renderer", "builtin"]) == 0
    root = ElementTree.fromstring(svg.read_bytes())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_graph_without_graphviz(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no 'dot' program here
    svg = tmp_path / "lineage.svg"
    assert main(["graph", str(STEP), "-o", str(svg)]) == 0  # falls back to the built-in renderer
    assert b"customers.clean_customers" in svg.read_bytes()
    capsys.readouterr()
    assert main(["graph", str(STEP), "-o", str(tmp_path / "lineage.png")]) == 2
    err = capsys.readouterr().err
    assert "Graphviz" in err and "apt-get install graphviz" in err and "*.svg" in err
    assert not (tmp_path / "lineage.png").exists()
    assert main(["graph", str(STEP), "-o", str(svg), "--renderer", "graphviz"]) == 2
    assert main(["graph", str(STEP), "-o", str(tmp_path / "lineage.pdf")]) == 2
    assert "*.svg, *.png or *.dot" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_with_graphviz(tmp_path: Path) -> None:
    png = tmp_path / "lineage.png"
    assert main(["graph", str(STEP), "-o", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")


def test_several_event_files_are_merged(tmp_path: Path, capsysbinary) -> None:
    names = sorted(EVENTS.glob("*.jsonl"))
    assert main(["prov", *map(str, names)]) == 0
    everything = [event for path in names for event in events(path)]
    assert capsysbinary.readouterr().out == serialize(events_to_document(everything), "json")
    dot = tmp_path / "all.dot"
    assert main(["graph", *map(str, names), "-o", str(dot)]) == 0
    assert dot.read_text().count("shape=box") == 4


def _fake_dot(folder: Path, script: str) -> None:
    """A program named 'dot' first on PATH, running ``script`` (a Graphviz that hangs, or fails)."""
    folder.mkdir()
    (folder / "dot").write_text(f"#!/bin/sh\n{script}\n")
    (folder / "dot").chmod(0o755)


def test_graph_when_dot_does_not_finish(tmp_path: Path, monkeypatch, capsys) -> None:
    """A 'dot' that runs past the time limit: auto draws the built-in SVG and says so; graphviz, and PNG, fail
    naming the picture's size and what to do instead (never an unexpected error, never a 2-minute wait)."""
    from prov_common.w3cprov import render

    _fake_dot(tmp_path / "bin", "exec sleep 20")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setattr(render, "DOT_TIMEOUT", 0.5)
    svg = tmp_path / "lineage.svg"
    assert main(["graph", str(STEP), "-o", str(svg)]) == 0
    assert b"customers.clean_customers" in svg.read_bytes()
    err = capsys.readouterr().err
    assert "did not finish within 0.5 s" in err and "built-in" in err
    for picture, renderer in (("other.svg", "graphviz"), ("lineage.png", "auto")):
        assert main(["graph", str(STEP), "-o", str(tmp_path / picture), "--renderer", renderer]) == 2
        err = capsys.readouterr().err
        assert "3 nodes" in err and "--renderer builtin" in err and "--depth" in err and ".dot" in err and "unexpected" not in err
        assert not (tmp_path / picture).exists()


def test_graph_auto_skips_dot_for_a_large_picture(tmp_path: Path, monkeypatch, capsys) -> None:
    """Above render.DOT_MAX_NODES, auto draws the built-in SVG without starting 'dot' (which takes minutes there)."""
    from prov_common.w3cprov import render

    _fake_dot(tmp_path / "bin", "exit 7")  # would fail the picture if it ran
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setattr(render, "DOT_MAX_NODES", 2)
    assert main(["graph", str(STEP), "-o", str(tmp_path / "lineage.svg")]) == 0
    assert "3 nodes" in capsys.readouterr().err
    assert main(["graph", str(STEP), "-o", str(tmp_path / "g.svg"), "--renderer", "graphviz"]) == 2  # asked for: it runs
