"""Two datasets whose paths or URIs are written alike -- ``(inmemory://, x)`` and ``(inmemory://, /x)``, both shown as
``inmemory://x``, which one ``ProvenanceResource.record`` call writes -- are named apart: a name that means both is
refused, listing each as a text that names it alone (``NAMESPACE::NAME`` where the label is shared), and that text,
pasted back, alone or as ``TEXT@DIGEST``, answers for that dataset only. So for pairs other producers' events give."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from prov_common.cli import main
from prov_common.store import open_store
from prov_common.w3cprov.identity import dataset_label
from prov_dagster import ProvenanceResource
from test_audit_support import T0, dataset, digest, run_events, seal

SHORT = re.compile(r"@blake3:[0-9a-f]{12}$")
A = pd.DataFrame({"v": [1, 2, 3]})
B = pd.DataFrame({"v": [7, 8, 9, 10]})


def _sealed(tmp_path: Path, a: pd.DataFrame, b: pd.DataFrame) -> tuple[str, dict[str, str]]:
    store = str(tmp_path / "store")
    done = ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"x": a, "/x": b}, job_name="collide",
                                                                         granularity="row")
    assert done.problem is None and set(done.digests) == {"x", "/x"}
    return store, done.digests


def _listed(err: str) -> tuple[list[str], list[str]]:
    """The datasets a refusal names (before 'Fix:') and the REF@DIGEST texts it gives to paste (after)."""
    what, _, fix = err.partition("Fix:")
    listed = re.findall(r"'([^'\s]+)'", what.rpartition("): ")[2])
    return [t for t in listed if not SHORT.search(t)], [t for t in re.findall(r"'([^'\s]+)'", fix) if SHORT.search(t)]


def _answer(store: str, ref: str, row: dict, capsys: pytest.CaptureFixture) -> dict:
    code = main(["contains", ref, "--record", json.dumps(row), "--json", "--store", store])
    captured = capsys.readouterr()
    assert code == 0, (ref, captured.err)
    return json.loads(captured.out)


def test_datasets_one_run_writes_alike_are_listed_apart_and_each_text_names_its_own(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store, digests = _sealed(tmp_path, A, B)
    rows = {"x": {"v": 1}, "/x": {"v": 7}}
    for argv in (["contains", "inmemory://x", "--record", '{"v": 1}'], ["record", "inmemory://x"],
                 ["checkout", "inmemory://x", "-o", str(tmp_path / "out")]):
        assert main([*argv, "--store", store]) == 2, argv
        err = capsys.readouterr().err
        assert "'inmemory://x' names 2 datasets" in err, err
        names, pastes = _listed(err)
        assert sorted(names) == ["inmemory://::/x", "inmemory://::x"], err
        assert sorted(pastes) == sorted(f"inmemory://::{n}@{digests[n][:19]}" for n in ("x", "/x")), err
    for name in ("x", "/x"):
        for ref in (f"inmemory://::{name}", f"inmemory://::{name}@{digests[name][:19]}"):
            answer = _answer(store, ref, rows[name], capsys)
            assert (answer["namespace"], answer["name"], answer["digest"], answer["contained"]) == (
                "inmemory://", name, digests[name], True), ref
            assert main(["lineage", ref, "--json", "--store", store]) == 0
            trees = json.loads(capsys.readouterr().out)["lineage"]
            assert [(t["dataset"], t["version"]) for t in trees] == [(name, digests[name])], ref
    assert main(["record", f"inmemory://::x@{digests['/x'][:19]}", "--store", store]) == 2  # not a version of (inmemory://, x)
    assert f"'inmemory://::x@{digests['x'][:19]}'" in capsys.readouterr().err
    assert main(["lineage", "inmemory://x", "--store", store]) == 0  # each of them, told apart
    heads = [block.splitlines()[0].split("  ")[:2] for block in capsys.readouterr().out.split("\n\n")]
    assert sorted(heads) == sorted([["inmemory://::x", digests["x"]], ["inmemory://::/x", digests["/x"]]]), heads
    assert main(["runs", "--json", "--store", store]) == 0 and main(["runs", "--store", store]) == 0
    assert "inmemory://::" in capsys.readouterr().out


def test_equal_bytes_in_datasets_written_alike_are_each_named_by_its_pair(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    store, digests = _sealed(tmp_path, A, A)
    held = digests["x"]
    assert digests["/x"] == held
    for ref in (held, f"inmemory://x@{held[:19]}", "inmemory://x"):
        assert main(["contains", ref, "--record", '{"v": 1}', "--store", store]) == 2, ref
        err = capsys.readouterr().err
        names, pastes = _listed(err)
        assert sorted(pastes) == [f"inmemory://::/x@{held[:19]}", f"inmemory://::x@{held[:19]}"], err
        for paste in pastes:
            answer = _answer(store, paste, {"v": 1}, capsys)
            assert (answer["namespace"], answer["name"]) == ("inmemory://", paste.partition("::")[2].rpartition("@")[0])


@pytest.mark.parametrize("namespaces_names", [
    (("s3://lake", "x"), ("s3://lake", "/x")),
    (("a:b", "c"), ("a", "b:c")),
    (("abfss://container@account.dfs.core.windows.net", "x"), ("abfss://container@account.dfs.core.windows.net", "/x")),
])
def test_pairs_other_producers_write_alike_are_named_apart(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                           namespaces_names: tuple[tuple[str, str], ...]) -> None:
    uri = str(tmp_path / "store")
    store = open_store(uri)
    first, second = namespaces_names
    label = dataset_label(*first)
    assert dataset_label(*second) == label
    texts = {d: f"{d[0]}::{d[1]}" for d in namespaces_names}  # NAMESPACE::NAME
    versions = {first: digest("first"), second: digest("second")}
    seal(store, run_events("foreign.write", [], [dataset(name, versions[namespace, name], namespace=namespace)
                                                 for namespace, name in namespaces_names]))
    assert main(["record", label, "--store", uri]) == 2
    names, pastes = _listed(capsys.readouterr().err)
    assert sorted(names) == sorted(texts.values())
    assert sorted(pastes) == sorted(f"{texts[d]}@{versions[d][:19]}" for d in namespaces_names)
    for d in namespaces_names:
        for ref in (texts[d], f"{texts[d]}@{versions[d][:19]}"):
            assert main(["lineage", ref, "--json", "--store", uri]) == 0, ref
            trees = json.loads(capsys.readouterr().out)["lineage"]
            assert [(t["namespace"], t["dataset"], t["version"]) for t in trees] == [(*d, versions[d])], ref
            assert main(["record", ref, "--store", uri]) == 0, ref
            assert versions[d] in capsys.readouterr().out


def _node_labels(dot: str) -> list[str]:
    """The first line of each data node's label in a DOT picture (a run's is its job)."""
    return [m.split("\\n")[0] for m in re.findall(r'label="([^"]*)", shape=ellipse', dot)]


def test_pictures_name_datasets_written_alike_apart(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store, digests = _sealed(tmp_path, A, A)  # equal bytes: each also says it holds the other's content
    assert main(["lineage", "inmemory://x", "-o", str(tmp_path / "x.dot"), "--store", store]) == 0
    dot = (tmp_path / "x.dot").read_text()
    assert sorted(_node_labels(dot)) == ["inmemory://::/x", "inmemory://::x"], dot
    assert "same content as: inmemory://::/x" in dot and "same content as: inmemory://::x" in dot, dot
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in run_events("foreign.write", [], [
        dataset("x", digest("first"), namespace="inmemory://"), dataset("/x", digest("second"), namespace="inmemory://")])))
    assert main(["graph", str(events), "-o", str(tmp_path / "g.dot")]) == 0
    assert sorted(_node_labels((tmp_path / "g.dot").read_text())) == ["inmemory://::/x", "inmemory://::x"]
    assert main(["graph", str(events), "-o", str(tmp_path / "g.svg"), "--renderer", "builtin"]) == 0
    svg = (tmp_path / "g.svg").read_text()
    assert ">inmemory://::x</tspan>" in svg and ">inmemory://::/x</tspan>" in svg, svg
    capsys.readouterr()


def test_lineage_says_same_content_as_the_other_named_apart(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store, _ = _sealed(tmp_path, A, A)
    assert main(["lineage", "inmemory://::x", "--store", store]) == 0
    out = capsys.readouterr().out
    assert out.startswith("inmemory://::x  ") and "(same content as inmemory://::/x)" in out, out


def test_contains_names_its_dataset_and_the_same_content_apart(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store, digests = _sealed(tmp_path, A, A)
    assert main(["contains", "inmemory://::x", "--record", '{"v": 1}', "--store", store]) == 0
    out = capsys.readouterr().out
    assert "same content, not lineage: inmemory://::/x" in out and f"inmemory://::x@{digests['x'][:19]}" in out, out
    answer = _answer(store, "inmemory://::/x", {"v": 1}, capsys)
    assert answer["dataset"] == "inmemory://::/x" and [o["dataset"] for o in answer["sameContent"]] == ["inmemory://::x"]



def test_show_names_a_runs_datasets_written_alike_apart(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store, digests = _sealed(tmp_path, A, B)
    assert main(["runs", "--json", "--store", store]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert main(["show", run["runId"], "--store", store]) == 0
    out = capsys.readouterr().out
    assert f"inmemory://::x  {digests['x']}  (3 rows)" in out and f"inmemory://::/x  {digests['/x']}  (4 rows)" in out, out
    assert main(["show", run["runId"], "--json", "--store", store]) == 0
    extents = json.loads(capsys.readouterr().out)["extents"]
    assert sorted((e["dataset"], e["rows"]) for e in extents) == [("inmemory://::/x", 4), ("inmemory://::x", 3)]


def test_audit_report_names_datasets_written_alike_apart(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    uri = str(tmp_path / "store")
    store = open_store(uri)
    ns = "inmemory://"
    seal(store, run_events("write", [], [dataset("x", digest("x"), namespace=ns, passed=False, failed=("positive",)),
                                         dataset("/x", digest("/x"), namespace=ns, passed=False, failed=("small",))]))
    seal(store, run_events("train_model", [dataset("x", digest("x"), namespace=ns), dataset("/x", digest("/x"), namespace=ns),
                                           dataset("/x", digest("unmade"), namespace=ns)],
                           [dataset("/m/1", digest("m1"))], start=T0 + timedelta(minutes=10), job_type="TRAINING"))
    assert main(["audit", "--store", uri, "--report", str(tmp_path / "report")]) == 1
    capsys.readouterr()
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert sorted(q["dataset"] for q in report["quality"]) == ["inmemory://::/x", "inmemory://::x"], report["quality"]
    assert sorted((t["dataset"], t["version"]) for t in report["trainingData"]) == sorted(  # /x was read at two versions
        [("inmemory://::/x", digest("/x")), ("inmemory://::/x", digest("unmade")), ("inmemory://::x", digest("x"))])
    objects = {f["object"] for c in report["checks"] for f in c["findings"]}
    assert f"inmemory://::/x@{digest('unmade')}" in objects and f"inmemory://::x@{digest('x')}" in objects, objects
    texts = " ".join(f["what"] for c in report["checks"] for f in c["findings"])
    assert "inmemory://x" not in texts, texts
    page = (tmp_path / "report" / "report.html").read_text()
    assert "inmemory://::x" in page and "inmemory://::/x" in page and "inmemory://x" not in page


def test_runs_lists_outputs_of_two_runs_written_alike_apart(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two runs, one writing the key '/k' of a bucket and one 'k' (two datasets, both shown 's3://c/k'): 'tdprov runs'
    told a run's own outputs apart only, so both were listed as 's3://c/k@DIGEST'; each is now shown as NAMESPACE::NAME,
    which names that dataset's version when pasted, as the lineage tree and 'record' name them."""
    store = open_store(str(tmp_path / "store"))
    for name in ("/k", "k"):
        seal(store, run_events(f"write{name.replace('/', '_')}", [], [dataset(name, digest(name), namespace="s3://c")]))
    assert main(["runs", "--store", store.uri]) == 0
    out = capsys.readouterr().out
    for name in ("/k", "k"):
        assert f"  s3://c::{name}@{digest(name)[:19]}\n" in out + "\n", out
    assert "s3://c/k@" not in out, out


def test_runs_lists_outputs_named_alike_but_for_unicode_normalisation_apart(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    """Two runs writing ``café.csv`` composed (NFC) and decomposed (NFD), as local files and as S3 objects: 'tdprov
    runs' shows each output as the URI the statements write (a file's percent-encoded, ``file:///data/caf%C3%A9.csv``,
    so the two differ as shown; an S3 key as written, the two spelled out, ``s3://b/caf\\xe9.csv``), and each text,
    pasted into 'tdprov lineage', names its own dataset at its own digest."""
    import unicodedata

    store = open_store(str(tmp_path / "store"))
    nfc, nfd = (unicodedata.normalize(form, "café.csv") for form in ("NFC", "NFD"))
    written = {("file", f"/data/{nfc}"): "file:///data/caf%C3%A9.csv", ("file", f"/data/{nfd}"): "file:///data/cafe%CC%81.csv",
               ("s3://b", nfc): "s3://b/caf\\xe9.csv", ("s3://b", nfd): "s3://b/cafe\\u0301.csv"}
    for namespace, name in written:
        seal(store, run_events("write", [], [dataset(name, digest(namespace + name), namespace=namespace)]))
    assert main(["runs", "--store", store.uri]) == 0
    cells = [line.split()[-1] for line in capsys.readouterr().out.splitlines()[1:]]
    assert sorted(cells) == sorted(f"{shown}@{digest(ns + name)[:19]}" for (ns, name), shown in written.items()), cells
    for (namespace, name), shown in written.items():
        for pasted in (shown, f"{shown}@{digest(namespace + name)[:19]}"):
            assert main(["lineage", pasted, "--json", "--store", store.uri]) == 0, (pasted, capsys.readouterr().err)
            trees = json.loads(capsys.readouterr().out)["lineage"]
            assert [(t["namespace"], t["dataset"], t["version"]) for t in trees] == [(namespace, name, digest(namespace + name))], pasted
