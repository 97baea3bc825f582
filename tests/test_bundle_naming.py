"""The dataset naming version travels in the manifest: a bundle's statement is re-derived with the
naming it was written with, so a change of dataset naming does not break verifying older bundles."""
from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from bundle_support import dataset, event
from prov_common.bundle import Bundle, build_bundle, layout, verify_bundle
from prov_common.bundle.build import statement_for
from prov_common.bundle.model import blake3_digest
from prov_common.bundle.naming import (DATASET_NAMING, NAMING_V1, NAMING_V2, NAMING_V3, NAMING_V4, NAMING_V5, NAMING_V6,
                                        dataset_name)
from prov_common.bundle.storage import deliver_bundle
from prov_common.canonical_json import loads
from prov_common.errors import BadInputError
from prov_common.lineage.naming import dataset_from_uri, dataset_uri
from prov_common.signing import INTOTO_PAYLOAD_TYPE, Envelope, SigningKey, TrustStore, sign_envelope
from prov_common.store import open_store

KEY = SigningKey.generate()
TRUST = TrustStore.of([KEY.public])

# (namespace, name) -> name under versions 1, 2 and 3 (4 names as 3, and so does 5 but for the TABLES below, and 6 as 5
# but for the SCHEMELESS below). Version 6 is today's dataset_uri; if one of these changes, freeze the old rules in
# prov_common.bundle.naming under a new version.
VECTORS = [
    (("s3://lake", "raw/users.parquet"), "s3://lake/raw/users.parquet", "s3://lake/raw/users.parquet", "s3://lake/raw/users.parquet"),
    (("s3://lake/", "/raw/users.parquet"), "s3://lake//raw/users.parquet", "s3://lake/raw/users.parquet", "s3://lake/raw/users.parquet"),
    (("postgres://db:5432", "shop.public.orders"), "postgres://db:5432/shop.public.orders", "postgres://db:5432/shop.public.orders",
     "postgres://db:5432/shop.public.orders"),
    (("file", "/data/a.csv"), "file:///data/a.csv", "file:///data/a.csv", "file:///data/a.csv"),
    (("file", "data/a.csv"), "file:data/a.csv", "file:data/a.csv", "file:data/a.csv"),
    (("dagster://default", "clean_cells"), "dagster://defaultclean_cells", "dagster://default/clean_cells", "dagster://default/clean_cells"),
    (("hdfs://namenode:8020", "/warehouse/t"), "hdfs://namenode:8020/warehouse/t", "hdfs://namenode:8020/warehouse/t",
     "hdfs://namenode:8020/warehouse/t"),
    (("abfss://raw@lake01.dfs.core.windows.net", "a/b.parquet"), "abfss://raw@lake01.dfs.core.windows.neta/b.parquet",
     "abfss://raw@lake01.dfs.core.windows.net/a/b.parquet", "abfss://raw@lake01.dfs.core.windows.net/a/b.parquet"),
    (("inmemory://", "features/x"), "inmemory://features/x", "inmemory:/features/x", "inmemory://features/x"),
]


# Tables version 5 names by the URI of their Airflow Asset: (namespace, name) -> name under version 5.
TABLES = {("postgres://db:5432", "shop.public.orders"): "postgres://db:5432/shop/public/orders",
          ("bigquery", "proj.sales.orders"): "bigquery://proj/sales/orders"}
VECTORS.append((("bigquery", "proj.sales.orders"), "bigqueryproj.sales.orders", "bigquery/proj.sales.orders",
                "bigquery/proj.sales.orders"))
# Namespaces without '://' version 6 writes as namespace:name, where version 5 joined them with '/' (a local file's
# path): (namespace, name) -> (name under versions 1 to 5 but for v1's, name under version 6).
SCHEMELESS = {("bigquery", "proj.sales"): ("bigquery/proj.sales", "bigquery:proj.sales"),
              ("arn:aws:glue:eu-west-1:123456789012", "table/shop/orders"):
              ("arn:aws:glue:eu-west-1:123456789012/table/shop/orders", "arn:aws:glue:eu-west-1:123456789012:table/shop/orders"),
              ("pubsub", "topic:proj:events"): ("pubsub/topic:proj:events", "pubsub:topic:proj:events"),
              ("airflow-asset", "features"): ("airflow-asset/features", "airflow-asset:features")}
VECTORS.extend(((ref, ref[0] + ref[1], v5, v5) for ref, (v5, _) in SCHEMELESS.items()))


@pytest.mark.parametrize("ref, v1, v2, v3", VECTORS, ids=[f"{ns}|{name}" for (ns, name), *_ in VECTORS])
def test_naming_vectors_per_version(ref: tuple[str, str], v1: str, v2: str, v3: str) -> None:
    assert dataset_name(*ref, NAMING_V1) == v1
    assert dataset_name(*ref, NAMING_V2) == v2
    assert dataset_name(*ref, NAMING_V3) == v3
    assert dataset_name(*ref, NAMING_V4) == v3
    v5 = TABLES.get(ref, v3)
    assert dataset_name(*ref, NAMING_V5) == v5
    v6 = SCHEMELESS.get(ref, (v5, v5))[1]
    assert DATASET_NAMING == NAMING_V6 and dataset_name(*ref, NAMING_V6) == dataset_name(*ref) == v6
    if ref not in (("file", "data/a.csv"), ("bigquery", "proj.sales"), ("airflow-asset", "features")):
        assert dataset_uri(*ref) == v6  # the others have no URI: every version since 2 writes namespace:name


@pytest.mark.parametrize("ref", [("s3://lake", "raw/users.parquet"), ("file", "/data/a.csv"), ("inmemory://", "features/x"),
                                 ("abfss://raw@lake01.dfs.core.windows.net", "a/b.parquet"), ("hdfs://namenode:8020", "/warehouse/t"),
                                 *TABLES, ("arn:aws:glue:eu-west-1:123456789012", "table/shop/orders"),
                                 ("pubsub", "topic:proj:events"), ("pubsub", "subscription:proj:events-sub")])
def test_the_uri_of_a_spec_named_dataset_names_it_again(ref: tuple[str, str]) -> None:
    assert dataset_from_uri(dataset_name(*ref)) == ref
    with pytest.raises(BadInputError, match="tdprov-naming/9"):
        dataset_name(*ref, "tdprov-naming/9")


def _events(namespace: str = "dagster://default", name: str = "clean_cells") -> list[dict]:
    """A run whose output is named differently by naming versions 1 and 2 (default) or 2 and 3 (``inmemory://``)."""
    run_id = str(uuid.uuid4())
    out = dataset(namespace, name, "blake3:" + "2" * 64)
    return [event(run_id, "START", "2026-03-01T10:00:00Z"), event(run_id, "COMPLETE", "2026-03-01T10:00:05Z", outputs=[out])]


def _resealed(bundle: Bundle, recorded: str | None, named_by: str) -> Bundle:
    """The bundle as another tdprov version would have sealed it: ``recorded`` in the manifest, the
    statement's datasets named by ``named_by``."""
    manifest = replace(bundle.manifest, dataset_naming=recorded)
    manifest_bytes = manifest.to_json()
    payload = statement_for(manifest, blake3_digest(manifest_bytes), named_by)
    return Bundle(bundle.run_id, bundle.files, manifest, manifest_bytes,
                  sign_envelope(payload, INTOTO_PAYLOAD_TYPE, [KEY]).to_json(), KEY.key_id)


def _verify(tmp_path: Path, bundle: Bundle):
    store = open_store(str(tmp_path / "store"))
    deliver_bundle(store, bundle)
    return verify_bundle(store, bundle.run_id, TRUST)


def _subject(bundle: Bundle) -> str:
    return _subjects(bundle)[0]["name"]


def _subjects(bundle: Bundle) -> list[dict]:
    return loads(Envelope.from_json(bundle.statement_bytes).payload)["subject"]


def test_new_bundles_record_the_current_naming(tmp_path: Path) -> None:
    bundle = build_bundle(_events(), None, KEY)
    assert json.loads(bundle.manifest_bytes)["datasetNaming"] == DATASET_NAMING
    assert _subject(bundle) == "dagster://default/clean_cells"
    report = _verify(tmp_path, bundle)
    assert report.ok and report.notes == []


@pytest.mark.parametrize("recorded", [NAMING_V1, None], ids=["recorded-v1", "unrecorded"])
def test_a_bundle_named_by_version_1_still_verifies(tmp_path: Path, recorded: str | None) -> None:
    old = _resealed(build_bundle(_events(), None, KEY), recorded, NAMING_V1)
    assert _subject(old) == "dagster://defaultclean_cells"
    assert ("datasetNaming" in json.loads(old.manifest_bytes)) == (recorded is not None)
    report = _verify(tmp_path, old)
    assert report.ok and report.notes == [], report.findings


def _assert_old_naming_verifies(tmp_path: Path, events: list[dict], recorded: str | None, version: str, newer: str,
                                subject: str) -> None:
    """A bundle named by ``version`` (its manifest recording ``recorded``) has ``subject`` and verifies with no note;
    one whose manifest records ``newer`` but whose names are those of ``version`` does not."""
    old = _resealed(build_bundle(events, None, KEY), recorded, version)
    assert _subject(old) == subject
    report = _verify(tmp_path, old)
    assert report.ok and report.notes == [], report.findings
    lying = _resealed(build_bundle(events, None, KEY), newer, version)
    assert not _verify(tmp_path / "lying", lying).ok


@pytest.mark.parametrize("recorded", [NAMING_V2, None], ids=["recorded-v2", "unrecorded"])
def test_a_bundle_named_by_version_2_still_verifies(tmp_path: Path, recorded: str | None) -> None:
    events = _events("inmemory://", "features/x")
    assert _subject(build_bundle(events, None, KEY)) == "inmemory://features/x"
    _assert_old_naming_verifies(tmp_path, events, recorded, NAMING_V2, NAMING_V3, "inmemory:/features/x")


def test_a_bundle_named_by_version_3_without_annotations_still_verifies(tmp_path: Path) -> None:
    events = _events("inmemory://", "features/x")
    new = build_bundle(events, None, KEY)
    assert _subjects(new)[0]["annotations"] == {"namespace": "inmemory://", "name": "features/x"}
    old = _resealed(build_bundle(events, None, KEY), NAMING_V3, NAMING_V3)
    assert _subjects(old) == [{"name": "inmemory://features/x", "digest": {"blake3": "2" * 64}}]
    _assert_old_naming_verifies(tmp_path, events, NAMING_V3, NAMING_V3, NAMING_V4, "inmemory://features/x")


def test_names_that_are_not_of_the_recorded_version_are_inconsistent(tmp_path: Path) -> None:
    lying = _resealed(build_bundle(_events(), None, KEY), NAMING_V2, NAMING_V1)  # records 2, names by 1
    report = _verify(tmp_path, lying)
    assert [(f.key, f.problem) for f in report.findings] == [(layout.bundle_key(lying.run_id, layout.STATEMENT_FILE), "inconsistent")]


def test_an_unknown_naming_version_is_noted_not_re_derived(tmp_path: Path) -> None:
    newer = _resealed(build_bundle(_events(), None, KEY), "tdprov-naming/9", NAMING_V2)
    report = _verify(tmp_path, newer)
    assert report.ok, report.findings
    assert [(n.key, n.problem) for n in report.notes] == [(layout.bundle_key(newer.run_id, layout.STATEMENT_FILE), "not re-derived")]
    assert "tdprov-naming/9" in report.notes[0].reason


def test_a_bundle_named_by_version_4_keeps_its_table_names_and_verifies(tmp_path: Path) -> None:
    """Version 5 names a table by its Asset URI (``postgres://db:5432/shop/public/orders``); a bundle sealed by
    version 4 named it ``postgres://db:5432/shop.public.orders`` and still verifies, re-derived by version 4."""
    events = _events("postgres://db:5432", "shop.public.orders")
    assert _subject(build_bundle(events, None, KEY)) == "postgres://db:5432/shop/public/orders"
    _assert_old_naming_verifies(tmp_path, events, NAMING_V4, NAMING_V4, NAMING_V5, "postgres://db:5432/shop.public.orders")


def test_a_bundle_named_by_version_5_keeps_its_schemeless_names_and_verifies(tmp_path: Path) -> None:
    """Version 5 joined a namespace without '://' to its name with '/' (``bigquery/proj.sales``, a file's path in the
    working folder); version 6 writes ``bigquery:proj.sales``. A bundle sealed by version 5 keeps its name and
    verifies, re-derived by version 5."""
    events = _events("bigquery", "proj.sales")
    assert _subject(build_bundle(events, None, KEY)) == "bigquery:proj.sales"
    _assert_old_naming_verifies(tmp_path, events, NAMING_V5, NAMING_V5, NAMING_V6, "bigquery/proj.sales")


def test_a_bundle_that_named_a_bare_snowflake_locator_keeps_its_name_and_verifies(tmp_path: Path) -> None:
    """snowflake://xy12345/db/s/t is now the account xy12345.us-west-1.aws, as the Snowflake provider names it; a
    bundle sealed with the bare locator's namespace keeps that name (its URI is written as before) and verifies."""
    assert dataset_from_uri("snowflake://xy12345/SHOP/PUBLIC/ORDERS") == ("snowflake://xy12345.us-west-1.aws", "SHOP.PUBLIC.ORDERS")
    old = build_bundle(_events("snowflake://xy12345", "SHOP.PUBLIC.ORDERS"), None, KEY)
    assert _subject(old) == "snowflake://xy12345/SHOP/PUBLIC/ORDERS"
    report = _verify(tmp_path, old)
    assert report.ok and report.notes == [], report.findings


# Every table scheme as version 5 names it (frozen: bundles it sealed are re-derived so): (namespace, name) -> URI. A
# table of another number of parts than its scheme's URI takes path segments, or of a scheme whose URI takes none
# (sqlserver, awsathena, cassandra), is joined whole, as by version 3.
V5_TABLES = {
    ("postgres://db:5432", "shop.public.orders"): "postgres://db:5432/shop/public/orders",
    ("postgres://db:5432", "shop.orders"): "postgres://db:5432/shop.orders",
    ("mysql://db:3306", "shop.orders"): "mysql://db:3306/shop/orders",
    ("mysql://db:3306", "shop.public.orders"): "mysql://db:3306/shop.public.orders",
    ("trino://t:8080", "cat.s.t"): "trino://t:8080/cat/s/t",
    ("redshift://c.eu-west-1:5439", "db.s.t"): "redshift://c.eu-west-1:5439/db/s/t",
    ("hive://h:10000", "db.t"): "hive://h:10000/db/t",
    ("db2://h:50000", "db.s.t"): "db2://h:50000/db/s/t",
    ("oracle://h:1521", "db.s.t"): "oracle://h:1521/db/s/t",
    ("sqlserver://h:1433", "db.s.t"): "sqlserver://h:1433/db.s.t",
    ("teradata://h:1025", "db.t"): "teradata://h:1025/db/t",
    ("crate://h:4200", "db.s.t"): "crate://h:4200/db/s/t",
    ("snowflake://xy12345.us-west-1.aws", "DB.S.T"): "snowflake://xy12345.us-west-1.aws/DB/S/T",
    ("awsathena://athena.eu-west-1.amazonaws.com", "cat.db.t"): "awsathena://athena.eu-west-1.amazonaws.com/cat.db.t",
    ("cassandra://h:9042", "ks.t"): "cassandra://h:9042/ks.t",
    ("bigquery", "proj.sales.orders"): "bigquery://proj/sales/orders",
}


def test_version_5_names_every_table_scheme_as_it_did_whatever_today_s_table_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 5's table URIs are frozen: an edit of the live table of path segments (every count changed, a scheme
    added), which changes today's naming, leaves them as they were, so the bundles it sealed still verify."""
    from prov_common.lineage import naming

    assert {ref: dataset_name(*ref, NAMING_V5) for ref in V5_TABLES} == V5_TABLES
    live = naming._TABLE_NAMINGS
    for scheme, (cls, port, count) in list(live.items()):
        monkeypatch.setitem(live, scheme, (cls, port, (count + 1) % 4))
    monkeypatch.setitem(live, "awsathena", (None, None, 3))
    monkeypatch.setattr(naming, "_TABLE_SEGMENTS", {scheme: count for scheme, (_, _, count) in live.items()}, raising=False)
    assert dataset_name("postgres://db:5432", "shop.public.orders", NAMING_V6) == "postgres://db:5432/shop.public.orders"  # edited
    assert dataset_name("awsathena://a", "cat.db.t", NAMING_V6) == "awsathena://a/cat/db/t"
    assert {ref: dataset_name(*ref, NAMING_V5) for ref in V5_TABLES} == V5_TABLES


def test_today_s_table_segments_are_version_5_s_until_a_new_naming_version() -> None:
    """Version 6, today's naming, names tables as version 5 did: a change to the path segments of a table scheme's
    URI (prov_common.lineage.naming._TABLE_NAMINGS), or a scheme added there, names tables otherwise, which takes a
    new naming version (prov_common.bundle.naming), else bundles sealed before it stop verifying."""
    from prov_common.lineage import naming

    live = {scheme: count for scheme, (_, _, count) in naming._TABLE_NAMINGS.items()}
    assert dict(naming._TABLE_SEGMENTS) == live
    if DATASET_NAMING == NAMING_V6:
        assert live == dict(naming._V5_TABLE_SEGMENTS), (
            "the path segments of table URIs changed: freeze version 6's rules and give the new ones a new version in "
            "prov_common/bundle/naming.py")
