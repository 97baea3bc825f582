"""Airflow 3's other ways of naming an inlet or outlet are recorded, or named in a warning, never dropped silently:
assets a task adds through an ``AssetAlias``, ``Asset.ref(name=...)`` and ``AssetAlias`` inlets, OpenLineage
``Dataset`` objects and ``ObjectStoragePath``. One DAG, run once for the module."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import asset_events, bundles_of, run_dag, tdprov_env

import pandas as pd
import pendulum
import rdflib
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset, AssetAlias, ObjectStoragePath
from openlineage.client.event_v2 import Dataset

from prov_common.hashing import hash_path
from test_lineage_identity import PROV_O, _written

START = pendulum.datetime(2024, 1, 1, tz="UTC")
DAG_ID = "tdprov_asset_forms"
ALIAS = AssetAlias("tdprov_forms_alias")
NAMED = "tdprov_forms_named"


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    """Run the DAG once: ``write`` declares an alias, a named asset, an OpenLineage ``Dataset`` and an
    ``ObjectStoragePath`` and adds ``via_alias.csv`` through the alias; ``read`` declares them all as inlets (the
    alias and the named asset by reference); ``rewrite`` writes the named asset's bytes again, its outlet declared by
    reference. Gives the data folder and the bundles by task."""
    data = tmp_path_factory.mktemp("forms")
    store = data / "store"
    saved = {key: os.environ.get(key) for key in tdprov_env(store)}
    os.environ.update(tdprov_env(store))
    via_alias = Asset((data / "via_alias.csv").as_uri())

    def write(outlet_events=None, **_) -> None:
        for name in ("via_alias", "named", "ol", "osp"):
            pd.DataFrame({"x": [len(name)]}).to_csv(data / f"{name}.csv", index=False)
        outlet_events[ALIAS].add(via_alias, extra={"k": "v"})

    with DAG(DAG_ID, start_date=START, schedule=None) as dag:
        (PythonOperator(task_id="write", python_callable=write,
                        outlets=[ALIAS, Asset(name=NAMED, uri=(data / "named.csv").as_uri()),
                                 Dataset(namespace="file", name=str(data / "ol.csv")),
                                 ObjectStoragePath((data / "osp.csv").as_uri())])
         >> PythonOperator(task_id="read", python_callable=lambda: None,
                           inlets=[ALIAS, Asset.ref(name=NAMED), Dataset(namespace="file", name=str(data / "ol.csv")),
                                   ObjectStoragePath((data / "osp.csv").as_uri())])
         >> PythonOperator(task_id="rewrite", outlets=[Asset.ref(name=NAMED)],
                           python_callable=lambda: pd.DataFrame({"x": [5]}).to_csv(data / "named.csv", index=False)))
    try:
        assert run_dag(dag, logical_date=START).state == "success"
        yield data, {s.job_name.split(".", 1)[1]: s for s in bundles_of(store) if "." in s.job_name}
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def _versions(datasets) -> dict[tuple[str, str], str | None]:
    return {(d.namespace, d.name): d.version for d in datasets}


def test_an_asset_added_through_an_alias_is_an_output_of_the_try(forms) -> None:
    """``outlet_events[alias].add(Asset(...))`` names an output known only at run time: it is hashed as an outlet
    the try wrote, and its asset event carries tdprov's digest and bundle beside the task's own extra."""
    data, by_task = forms
    via_alias = data / "via_alias.csv"
    assert _versions(by_task["write"].outputs)[("file", str(via_alias))] == hash_path(via_alias).digest
    extra = asset_events(DAG_ID)[via_alias.as_uri()]["extra"]
    assert extra["k"] == "v" and extra["tdprov"]["digest"] == hash_path(via_alias).digest


def test_inlets_named_by_reference_or_alias_are_resolved_and_hashed(forms) -> None:
    """``Asset.ref(name=...)`` (an ``@asset``'s dependency) and an ``AssetAlias`` inlet are resolved in the task
    process, as Airflow resolves them for ``inlet_events``: the asset of that name, the assets added through the
    alias; their data is hashed as the task's inputs."""
    data, by_task = forms
    inputs = _versions(by_task["read"].inputs)
    for name in ("named", "via_alias"):
        assert inputs[("file", str(data / f"{name}.csv"))] == hash_path(data / f"{name}.csv").digest


def test_an_outlet_named_by_reference_is_resolved_and_an_output_of_the_try(forms) -> None:
    """``outlets=[Asset.ref(name=...)]``, for which Airflow sends the asset of that name an event, is resolved in the
    task process as an inlet is: the try that rewrote the asset's file records it as its output, hashed."""
    data, by_task = forms
    named = data / "named.csv"
    assert _versions(by_task["rewrite"].outputs) == {("file", str(named)): hash_path(named).digest}
    assert asset_events(DAG_ID, "rewrite")[named.as_uri()]["extra"]["tdprov"]["digest"] == hash_path(named).digest


def test_an_outlet_reference_that_names_no_asset_is_warned_of_once_per_try(
        store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An outlet ``Asset.ref(name=...)`` naming no asset was resolved, and warned of, by each of the try's hooks (three
    times); it is resolved once, when the try starts, and the try runs on."""
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    with DAG("tdprov_forms_no_asset", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="t", outlets=[Asset.ref(name="tdprov_forms_no_such_asset")], python_callable=lambda: None)
    with caplog.at_level("WARNING", logger="prov_airflow.refs"):
        assert run_dag(dag, logical_date=START).state == "success"
    warned = [r.getMessage() for r in caplog.records if "tdprov_forms_no_such_asset" in r.getMessage()]
    assert len(warned) == 1, warned
    assert "could not be resolved to its assets" in warned[0] and "not recorded as an output" in warned[0], warned[0]


def test_openlineage_datasets_and_object_storage_paths_are_recorded(forms) -> None:
    """An OpenLineage ``Dataset(namespace, name)`` and an ``ObjectStoragePath`` are named as the provider's naming
    spec gives them (``file`` + the absolute path) and hashed, as inlets and as outlets."""
    data, by_task = forms
    outputs, inputs = _versions(by_task["write"].outputs), _versions(by_task["read"].inputs)
    for name in ("ol", "osp"):
        path = data / f"{name}.csv"
        assert outputs[("file", str(path))] == inputs[("file", str(path))] == hash_path(path).digest


def test_an_openlineage_table_dataset_is_named_as_the_provider_names_it_never_as_a_local_file() -> None:
    """``Dataset(namespace="bigquery", name="p.sales.orders")``, as the Google provider names a table, was given the
    URI ``bigquery/p.sales.orders`` and recorded as that file in the task's working folder; a Redshift table's URI
    was no Airflow Asset. Each is named as declared."""
    from prov_airflow.capture import capture_all, dataset_key
    from prov_airflow.settings import ListenerLimits

    declared = [("bigquery", "p.sales.orders"), ("redshift://wh.eu-west-1:5439", "dev.public.sales")]
    captured = capture_all([Dataset(namespace=ns, name=name) for ns, name in declared], ListenerLimits())
    assert [c.uri for c in captured] == ["bigquery://p/sales/orders", "redshift://wh.eu-west-1:5439/dev/public/sales"]
    assert [dataset_key(c.uri) for c in captured] == declared


def test_an_openlineage_dataset_of_a_namespace_without_a_scheme_is_never_a_local_file(caplog) -> None:
    """``Dataset(namespace="arn:aws:glue:<region>:<account>", name="table/<db>/<table>")``, as the spec names an AWS
    Glue table, was given the URI ``arn:aws:glue:.../table/db/t`` and recorded as that file in the task's working
    folder, and ``Dataset(namespace="bigquery", name="p.sales")`` as the file ``bigquery/p.sales``. The Glue table is
    named as declared; the BigQuery name, no table's, is not recorded, with a warning naming it."""
    from prov_airflow.capture import capture_all, dataset_key
    from prov_airflow.settings import ListenerLimits

    glue = ("arn:aws:glue:eu-west-1:123456789012", "table/shop/orders")
    with caplog.at_level("WARNING", logger="prov_airflow.capture"):
        captured = capture_all([Dataset(namespace=ns, name=name) for ns, name in (glue, ("bigquery", "p.sales"))],
                               ListenerLimits())
    assert [(c.uri, dataset_key(c.uri)) for c in captured] == [("arn:aws:glue:eu-west-1:123456789012:table/shop/orders", glue)]
    assert any("namespace='bigquery', name='p.sales'" in r.getMessage() for r in caplog.records), caplog.text


def test_an_inlet_or_outlet_tdprov_cannot_name_is_named_in_a_warning(caplog) -> None:
    """Anything else declared as inlet or outlet is not recorded, and a warning names it and what to declare."""
    from prov_airflow.capture import capture_all
    from prov_airflow.settings import ListenerLimits

    class Opaque:
        def __repr__(self) -> str:
            return "Opaque('warehouse table')"

    with caplog.at_level("WARNING", logger="prov_airflow.capture"):
        assert capture_all([Opaque()], ListenerLimits()) == []
    [message] = [r.getMessage() for r in caplog.records]
    assert "Opaque('warehouse table')" in message and "Asset('file:///abs/path')" in message


def test_a_logical_asset_gets_no_granularity_warning_and_a_path_like_one_is_told_to_be_a_file_uri(caplog) -> None:
    """A logical asset is recorded by its URI without a digest and no warning about granularity; one whose URI
    looks like a path names no file, and the warning says to write it as a ``file://`` URI (once per process)."""
    from prov_airflow.capture import capture_all
    from prov_airflow.settings import ListenerLimits

    with caplog.at_level("WARNING", logger="prov_airflow.capture"):
        for _ in range(2):
            captures = capture_all([Asset(name="tdprov_forms_report"), Asset("/tdprov/forms/p.csv")], ListenerLimits())
            assert [(c.uri, c.status) for c in captures] == [("airflow-asset:tdprov_forms_report", "logical"),
                                                              ("airflow-asset:/tdprov/forms/p.csv", "logical")]
    assert [r.getMessage() for r in caplog.records] == [
        "tdprov: Asset('/tdprov/forms/p.csv') names no file: an Asset URI without a scheme is a logical name, recorded "
        "without a digest as airflow-asset:/tdprov/forms/p.csv. Write Asset('file:///tdprov/forms/p.csv') to have the "
        "file hashed"]


def test_a_logical_asset_is_recorded_by_its_uri() -> None:
    """A logical asset is the dataset its URI names (its name when only a name is given), as Airflow keeps it."""
    from prov_airflow.capture import capture_all
    from prov_airflow.settings import ListenerLimits

    captures = capture_all([Asset(name="tdprov_forms_eu", uri="tdprov_forms_daily")], ListenerLimits())
    assert [(c.uri, c.message) for c in captures] == [
        ("airflow-asset:tdprov_forms_daily", "a logical asset (no URI scheme): recorded by its URI, not hashed")]


def test_an_s3_asset_uri_with_a_query_names_the_object_the_provider_names(s3_server, store: Path, caplog) -> None:
    """In an ``Asset`` URI ``?`` starts a query: ``Asset("s3://b/data/in.csv?x=1")`` is object ``data/in.csv``, as
    Airflow's S3 hook and the official provider's ``translate_airflow_asset`` read it (tdprov named and hashed
    ``data/in.csv?x=1``, so the provider's events and tdprov's gave one asset two names). A key as written (an
    OpenLineage ``Dataset``) keeps its ``?``; S3's own ``versionId`` still names that version."""
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset

    client, bucket = s3_server.client(), s3_server.create_bucket()
    plain, literal = b"a,b\n1,x\n", b"a,b\n2,y\n"
    client.put_object(Bucket=bucket, Key="data/in.csv", Body=plain)
    client.put_object(Bucket=bucket, Key="data/in.csv?x=1", Body=literal)  # an object whose key holds the '?'
    asset, out = Asset(f"s3://{bucket}/data/in.csv?x=1"), Asset(f"s3://{bucket}/data/out.csv?x=1")
    raw = Dataset(namespace=f"s3://{bucket}", name="data/in.csv?x=1")

    def write() -> None:
        client.put_object(Bucket=bucket, Key="data/out.csv", Body=plain)

    with DAG("tdprov_asset_s3_query", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="copy", python_callable=write, inlets=[asset, raw], outlets=[out])
    with caplog.at_level("WARNING", logger="prov_airflow.capture"):
        assert run_dag(dag, logical_date=START).state == "success"
    [bundle] = [s for s in bundles_of(store) if s.job_name == "tdprov_asset_s3_query.copy"]
    digest = hash_path(f"s3://{bucket}/data/in.csv").digest
    provider = translate_airflow_asset(asset, None)
    assert (provider.namespace, provider.name) == (f"s3://{bucket}", "data/in.csv")
    as_written = hash_path(f"s3://{bucket}/data/in.csv?x=1").digest  # the object whose key holds the '?'
    assert as_written != digest
    assert _versions(bundle.inputs) == {(provider.namespace, provider.name): digest,
                                        (f"s3://{bucket}", "data/in.csv?x=1"): as_written}
    provider_out = translate_airflow_asset(out, None)
    assert _versions(bundle.outputs) == {(provider_out.namespace, provider_out.name): digest}
    assert asset_events("tdprov_asset_s3_query")[out.uri]["extra"]["tdprov"]["digest"] == digest
    assert (f"tdprov: s3://{bucket}/data/in.csv?x=1 holds '?' or '#', which start a URI's query and fragment, not part "
            f"of the S3 key of an Asset or a lineage File (Airflow's S3 hook and the OpenLineage provider read it so): it "
            f"names s3://{bucket}/data/in.csv. To name an object whose key holds them, declare "
            f"Dataset(namespace='s3://{bucket}', name='data/in.csv?x=1') (openlineage.client.event_v2)"
            ) in [r.getMessage() for r in caplog.records]


def test_an_object_storage_path_names_and_hashes_the_version_s3fs_reads(s3_bucket: str, s3_server) -> None:
    """``ObjectStoragePath("s3://b/k.csv?versionId=<id>")`` is read by a version-aware s3fs (Airflow's storage options
    turn it on for such a path) as the object ``k.csv`` at that version: tdprov names it ``k.csv`` and hashes that
    version, not the newest one nor an object ``k.csv?versionId=<id>``."""
    from prov_airflow.capture import capture_all, dataset_key
    from prov_airflow.settings import ListenerLimits

    client = s3_server.client()
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    first = client.put_object(Bucket=s3_bucket, Key="k.csv", Body=b"a\n1\n")["VersionId"]
    client.put_object(Bucket=s3_bucket, Key="k.csv", Body=b"a\n2\n")
    path = ObjectStoragePath(f"s3://{s3_bucket}/k.csv?versionId={first}")
    assert path.storage_options.get("version_aware") is True
    [capture] = capture_all([path], ListenerLimits())
    assert dataset_key(capture.uri) == (f"s3://{s3_bucket}", "k.csv")
    assert capture.digest is not None and capture.digest.digest == hash_path(f"s3://{s3_bucket}/k.csv?versionId={first}").digest
    assert capture.digest.digest != hash_path(f"s3://{s3_bucket}/k.csv").digest


def test_an_s3_asset_keeps_its_version_and_drops_the_rest_of_its_query() -> None:
    """``?versionId=<id>`` in an S3 ``Asset`` URI is that version of the object, with or without other parameters;
    a fragment, a query of another kind or a ``File`` URL's are cut as the provider cuts them; a URI string and an
    OpenLineage ``Dataset`` keep their key as written."""
    from airflow.providers.common.compat.lineage.entities import File
    from prov_airflow.capture import dataset_key, to_uri

    assert [to_uri(i) for i in (Asset("s3://b/k.csv?versionId=v1"), Asset("s3://b/k.csv?x=1&versionId=v1"),
                                Asset("s3a://b/k.csv?x=1"), File(url="s3://b/k.csv?x=1#f"), File(url="s3://b/k#a?b"),
                                "s3://b/k.csv?x=1", Dataset(namespace="s3://b", name="k.csv#1"))] == [
        "s3://b/k.csv?versionId=v1", "s3://b/k.csv?versionId=v1", "s3a://b/k.csv", "s3://b/k.csv", "s3://b/k",
        "s3://b/k.csv?x=1", "s3://b/k.csv#1"]
    assert dataset_key(to_uri(Dataset(namespace="s3://b", name="k.csv#1"))) == ("s3://b", "k.csv#1")


AWS_VERSION_ID = "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nrjfkd="  # as AWS documents one: '/', '+' and '='


def test_an_s3_version_id_holding_slash_plus_or_equals_names_that_version_of_the_object(
        s3_bucket: str, s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    """S3 version ids hold ``/``, ``+`` and ``=``: ``ObjectStoragePath("s3://b/k.csv?versionId=3/L4k+…=")`` (the id as
    s3fs reads it, raw) and ``Asset`` (Airflow percent-encodes its query: ``3%2FL4k%2B…%3D``) are the object ``k.csv``
    at that version, hashed as it, with no warning. tdprov named the first an object ``k.csv?versionId=3/L4k+…=``, a
    glob that failed with 'no shards', and read the second with the version id still encoded, which S3 has not."""
    import moto.s3.models
    from prov_airflow.capture import capture_all, dataset_key
    from prov_airflow.settings import ListenerLimits

    client = s3_server.client()
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setattr(moto.s3.models.random, "uuid4", lambda: AWS_VERSION_ID)  # moto's version ids are UUIDs
    assert client.put_object(Bucket=s3_bucket, Key="k.csv", Body=b"a\n1\n")["VersionId"] == AWS_VERSION_ID
    monkeypatch.undo()
    s3_server.point(monkeypatch)
    client.put_object(Bucket=s3_bucket, Key="k.csv", Body=b"a\n2\n")  # the newest version: not the one named
    (tmp_path / "k.csv").write_bytes(b"a\n1\n")
    expected = hash_path(tmp_path / "k.csv").digest
    declared = [ObjectStoragePath(f"s3://{s3_bucket}/k.csv?versionId={AWS_VERSION_ID}"),
                Asset(f"s3://{s3_bucket}/k.csv?versionId={AWS_VERSION_ID}")]
    assert "versionId=3%2FL4k" in declared[1].uri
    with caplog.at_level("WARNING", logger="prov_airflow.capture"):
        captures = [c for item in declared for c in capture_all([item], ListenerLimits())]
    assert [(dataset_key(c.uri), c.status, c.digest and c.digest.digest) for c in captures] == [
        ((f"s3://{s3_bucket}", "k.csv"), "hashed", expected)] * 2
    assert [r.getMessage() for r in caplog.records if r.name.startswith("prov_")] == []


@pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")  # prov's RDF serialiser
def test_mapped_instances_adding_equal_bytes_through_an_alias_and_a_retry_rewriting_them_are_versions_of_their_own(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Each instance of a mapped task adds its own file through an ``AssetAlias``, all of equal bytes; a task's first
    try writes its outlet and fails, its second writes the same bytes again. Each file's version is generated by the
    instance (the try) that wrote it, and a reader of ``m1.csv`` and ``out.csv`` is lineage of map index 1 and of the
    second try, never of a run that wrote equal bytes elsewhere or failed."""
    from datetime import timedelta

    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
    from airflow.sdk import task

    from prov_common.cli import main

    alias, out, marker = AssetAlias("tdprov_mapped_alias"), tmp_path / "out.csv", tmp_path / "marker"

    def flaky() -> None:
        out.write_text("x\n1\n")
        if not marker.exists():
            marker.touch()
            raise ValueError("first try fails after writing")

    with DAG("tdprov_alias_mapped", start_date=START, schedule=None) as dag:
        @task(outlets=[alias])
        def add(i: int, *, outlet_events=None) -> None:  # noqa: ANN001
            (tmp_path / f"m{i}.csv").write_text("x\n1\n")
            outlet_events[alias].add(Asset((tmp_path / f"m{i}.csv").as_uri()))

        written = [add.expand(i=[0, 1, 2]),
                   PythonOperator(task_id="flaky", python_callable=flaky, outlets=[Asset(out.as_uri())], retries=1,
                                  retry_delay=timedelta(0))]
        written >> PythonOperator(task_id="read", python_callable=lambda: None,
                                  inlets=[Asset((tmp_path / "m1.csv").as_uri()), Asset(out.as_uri())])
    assert run_dag(dag, logical_date=START).state == "success"
    run_of = lambda task_id, attempt, index: OpenLineageAdapter.build_task_instance_run_id(  # noqa: E731
        "tdprov_alias_mapped", task_id, attempt, START, index)
    by_run = {s.run_id: s for s in bundles_of(store)}
    assert [[o.name for o in by_run[run_of("add", 1, i)].outputs] for i in range(3)] == [[str(tmp_path / f"m{i}.csv")] for i in range(3)]
    assert (by_run[run_of("flaky", 1, -1)].state, by_run[run_of("flaky", 1, -1)].outputs) == ("FAIL", ())
    digest = hash_path(out).digest
    assert _versions(by_run[run_of("read", 1, -1)].inputs) == {("file", str(tmp_path / "m1.csv")): digest, ("file", str(out)): digest}
    capsys.readouterr()
    assert main(["export", "--format", "ttl", "-o", str(tmp_path / "prov.ttl"), "--store", str(store)]) == 0
    graph = rdflib.Graph().parse(tmp_path / "prov.ttl", format="turtle")
    run_iri = lambda run_id: rdflib.URIRef(f"https://github.com/tdprov/tdprov/ns#run-{run_id}")  # noqa: E731
    for path, writer in ((tmp_path / "m1.csv", run_of("add", 1, 1)), (out, run_of("flaky", 2, -1))):
        bound = {"reader": run_iri(run_of("read", 1, -1)), "v": rdflib.URIRef(_written(str(path), digest, writer)),
                 "writer": run_iri(writer)}
        assert graph.query(PROV_O + "ASK { ?reader prov:used ?v . ?v prov:wasGeneratedBy ?writer }",
                           initBindings=bound).askAnswer, path
        assert main(["lineage", str(path), "--all-versions", "--json", "--store", str(store)]) == 0
        [tree] = json.loads(capsys.readouterr().out)["lineage"]
        assert [g["runId"] for g in tree["generatedBy"]] == [writer]  # one generation: the failed try's is none


def test_a_dbfs_file_or_asset_is_the_databricks_file_not_one_in_the_working_folder(tmp_path: Path, monkeypatch, caplog) -> None:
    """A lineage ``File("dbfs:/mnt/x.csv")`` or a path string so written was named the file ``<cwd>/dbfs:/mnt/x.csv``
    and an ``Asset`` so written the logical asset ``dbfs:/mnt/x.csv``, where the OpenLineage provider names it
    ``("dbfs", "/mnt/x.csv")``: all three are that pair. A ``File`` or string of another ``scheme:/path`` is not
    recorded, with a warning naming the fix; such an ``Asset`` stays a logical asset, and a relative path with a
    colon the file there."""
    from airflow.providers.common.compat.lineage.entities import File
    from prov_airflow.capture import named_key, to_uri

    monkeypatch.chdir(tmp_path)
    dbfs = ("dbfs", "/mnt/raw/x.csv")
    assert [named_key(to_uri(i)) for i in (File(url="dbfs:/mnt/raw/x.csv"), "dbfs:/mnt/raw/x.csv",
                                           Asset("dbfs:/mnt/raw/x.csv"))] == [dbfs, dbfs, dbfs]
    assert named_key(to_uri(Asset("foo:/x"))) == ("airflow-asset", "foo:/x")
    assert named_key(to_uri(File(url="a:b.csv"))) == ("file", f"{tmp_path}/a:b.csv")
    with caplog.at_level("WARNING"):
        assert named_key(to_uri(File(url="s3:/bucket/k.csv"))) is None
    assert "'s3:/bucket/k.csv' is a URI of the scheme 's3' without '//'" in caplog.text
    assert "write the URI as s3://<authority>/<path>" in caplog.text
