"""Dataset names in bundle statements, by naming version (no I/O).

A statement names each input and output dataset by its URI (OpenLineage naming). The naming version
that wrote a bundle is recorded in its manifest (``datasetNaming``), so verification re-derives the
statement of an older bundle with the naming it was written with, whatever the naming is today.
Whenever :func:`prov_common.lineage.naming.dataset_uri` would name a dataset otherwise, freeze the
current rules here under their version and give the new rules a new version.

From version 4 on, each dataset in the statement also carries its OpenLineage ``(namespace, name)`` as
in-toto ``annotations``: URIs are labels, and two datasets can have one (``inmemory://`` + ``x`` and
``inmemory://`` + ``/x`` are both ``inmemory://x``); the annotations tell them apart.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prov_common.errors import BadInputError

NAMING_V1 = "tdprov-naming/1"
NAMING_V2 = "tdprov-naming/2"
NAMING_V3 = "tdprov-naming/3"
NAMING_V4 = "tdprov-naming/4"
NAMING_V5 = "tdprov-naming/5"
NAMING_V6 = "tdprov-naming/6"
DATASET_NAMING = NAMING_V6  # what new bundles record
UNRECORDED_NAMINGS = (NAMING_V1, NAMING_V2)  # manifests without "datasetNaming" were named by one of these
# namings whose statements annotate each dataset with its (namespace, name)
ANNOTATED_NAMINGS = frozenset({NAMING_V4, NAMING_V5, NAMING_V6})

_JOINED = {"s3", "s3a", "s3n", "gs", "gcs",
           "postgres", "mysql", "trino", "redshift", "sqlserver", "oracle", "db2", "hive", "teradata", "crate"}


def _v1(namespace: str, name: str) -> str:
    """Version 1: only bucket and table schemes join with '/'; any other namespace is followed by the name."""
    if namespace == "file":
        return Path(name).as_uri()
    return f"{namespace}/{name.lstrip('/')}" if namespace.split("://", 1)[0] in _JOINED else f"{namespace}{name}"


def _v2(namespace: str, name: str) -> str:
    """Version 2: also a name without a leading '/' joins with '/' (after the namespace's trailing '/'s,
    so ``inmemory://`` + ``x`` gave ``inmemory:/x``)."""
    if namespace == "file":
        return Path(name).as_uri()
    if namespace.split("://", 1)[0] in _JOINED or not name.startswith("/"):
        return f"{namespace.rstrip('/')}/{name.lstrip('/')}"
    return f"{namespace}{name}"


def _v3(namespace: str, name: str) -> str:
    """Versions 3 and 4: :func:`~prov_common.lineage.naming.joined_uri` (a namespace with an empty authority,
    ``inmemory://``, is followed by the name: ``inmemory://x``; a table as ``postgres://h:5432/db.schema.table``)."""
    from prov_common.lineage.naming import joined_uri  # imported on use: the lineage package loads pandas

    return joined_uri(namespace, name)


def _v5(namespace: str, name: str) -> str:
    """Version 5: :func:`~prov_common.lineage.naming.asset_uri`, a table as Airflow's Asset URI spells it
    (``postgres://h:5432/db/schema/table``, ``bigquery://project/dataset/table``), else as version 3 (a namespace
    without ``://`` too: ``bigquery`` + ``p.d`` as ``bigquery/p.d``)."""
    from prov_common.lineage.naming import asset_uri

    return asset_uri(namespace, name)


def _v6(namespace: str, name: str) -> str:
    """Version 6 (current): :func:`~prov_common.lineage.naming.dataset_uri`, as version 5 but for a namespace without
    ``://`` other than ``file``: ``namespace:name`` (an AWS Glue table's ARN; a pair that has no URI, e.g. ``bigquery``
    + ``p.d``, falls back to that form in :func:`dataset_name`)."""
    from prov_common.lineage.naming import dataset_uri

    return dataset_uri(namespace, name)


NAMINGS: dict[str, Callable[[str, str], str]] = {NAMING_V1: _v1, NAMING_V2: _v2, NAMING_V3: _v3, NAMING_V4: _v3, NAMING_V5: _v5,
                                                NAMING_V6: _v6}


def dataset_name(namespace: str, name: str, naming: str = DATASET_NAMING) -> str:
    """The URI of a dataset under ``naming`` (``namespace:name`` when it has none, e.g. a relative file path)."""
    rule = NAMINGS.get(naming)
    if rule is None:
        raise BadInputError(f"dataset naming {naming!r} is not known to this version of tdprov ({', '.join(NAMINGS)}).",
                            fix="verify the bundle with the tdprov version that wrote it, or a newer one")
    try:
        return rule(namespace, name)
    except ValueError:
        return f"{namespace}:{name}"


def dataset_annotations(namespace: str, name: str, naming: str = DATASET_NAMING) -> dict[str, str]:
    """The in-toto ``annotations`` that identify a dataset in a statement named by ``naming``: ``{"namespace",
    "name"}`` (OpenLineage) from version 4 on, which no two datasets share; ``{}`` before."""
    return {"namespace": namespace, "name": name} if naming in ANNOTATED_NAMINGS else {}


def dataset_shown(namespace: str, name: str) -> str:
    """A dataset as ``tdprov runs`` and ``tdprov show`` print it: its URI (:func:`dataset_name`), or, where that
    URI is another dataset's location, ``NAMESPACE::NAME`` (:func:`~prov_common.w3cprov.identity.dataset_label`)."""
    from prov_common.w3cprov.identity import dataset_label, spelled_apart

    return dataset_label(namespace, name) if spelled_apart(namespace) else dataset_name(namespace, name)


def namings_of(recorded: str | None) -> tuple[str, ...]:
    """The naming versions a manifest's statement may have been written with."""
    return (recorded,) if recorded is not None else UNRECORDED_NAMINGS
