"""Two Dagster assets that map to one data file never overwrite each other, and a name means only the versions
whose events carry it: an asset key and a partition of the same path, one asset key under two namespaces."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import AssetIn, AssetKey, DagsterInstance, StaticPartitionsDefinition, asset, materialize

from prov_common.bundle import list_bundles, read_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.cli import main as cli_main
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager
from prov_dagster.storage import DataLocation, default_data_root

from dagster_support import delivered


@asset(partitions_def=StaticPartitionsDefinition(["y", "z"]))
def x(context) -> pd.DataFrame:
    return pd.DataFrame({"who": [f"partition {context.partition_key} of x"]})


@asset(key_prefix=["x"], name="y")
def x_y() -> pd.DataFrame:
    return pd.DataFrame({"who": ["asset x/y"]})


@asset(partitions_def=StaticPartitionsDefinition(["y", "z"]))
def down(x: pd.DataFrame) -> pd.DataFrame:
    return x.assign(seen=1)


@asset(ins={"y": AssetIn(key=AssetKey(["x", "y"]))})
def down2(y: pd.DataFrame) -> pd.DataFrame:
    return y.assign(seen=1)


def deployment(value: int) -> list[Any]:
    """Asset ``a`` and its reader ``c`` as one deployment defines them (``value``: what ``a`` holds there)."""
    @asset(name="a")
    def a() -> pd.DataFrame:
        return pd.DataFrame({"v": [value]})

    @asset(name="c")
    def c(a: pd.DataFrame) -> pd.DataFrame:
        return a.assign(w=1)

    return [a, c]


@pytest.fixture
def instance() -> DagsterInstance:
    with DagsterInstance.ephemeral() as inst:
        yield inst


def stored(data: DataLocation, relpath: str) -> tuple[str, Any]:
    """What a data file and its sidecar hold, wherever the data root is: the SHA-256 of the file, the sidecar."""
    return data.read_table(relpath).sha256, data.read_sidecar(relpath)


def written(path: Path) -> tuple[str, str]:
    """What a data file and its sidecar hold: the SHA-256 of the file, the sidecar's text."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), Path(f"{path}.tdprov.json").read_text()


def digest(result: Any) -> str:
    [mat] = [e.materialization for e in result.get_asset_materialization_events()]
    return mat.metadata["tdprov/digest"].value


def step_error(result: Any, step: str) -> str:
    [failure] = [e for e in result.all_events if e.is_step_failure and e.step_key == step]
    error = failure.step_failure_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def lineage(store: Path | str, capsys: pytest.CaptureFixture, *args: str) -> list[tuple[str, str, str]]:
    """(dataset, version, job of the run that generated it) of each tree ``tdprov lineage ARGS --json`` shows."""
    assert cli_main(["lineage", *args, "--json", "--store", str(store)]) == 0
    trees = json.loads(capsys.readouterr().out)["lineage"]
    return sorted((t["dataset"], t["version"], t["generatedBy"][0]["job"]["name"]) for t in trees)


def run_states(store: Path, job: str) -> list[tuple[str, list[str]]]:
    delivered(store)
    return [(s.state, [o.name for o in s.outputs]) for s in list_bundles(open_store(str(store))) if s.job_name == job]


@pytest.mark.parametrize("first", ["partition", "key"])
def test_an_asset_key_never_overwrites_a_partition_of_the_same_path(tmp_path: Path, instance: DagsterInstance, first: str,
                                                                    capsys: pytest.CaptureFixture) -> None:
    """Asset ``x/y`` and partition ``y`` of asset ``x`` map to ``x/y.parquet``: whichever comes second is refused,
    naming both owners and the fix; the file keeps the first one's bytes, the refused step is a FAIL run with no output,
    and lineage by either key shows only its own versions."""
    store = tmp_path / "store"
    io = {"io_manager": ProvenanceIOManager(store=str(store))}
    path = tmp_path / "store-data" / "x" / "y.parquet"

    def partition() -> Any:
        return materialize([x], partition_key="y", instance=instance, resources=io, raise_on_error=False)

    def key() -> Any:
        return materialize([x_y], instance=instance, resources=io, raise_on_error=False)

    owner, intruder = (partition, key) if first == "partition" else (key, partition)
    kept = owner()
    assert kept.success
    before = written(path)
    refused = intruder()
    assert not refused.success
    assert written(path) == before  # not a byte of the first asset's data or sidecar was replaced
    message = step_error(refused, "x__y" if first == "partition" else "x")
    assert f"{path} holds the data of" in message and "maps to the same file and was not written" in message
    assert "asset 'x' partition 'y'" in message and "asset 'x/y'" in message
    assert "another asset key or partition key" in message and f"delete {path}.tdprov.json" in message
    assert "namespace" not in message.split(" Fix: ")[0]  # one namespace: it is not what differs
    assert run_states(store, "x__y" if first == "partition" else "x") == [("FAIL", [])]
    mine = "x" if first == "partition" else "x/y"
    assert lineage(store, capsys, mine) == [(str(path), digest(kept), "x" if first == "partition" else "x__y")]
    if first == "partition":  # the partition's reader still reads the partition's data
        assert materialize([x, down], selection=[down], partition_key="y", instance=instance, resources=io).success
    else:
        assert materialize([x_y, down2], selection=[down2], instance=instance, resources=io).success


def test_one_asset_key_under_two_namespaces_never_overwrites_the_other(store_uri: str, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    """Two deployments (namespaces ``x`` and ``y``) share a store and so the default data root, locally and on S3: the
    second one's write of asset ``a`` is refused, naming both namespaces and the fix (a data root each); x's data and its
    reader are untouched, and ``dagster://x/a`` means x's version."""
    data = DataLocation(default_data_root(store_uri))
    in_x, in_y = ProvenanceIOManager(store=store_uri, namespace="x"), ProvenanceIOManager(store=store_uri, namespace="y")
    (ax, cx), (ay, _) = deployment(1), deployment(2)
    with DagsterInstance.ephemeral() as dx, DagsterInstance.ephemeral() as dy:
        kept = materialize([ax], instance=dx, resources={"io_manager": in_x})
        before = stored(data, "a.parquet")
        refused = materialize([ay], instance=dy, resources={"io_manager": in_y}, raise_on_error=False)
        assert not refused.success
        assert stored(data, "a.parquet") == before
        assert before[1]["namespace"] == "dagster://x"  # the sidecar names the owner's namespace
        message = step_error(refused, "a")
        assert (f"{data.uri('a.parquet')} holds the data of asset 'a' (namespace dagster://x); asset 'a' (namespace "
                "dagster://y) maps to the same file and was not written") in message
        assert "data roots of their own (data_root=...)" in message
        assert materialize([ax, cx], selection=[cx], instance=dx, resources={"io_manager": in_x}).success
        # with a data root of its own, y's asset is a dataset of its own
        own_root = ProvenanceIOManager(store=store_uri, namespace="y", data_root=str(tmp_path / "y-data"))
        assert materialize([ay], instance=dy, resources={"io_manager": own_root}).success
    assert data.read_table("a.parquet").table.to_pandas().v.tolist() == [1]
    [(_, version, job)] = lineage(store_uri, capsys, "dagster://x/a")
    assert (version, job) == (digest(kept), "a")


def test_a_sidecar_whose_digest_is_damaged_still_names_its_owner(tmp_path: Path) -> None:
    """A sidecar that names namespace x's owner but whose digest is no text (damaged, or another writer's) still
    blocks namespace y's write of the file: it was read as naming no owner, and y's asset replaced x's data."""
    store = tmp_path / "store"
    path = tmp_path / "store-data" / "a.parquet"
    (ax, _), (ay, _) = deployment(1), deployment(2)
    with DagsterInstance.ephemeral() as dx, DagsterInstance.ephemeral() as dy:
        assert materialize([ax], instance=dx, resources={"io_manager": ProvenanceIOManager(store=str(store), namespace="x")}).success
        sidecar = Path(f"{path}.tdprov.json")
        sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "digest": 5}))
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        refused = materialize([ay], instance=dy, resources={"io_manager": ProvenanceIOManager(store=str(store), namespace="y")},
                              raise_on_error=False)
    assert not refused.success
    assert "holds the data of asset 'a' (namespace dagster://x)" in step_error(refused, "a")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_dagster_name_means_only_the_versions_whose_events_carry_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Data written before sidecars named their namespace is not protected (its sidecar names no namespace, so it
    blocks nothing): namespace y replaces x's file. The lineage by ``dagster://x/a`` still means x's version, the one
    whose events carry that name, not the newest version of the file it was written to; by location, the newest."""
    store = tmp_path / "store"
    path = tmp_path / "store-data" / "a.parquet"
    (ax, _), (ay, _) = deployment(1), deployment(2)
    with DagsterInstance.ephemeral() as dx, DagsterInstance.ephemeral() as dy:
        of_x = digest(materialize([ax], instance=dx, resources={"io_manager": ProvenanceIOManager(store=str(store), namespace="x")}))
        sidecar = Path(f"{path}.tdprov.json")
        legacy = {k: v for k, v in json.loads(sidecar.read_text()).items() if k != "namespace"}
        sidecar.write_text(json.dumps(legacy))  # as written before the namespace was recorded
        of_y = digest(materialize([ay], instance=dy, resources={"io_manager": ProvenanceIOManager(store=str(store), namespace="y")}))
    assert of_x != of_y
    delivered(store)
    runs = {s.run_id: s for s in list_bundles(open_store(str(store)))}
    namespaces = {}
    for run_id in runs:
        [start] = [e for e in parse_events_jsonl(read_bundle(open_store(str(store)), run_id).files["events.jsonl"])
                   if e["eventType"] == "START"]
        namespaces[start["job"]["namespace"]] = run_id
    assert lineage(store, capsys, "dagster://x/a") == [(str(path), of_x, "a")]
    assert lineage(store, capsys, "dagster://x/a", "--all-versions") == [(str(path), of_x, "a")]
    assert lineage(store, capsys, "dagster://y/a") == [(str(path), of_y, "a")]
    assert lineage(store, capsys, str(path)) == [(str(path), of_y, "a")]  # by location: the file's newest version
    assert lineage(store, capsys, "a", "--all-versions") == sorted([(str(path), of_x, "a"), (str(path), of_y, "a")])
    assert cli_main(["lineage", "dagster://x/a", "--json", "--store", str(store)]) == 0
    [tree] = json.loads(capsys.readouterr().out)["lineage"]
    assert tree["generatedBy"][0]["runId"] == namespaces["dagster://x"]


def test_a_partition_is_never_loaded_from_the_file_another_asset_wrote(tmp_path: Path, instance: DagsterInstance) -> None:
    """Asset ``x/y`` wrote ``x/y.parquet``, the file of partition ``y`` of asset ``x``, which was never materialized: a
    run of ``down`` (partition ``y``) loaded that file as ``x``'s partition ``y`` and recorded asset ``x/y``'s data as
    its input, digest and all. The file names its owner: the load is refused, naming both and the fix, as the write is."""
    store = tmp_path / "store"
    io = {"io_manager": ProvenanceIOManager(store=str(store))}
    path = tmp_path / "store-data" / "x" / "y.parquet"
    assert materialize([x_y], instance=instance, resources=io).success
    result = materialize([x, down], selection=[down], partition_key="y", instance=instance, resources=io,
                         raise_on_error=False)
    assert not result.success
    message = step_error(result, "down")
    assert (f"{path} holds the data of asset 'x/y'; asset 'x' partition 'y' maps to the same file and was not loaded "
            "(what is there is not its data). Fix: give one of the two another asset key or partition key") in message
    assert "another asset key or partition key" in message
    # the refused read is the reading step's failure, recorded: START and FAIL with the refusal, and no input
    assert run_states(store, "down") == [("FAIL", [])]
    [summary] = [s for s in list_bundles(open_store(str(store))) if s.job_name == "down"]
    events = parse_events_jsonl(read_bundle(open_store(str(store)), summary.run_id).files["events.jsonl"])
    assert [e["eventType"] for e in events] == ["START", "FAIL"] and not summary.inputs
    assert "maps to the same file and was not loaded" in events[-1]["run"]["facets"]["errorMessage"]["message"]
