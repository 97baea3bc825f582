"""Sharded datasets from a real Dagster ``materialize``: an asset that writes a folder (or an S3 prefix)
of Parquet shards and records it with ``ProvenanceResource.record`` gets one version, the shard-tree
digest that ``tdprov hash`` gives the folder; snapshots keep each shard once and ``tdprov checkout``
restores the folder byte for byte."""
from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from dagster_support import run_failure as _failure
from dagster import DagsterInstance, MaterializeResult, asset, materialize

from prov_common.cli import main
from prov_common.store import open_store
from prov_dagster import ProvenanceResource

from shards_support import (SHARDS, cli, dead_scheduler, put_shards, row_keys_folders, sealed_outputs, shard_bytes,
                            shard_frame, shard_name, stored_objects, tdprov_hash, write_shards)


@pytest.fixture
def instance() -> Any:
    with DagsterInstance.ephemeral() as inst:
        yield inst


def _corpus_asset(target: str, write: Any) -> Any:
    @asset
    def corpus(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001 - Dagster's context
        write()
        recorded = provenance.record(outputs={"corpus": target}, context=context)
        return MaterializeResult(metadata=recorded.metadata, data_version=recorded.data_version)

    return corpus


def _run(target: str, write: Any, instance: Any, **resource: Any) -> str:
    result = materialize([_corpus_asset(target, write)], instance=instance,
                         resources={"provenance": ProvenanceResource(**resource)})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["tdprov/shards/corpus"].value == SHARDS  # what the Dagster UI plots for the corpus
    assert metadata["tdprov/rows/corpus"].value == sum(len(shard_frame(i)) for i in range(SHARDS))
    return str(metadata["tdprov/digest/corpus"].value)


def _signed_subjects(store_uri: str) -> list[dict[str, Any]]:
    """The subjects of the store's only bundle, from its DSSE envelope checked by securesystemslib."""
    from intoto_support import verified_statement
    from prov_common.bundle import list_bundles, read_bundle
    from prov_common.config import Settings
    from prov_common.signing import signing_key_from_settings

    store = open_store(store_uri)
    (summary,) = list(list_bundles(store))
    public = signing_key_from_settings(Settings.from_env()).public.to_pem()
    return verified_statement(read_bundle(store, summary.run_id).statement_bytes, public)["subject"]


def _prov_text(store: str, run_id: str) -> str:
    return (Path(store) / "bundles" / run_id / "prov.json").read_text()


def test_shard_folder_is_one_version_snapshotted_once_per_shard(tmp_path: Path, instance: Any, capsys: Any,
                                                                ol_validator: Any) -> None:
    folder, store = tmp_path / "shards", str(tmp_path / "store")
    first = _run(str(folder), lambda: write_shards(folder), instance, store=store, snapshot=True, dask_scheduler="none")
    assert first == tdprov_hash(str(folder), capsys)["digest"]
    (out,) = sealed_outputs(store)
    facet = out["facets"]["tdprov_contentHash"]
    assert (out["facets"]["version"]["datasetVersion"], facet["kind"], facet["shardCount"]) == (first, "shards", SHARDS)
    assert facet["rows"] == tdprov_hash(str(folder), capsys)["rows"]
    assert facet["snapshot"]["object"] == f"objects/index/{first[7:]}.json"  # the index entry that lists the shards kept
    assert (Path(store) / facet["snapshot"]["object"]).stat().st_size == facet["snapshot"]["bytes"]
    ol_validator.validate_event(out["event"])
    assert len(stored_objects(store)) == SHARDS  # _SUCCESS is not a shard
    assert _signed_subjects(store) == [{"name": folder.as_uri(), "digest": {"tdprovShards-blake3": first[7:]},
                                        "annotations": {"namespace": "file", "name": str(folder)}}]
    old_bytes = shard_bytes(folder)

    second = _run(str(folder), lambda: write_shards(folder, {2: 1}), instance, store=store, snapshot=True)
    assert second != first and second == tdprov_hash(str(folder), capsys)["digest"]
    assert len(stored_objects(store)) == SHARDS + 1  # the three unchanged shards are stored once

    old = tmp_path / "old"
    assert cli(["checkout", first, "-o", str(old), "--store", store], capsys)[0] == 0
    assert shard_bytes(old) == old_bytes
    code, out_text = cli(["hash", "--diff", str(old), str(folder)], capsys)
    assert code == 1 and f"changed shard: {shard_name(2)} (columns: text)" in out_text
    assert [line for line in out_text.splitlines() if "shard:" in line] == [f"  changed shard: {shard_name(2)} (columns: text)"]

    code, lineage = cli(["lineage", str(folder), "--store", store], capsys)
    assert code == 0 and f"{folder}  {second}  ({SHARDS} shards)" in lineage and first not in lineage
    picture = tmp_path / "lineage.svg"
    assert cli(["lineage", str(folder), "--renderer", "builtin", "-o", str(picture), "--store", store], capsys)[0] == 0
    assert f">{SHARDS} shards</tspan>" in picture.read_text()
    code, with_checks = cli(["lineage", str(folder), "--checks", "--store", store], capsys)
    assert code == 0 and f"{folder}  {second}  ({SHARDS} shards)" in with_checks
    code, as_json = cli(["lineage", str(folder), "--json", "--store", store], capsys)
    assert code == 0 and [(t["version"], t["shards"]) for t in json.loads(as_json)["lineage"]] == [(second, SHARDS)]
    (newest,) = [run for run in os.listdir(Path(store) / "bundles") if second in _prov_text(store, run)]
    prov = Path(store) / "bundles" / newest / "prov.json"
    prov.chmod(0o600)
    kept = prov.read_bytes()
    prov.write_bytes(b"{damaged")  # that run is left out, named with the reason: the lineage is of the runs that verify
    capsys.readouterr()
    code = main(["lineage", str(folder), "--store", store])
    lineage, told = capsys.readouterr()
    assert code == 1 and lineage.startswith(f"{folder}  {first}  ({SHARDS} shards)\n") and second not in lineage
    assert f"left out run {newest}: its bundle does not verify" in told and "prov.json" in told and f"tdprov verify {newest}" in told
    prov.write_bytes(kept)
    rows = tdprov_hash(str(folder), capsys)["rows"]
    code, shown = cli(["show", newest, "--store", store], capsys)
    assert code == 0 and f"  {folder.as_uri()}  {second}  ({rows:,} rows in {SHARDS} shards)" in shown.splitlines()
    code, shown = cli(["show", newest, "--json", "--store", store], capsys)
    assert json.loads(shown)["extents"] == [{"side": "output", "dataset": folder.as_uri(), "rows": rows, "shards": SHARDS}]

    new_bytes = shard_bytes(folder)
    shutil.rmtree(folder)
    assert cli(["checkout", second, "-o", str(folder), "--store", store], capsys)[0] == 0
    assert shard_bytes(folder) == new_bytes and len(new_bytes) == SHARDS


def test_s3_prefix_is_one_version_and_checks_out(s3_store_uri: str, s3_server: Any, tmp_path: Path, instance: Any,
                                                 capsys: Any) -> None:
    client, bucket = s3_server.client(), s3_server.create_bucket()
    prefix = f"s3://{bucket}/corpus/v3/"
    digest = _run(prefix, lambda: put_shards(client, bucket, "corpus/v3/", folder=tmp_path / "src"), instance,
                  store=s3_store_uri, snapshot=True)
    assert digest == tdprov_hash(prefix, capsys)["digest"]
    assert len(stored_objects(s3_store_uri)) == SHARDS
    restored = tmp_path / "restored"
    assert cli(["checkout", digest, "-o", str(restored), "--store", s3_store_uri], capsys)[0] == 0
    assert shard_bytes(restored) == shard_bytes(tmp_path / "src")
    assert tdprov_hash(str(restored), capsys)["digest"] == digest


def test_dask_scheduler_field_wins_over_the_environment(tmp_path: Path, instance: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder, store = tmp_path / "shards", str(tmp_path / "store")
    monkeypatch.setenv("TDPROV_DASK_SCHEDULER", "dask-host-without-scheme")
    with pytest.raises(Exception) as caught:  # when the resource is set up
        _run(str(folder), lambda: write_shards(folder), instance, store=store)
    assert "TDPROV_DASK_SCHEDULER 'dask-host-without-scheme' is not an address" in str(caught.value.__cause__)
    assert _run(str(folder), lambda: write_shards(folder), instance, store=store,
                dask_scheduler="none").startswith("blake3:")
    with pytest.raises(Exception, match="'typo' is not an address"):
        _run(str(folder), lambda: None, instance, store=store, dask_scheduler="typo")


def test_the_dask_spill_field_reaches_the_hashing_and_wins_over_the_environment(
        tmp_path: Path, instance: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the workers of a cluster reached by address put the row-set keys of a row-granularity output is the
    resource's dask_spill, else TDPROV_DASK_SPILL: a location that is no folder is refused by the hashing, naming the
    setting it came from and the value."""
    folder = tmp_path / "shards"
    write_shards(folder)

    @asset
    def corpus(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001 - Dagster's context
        recorded = provenance.record(outputs={"corpus": str(folder)}, context=context, granularity="row")
        return MaterializeResult(metadata=recorded.metadata, data_version=recorded.data_version)

    for field, env, named in ((str(tmp_path / "missing"), str(tmp_path), "dask_spill"),
                              (None, str(tmp_path / "gone"), "TDPROV_DASK_SPILL")):
        monkeypatch.setenv("TDPROV_DASK_SPILL", env)
        resource = ProvenanceResource(store=str(tmp_path / "store"), dask_scheduler="tcp://127.0.0.1:1",
                                      dask_spill=field)
        result = materialize([corpus], instance=instance, resources={"provenance": resource}, raise_on_error=False)
        message = _failure(result)
        assert not result.success and f"{named} '{field or env}' is not a folder on this machine" in message, message


def test_the_spool_field_is_where_the_row_set_keys_go(tmp_path: Path, instance: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A sharded output's row-set keys go in a hidden folder of the resource's spool (the folder its transport
    spools in), not of TDPROV_SPOOL's or <TDPROV_HOME>/spool, and are gone once the step is done."""
    folder, disk = tmp_path / "shards", tmp_path / "disk" / "spool"
    write_shards(folder)
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "env-spool"))  # the field wins over it
    made = row_keys_folders(monkeypatch)

    @asset
    def corpus(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001 - Dagster's context
        recorded = provenance.record(outputs={"corpus": str(folder)}, context=context, granularity="row")
        return MaterializeResult(metadata=recorded.metadata, data_version=recorded.data_version)

    resource = ProvenanceResource(store=str(tmp_path / "store"), dask_scheduler="none", spool=str(disk))
    assert materialize([corpus], instance=instance, resources={"provenance": resource}).success
    assert [(p.parent, p.name.startswith(f".tdprov-rowkeys-{os.getpid()}-")) for p in made] == [(disk, True)]
    assert not made[0].exists() and not (tmp_path / "env-spool").exists()
    [out] = [o for o in sealed_outputs(str(tmp_path / "store")) if o["event"]["job"]["name"].endswith("corpus")]
    assert out["facets"]["tdprov_contentHash"]["granularity"] == "row"  # a row set was built of them


def test_an_unreachable_dask_scheduler_is_named_and_the_shards_are_hashed_on_this_machine(
        tmp_path: Path, instance: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: Any) -> None:
    """A scheduler that cannot be reached is an outage of where the shards are hashed, not of the data: the step
    goes on, hashed here (the same digest), and the log names the setting, the address and the fix."""
    from prov_common.hashing import shard_cache, shard_engine

    monkeypatch.setattr(shard_engine, "CONNECT_TIMEOUT", "1s")  # the connection is refused: no need to wait 20 s
    # the shard digests of each run are cached, as a slow machine caches them (more than RACY_NS after the write)
    monkeypatch.setattr(shard_cache, "RACY_NS", 0)
    folder, store = tmp_path / "shards", str(tmp_path / "store")
    with caplog.at_level("WARNING"):
        digest = _run(str(folder), lambda: write_shards(folder), instance, store=store,
                      dask_scheduler="tcp://127.0.0.1:1")
    assert digest == tdprov_hash(str(folder), capsys)["digest"]
    said = caplog.text
    assert "dask_scheduler 'tcp://127.0.0.1:1' cannot be reached" in said and "hashed on this machine" in said, said
    assert "start the scheduler" in said
    monkeypatch.setenv("TDPROV_DASK_SCHEDULER", "tcp://127.0.0.1:1")
    caplog.clear()
    with caplog.at_level("WARNING"):  # the shards written again (the same bytes): with their cached digests, there
        # would be none to hash and no scheduler to reach
        assert _run(str(folder), lambda: write_shards(folder), instance, store=store) == digest
    assert "TDPROV_DASK_SCHEDULER 'tcp://127.0.0.1:1' cannot be reached" in caplog.text


def test_a_dask_scheduler_in_the_environment_that_is_no_address_fails_the_step_before_the_asset_computes(
        tmp_path: Path, instance: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TDPROV_DASK_SCHEDULER", "dask-host:8786")
    written: list[str] = []
    result = materialize([_corpus_asset(str(tmp_path / "shards"), lambda: written.append("x"))], instance=instance,
                         resources={"provenance": ProvenanceResource(store=str(tmp_path / "store"))},
                         raise_on_error=False)
    assert not result.success and written == []
    message = _failure(result)
    assert "TDPROV_DASK_SCHEDULER 'dask-host:8786' is not an address" in message and "tcp://host:8786" in message


def test_strict_mode_fails_the_step_when_the_dask_scheduler_cannot_be_reached(
        tmp_path: Path, instance: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Strict mode raises instead of degrading: the shards are not hashed elsewhere, and the error names the
    scheduler's setting, its address, the strict setting and the fixes."""
    from prov_common.hashing import shard_engine

    # Dask retries a connection reset before its handshake until the timeout (20 s, seen in the suite under load)
    monkeypatch.setattr(shard_engine, "CONNECT_TIMEOUT", "1s")
    folder, store = tmp_path / "shards", str(tmp_path / "store")
    with dead_scheduler() as scheduler:
        result = materialize([_corpus_asset(str(folder), lambda: write_shards(folder))], instance=instance,
                             resources={"provenance": ProvenanceResource(store=store, strict=True,
                                                                         dask_scheduler=scheduler.address)},
                             raise_on_error=False)
        assert not result.success
        message = _failure(result)
        assert f"dask_scheduler {scheduler.address!r} cannot be reached" in message, message
        assert "strict mode (strict)" in message and "hashed on this machine" not in message.split("Fix:")[0]
        assert "start the scheduler" in message and "turn strict off" in message
        monkeypatch.setenv("TDPROV_STRICT", "1")
        monkeypatch.setenv("TDPROV_DASK_SCHEDULER", scheduler.address)
        result = materialize([_corpus_asset(str(folder), lambda: None)], instance=instance,
                             resources={"provenance": ProvenanceResource(store=store)}, raise_on_error=False)
        assert not result.success
        message = _failure(result)
        assert f"TDPROV_DASK_SCHEDULER {scheduler.address!r} cannot be reached" in message, message
        assert "strict mode (TDPROV_STRICT)" in message and "turn TDPROV_STRICT off" in message


def _two_corpora_asset(first: Path, second: Path) -> Any:
    """An asset writing two sharded datasets and recording both in one ``record``."""
    @asset
    def corpora(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001 - Dagster's context
        write_shards(first)
        write_shards(second, {0: 1})
        recorded = provenance.record(outputs={"first": str(first), "second": str(second)}, context=context)
        return MaterializeResult(metadata=recorded.metadata)

    return corpora


def test_a_step_with_two_sharded_datasets_waits_for_an_unreachable_dask_scheduler_once(
        tmp_path: Path, instance: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: Any) -> None:
    """The address that took no connection is remembered: the second dataset is hashed here at once, not after
    another connection timeout; and so are those of the next steps of the process, until UNREACHABLE_FOR_SECONDS
    are over, when the address is tried again (a scheduler that came back is used)."""
    from prov_common.hashing import shard_engine

    monkeypatch.setattr(shard_engine, "CONNECT_TIMEOUT", "1s")  # a closed port: Dask tries until the timeout
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed = f"tcp://127.0.0.1:{probe.getsockname()[1]}"  # a port nothing listens on (once the probe is closed)
    first, second, store = tmp_path / "first", tmp_path / "second", str(tmp_path / "store")
    with caplog.at_level("WARNING"):
        result = materialize([_two_corpora_asset(first, second)], instance=instance,
                             resources={"provenance": ProvenanceResource(store=store, dask_scheduler=closed)})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    for name, folder in (("first", first), ("second", second)):
        assert event.materialization.metadata[f"tdprov/digest/{name}"].value == tdprov_hash(str(folder), capsys)["digest"]
        assert f"the shards of {folder} are hashed on this machine" in caplog.text
    assert "not tried again before 300 s have passed" in caplog.text  # said of the second dataset

    with dead_scheduler() as scheduler:  # counts its connections (Dask may retry one after a reset)
        resources = {"provenance": ProvenanceResource(store=store, dask_scheduler=scheduler.address)}
        assert materialize([_two_corpora_asset(first, second)], instance=instance, resources=resources).success
        tried = scheduler.connections
        assert tried >= 1
        assert materialize([_two_corpora_asset(first, second)], instance=instance, resources=resources).success
        assert scheduler.connections == tried  # the next step of this process, within UNREACHABLE_FOR_SECONDS
        monkeypatch.setattr(shard_engine, "UNREACHABLE_FOR_SECONDS", 0.0)  # the period is over: tried again
        assert materialize([_two_corpora_asset(first, second)], instance=instance, resources=resources).success
        assert scheduler.connections > tried


def test_audit_rehash_reads_the_shards_and_finds_a_changed_one(tmp_path: Path, instance: Any) -> None:
    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_REHASH
    from prov_common.config import Settings

    folder, store = tmp_path / "shards", str(tmp_path / "store")
    _run(str(folder), lambda: write_shards(folder), instance, store=store, dask_scheduler="none")

    def rehash_findings() -> list[str]:
        result = run_audit(open_store(store), Settings.from_env(store=store), progress=False, rehash=True, full=True)
        return [f.what for f in result.findings if f.check == CHECK_REHASH]

    assert rehash_findings() == []
    shard = folder / shard_name(0)
    stat = shard.stat()
    shard_frame(0, salt=5).to_parquet(shard, index=False)
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with its old time: the audit reads every shard
    (finding,) = rehash_findings()
    assert "now hashes to" in finding


def test_audit_report_states_the_shards_of_a_training_corpus(tmp_path: Path, instance: Any) -> None:
    """A model trained on a sharded corpus: the audit's training data (JSON and HTML) and its Art. 10(2)(e)
    item state the corpus version's rows and shard count, as its content-hash facet recorded them."""
    from prov_common.audit import run_audit
    from prov_common.config import Settings

    folder, model, store = tmp_path / "shards", tmp_path / "model.bin", str(tmp_path / "store")

    @asset(deps=["corpus"])
    def train_model(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001 - Dagster's context
        model.write_bytes(b"weights of a model trained on %d shards" % SHARDS)
        recorded = provenance.record(inputs={"corpus": str(folder)}, outputs={"model": str(model)}, context=context)
        return MaterializeResult(metadata=recorded.metadata, data_version=recorded.data_version)

    result = materialize([_corpus_asset(str(folder), lambda: write_shards(folder)), train_model], instance=instance,
                         resources={"provenance": ProvenanceResource(store=store, dask_scheduler="none")})
    assert result.success
    audit = run_audit(open_store(store), Settings.from_env(store=store), report_dir=tmp_path / "r", progress=False)
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    html = (tmp_path / "r" / "report.html").read_text()
    (entry,) = report["trainingData"]
    recorded = next(o["facets"]["tdprov_contentHash"] for o in sealed_outputs(store) if o["facets"]["tdprov_contentHash"]["kind"] == "shards")
    extent = f"{recorded['rows']:,} rows in {SHARDS} shards"
    assert (entry["dataset"], entry["rows"], entry["shards"]) == (str(folder), recorded["rows"], SHARDS)
    assert entry["annexIV"]["generalDescription"] == f"{folder} version {entry['version']}, {extent}"
    (quantity,) = [i for i in entry["article10"]["items"] if i["item"] == "10(2)(e)"]
    assert f"{folder}@{entry['version']}: {extent}" in quantity["recordsShow"]
    assert extent in html and audit.bundles_examined == 2


def test_blank_dask_fields_are_not_given_and_the_environment_applies(
        tmp_path: Path, instance: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A dask_scheduler or dask_spill given blank (" ", as an EnvVar or a template can leave it) is not given, as every
    tdprov setting given empty: TDPROV_DASK_SCHEDULER and TDPROV_DASK_SPILL apply and are named. The hashing took the
    blank field as given instead: the scheduler the variable names was never tried (the default rule chose), and the
    spill location it names was never used, while the messages named the variables."""
    from prov_common.hashing import shard_engine

    monkeypatch.setattr(shard_engine, "CONNECT_TIMEOUT", "1s")  # the connection is refused: no need to wait 20 s
    folder, store = tmp_path / "shards", str(tmp_path / "store")
    monkeypatch.setenv("TDPROV_DASK_SCHEDULER", "tcp://127.0.0.1:1")
    with caplog.at_level("WARNING"):
        _run(str(folder), lambda: write_shards(folder), instance, store=store, dask_scheduler=" ")
    assert "TDPROV_DASK_SCHEDULER 'tcp://127.0.0.1:1' cannot be reached" in caplog.text, caplog.text

    @asset
    def corpus(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001 - Dagster's context
        recorded = provenance.record(outputs={"corpus": str(folder)}, context=context, granularity="row")
        return MaterializeResult(metadata=recorded.metadata, data_version=recorded.data_version)

    monkeypatch.setenv("TDPROV_DASK_SPILL", str(tmp_path / "gone"))
    resource = ProvenanceResource(store=store, dask_scheduler="tcp://127.0.0.1:1", dask_spill=" ")
    result = materialize([corpus], instance=instance, resources={"provenance": resource}, raise_on_error=False)
    message = _failure(result)
    assert not result.success and f"TDPROV_DASK_SPILL '{tmp_path / 'gone'}' is not a folder on this machine" in message, message
