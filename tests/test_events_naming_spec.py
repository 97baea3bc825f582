"""Every URI scheme tdprov names is named as the OpenLineage naming spec says.

The spec's dataset table (https://openlineage.io/docs/spec/naming; common/schemas/openlineage/Naming.md
points there) gives a namespace and a name pattern per data store; PATTERNS below are those patterns
written as regular expressions, independent of tdprov's code and of openlineage-python's.
"""
from __future__ import annotations

import re
import uuid

import pytest

from prov_common.errors import BadInputError
from prov_common.lineage import DatasetRef, build_run_event, dataset_from_uri, dataset_uri, event_to_dict

_ID = r"[A-Za-z0-9_.\-]+"
PATTERNS = {  # data store -> (namespace, name), as the spec's table spells them
    "local file system": (r"file", r"/.*"),
    "remote file system": (rf"file://{_ID}", r"/.*"),
    "S3": (rf"s3://{_ID}", r"[^/].*"),
    "GCS": (rf"gs://{_ID}", r"[^/].*"),
    "ABFSS": (rf"abfss://{_ID}@{_ID}\.dfs\.core\.windows\.net", r"[^/].*"),
    "WASBS": (rf"wasbs://{_ID}@{_ID}\.dfs\.core\.windows\.net", r"[^/].*"),
    "HDFS": (rf"hdfs://{_ID}:\d+", r"/.*"),
    "Kafka": (rf"kafka://{_ID}:\d+", r"[^/]+"),
    "Postgres": (rf"postgres://{_ID}:\d+", r"[^./]+\.[^./]+\.[^./]+"),
    "MySQL": (rf"mysql://{_ID}:\d+", r"[^./]+\.[^./]+"),
    "Trino": (rf"trino://{_ID}:\d+", r"[^./]+\.[^./]+\.[^./]+"),
    "Hive": (rf"hive://{_ID}:\d+", r"[^./]+\.[^./]+"),
    "Redshift": (rf"redshift://{_ID}\.{_ID}:\d+", r"[^./]+\.[^./]+\.[^./]+"),
    "BigQuery": (r"bigquery", r"[^./]+\.[^./]+\.[^./]+"),
    "Snowflake": (rf"snowflake://{_ID}", r"[^./]+\.[^./]+\.[^./]+"),
    "Oracle": (rf"oracle://{_ID}:\d+", r"[^./]+\.[^./]+\.[^./]+"),
    "Athena": (rf"awsathena://athena\.{_ID}\.amazonaws\.com", r"[^./]+\.[^./]+\.[^./]+"),
    "Cassandra": (rf"cassandra://{_ID}:\d+", r"[^./]+\.[^./]+"),
    "Azure Data Explorer": (rf"azurekusto://{_ID}\.kusto\.windows\.net", r"[^./]+/[^./]+"),
    "Azure Cosmos DB": (rf"azurecosmos://{_ID}/dbs/[^/]+", r"colls/[^/]+"),
}


@pytest.mark.parametrize(
    ("store", "uri", "namespace", "name"),
    [
        ("local file system", "file:///data/train.parquet", "file", "/data/train.parquet"),
        ("remote file system", "file://nas01/share/x.csv", "file://nas01", "/share/x.csv"),
        ("S3", "s3://my-bucket/raw/x.parquet", "s3://my-bucket", "raw/x.parquet"),
        ("S3", "s3a://my-bucket/raw/x.parquet", "s3://my-bucket", "raw/x.parquet"),
        ("GCS", "gs://g-bucket/dir/f.jsonl", "gs://g-bucket", "dir/f.jsonl"),
        ("ABFSS", "abfss://raw@lake01.dfs.core.windows.net/events/2026/x.parquet",
         "abfss://raw@lake01.dfs.core.windows.net", "events/2026/x.parquet"),
        ("ABFSS", "abfs://raw@lake01.dfs.core.windows.net/x.csv", "abfss://raw@lake01.dfs.core.windows.net", "x.csv"),
        ("WASBS", "wasbs://models@blob01.blob.core.windows.net/m/model.pkl?sv=2024&sig=c2VjcmV0",
         "wasbs://models@blob01.dfs.core.windows.net", "m/model.pkl"),
        ("WASBS", "wasb://models@blob01.blob.core.windows.net/m.pkl", "wasbs://models@blob01.dfs.core.windows.net", "m.pkl"),
        ("HDFS", "hdfs://nn:8020/warehouse/t", "hdfs://nn:8020", "/warehouse/t"),
        ("Kafka", "kafka://broker-1:9092/orders", "kafka://broker-1:9092", "orders"),
        ("Postgres", "postgresql://u:pw@db/sales/public/orders", "postgres://db:5432", "sales.public.orders"),
        ("Postgres", "postgres://db:6543/sales/public/orders", "postgres://db:6543", "sales.public.orders"),
        ("MySQL", "mysql://db/shop/orders", "mysql://db:3306", "shop.orders"),
        ("Trino", "trino://tr:8080/hive/web/clicks", "trino://tr:8080", "hive.web.clicks"),
        ("Trino", "trino://tr/hive/web/clicks", "trino://tr:8080", "hive.web.clicks"),
        ("Redshift", "redshift://wh.eu-west-1/dev/public/sales", "redshift://wh.eu-west-1:5439", "dev.public.sales"),
        ("Hive", "hive://meta:10000/web/clicks", "hive://meta:10000", "web.clicks"),
        ("BigQuery", "bigquery://my-proj/sales/Orders", "bigquery", "my-proj.sales.Orders"),
        ("Snowflake", "snowflake://myorg-acct1/SALES/PUBLIC/ORDERS", "snowflake://myorg-acct1", "SALES.PUBLIC.ORDERS"),
        ("Oracle", "oracle+oracledb://ora1/ORCL/HR/EMP", "oracle://ora1:1521", "ORCL.HR.EMP"),
        ("Athena", "awsathena://athena.eu-west-1.amazonaws.com/AwsDataCatalog/shop/orders",
         "awsathena://athena.eu-west-1.amazonaws.com", "AwsDataCatalog.shop.orders"),
        ("Cassandra", "cassandra://c1:9042/shop/events", "cassandra://c1:9042", "shop.events"),
        ("Azure Data Explorer", "azurekusto://adx1.westeurope.kusto.windows.net/telemetry/events",
         "azurekusto://adx1.westeurope.kusto.windows.net", "telemetry/events"),
        ("Azure Cosmos DB", "azurecosmos://acct1.documents.azure.com/dbs/shop/colls/orders",
         "azurecosmos://acct1.documents.azure.com/dbs/shop", "colls/orders"),
    ],
)
def test_each_scheme_follows_the_naming_spec(store: str, uri: str, namespace: str, name: str) -> None:
    got = dataset_from_uri(uri)
    assert got == (namespace, name)
    ns_pattern, name_pattern = PATTERNS[store]
    assert re.fullmatch(ns_pattern, got[0]), f"{store} namespace {got[0]!r} is not {ns_pattern}"
    assert re.fullmatch(name_pattern, got[1]), f"{store} name {got[1]!r} is not {name_pattern}"
    assert "pw" not in "".join(got) and "sig" not in "".join(got)
    assert dataset_from_uri(dataset_uri(*got)) == got  # the URI a pair stands for names it again


def test_the_azure_container_reaches_the_event(ol_validator) -> None:
    refs = [DatasetRef.from_uri("abfss://raw@lake01.dfs.core.windows.net/a.parquet"),
            DatasetRef.from_uri("wasbs://models@blob01.blob.core.windows.net/m.pkl")]
    event = event_to_dict(build_run_event("COMPLETE", run_id=str(uuid.uuid4()), job_name="j", inputs=refs[:1], outputs=refs[1:]))
    ol_validator.validate_event(event)
    assert event["inputs"][0]["namespace"] == "abfss://raw@lake01.dfs.core.windows.net"
    assert event["outputs"][0]["namespace"] == "wasbs://models@blob01.dfs.core.windows.net"


@pytest.mark.parametrize(
    "uri",
    ["abfss://lake01.dfs.core.windows.net/x.csv", "wasbs://c@blob01.blob.core.windows.net/", "abfss://c@/x"],
)
def test_azure_uris_without_container_or_path_are_refused(uri: str) -> None:
    with pytest.raises(BadInputError, match="container, a storage account and a path") as err:
        dataset_from_uri(uri)
    assert "<container>@<account>" in err.value.fix



@pytest.mark.parametrize(("uri", "namespace", "name"), [
    ("xcom://Sales/split/return_value/fold#1", "xcom://Sales", "/split/return_value/fold#1"),
    ("xcom://sales/split/return_value/a?b=%41", "xcom://sales", "/split/return_value/a?b=%41"),
    ("XCOM://d/t/3/return_value", "xcom://d", "/t/3/return_value"),
])
def test_an_xcom_uri_names_the_dataset_the_airflow_plugin_wrote(uri: str, namespace: str, name: str) -> None:
    """An XCom value is named as written (the DAG id's case, a key's '#', '?' and '%'): a name given to a verb was
    parsed as a URI, so xcom://Sales/split/return_value/fold#1 also named .../fold of DAG 'sales'."""
    from prov_airflow.operators.pandera import xcom_dataset

    assert dataset_from_uri(uri) == (namespace, name)
    made = xcom_dataset("Sales", "split", parts=["fold#1"])
    assert dataset_from_uri(dataset_uri(made.namespace, made.name)) == (made.namespace, made.name)


@pytest.mark.parametrize(("uri", "namespace"), [("kafka://broker-1/orders", "kafka://broker-1"),
                                                ("kafka://broker-1:9092/orders", "kafka://broker-1:9092"),
                                                ("kafka://broker-1/orders/", "kafka://broker-1"),
                                                ("kafka://b1:9092,b2:9092/orders", "kafka://b1:9092,b2:9092"),
                                                ("kafka://Broker-1:9092/orders", "kafka://Broker-1:9092"),
                                                ("kafka://app:pw@broker-1:9092/orders", "kafka://broker-1:9092"),
                                                ("kafka+ssl://broker-1:9092/orders", "kafka://broker-1:9092")])
def test_a_kafka_topic_is_its_name_with_or_without_a_port(uri: str, namespace: str) -> None:
    """``kafka://h/t`` was ("kafka://h", "/t") while ``kafka://h:9092/t`` was ("kafka://h:9092", "t"): the spec's name
    is the topic, as the Kafka provider's Asset converter gives it for both forms, its namespace the bootstrap servers
    as written (several were refused as a port that is no number, and a capital was made small), with no user; a
    scheme with a '+' suffix is the scheme before it, as for databases (kafka+ssl://h:9092/t was named ("kafka://h:9092",
    "/t"))."""
    assert dataset_from_uri(uri) == (namespace, "orders")
    assert dataset_from_uri(dataset_uri(namespace, "orders")) == (namespace, "orders")


@pytest.mark.parametrize("uri", ["kafka://broker-1:9092/", "kafka://broker-1"])
def test_a_kafka_uri_without_a_topic_is_refused(uri: str) -> None:
    with pytest.raises(BadInputError, match="needs a bootstrap server and a topic") as err:
        dataset_from_uri(uri)
    assert "kafka://<bootstrap server>/<topic>" in err.value.fix


@pytest.mark.parametrize(("uri", "server", "why"), [
    ("kafka://h:abc/t", "'h:abc'", "Port could not be cast to integer value as 'abc'"),
    ("kafka://b1:9092,b2:x/t", "'b2:x'", "Port could not be cast to integer value as 'x'"),
    ("kafka://h:99999/t", "'h:99999'", "Port out of range 0-65535"),
    ("kafka://,/t", "''", "no host"),
    ("kafka://b1:9092,,b2/t", "''", "no host"),
    ("kafka://:9092/t", "':9092'", "no host"),
    ("kafka://h:/t", "'h:'", "an empty port")])
def test_a_kafka_server_that_is_not_host_and_port_is_refused_naming_the_form(uri: str, server: str, why: str) -> None:
    """``kafka://h:abc/t`` was named ("kafka://h:abc", "t") and ``kafka://,/t`` ("kafka://,", "t"), where any other
    scheme refuses a port that is no number: each bootstrap server is read as host[:port]."""
    with pytest.raises(BadInputError) as err:
        dataset_from_uri(uri)
    assert str(err.value) == (f"dataset URI {uri!r} names the bootstrap server {server}, which is not host[:port] ({why}). "
                              "Fix: write it as kafka://<bootstrap server>[:port]/<topic>, several servers as "
                              "kafka://b1:9092,b2:9092/<topic>")


@pytest.mark.parametrize(("uri", "server", "fix"), [
    ("postgres://h:/db/s/t", "h:", "postgres://<host>[:port]/<database>/<schema>/<table>"),
    ("postgresql://u:pw@h:/db/s/t", "h:", "postgres://<host>[:port]/<database>/<schema>/<table>"),
    ("mysql://h:/db/t", "h:", "mysql://<host>[:port]/<database>/<table>"),
    ("trino://[::1]:/c/s/t", "[::1]:", "trino://<host>[:port]/<database>/<schema>/<table>"),
    ("redshift://wh.eu-west-1:/dev/public/sales", "wh.eu-west-1:", "redshift://<host>[:port]/<database>/<schema>/<table>"),
    ("mssql://h:/db/s/t", "h:", "sqlserver://<host>[:port]/<database>/<schema>/<table>"),
    ("oracle://h:/db/s/t", "h:", "oracle://<host>[:port]/<database>/<schema>/<table>"),
    ("snowflake://xy12345:/db/s/t", "xy12345:", "snowflake://<host>[:port]/<database>/<schema>/<table>"),
    ("cassandra://c:/ks/t", "c:", "cassandra://<host>[:port]/<keyspace>/<table>"),
    ("postgres://h:", "h:", "postgres://<host>[:port]/<database>/<schema>/<table>"),
    ("azurekusto://k.kusto.windows.net:/db/t", "k.kusto.windows.net:", "azurekusto://<host>/<database>/<table>")])
def test_a_database_server_with_an_empty_port_is_refused_naming_the_form(uri: str, server: str, fix: str) -> None:
    """``postgres://h:/db/s/t`` (a colon, no port) was named as ``postgres://h:5432``, the scheme's default port, where
    ``kafka://h:/t`` is refused: every database scheme refuses it alike, naming the server and the form of a table's URI."""
    with pytest.raises(BadInputError) as err:
        dataset_from_uri(uri)
    assert (err.value.what, err.value.fix) == (
        f"dataset URI {uri.replace(':pw@', ':***@')!r} names the server {server!r}, which is not host[:port] (an empty port)",
        f"write it as {fix}")


@pytest.mark.parametrize(("uri", "fix"), [("trino://tr", "trino://<host>[:port]/<database>/<schema>/<table>"),
                                         ("postgres://db:5432/", "postgres://<host>[:port]/<database>/<schema>/<table>"),
                                         ("redshift://wh.eu-west-1", "redshift://<host>[:port]/<database>/<schema>/<table>"),
                                         ("mysql://db//", "mysql://<host>[:port]/<database>/<table>"),
                                         ("sqlserver://db", "sqlserver://<host>[:port]/<database>/<schema>/<table>"),
                                         ("awsathena://athena.r.amazonaws.com",
                                          "awsathena://<host>[:port]/<catalog>/<database>/<table>"),
                                         ("cassandra://c:9042", "cassandra://<host>[:port]/<keyspace>/<table>")])
def test_a_database_uri_without_a_table_is_refused(uri: str, fix: str) -> None:
    """A database URI naming no table was a dataset of an empty name (trino://tr was ("trino://tr:8080", "")), which an
    event then refuses as a whole; it is refused itself, naming the URI and the form of a table's."""
    with pytest.raises(BadInputError) as err:
        dataset_from_uri(uri)
    assert (err.value.what, err.value.fix) == (f"dataset URI {uri!r} names no table", f"write it as {fix}")


@pytest.mark.parametrize("uri", ["redshift://wh.eu-west-1/dev/public/sales", "redshift://wh.eu-west-1:5440/dev/public/sales",
                                 "s3://my-bucket/raw/x.parquet", "s3://LegacyBucket/Raw/x.parquet"])
def test_an_asset_uri_is_named_as_the_airflow_provider_names_it(uri: str) -> None:
    """The OpenLineage Airflow provider names an Asset through its provider's converter, from the URI Airflow
    normalised (Redshift's port 5439 added); tdprov names the URI as written alike (it gave ``redshift://wh.eu-west-1``,
    and lower-cased a bucket, which S3 reads as written)."""
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset

    converted = translate_airflow_asset(Asset(uri), None)
    assert dataset_from_uri(uri) == (converted.namespace, converted.name)



@pytest.mark.parametrize("url", [
    "sftp://etl@files.example:2222/corpus/part-0.csv", "ftp://mirror.example/pub/x.csv", "http://h.example/data/x.csv",
    "https://u:pw@h.example:8443/data/a%20b.csv?sig=c2VjcmV0", "webhdfs://nn:9870/corpus/x.csv",
    "abfss://raw@lake01.dfs.core.windows.net/events/x.parquet", "abfs://raw@lake01.dfs.core.windows.net/x.csv",
    "wasbs://models@blob01.blob.core.windows.net/m/model.pkl", "wasb://models@blob01.blob.core.windows.net/m.pkl",
    "gcs://g-bucket/dir/f.jsonl", "gs://g-bucket/dir/f.jsonl",
    "az://raw/events/x.parquet", "adl://lake01.azuredatalakestore.net/events/x.csv",
    "dbfs://adb-1.azuredatabricks.net/mnt/raw/x.csv", "ftps://etl@mirror.example:990/pub/x.csv",
])
def test_a_file_url_the_airflow_provider_names_is_named_as_tdprov_names_its_url(url: str) -> None:
    """The OpenLineage Airflow provider names a lineage ``File`` of a scheme but s3, gs, hdfs and file by the scheme
    alone and the rest of its URL, ``sftp://h/p`` as ``("sftp", "h/p")`` (user and port included), where tdprov and
    the OpenLineage naming spec (ABFSS, WASBS) name it ``("sftp://h", "/p")``: tdprov takes the provider's name as the
    name of that URL (credentials and query left out)."""
    from urllib.parse import urlsplit

    from airflow.providers.openlineage.extractors.manager import ExtractorManager

    from prov_common.lineage.naming import file_dataset

    theirs = ExtractorManager.convert_to_ol_dataset_from_object_storage_uri(url)
    if not url.startswith("g"):  # the form renamed, as the provider writes it
        assert (theirs.namespace, theirs.name) == (urlsplit(url).scheme, url.partition("://")[2].partition("?")[0])
    assert file_dataset(theirs.namespace, theirs.name) == dataset_from_uri(url)


@pytest.mark.parametrize(("namespace", "name"), [("bigquery", "proj.sales.orders"), ("pubsub", "topic:proj:events"),
                                                 ("sftp", "/no/host"), ("https", "[::1/p"), ("sftp://h", "/p")])
def test_a_namespace_without_a_host_the_provider_does_not_write_so_is_kept(namespace: str, name: str) -> None:
    """Only the schemes the provider names by the scheme alone are renamed; a spec's namespace without ``://``
    (BigQuery, Pub/Sub), a name that names no host, and tdprov's own name are kept as given."""
    from prov_common.lineage.naming import file_dataset

    assert file_dataset(namespace, name) == (namespace, name)


@pytest.mark.parametrize("uri", ["file://nas/share/corpus/", "hdfs://nn:8020/corpus/v3/", "sftp://h/corpus/",
                                 "abfss://c@acct.dfs.core.windows.net/corpus/v3/", "wasbs://c@acct.blob.core.windows.net/corpus/"])
def test_a_prefix_with_a_trailing_slash_is_the_dataset_its_airflow_asset_names(uri: str) -> None:
    """Airflow drops the trailing ``/`` of an Asset URI, so the listener and the provider name ``Asset(uri)`` without
    it; tdprov named the URI as written with it (``("file://nas", "/share/corpus/")``), so a prefix a Dagster step or
    'tdprov source add' named so was another dataset than the Airflow task's, as only ``s3://`` and ``gs://`` were not."""
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset

    asset = Asset(uri)
    assert dataset_from_uri(uri) == dataset_from_uri(asset.uri) == dataset_from_uri(uri.rstrip("/"))
    converted = translate_airflow_asset(asset, None)  # None where the provider is not installed here
    if uri.startswith("file:"):  # the common.io provider is
        assert (converted.namespace, converted.name) == dataset_from_uri(uri)


@pytest.mark.parametrize(("namespace", "name", "uri"), [
    ("redshift://wh.eu-west-1:5439", "dev.public.sales", "redshift://wh.eu-west-1:5439/dev/public/sales"),
    ("s3://my-bucket", "raw/x.parquet", "s3://my-bucket/raw/x.parquet"),
    ("file", "/data/a.csv", "file:///data/a.csv"),
    ("postgres://db:5432", "sales.public.orders", "postgres://db:5432/sales/public/orders"),
    ("mysql://db:3306", "shop.orders", "mysql://db:3306/shop/orders"),
    ("trino://tr:8080", "hive.web.clicks", "trino://tr:8080/hive/web/clicks"),
    ("bigquery", "my-proj.sales.Orders", "bigquery://my-proj/sales/Orders"),
    ("snowflake://myorg-acct1", "SALES.PUBLIC.ORDERS", "snowflake://myorg-acct1/SALES/PUBLIC/ORDERS"),
])
def test_the_uri_of_a_table_is_the_asset_uri_the_provider_names_alike(namespace: str, name: str, uri: str) -> None:
    """dataset_uri of a table joined its dotted name to the namespace (redshift://wh.eu-west-1:5439/dev.public.sales),
    which no Airflow Asset is: the Amazon provider refuses it (it needs database, schema and table as path parts). It
    is now the Asset's URI, which the provider's converter (where installed) names as tdprov does; tdprov names a
    BigQuery table as the Google provider's converter does, ("bigquery", "project.dataset.table"), not
    ("bigquery://project", "/dataset/table")."""
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset

    assert dataset_uri(namespace, name) == uri
    assert dataset_from_uri(uri) == (namespace, name)
    converted = translate_airflow_asset(Asset(uri), None)  # None where the provider is not installed here
    if uri.startswith(("redshift:", "s3:", "file:")):  # the Amazon and common.io providers are
        assert converted is not None and (converted.namespace, converted.name) == (namespace, name)


@pytest.mark.parametrize(("namespace", "name", "fix"), [
    ("bigquery", "p.d", "<project>.<dataset>.<table>"), ("bigquery", "p.d.t.x", "<project>.<dataset>.<table>"),
    ("bigquery", "p/d/t", "<project>.<dataset>.<table>"), ("airflow-asset", "features", "scheme://authority/path"),
    ("arn:aws:glue:eu-west-1:123456789012", "database/shop", "table/<database>/<table>"),
    ("pubsub", "p.events", "scheme://authority/path")])
def test_a_pair_whose_uri_would_read_as_a_local_file_has_none(namespace: str, name: str, fix: str) -> None:
    """A namespace without '://' was joined to its name with '/': ("bigquery", "p.d") was bigquery/p.d, which
    dataset_from_uri then read as the file <cwd>/bigquery/p.d. A BigQuery name that is not project.dataset.table is
    refused with that form, and so is any other such pair the spec does not write (its fix names the forms it does)."""
    with pytest.raises(BadInputError) as err:
        dataset_uri(namespace, name)
    assert fix in err.value.fix


@pytest.mark.parametrize(("uri", "namespace", "name"), [
    ("arn:aws:glue:eu-west-1:123456789012:table/shop/orders", "arn:aws:glue:eu-west-1:123456789012", "table/shop/orders"),
    ("pubsub:topic:my-proj:events", "pubsub", "topic:my-proj:events"),
    ("pubsub:subscription:my-proj:events-sub", "pubsub", "subscription:my-proj:events-sub")])
def test_the_spec_s_namespaces_without_a_scheme_are_read_back_never_as_files(uri: str, namespace: str, name: str) -> None:
    """An AWS Glue table (the spec's namespace arn:aws:glue:{region}:{account id}, name table/{database}/{table}) and a
    Pub/Sub topic (namespace pubsub) were given the URI namespace/name, which named a file in the working folder: the
    URI is their namespace:name, the table's ARN, which names the pair again."""
    assert dataset_uri(namespace, name) == uri
    assert dataset_from_uri(uri) == (namespace, name)


@pytest.mark.parametrize("uri", ["arn:aws:glue:eu-west-1:123456789012:database/shop", "arn:aws:glue:eu-west-1:table/shop/orders",
                                 "arn:aws:glue:eu-west-1:123456789012:table/shop/orders/x"])
def test_an_aws_glue_arn_of_no_table_is_refused(uri: str) -> None:
    with pytest.raises(BadInputError, match="is no AWS Glue table's ARN") as err:
        dataset_from_uri(uri)
    assert err.value.fix == "write it as arn:aws:glue:<region>:<account id>:table/<database>/<table>"


@pytest.mark.parametrize(("account", "named"), [("xy12345", "xy12345.us-west-1.aws"), ("XY12345.us-east-2", "xy12345.us-east-2.aws"),
                                               ("xy12345.east-us-2.azure", "xy12345.east-us-2.azure"),
                                               ("myorg-acct1", "myorg-acct1"), ("MyOrg-My_Acct", "myorg-my_acct")])
def test_a_snowflake_account_is_named_as_the_snowflake_provider_names_it(account: str, named: str) -> None:
    """The Snowflake provider names the tables a task's queries touch in the namespace snowflake://<account> with a
    legacy account locator's region and cloud (fix_account_name: xy12345 is xy12345.us-west-1.aws) and an
    organization's account as written; tdprov named snowflake://xy12345/db/s/t snowflake://xy12345, so a table the
    provider recorded and one tdprov recorded were two datasets. OpenLineage's own fix_account_name agrees."""
    from openlineage.common.provider.snowflake import fix_account_name

    namespace, name = dataset_from_uri(f"snowflake://{account}/SALES/PUBLIC/ORDERS")
    assert (namespace, name) == (f"snowflake://{named}", "SALES.PUBLIC.ORDERS")
    assert named == fix_account_name(account.lower())
    assert dataset_from_uri(dataset_uri(namespace, name)) == (namespace, name)


@pytest.mark.parametrize(("uri", "namespace"), [("mssql://sql1/shop/dbo/orders", "sqlserver://sql1:1433"),
                                              ("sqlserver://sql1:1444/shop/dbo/orders", "sqlserver://sql1:1444"),
                                              ("oracle://ora1/ORCL/HR/EMP", "oracle://ora1:1521")])
def test_a_sql_server_or_oracle_uri_without_a_port_gets_the_port_their_providers_name(uri: str, namespace: str) -> None:
    """The MSSQL and Oracle providers name the tables a task's SQL touches with the engine's default port (1433, 1521)
    when the connection has none, and the spec's namespace has a port; tdprov named mssql://sql1/... sqlserver://sql1
    and oracle://ora1/... oracle://ora1, so a table a provider recorded and one tdprov recorded were two."""
    assert dataset_from_uri(uri)[0] == namespace


@pytest.mark.parametrize(("uri", "fix"), [("azurekusto://adx1.kusto.windows.net/telemetry", "<database>/<table>"),
                                         ("azurecosmos://acct1/dbs/shop/orders", "dbs/<database>/colls/<container>"),
                                         ("azurecosmos://acct1/db/shop/colls/orders", "dbs/<database>/colls/<container>")])
def test_an_azure_database_uri_that_names_no_table_is_refused(uri: str, fix: str) -> None:
    with pytest.raises(BadInputError, match="names no table") as err:
        dataset_from_uri(uri)
    assert err.value.fix.endswith(f"://<host>/{fix}")


def test_a_bucket_is_named_as_written_as_the_object_read() -> None:
    """The bucket ``LegacyBucket`` (a legacy S3 name) was named ``s3://legacybucket``, another bucket than the one
    hashed (``split_s3_uri`` reads it as written), and than the Amazon provider names."""
    from prov_common.hashing.remote import split_s3_uri

    uri = "s3://LegacyBucket/Raw/x.parquet"
    assert dataset_from_uri(uri) == (f"s3://{split_s3_uri(uri)[0]}", split_s3_uri(uri)[1]) == ("s3://LegacyBucket", "Raw/x.parquet")
    assert dataset_from_uri("s3a://LegacyBucket/Raw/") == ("s3://LegacyBucket", "Raw")
    assert dataset_from_uri(dataset_uri("s3://LegacyBucket", "Raw/x.parquet")) == ("s3://LegacyBucket", "Raw/x.parquet")


@pytest.mark.parametrize(("uri", "name"), [("dbfs:/mnt/raw/x.csv", "/mnt/raw/x.csv"), ("DBFS:/mnt/raw/", "/mnt/raw"),
                                           ("dbfs:/", "/")])
def test_a_databricks_file_without_a_workspace_is_named_as_the_airflow_provider_names_it(uri: str, name: str) -> None:
    """``dbfs:/mnt/x.csv``, the usual Databricks form, was named as the file ``<cwd>/dbfs:/mnt/x.csv`` in the working
    folder, where the OpenLineage Airflow provider names it ``("dbfs", "/mnt/x.csv")``: it is that pair (a folder
    without its '/'), whose URI names it again."""
    from airflow.providers.openlineage.extractors.manager import ExtractorManager

    assert dataset_from_uri(uri) == ("dbfs", name)
    assert dataset_from_uri(dataset_uri("dbfs", name)) == ("dbfs", name)
    if not uri.endswith("/"):
        theirs = ExtractorManager.convert_to_ol_dataset_from_object_storage_uri(uri)
        assert (theirs.namespace.lower(), theirs.name) == ("dbfs", name)


@pytest.mark.parametrize(("uri", "why", "fix"), [
    ("foo:/data/x.csv", "URI of the scheme 'foo' without '//'", "write the URI as foo://<authority>/<path>, "
                                                                 "a local file of that name as ./foo:/data/x.csv"),
    ("s3:/bucket/key.csv", "URI of the scheme 's3' without '//'", "write the URI as s3://<authority>/<path>"),
    ("hdfs:/corpus/x", "URI of the scheme 'hdfs' without '//'", "a local file of that name as ./hdfs:/corpus/x"),
    ("dbfs:mnt/x.csv", "DBFS path 'dbfs:mnt/x.csv' is not absolute", "write it as dbfs:/<path> (dbfs:/mnt/...), "
                                                                     "a local file of that name as ./dbfs:mnt/x.csv")])
def test_a_uri_without_slashes_of_another_scheme_is_refused_not_named_a_file(uri: str, why: str, fix: str) -> None:
    """Any other ``scheme:/path`` was the file ``<cwd>/scheme:/path``, most likely not what its writer meant (an
    ``s3:/b/k`` for ``s3://b/k``): it is refused naming the value, and the fix names both forms."""
    with pytest.raises(BadInputError) as err:
        dataset_from_uri(uri)
    assert why in str(err.value) and repr(uri) in str(err.value)
    assert fix in err.value.fix and "file:///<absolute path>" in err.value.fix
    with pytest.raises(BadInputError, match="has no URI"):
        dataset_uri(uri.partition(":")[0], uri.partition(":")[2] + "/")


@pytest.mark.parametrize("path", ["./a:b.csv", "a:b.csv", "run-10:30.csv", "file:x.csv", "./foo:/x.csv", "C:/x.csv",
                                  "data/dbfs:/x.csv"])
def test_a_relative_path_with_a_colon_is_still_a_local_file(path: str, tmp_path, monkeypatch) -> None:
    """A relative file whose name holds a colon, and a ``scheme:/path`` written ./scheme:/path, is the file there
    (as is a Windows drive's ``C:/``, a folder ``C:`` here, and any ``Path``)."""
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    expected = ("file", f"{tmp_path}/{path.removeprefix('./')}")
    assert dataset_from_uri(path) == expected
    assert dataset_from_uri(Path("foo:/x.csv")) == ("file", f"{tmp_path}/foo:/x.csv")
