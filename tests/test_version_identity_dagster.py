"""One version is one dataset at one digest, in every verb that names a version, on stores a real Dagster
``materialize`` wrote: equal bytes in another dataset are shown apart (``sameContent``), never as the runs that
used this dataset; a digest several datasets hold is refused like a name of several datasets; and every run's
generation of the version is where its downstream starts (``lineage --downstream`` and ``contains`` agree)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import AssetsDefinition, DagsterInstance, materialize

from prov_common.cli import main
from prov_dagster import ProvenanceIOManager, ProvenanceResource, provenance_asset

from test_dagster_defs import located


@provenance_asset(granularity="row")
def left() -> pd.DataFrame:
    return pd.DataFrame({"k": [1, 2, 3], "v": [0.5, 1.5, 2.5]})


@provenance_asset(granularity="row")
def right() -> pd.DataFrame:  # the very bytes of left, another dataset
    return pd.DataFrame({"k": [1, 2, 3], "v": [0.5, 1.5, 2.5]})


@provenance_asset(training=True)
def train_on_right(right: pd.DataFrame) -> pd.DataFrame:
    return right.head(1)


@provenance_asset(training=True)
def train_on_left(left: pd.DataFrame) -> pd.DataFrame:
    return left.head(2)


ROW = {"k": 1, "v": 0.5}


@pytest.fixture
def instance() -> Any:
    with DagsterInstance.ephemeral() as inst:
        yield inst


def _run(store: str, instance: Any, assets: list[AssetsDefinition], selection: list[str] | None = None) -> dict[str, str]:
    """Materialize ``assets`` (``selection`` of them) into ``store``; the digest each wrote, by asset name."""
    result = materialize(assets, instance=instance, selection=selection,
                         resources={"io_manager": ProvenanceIOManager(store=store), "provenance": ProvenanceResource(store=store)})
    assert result.success
    return {e.asset_key.path[-1]: str(e.materialization.metadata["tdprov/digest"].value)
            for e in result.get_asset_materialization_events()}


def _cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # Dagster's log of the runs
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _in_namespaces_x_and_y(asset: AssetsDefinition, tmp_path: Path, instance: Any) -> str:
    """Materialize ``asset`` in Dagster namespaces ``x`` and ``y`` into one store (each with its own data_root,
    ``data-x``/``data-y`` under ``tmp_path``): one asset key, two datasets. The store's path."""
    store = str(tmp_path / "store")
    for namespace in ("x", "y"):
        assert materialize([asset], instance=instance, resources={
            "io_manager": ProvenanceIOManager(store=store, namespace=namespace, data_root=str(tmp_path / f"data-{namespace}")),
            "provenance": ProvenanceResource(store=store, namespace=namespace)}).success
    return store


def _jobs(runs: list[dict[str, Any]]) -> list[str]:
    return [r["job"]["name"] for r in runs]


def test_contains_lists_the_runs_of_this_dataset_and_equal_bytes_elsewhere_apart(tmp_path: Path, instance: Any,
                                                                                capsys: pytest.CaptureFixture) -> None:
    """``left`` and ``right`` hold the same bytes; a model is trained on ``right`` only. ``contains left`` listed
    that model as using ``left`` and proved against ``right``'s row set, while ``lineage left --downstream`` said
    nobody used it."""
    store = str(tmp_path / "store")
    digests = _run(store, instance, [left, right, train_on_right], ["left", "right", "train_on_right"])
    assert digests["left"] == digests["right"]
    code, out, _ = _cli(capsys, "contains", "--json", "left", "--record", json.dumps(ROW), "--store", store)
    answer = json.loads(out)
    assert code == 0 and answer["contained"] and answer["digest"] == digests["left"]
    assert answer["dataset"] == located(store, "left")
    assert answer["usedBy"] == [] and answer["trainingRuns"] == []  # as lineage says
    assert "/rows/" in answer["rowDigests"] and "right" not in answer["rowDigests"]  # left's own row set
    (other,) = answer["sameContent"]  # equal bytes in another dataset: shown, labelled, apart
    assert other["dataset"] == located(store, "right")
    assert _jobs(other["usedBy"]) == ["train_on_right"] and _jobs(other["trainingRuns"]) == ["train_on_right"]
    code, out, _ = _cli(capsys, "lineage", "left", "--downstream", "--json", "--store", store)
    (tree,) = json.loads(out)["lineage"]
    assert code == 0 and "usedBy" not in tree

    code, out, _ = _cli(capsys, "contains", "--json", "right", "--record", json.dumps(ROW), "--store", store)
    answer = json.loads(out)
    assert answer["dataset"] == located(store, "right") and _jobs(answer["trainingRuns"]) == ["train_on_right"]
    assert [o["dataset"] for o in answer["sameContent"]] == [located(store, "left")]
    assert answer["sameContent"][0]["usedBy"] == [] and "right" in answer["rowDigests"]


def test_a_digest_several_datasets_hold_is_refused_naming_each(tmp_path: Path, instance: Any,
                                                               capsys: pytest.CaptureFixture) -> None:
    """``record``/``export --training-record``/``contains`` given the digest ``tdprov runs`` prints for ``left``
    answered with whichever dataset holding those bytes was written last."""
    store = str(tmp_path / "store")
    digests = _run(store, instance, [left, train_on_left], ["left", "train_on_left"])
    time.sleep(0.01)
    _run(store, instance, [right], ["right"])  # later, the same bytes
    short = digests["left"][: len("blake3:") + 12]
    for argv in (["record", short], ["record", digests["left"]], ["export", "--training-record", short],
                 ["contains", short, "--record", json.dumps(ROW)]):
        code, out, err = _cli(capsys, *argv, "--store", store)
        assert code == 2 and out == "", (argv, out)
        assert "is held by 2 datasets" in err and repr(located(store, "left")) in err and repr(located(store, "right")) in err, err
        fix = err.split("Fix:", 1)[1]  # the text naming each dataset's version, never the digest alone again
        assert all(repr(f"{located(store, name)}@{short}") in fix for name in ("left", "right")), err
    code, out, _ = _cli(capsys, "record", located(store, "left"), "--store", store)
    assert code == 0 and json.loads(out)["datasetTitle"] == located(store, "left")
    assert "right" not in json.dumps(json.loads(out)["method"])


def test_a_name_of_several_datasets_with_one_digest_offers_each_path_at_digest(tmp_path: Path, instance: Any,
                                                                              capsys: pytest.CaptureFixture) -> None:
    """One asset key in two Dagster namespaces with equal bytes: the refusal offered "or give a version's digest",
    which then picked one of the two; it offers each dataset's PATH@DIGEST, which names that one."""
    @provenance_asset
    def k() -> pd.DataFrame:
        return pd.DataFrame({"a": [1, 2]})

    store = _in_namespaces_x_and_y(k, tmp_path, instance)
    code, out, err = _cli(capsys, "record", "k", "--store", store)
    assert code == 2 and "'k' names 2 datasets" in err, err
    fix = err.split("Fix:", 1)[1]
    assert "or by its path or URI as listed" in fix and "'dagster://x/k'" in fix, err
    for namespace in ("x", "y"):
        path = f"{tmp_path}/data-{namespace}/k.parquet"
        digest = json.loads(_cli(capsys, "record", path, "--store", store)[1])["uniqueMetadataIdentifier"]
        text = f"{path}@{digest[: len('blake3:') + 12]}"
        assert repr(text) in fix, err
        code, out, _ = _cli(capsys, "record", text, "--store", store)
        assert code == 0 and json.loads(out)["datasetTitle"] == path


def test_downstream_starts_from_every_generation_of_the_version(tmp_path: Path, instance: Any,
                                                                capsys: pytest.CaptureFixture) -> None:
    """``left`` is trained on, then made again with the same bytes: ``lineage --downstream`` by name and by digest
    said "[not used by any recorded run]" while ``contains`` listed the training run."""
    store = str(tmp_path / "store")
    first = _run(store, instance, [left, train_on_left])
    time.sleep(0.01)
    again = _run(store, instance, [left, train_on_left], ["left"])
    assert first["left"] == again["left"]
    for ref in ("left", first["left"], first["left"][: len("blake3:") + 12]):
        code, out, _ = _cli(capsys, "lineage", ref, "--downstream", "--json", "--store", store)
        (tree,) = json.loads(out)["lineage"]
        assert code == 0 and _jobs(tree.get("usedBy", [])) == ["train_on_left"], (ref, tree)
        code, out, _ = _cli(capsys, "lineage", ref, "--downstream", "--store", store)
        assert "not used by any recorded run" not in out.splitlines()[0] and "used by " in out and "train_on_left" in out, out
    code, out, _ = _cli(capsys, "lineage", "left", "--downstream", "--all-versions", "--json", "--store", store)
    (tree,) = json.loads(out)["lineage"]  # one version, however many runs made it
    assert _jobs(tree["usedBy"]) == ["train_on_left"]
    code, out, _ = _cli(capsys, "contains", "--json", "left", "--record", json.dumps(ROW), "--store", store)
    answer = json.loads(out)
    assert _jobs(answer["usedBy"]) == ["train_on_left"] == _jobs(answer["trainingRuns"])
    # upstream still shows the newest generation, made by the re-run
    code, out, _ = _cli(capsys, "lineage", "left", "--json", "--store", store)
    (tree,) = json.loads(out)["lineage"]
    assert _jobs(tree["generatedBy"]) == ["left"]


def test_a_name_at_a_digest_of_several_datasets_offers_their_versions_at_it_not_their_newest(
        tmp_path: Path, instance: Any, capsys: pytest.CaptureFixture) -> None:
    """One asset key in two Dagster namespaces with equal bytes, then made again in one of them: ``record KEY@DIGEST``
    of the earlier bytes was refused saying that each path means its newest version and that "their newest are" the
    versions at that digest, where one dataset's newest is another version."""
    def k_of(rows: list[int]) -> AssetsDefinition:
        @provenance_asset(name="k")
        def k() -> pd.DataFrame:
            return pd.DataFrame({"a": rows})
        return k

    store = str(tmp_path / "store")
    for namespace, rows in (("x", [1, 2]), ("y", [1, 2]), ("x", [3])):
        assert materialize([k_of(rows)], instance=instance, resources={
            "io_manager": ProvenanceIOManager(store=store, namespace=namespace, data_root=str(tmp_path / f"data-{namespace}")),
            "provenance": ProvenanceResource(store=store, namespace=namespace)}).success
    path_y = f"{tmp_path}/data-y/k.parquet"
    short = json.loads(_cli(capsys, "record", path_y, "--store", store)[1])["uniqueMetadataIdentifier"][: len("blake3:") + 12]
    code, out, err = _cli(capsys, "record", f"k@{short}", "--store", store)
    assert code == 2 and f"'k@{short}' names 2 datasets" in err, err
    fix = err.split("Fix:", 1)[1]
    assert "newest" not in fix, err
    assert all(repr(f"{tmp_path}/data-{namespace}/k.parquet@{short}") in fix for namespace in ("x", "y")), err
    assert f"their versions at {short} are" in fix, err


def test_an_asset_key_of_two_namespaces_is_refused_naming_each_namespaces_key(tmp_path: Path, instance: Any,
                                                                              capsys: pytest.CaptureFixture) -> None:
    """One asset key in two Dagster namespaces: ``record k`` was refused as "the partitions of an asset, or data it
    wrote to several places", offering only the paths; it says the key is of two namespaces and offers each
    namespace's ``dagster://NAMESPACE/KEY`` (and at a digest, each one's ``dagster://NAMESPACE/KEY@DIGEST``), which
    names that dataset alone."""
    @provenance_asset(key_prefix=["raw"])
    def k() -> pd.DataFrame:
        return pd.DataFrame({"a": [1, 2]})

    store = _in_namespaces_x_and_y(k, tmp_path, instance)
    path = {namespace: f"{tmp_path}/data-{namespace}/raw/k.parquet" for namespace in ("x", "y")}
    short = json.loads(_cli(capsys, "record", path["x"], "--store", store)[1])["uniqueMetadataIdentifier"][: len("blake3:") + 12]
    for ref, tail in (("raw/k", ""), (f"raw/k@{short}", f"@{short}")):
        code, out, err = _cli(capsys, "record", ref, "--store", store)
        assert code == 2 and out == "" and f"'{ref}' names 2 datasets (an asset key of 2 namespaces" in err, err
        assert "partitions" not in err, err
        fix = err.split("Fix:", 1)[1]
        for namespace in ("x", "y"):
            named = f"dagster://{namespace}/raw/k{tail}"
            assert repr(named) in fix and repr(f"{path[namespace]}@{short}") in fix, err
            code, out, _ = _cli(capsys, "record", named, "--store", store)  # names that one dataset
            assert code == 0 and json.loads(out)["datasetTitle"] == path[namespace]
