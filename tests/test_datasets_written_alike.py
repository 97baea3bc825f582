"""Two datasets whose paths or URIs are written alike -- ``(inmemory://, x)`` and ``(inmemory://, /x)``, both shown as
``inmemory://x``, which one ``ProvenanceResource.record`` call writes -- are named apart: a name that means both is
refused, listing each as a text that names it alone (``NAMESPACE::NAME`` where the label is shared), and that text,
pasted back, alone or as ``TEXT@DIGEST``, answers for that dataset only. So for pairs other producers' events give."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from prov_common.cli import main
from prov_common.store import open_store
from prov_common.w3cprov.identity import dataset_label
from prov_dagster import ProvenanceResource
from test_audit_support import dataset, digest, run_events, seal

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
