"""``PATH@DIGEST`` names one dataset's version in every verb that takes a version, on stores a real Dagster
``materialize`` wrote: an older version of a dataset whose digest another dataset also holds (a copy step with
equal bytes, an A -> B -> A history) is named so, the text ``tdprov runs`` prints for an output names it when
pasted, a ``@`` that no digest follows is part of the reference, and a dataset with no such version is refused
naming its versions."""

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import AssetsDefinition, AssetExecutionContext, DagsterInstance, asset, materialize

from prov_common.cli import main
from prov_dagster import ProvenanceResource

ABFSS = "abfss://container@account.dfs.core.windows.net/b"  # another name of b, with a '@' that is no version
FIRST = pd.DataFrame({"k": [1, 2, 3], "v": [0.5, 1.5, 2.5]})
SECOND = pd.DataFrame({"k": [4, 5], "v": [4.5, 5.5]})


@pytest.fixture
def instance() -> Any:
    with DagsterInstance.ephemeral() as inst:
        yield inst


class History:
    """Files a.csv and b.csv under ``tmp_path/data``, each step a Dagster run recording what it read and wrote."""

    def __init__(self, tmp_path: Path, instance: Any) -> None:
        self.store = str(tmp_path / "store")
        data = tmp_path / "data"
        data.mkdir()
        self.a, self.b = str(data / "a.csv"), str(data / "b.csv")
        self.instance = instance

    def step(self, assets: AssetsDefinition) -> None:
        time.sleep(0.01)  # each run after the last
        assert materialize([assets], instance=self.instance, resources={"provenance": ProvenanceResource(store=self.store)}).success

    def write_a(self, frame: pd.DataFrame, name: str) -> None:
        a = self.a

        @asset(name=name)
        def write(context: AssetExecutionContext, provenance: ProvenanceResource) -> None:
            frame.to_csv(a, index=False)
            provenance.record(outputs=[a], context=context, granularity="row")

        self.step(write)

    def copy_a_to_b(self) -> None:
        a, b = self.a, self.b

        @asset
        def copy_a_to_b(context: AssetExecutionContext, provenance: ProvenanceResource) -> None:
            shutil.copyfile(a, b)
            provenance.record(inputs=[a], outputs={ABFSS: b}, context=context, granularity="row")

        self.step(copy_a_to_b)

    def copy_b_to_a(self) -> None:
        a, b = self.a, self.b

        @asset
        def copy_b_to_a(context: AssetExecutionContext, provenance: ProvenanceResource) -> None:
            shutil.copyfile(b, a)
            provenance.record(inputs=[b], outputs=[a], context=context, granularity="row")

        self.step(copy_b_to_a)


def _cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # Dagster's log of the runs
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _record(capsys: pytest.CaptureFixture, store: str, ref: str) -> dict[str, Any]:
    code, out, err = _cli(capsys, "record", ref, "--store", store)
    assert code == 0, (ref, err)
    return json.loads(out)


def _tree(capsys: pytest.CaptureFixture, store: str, ref: str, *more: str) -> dict[str, Any]:
    code, out, err = _cli(capsys, "lineage", ref, "--json", *more, "--store", store)
    assert code == 0, (ref, err)
    (tree,) = json.loads(out)["lineage"]
    return tree


def _jobs(runs: list[dict[str, Any]]) -> list[str]:
    return [r["job"]["name"] for r in runs]


def _method(doc: dict[str, Any]) -> list[str]:
    """The jobs of the transformations a record lists, oldest first."""
    return [m.rsplit("/", 1)[-1] for m in doc["method"]]


def _short(digest: str) -> str:
    return digest[: len("blake3:") + 12]


def _digest(capsys: pytest.CaptureFixture, store: str, path: str) -> str:
    """The newest version of the dataset at ``path``."""
    return _record(capsys, store, path)["uniqueMetadataIdentifier"]


def _copied(tmp_path: Path, instance: Any, capsys: pytest.CaptureFixture) -> tuple[History, str, str]:
    """a.csv written (X), copied to b.csv (X, equal bytes), then a.csv written again (Y): X and Y."""
    h = History(tmp_path, instance)
    h.write_a(FIRST, "write_a")
    x = _digest(capsys, h.store, h.a)
    h.copy_a_to_b()
    h.write_a(SECOND, "rewrite_a")
    y = _digest(capsys, h.store, h.a)
    assert x != y and _digest(capsys, h.store, h.b) == x
    return h, x, y


def test_an_older_version_whose_bytes_another_dataset_holds_is_named_path_at_digest(
        tmp_path: Path, instance: Any, capsys: pytest.CaptureFixture) -> None:
    """a.csv at X, copied to b.csv, then rewritten: its path meant Y and the digest X was refused (held by a and b),
    so the version a model may have read could not be named at all."""
    h, x, y = _copied(tmp_path, instance, capsys)
    for ref in (f"{h.a}@{_short(x)}", f"{h.a}@{x.upper()}", f"{h.a}@{x.split(':')[1][:14]}", f"file://{h.a}@{_short(x)}"):
        doc = _record(capsys, h.store, ref)
        assert doc["datasetTitle"] == h.a and doc["uniqueMetadataIdentifier"] == x, ref
        assert _method(doc) == ["write_a"], (ref, doc["method"])  # not the copy, not the rewrite
        code, out, _ = _cli(capsys, "export", "--training-record", ref, "--store", h.store)
        assert code == 0 and json.loads(out)["uniqueMetadataIdentifier"] == x
        tree = _tree(capsys, h.store, ref)
        assert tree["version"] == x and _jobs(tree["generatedBy"]) == ["write_a"], (ref, tree)
        tree = _tree(capsys, h.store, ref, "--downstream")
        assert _jobs(tree["usedBy"]) == ["copy_a_to_b"], (ref, tree)
    assert _record(capsys, h.store, h.a)["uniqueMetadataIdentifier"] == y  # the path alone: the newest version
    assert _method(_record(capsys, h.store, f"{h.a}@{_short(y)}")) == ["rewrite_a"]

    code, out, _ = _cli(capsys, "contains", "--json", f"{h.a}@{_short(x)}", "--record", json.dumps({"k": 1, "v": 0.5}), "--store", h.store)
    answer = json.loads(out)
    assert code == 0 and answer["contained"] and answer["digest"] == x and answer["dataset"] == h.a
    assert _jobs(answer["usedBy"]) == ["copy_a_to_b"] and [o["dataset"] for o in answer["sameContent"]] == [h.b]
    code, out, _ = _cli(capsys, "contains", "--json", f"{h.a}@{_short(y)}", "--record", json.dumps({"k": 1, "v": 0.5}), "--store", h.store)
    assert code == 1 and not json.loads(out)["contained"]


def test_the_refusal_of_a_shared_digest_gives_the_text_to_paste_for_each_dataset(
        tmp_path: Path, instance: Any, capsys: pytest.CaptureFixture) -> None:
    h, x, _ = _copied(tmp_path, instance, capsys)
    for argv in (["record", _short(x)], ["export", "--training-record", x],
                 ["contains", _short(x), "--record", json.dumps({"k": 1, "v": 0.5})]):
        code, out, err = _cli(capsys, *argv, "--store", h.store)
        assert code == 2 and out == "" and "is held by 2 datasets" in err, err
        fix = err.split("Fix:", 1)[1]
        pastes = {h.a: f"{h.a}@{_short(x)}", h.b: f"{h.b}@{_short(x)}"}
        assert all(repr(text) in fix for text in pastes.values()), err
    for path, text in pastes.items():  # each pasted as offered names that dataset's version
        doc = _record(capsys, h.store, text)
        assert (doc["datasetTitle"], doc["uniqueMetadataIdentifier"]) == (path, x)
    assert _method(_record(capsys, h.store, pastes[h.b])) == ["write_a", "copy_a_to_b"]


def test_a_to_b_to_a_each_version_by_path_at_digest(tmp_path: Path, instance: Any, capsys: pytest.CaptureFixture) -> None:
    """a (X) -> b (X); a rewritten (Y); b -> a (X again): a@Y is the version between, b@X is b's alone."""
    h, x, y = _copied(tmp_path, instance, capsys)
    h.copy_b_to_a()
    assert _digest(capsys, h.store, h.a) == x
    tree = _tree(capsys, h.store, f"{h.a}@{_short(y)}")
    assert tree["version"] == y and _jobs(tree["generatedBy"]) == ["rewrite_a"]
    tree = _tree(capsys, h.store, f"{h.a}@{_short(x)}")  # the newest generation of a at X: the copy back from b
    assert _jobs(tree["generatedBy"]) == ["copy_b_to_a"]
    assert _method(_record(capsys, h.store, f"{h.a}@{_short(x)}")) == ["write_a", "copy_a_to_b", "copy_b_to_a"]
    doc = _record(capsys, h.store, f"{h.b}@{x}")
    assert doc["datasetTitle"] == h.b and _method(doc) == ["write_a", "copy_a_to_b"]
    tree = _tree(capsys, h.store, f"{h.b}@{_short(x)}", "--downstream")
    assert tree["version"] == x and _jobs(tree["usedBy"]) == ["copy_b_to_a"]
    code, out, err = _cli(capsys, "record", f"{h.b}@{_short(y)}", "--store", h.store)  # Y is a's, never b's
    assert code == 2 and f"dataset {h.b!r} has no recorded version at {_short(y)!r}" in err, err


def test_each_output_tdprov_runs_prints_names_its_version_when_pasted(tmp_path: Path, instance: Any,
                                                                      capsys: pytest.CaptureFixture) -> None:
    h, x, y = _copied(tmp_path, instance, capsys)
    h.copy_b_to_a()
    code, out, _ = _cli(capsys, "runs", "--store", h.store)
    lines = out.splitlines()[1:]
    cells = {line.split()[1].rsplit("/", 1)[1]: line.split()[-1] for line in lines}
    assert cells == {"copy_b_to_a": f"file://{h.a}@{_short(x)}", "rewrite_a": f"file://{h.a}@{_short(y)}",
                     "copy_a_to_b": f"file://{h.b}@{_short(x)}", "write_a": f"file://{h.a}@{_short(x)}"}, out
    for job, cell in cells.items():
        path, version = (h.b, x) if job == "copy_a_to_b" else (h.a, y if job == "rewrite_a" else x)
        doc = _record(capsys, h.store, cell)
        assert (doc["datasetTitle"], doc["uniqueMetadataIdentifier"]) == (path, version), cell
        tree = _tree(capsys, h.store, cell)
        assert (tree["dataset"], tree["version"]) == (path, version), cell
        code, out, _ = _cli(capsys, "contains", "--json", cell, "--record", json.dumps({"k": 4, "v": 4.5}), "--store", h.store)
        answer = json.loads(out)
        assert answer["dataset"] == path and answer["digest"] == version and answer["contained"] == (version == y), cell


def test_a_reference_with_an_at_sign_and_no_digest_after_it_is_a_reference(tmp_path: Path, instance: Any,
                                                                          capsys: pytest.CaptureFixture) -> None:
    """b.csv is also named ``abfss://container@account.dfs.core.windows.net/b`` (its ``symlinks``): the ``@`` there
    is part of the name, and a version of it is that name, ``@``, a digest."""
    h, x, _ = _copied(tmp_path, instance, capsys)
    for ref in (ABFSS, f"{ABFSS}@{_short(x)}", f"{ABFSS}@{x.upper()}"):
        doc = _record(capsys, h.store, ref)
        assert (doc["datasetTitle"], doc["uniqueMetadataIdentifier"]) == (h.b, x), ref
        tree = _tree(capsys, h.store, ref)
        assert tree["dataset"] == h.b and _jobs(tree["generatedBy"]) == ["copy_a_to_b"], ref
        code, out, _ = _cli(capsys, "contains", "--json", ref, "--record", json.dumps({"k": 1, "v": 0.5}), "--store", h.store)
        assert code == 0 and json.loads(out)["dataset"] == h.b, ref
    code, _, err = _cli(capsys, "record", f"{ABFSS}@{'0' * 12}", "--store", h.store)
    assert code == 2 and f"dataset {h.b!r} has no recorded version at {'0' * 12!r}" in err, err


def test_a_version_the_dataset_does_not_have_is_refused_naming_its_versions(tmp_path: Path, instance: Any,
                                                                            capsys: pytest.CaptureFixture) -> None:
    h, x, y = _copied(tmp_path, instance, capsys)
    missing = "blake3:" + "0" * 12
    for argv in (["record", f"{h.a}@{missing}"], ["export", "--training-record", f"{h.a}@{missing.upper()}"],
                 ["lineage", f"{h.a}@{missing}"], ["contains", f"{h.a}@{missing}", "--record", json.dumps({"k": 1})]):
        code, out, err = _cli(capsys, *argv, "--store", h.store)
        assert code == 2 and out == "", (argv, out)
        what, fix = err.split("Fix:", 1)
        assert f"dataset {h.a!r} has no recorded version at {missing!r}" in what, err
        newest, older = what.index(f"{h.a}@{_short(y)}"), what.index(f"{h.a}@{_short(x)}")
        assert newest < older, err  # newest first
        assert "paste one of those" in fix and f"{h.a!r} alone for its newest version" in fix, err
    code, _, err = _cli(capsys, "record", f"{h.a}@{_short(x)[:-1]}", "--store", h.store)  # 11 hex digits: no digest
    assert code == 2 and "no dataset or version" in err, err
