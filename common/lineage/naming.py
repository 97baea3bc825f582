"""OpenLineage dataset and job names (the spec's naming conventions), via openlineage-python's naming classes."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePath
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, unquote, urlsplit

from prov_common.errors import BadInputError
from prov_common.hashing.remote import S3_NAMED_SCHEMES, s3_key
from prov_common.hashing.targets import local_target
from prov_common.file_uri import is_local_host, local_dataset, local_namespace, one_root, short_uri, split_uri  # noqa: F401 - local_namespace: part of the naming API
from prov_common.lineage.redact import redact_identity, redact_namespace

if TYPE_CHECKING:  # pragma: no cover
    from openlineage.client.naming.dataset import DatasetNaming

DEFAULT_JOB_NAMESPACE = "tdprov"
"""Job namespace used when none is given (the orchestrators pass their own, e.g. the Airflow instance)."""

# Object stores: namespace "<scheme>://<bucket>", name = object key (no leading slash).
_BUCKET_SCHEMES = {*S3_NAMED_SCHEMES, "gs", "gcs"}
# Azure storage: the container is the URI's user part (``abfss://<container>@<account>.dfs.core.windows.net/<path>``).
_AZURE_SCHEMES = {"abfss": "abfss", "abfs": "abfss", "wasbs": "wasbs", "wasb": "wasbs"}
IN_MEMORY_SCHEME = "inmemory"  # the spec's namespace "inmemory://" for data kept nowhere
XCOM_SCHEME = "xcom"  # an Airflow XCom value, as prov_airflow names it (xcom_dataset)
# Databases: name = "database.schema.table" (no leading slash); scheme aliases as the spec spells them.
_TABLE_SCHEMES = {"postgres", "mysql", "trino", "redshift", "sqlserver", "oracle", "db2", "hive", "teradata", "crate", "snowflake",
                  "awsathena", "cassandra"}
# What naming versions 3 and 4 joined to the name with '/' (joined_uri; frozen: bundles are verified by it)
_JOINED_SCHEMES = frozenset({"s3", "s3a", "s3n", "gs", "gcs",
                             "postgres", "mysql", "trino", "redshift", "sqlserver", "oracle", "db2", "hive", "teradata", "crate"})
_SCHEME_ALIASES = {"postgresql": "postgres", "mssql": "sqlserver", "mariadb": "mysql"}
# Databases: (openlineage-python naming class or None, default port, path segments its Asset URI takes; 0: none, the
# name is joined whole). The default port is the one Airflow's providers give an Asset URI without one (its normalised
# URI), or, for SQL Server and Oracle, the tables a task's SQL touches, so both name the table alike.
_TABLE_NAMINGS: dict[str, tuple[str | None, str | None, int]] = {
    "postgres": ("Postgres", "5432", 3),
    "mysql": ("MySQL", "3306", 2),
    "trino": ("Trino", "8080", 3),
    "redshift": (None, "5439", 3),  # the spec's "redshift://{cluster}.{region}:{port}" (no class takes a host)
    "hive": ("Hive", None, 2),
    "db2": ("DB2", None, 3),
    "oracle": ("Oracle", "1521", 3),
    "sqlserver": (None, "1433", 0),  # the spec's "sqlserver://{host}:{port}", the MSSQL provider's db.schema.table
    "teradata": ("Teradata", None, 2),
    "crate": ("CrateDB", None, 3),
    "snowflake": (None, None, 3),  # the spec's "snowflake://{account}" (the class takes an organization apart)
}
# The path segments a table's URI takes now (the counts above), and as naming version 5 wrote it (asset_uri; frozen:
# bundles are verified by it). A change to the counts above, or a scheme added, names tables otherwise: it needs a new
# naming version (prov_common.bundle.naming), and this copy stays as it is.
_TABLE_SEGMENTS = MappingProxyType({scheme: count for scheme, (_, _, count) in _TABLE_NAMINGS.items()})
_V5_TABLE_SEGMENTS = MappingProxyType({"postgres": 3, "mysql": 2, "trino": 3, "redshift": 3, "hive": 2, "db2": 3, "oracle": 3,
                                       "sqlserver": 0, "teradata": 2, "crate": 3, "snowflake": 3})
# The path a table's URI takes in the schemes whose name is its path's segments joined whole (count 0 above)
_JOINED_FORMS = {"sqlserver": "<database>/<schema>/<table>", "awsathena": "<catalog>/<database>/<table>",
                 "cassandra": "<keyspace>/<table>"}
BIGQUERY = "bigquery"  # the spec's namespace of every BigQuery table, named "{project}.{dataset}.{table}"
# Azure databases whose names the spec writes with '/': the path of a table's URI
_AZURE_DATABASES = {"azurekusto": "<database>/<table>", "azurecosmos": "dbs/<database>/colls/<container>"}
# A Snowflake account locator's region and cloud where its identifier leaves them out (Snowflake's first region)
_SNOWFLAKE_DEFAULTS = ("us-west-1", "aws")
# The spec's other namespaces without "://", each written with its name as one "namespace:name" URI: an AWS Glue table's
# ARN, arn:aws:glue:{region}:{account id}:table/{database}/{table}, and a Pub/Sub topic's or subscription's
GLUE_PREFIX = "arn:aws:glue:"
PUBSUB = "pubsub"
_PUBSUB_KINDS = ("topic", "subscription")
# The schemes the official Airflow OpenLineage provider names a lineage File of by the scheme alone and the rest of its
# URL (convert_to_ol_dataset_from_object_storage_uri: sftp://h/p is ("sftp", "h/p")), which file_dataset reads as that
# URL; a scheme is added here only with a test showing the provider's helper writes it so.
PROVIDER_URL_SCHEMES = frozenset({"sftp", "ftp", "ftps", "http", "https", "webhdfs", "abfs", "abfss", "wasb", "wasbs",
                                  "az", "adl", "dbfs"})


def _ol_naming() -> ModuleType:
    """openlineage-python's naming classes, loaded on first use: the ``openlineage.client`` package loads its whole
    client (HTTP transports and all), which turning a ``(namespace, name)`` back into a URI does not need."""
    from openlineage.client.naming import dataset

    return dataset


def dataset_from_uri(uri_or_path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(namespace, name)`` of a dataset at a path or URI, following the OpenLineage naming spec,
    with openlineage-python's naming classes wherever one fits.

    - local path, ``file:///p`` or ``file:/p`` (RFC 8089's short form): ``("file", "/abs/p")``; ``file://host/p``: ``("file://host", "/p")``;
      a relative path with a colon (``a:b.csv``, ``./foo:/x``) as any path, but a URI without ``//`` is no path:
      ``scheme:/path`` of a scheme but ``file`` and ``dbfs`` is refused (:func:`~prov_common.file_uri.short_uri`; a
      :class:`~pathlib.PurePath` is always a local path)
    - ``dbfs:/mnt/p`` (a Databricks file): ``("dbfs", "/mnt/p")``, as the Airflow OpenLineage provider names it;
      ``dbfs://workspace/p``: ``("dbfs://workspace", "/p")``, as the spec names it
    - ``s3://bucket/key``: ``("s3://bucket", "key")`` (also ``s3a``, ``s3n``, ``gs``, ``gcs``): bucket and key as
      written, ``%`` escapes included (the object store reads it so), and of an S3 object ``#`` and ``?`` too
      (``s3://b/eu#1.parquet`` is the object ``eu#1.parquet``; a trailing ``?versionId=<id>`` names a version
      of the object, not another one); a prefix ``s3://bucket/shards/`` is
      ``("s3://bucket", "shards")``, as a local folder and an Airflow ``Asset`` URI drop the ``/`` (a path of any
      other scheme too: ``hdfs://h:8020/shards/`` is ``("hdfs://h:8020", "/shards")``)
    - ``abfss://container@account.dfs.core.windows.net/path``:
      ``("abfss://container@account.dfs.core.windows.net", "path")``; ``wasbs://`` alike
    - ``hdfs://host:port/p``: ``("hdfs://host:port", "/p")``; ``kafka://host[:port]/topic``: ``("kafka://host[:port]", "topic")``, the servers as
      written (``kafka://b1:9092,b2:9092``)
    - ``postgres://host[:port]/db/schema/table``: ``("postgres://host:5432", "db.schema.table")``
      (MySQL, Trino, Redshift, Snowflake, Hive, DB2, Oracle, Teradata, CrateDB, SQL Server, Cassandra and Athena's
      ``awsathena://athena.<region>.amazonaws.com/catalog/db/table`` alike; Trino's port 8080, Redshift's 5439,
      SQL Server's 1433 and Oracle's 1521 when absent)
    - ``azurekusto://host/db/table``: ``("azurekusto://host", "db/table")``;
      ``azurecosmos://host/dbs/db/colls/c``: ``("azurecosmos://host/dbs/db", "colls/c")``
    - ``snowflake://account/db/schema/table``: ``("snowflake://<account>", "db.schema.table")``, a legacy account
      locator with its region and cloud (:func:`snowflake_account`: ``xy12345`` is ``xy12345.us-west-1.aws``)
    - ``bigquery://project/dataset/table``: ``("bigquery", "project.dataset.table")``
    - ``inmemory://name``: ``("inmemory://", "name")``
    - an AWS Glue table's ARN ``arn:aws:glue:<region>:<account>:table/<db>/<table>``:
      ``("arn:aws:glue:<region>:<account>", "table/<db>/<table>")``; ``pubsub:topic:<project>:<topic>``:
      ``("pubsub", "topic:<project>:<topic>")`` (``subscription:`` alike)
    - ``xcom://<dag_id>/<task_id>/<key>``: ``("xcom://<dag_id>", "/<task_id>/<key>")`` as written (an XCom value as
      the Airflow plugin names it: the DAG id keeps its case, a key its ``#``, ``?`` and ``%``)
    - any other ``scheme://authority/path``: ``("scheme://authority", "/path")``

    Credentials and query strings (but for an S3 key's) never enter the name (signed URLs keep a stable name).
    """
    if isinstance(uri_or_path, PurePath):
        return _local(str(uri_or_path))
    if "://" not in str(uri_or_path):  # a path, RFC 8089's short form file:/p (read as the file /p), or dbfs:/p
        return _schemeless(str(uri_or_path)) or _local(local_target(str(uri_or_path)))
    raw = str(uri_or_path)
    given, _, after = raw.partition("://")
    if given.lower() == XCOM_SCHEME:  # as the Airflow plugin names an XCom value: as written
        authority, _, rest = after.partition("/")
        return f"{XCOM_SCHEME}://{authority}", "/" + rest
    text = redact_identity(raw)
    if given.lower().split("+", 1)[0] == "kafka":  # before the port is read: a list of servers has several
        return _kafka(text)
    parts = split_uri(text)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    scheme = _SCHEME_ALIASES.get(scheme.split("+", 1)[0], scheme.split("+", 1)[0])
    path = unquote(parts.path).rstrip("/") or parts.path[:1]  # a folder without its "/", as Airflow keeps an Asset URI
    if scheme == "file":
        if is_local_host(host):
            return _local(path)
        return _pair(_ol_naming().RemoteFileSystem(host=host, path=path))
    if scheme in _BUCKET_SCHEMES:  # bucket and key as written (an object store takes them literally), a prefix without its '/'
        bucket = _bucket(parts)
        if scheme in S3_NAMED_SCHEMES:  # S3 has no fragments nor queries: '#' and '?' are part of the key
            return _pair(_ol_naming().S3(bucket_name=bucket, object_key=_key(text, scheme, bucket, s3_key(text).rstrip("/"), "bucket")))
        return _pair(_ol_naming().GCS(bucket_name=bucket, object_key=_key(text, scheme, bucket, parts.path.rstrip("/"), "bucket")))
    if scheme in _AZURE_SCHEMES:
        return _azure(_AZURE_SCHEMES[scheme], urlsplit(raw), text, path)
    if scheme == IN_MEMORY_SCHEME:
        return f"{IN_MEMORY_SCHEME}://", f"{host}{path}".strip("/")
    if scheme == BIGQUERY and host and len(table := path.strip("/").split("/")) == 2 and all(table):
        return _pair(_ol_naming().BigQuery(host, *table))  # as the Google provider's Asset converter names it
    if not host:
        raise BadInputError(f"dataset URI {text!r} has no host", fix="write it as scheme://host[:port]/path")
    port = None if parts.port is None else str(parts.port)
    authority = host if port is None else f"{host}:{port}"
    if scheme in _AZURE_DATABASES:
        _server(text, parts.netloc.rpartition("@")[2], "server", f"write it as {scheme}://<host>/{_AZURE_DATABASES[scheme]}")
        return _azure_database(scheme, text, authority, path)
    if scheme == "hdfs" and port is not None and path:
        return _pair(_ol_naming().HDFS(namenode_host=host, namenode_port=port, path=path))
    if scheme in _TABLE_SCHEMES:
        segments = [s for s in path.split("/") if s]
        naming, default_port, count = _TABLE_NAMINGS.get(scheme, (None, None, 0))
        table = _JOINED_FORMS.get(scheme) or ("<database>/<schema>/<table>" if count == 3 else "<database>/<table>")
        _server(text, parts.netloc.rpartition("@")[2], "server", f"write it as {scheme}://<host>[:port]/{table}")
        if not segments:  # a database server, no table: its name would be empty
            raise BadInputError(f"dataset URI {text!r} names no table", fix=f"write it as {scheme}://<host>[:port]/{table}")
        port = port or default_port
        if scheme == "snowflake":
            host = snowflake_account(host)
        if naming is not None and len(segments) == count and port:
            return _pair(getattr(_ol_naming(), naming)(host, port, *segments))
        return f"{scheme}://{host}" + (f":{port}" if port else ""), ".".join(segments)
    return f"{scheme}://{authority}", path or "/"


def _schemeless(text: str) -> tuple[str, str] | None:
    """``(namespace, name)`` of a URI of a namespace the spec writes without ``://`` (an AWS Glue table's ARN, a
    Pub/Sub topic or subscription) or a Databricks file (``dbfs:/mnt/p``, a folder without its ``/``), ``None`` for
    anything else (a path); any other ``scheme:/path`` is refused (:func:`~prov_common.file_uri.short_uri`)."""
    short = short_uri(text)
    if short is not None:
        return short[0], short[1].rstrip("/") or "/"
    if text.startswith(GLUE_PREFIX):
        region, account, resource = (text[len(GLUE_PREFIX):].split(":", 2) + ["", ""])[:3]
        kind, _, table = resource.partition("/")
        database, _, table = table.partition("/")
        if not (region and account and kind == "table" and database and table) or "/" in table:
            raise BadInputError(f"{text!r} is no AWS Glue table's ARN",
                                fix="write it as arn:aws:glue:<region>:<account id>:table/<database>/<table>")
        return _pair(_ol_naming().AWSGlue(region, account, database, table))
    kind, _, rest = text.partition(":")[2].partition(":")
    if text.startswith(f"{PUBSUB}:") and kind in _PUBSUB_KINDS:
        project, _, resource = rest.partition(":")
        if not project or not resource:
            raise BadInputError(f"{text!r} names no Pub/Sub {kind}",
                                fix=f"write it as {PUBSUB}:{kind}:<project>:<{kind} id>")
        naming = _ol_naming()
        return _pair(naming.PubSubNaming(naming.PubSubResourceType(kind), project, resource))
    return None


def snowflake_account(account: str) -> str:
    """A Snowflake account identifier as the namespace ``snowflake://{account}`` holds it, as the Snowflake provider
    names the account of the tables its queries touch (``fix_account_name``): a legacy account locator with its region
    and cloud, ``xy12345`` as ``xy12345.us-west-1.aws`` (Snowflake's default region), ``xy12345.us-east-2`` as
    ``xy12345.us-east-2.aws`` (AWS when no cloud is named), ``xy12345.east-us-2.azure`` as written (parts after the
    cloud left out); an organization's account, ``myorg-acct1`` (the spec's ``{organization name}-{account name}``), as
    written."""
    locator, *where = account.split(".")
    if not locator or "-" in locator or "_" in locator:
        return account
    region, cloud = (*where, *_SNOWFLAKE_DEFAULTS[len(where):])[:2]
    return f"{locator}.{region}.{cloud}"


def _azure_database(scheme: str, text: str, authority: str, path: str) -> tuple[str, str]:
    """``(namespace, name)`` of an Azure Data Explorer table (``azurekusto://<host>/<database>/<table>``: the spec's
    ``("azurekusto://<host>", "<database>/<table>")``) or Cosmos DB container
    (``azurecosmos://<host>/dbs/<database>/colls/<container>``: ``("azurecosmos://<host>/dbs/<database>", "colls/<container>")``)."""
    form = _AZURE_DATABASES[scheme]
    parts, segments = path.strip("/").split("/"), form.split("/")
    if len(parts) != len(segments) or any(not p or (f[0] != "<" and p != f) for p, f in zip(parts, segments)):
        raise BadInputError(f"dataset URI {text!r} names no table", fix=f"write it as {scheme}://<host>/{form}")
    if scheme == "azurecosmos":
        return f"{scheme}://{authority}/dbs/{parts[1]}", f"colls/{parts[3]}"
    return f"{scheme}://{authority}", "/".join(parts)


def _kafka(text: str) -> tuple[str, str]:
    """``(namespace, name)`` of a Kafka topic URI as the Kafka provider's Asset converter names it: the bootstrap
    servers as written (their case, a port or none, several as ``b1:9092,b2:9092``) without user information, and the
    topic (the spec's ``kafka://{host}:{port}`` / ``{topic}`` for one server with a port)."""
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise BadInputError(f"{text!r} cannot be read as a URI ({exc})",
                            fix="write it as kafka://<bootstrap server>[:port]/<topic>") from None
    servers = parts.netloc.rpartition("@")[2]
    for server in servers.split(",") if servers else ():
        _server(text, server, "bootstrap server",
                "write it as kafka://<bootstrap server>[:port]/<topic>, several servers as kafka://b1:9092,b2:9092/<topic>")
    return f"kafka://{servers}", _key(text, "kafka", servers, unquote(parts.path).strip("/"), "bootstrap server", "topic")


def _server(text: str, server: str, what: str, fix: str) -> None:
    """Refuse the server ``server`` (``what``: a Kafka bootstrap server, a database's) of the URI ``text`` that is not
    ``host[:port]``: no host, a port that is no number, or an empty one (``h:``), which would name another dataset than
    ``h`` (a Kafka server is kept as written) or the one of the scheme's default port (a database's), while RFC 3986
    reads it as ``h``: the writer is asked which it meant. ``fix``: the form of the scheme's URIs."""
    try:
        parts = urlsplit(f"kafka://{server}")
        why = "" if parts.hostname else "no host"
        if parts.port is None and server.endswith(":"):
            why = "an empty port"
    except ValueError as exc:
        why = str(exc)
    if why:
        raise BadInputError(f"dataset URI {text!r} names the {what} {server!r}, which is not host[:port] ({why})", fix=fix)


def file_dataset(namespace: str, name: str) -> tuple[str, str]:
    """``(namespace, name)`` of a file a producer named ``(namespace, name)``, as tdprov names it: namespace ``""``
    (the official Airflow provider's name for a lineage ``File`` given by path) with the path as the name, and a
    ``file://[host]`` namespace with a name that has lost its leading ``/`` (the provider's ``("file://", "abs/p")``
    for a ``File`` given by ``file:///abs/p``: the path of the URL, ``%`` escapes and all), and so an
    ``hdfs://host:port`` namespace (the provider's ``("hdfs://nn:8020", "p")`` for a ``File`` given by
    ``hdfs://nn:8020/p``, where the OpenLineage naming spec writes the path ``/p``), and a namespace of one of
    :data:`PROVIDER_URL_SCHEMES` alone with the rest of the URL as the name (the provider's ``("sftp", "user@h/p")``
    for ``sftp://user@h/p``, ``("abfss", "c@acct.dfs.core.windows.net/p")`` for an ABFSS path), as
    :func:`dataset_from_uri` names that path or URL (``("sftp://h", "/p")``; ABFSS and WASBS as the spec names them);
    any other local file as :func:`~prov_common.file_uri.local_dataset` names it (``("file://localhost", "/p")`` is
    ``("file", "/p")``). Anything else (a spec's namespace without ``://``, such as ``bigquery``), or a name that names
    no file, is returned as given."""
    if namespace == "":
        uri = name
    elif namespace.lower().startswith(("file://", "hdfs://")) and not name.startswith("/"):
        uri = f"{namespace}/{name}"
    elif namespace in PROVIDER_URL_SCHEMES and not name.startswith("/"):
        uri = f"{namespace}://{name}"
    else:
        return local_dataset(namespace, name)
    try:
        return dataset_from_uri(uri)
    except ValueError:  # BadInputError, or a URL no parser reads ('file://[::1/p')
        return namespace, name


def _pair(naming: DatasetNaming) -> tuple[str, str]:
    return naming.get_namespace(), naming.get_name()


def _bucket(parts: SplitResult) -> str:
    """The bucket of an object store URI in the case it is written (S3 reads ``MyBucket``, a legacy bucket name, as
    written, and so does the Amazon provider's Asset converter; a host name's case is no part of it)."""
    authority = parts.netloc.rpartition("@")[2]
    return authority.rpartition(":")[0] if ":" in authority else authority


def _key(text: str, scheme: str, host: str, path: str, holder: str, item: str = "object key") -> str:
    key = path.lstrip("/")
    if not host or not key:
        raise BadInputError(
            f"dataset URI {text!r} needs a {holder} and {'an' if item[0] in 'aeiou' else 'a'} {item}",
            fix=f"write it as {scheme}://<{holder}>/<{item.split()[-1]}>",
        )
    return key


def _azure(scheme: str, parts: SplitResult, text: str, path: str) -> tuple[str, str]:
    """ABFSS / WASBS: the container is the user part of the URI, the service the first label of the host."""
    container, host = parts.username or "", parts.hostname or ""
    key = path.lstrip("/")
    if not container or not host or not key:
        raise BadInputError(
            f"dataset URI {text!r} needs a container, a storage account and a path",
            fix=f"write it as {scheme}://<container>@<account>.dfs.core.windows.net/<path>",
        )
    service = host.split(".", 1)[0]
    if scheme == "abfss":
        return _pair(_ol_naming().ABFSS(container=container, service=service, path=key))
    return _pair(_ol_naming().WASBS(container=container, service_name=service, object_key=key))


def clean_namespace(namespace: str) -> str:
    """``namespace`` without any user information (``scheme://user:pw@host`` -> ``scheme://host``);
    an Azure container (``abfss://container@account...``) is part of the name and stays."""
    return redact_namespace(namespace)


def dataset_uri(namespace: str, name: str) -> str:
    """The URI that a (namespace, name) pair stands for (inverse of :func:`dataset_from_uri`): a table's as an Airflow
    Asset spells it, ``redshift://c.r:5439/db/s/t`` for ``("redshift://c.r:5439", "db.s.t")`` and ``bigquery://p/d/t``
    for ``("bigquery", "p.d.t")``, so that the providers' Asset converters name it ``(namespace, name)`` again; a
    table name of another number of parts, or with a part a URI path would read otherwise, as :func:`joined_uri`.

    A namespace without ``://`` but ``file`` (and the empty one, a producer's file by path) is written
    ``namespace:name`` where :func:`dataset_from_uri` reads that back as the pair (an AWS Glue table's ARN, a Pub/Sub
    topic, a Databricks file ``dbfs:/mnt/p``); any other such pair, a BigQuery name that is not
    ``project.dataset.table`` among them, is refused: its URI would be read as a file in the working folder, or
    refused."""
    if namespace and namespace != "file" and "://" not in namespace:
        return _schemeless_uri(namespace, name)
    return _table_uri(namespace, name, _TABLE_SEGMENTS) or joined_uri(namespace, name)


def asset_uri(namespace: str, name: str) -> str:
    """The URI of (namespace, name) as naming version 5 wrote every dataset's (frozen: bundles are verified by it): a
    table's as its Asset URI (:func:`dataset_uri`, with the path segments of version 5's tables), anything else as
    :func:`joined_uri`, a namespace without ``://`` too (``bigquery/p.d``, which reads as a local file)."""
    return _table_uri(namespace, name, _V5_TABLE_SEGMENTS) or joined_uri(namespace, name)


def _schemeless_uri(namespace: str, name: str) -> str:
    """:func:`dataset_uri` of a namespace without ``://``: ``bigquery://p/d/t`` or ``namespace:name``, or refused."""
    if namespace == BIGQUERY:
        table = _table_uri(namespace, name, _TABLE_SEGMENTS)
        if table is None:
            raise BadInputError(f"BigQuery table name {name!r} is not <project>.<dataset>.<table>",
                                fix='name a BigQuery table ("bigquery", "<project>.<dataset>.<table>"), its URI '
                                    "bigquery://<project>/<dataset>/<table>")
        return table
    uri = f"{namespace}:{name}"
    try:
        read = _schemeless(uri)
    except BadInputError:  # foo:/x, read as no dataset
        read = None
    if read != (namespace, name):
        raise BadInputError(
            f"dataset ({namespace!r}, {name!r}) has no URI: its namespace has no '://' and is none the OpenLineage "
            "naming spec writes so (a URI of it would be read as a file in the working folder)",
            fix="name the dataset by a URI (scheme://authority/path), or as the spec names an AWS Glue table "
                '("arn:aws:glue:<region>:<account id>", "table/<database>/<table>") or a Pub/Sub topic '
                '("pubsub", "topic:<project>:<topic id>")')
    return uri


def _table_uri(namespace: str, name: str, segments: Mapping[str, int]) -> str | None:
    """``scheme://authority/part/part[/part]`` of a table named by as many dotted parts as its scheme's URI has path
    segments (``segments``: scheme -> count, 0 or none: not a table's URI); None for another dataset."""
    if namespace == BIGQUERY:
        authority, count = f"{BIGQUERY}:/", 3  # the project is the URI's host
    elif "://" in namespace:
        authority, count = namespace.rstrip("/"), segments.get(namespace.partition("://")[0], 0)
    else:
        return None
    parts = name.split(".")
    if len(parts) != count or not all(parts) or any(c in name for c in "/?#%"):
        return None
    return f"{authority}/{'/'.join(parts)}"


def joined_uri(namespace: str, name: str) -> str:
    """The URI of (namespace, name) as naming versions 3 and 4 wrote every dataset's (a table's as
    ``namespace/db.schema.table``); :func:`dataset_uri` writes a table's as its Asset URI."""
    if namespace == "file":
        return Path(name).as_uri()
    if namespace.endswith("://"):  # no authority (the spec's "inmemory://")
        return namespace + name.lstrip("/")
    scheme = namespace.split("://", 1)[0]
    if scheme in _JOINED_SCHEMES or not name.startswith("/"):
        return f"{namespace.rstrip('/')}/{name.lstrip('/')}"
    return f"{namespace}{name}"


def _local(path: str) -> tuple[str, str]:
    if not path:
        raise BadInputError("dataset path is empty", fix="pass the path or URI of the dataset")
    naming = _ol_naming().LocalFileSystem(path=Path(opened_path(path)).as_posix())
    return naming.get_namespace(), naming.get_name()


def opened_path(path: str) -> str:
    """The absolute path of the file the OS opens for ``path``, as a local dataset is named.

    That is ``os.path.abspath(path)`` (``.``, ``//`` and ``..`` removed as written, a leading ``//`` too:
    :func:`~prov_common.file_uri.one_root`), but where a ``..`` follows a symbolic link: the OS takes ``lnk/..`` as the
    parent of the link's target, not the folder holding ``lnk``. Then the part up to the last ``..`` is resolved as the
    OS does (``os.path.realpath``) and the rest kept as written, so the name is the file whose bytes are hashed. Symbolic links are otherwise kept as written (``lnk/x.csv`` stays).
    """
    lexical = one_root(os.path.abspath(path))
    segments = path.split("/")
    if ".." not in segments:
        return lexical
    last = len(segments) - segments[::-1].index("..")
    head = "/".join(segments[:last]) or "/"
    opened = os.path.realpath(head)
    if opened == os.path.realpath(os.path.abspath(head)):  # the lexical form is the file opened: named as written
        return lexical
    return os.path.normpath(os.path.join(opened, *segments[last:]))
