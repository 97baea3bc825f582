"""Typed config shared by the IO manager and the resource: the same settings as ``TDPROV_*``."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from dagster import Config
from pydantic import Field, field_validator

from prov_common.config import Settings, unset
from prov_common.errors import BadInputError
from prov_common.hashing.shard_engine import ENV, check_scheduler
from prov_common.quality.mask_key import check_mask_key
from prov_common.signing.keyfiles import KEY_VARIABLE
from prov_common.store.errors import STORE_VARIABLE
from prov_common.store.location import parse_location
from prov_common.store.outbox import default_spool_dir
from prov_dagster.naming import DEFAULT_NAMESPACE, namespace_uri
from prov_dagster.storage import DataLocation, default_data_root


class ProvenanceConfig(Config):
    """Where provenance and data go. Every field is optional: unset fields, and empty ones (``""``), come from
    ``TDPROV_*``."""

    store: str | None = Field(
        default=None, description="Provenance store: a folder or s3://bucket/prefix (default $TDPROV_STORE or ./.tdprov)."
    )
    data_root: str | None = Field(
        default=None,
        description="Where asset data is written as Parquet: a folder or s3://bucket/prefix (default: next to the store, '<store>-data').",
    )
    namespace: str = Field(
        default="default",
        description="Job namespace and namespace of the asset-key symlinks: 'dagster://<namespace>'. One per deployment.",
    )
    signing_key: str | None = Field(default=None, description="Ed25519 private key file (default $TDPROV_SIGNING_KEY or the per-user key).")
    spool: str | None = Field(default=None, description="Outbox folder for bundles the store could not take, and for "
                              "the row-set keys of a sharded output at row granularity (default $TDPROV_SPOOL).")
    strict: bool | None = Field(
        default=None, description="Fail the step when the store is unreachable instead of spooling, and when the Dask "
        "scheduler is instead of hashing the shards on this machine (default $TDPROV_STRICT)."
    )
    snapshot: bool | None = Field(
        default=None,
        description="Keep a content-addressed copy of every asset written, for 'tdprov checkout' (default $TDPROV_SNAPSHOT; "
        "an asset's snapshot setting wins).",
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="Where the shards of a sharded dataset (a folder, s3://bucket/prefix/ or glob given to "
        "ProvenanceResource.record) are hashed: tcp://host:8786, 'local' or 'none' (default $TDPROV_DASK_SCHEDULER, "
        "else a LocalCluster for many shards).",
    )
    dask_spill: str | None = Field(
        default=None,
        description="At row granularity on a Dask cluster reached by address, a folder the workers and this process "
        "both reach (a shared file system) or s3://bucket/prefix, where the workers put each shard's sorted row-set "
        "keys instead of sending them back in memory (default $TDPROV_DASK_SPILL).",
    )

    @field_validator("store", "data_root")
    @classmethod
    def _a_location(cls, value: str | None, info: Any) -> str | None:
        """A folder, ``file://`` or ``s3://bucket/prefix``: anything else is refused when the resource is made (an
        empty one is not given)."""
        if not unset(value):
            parse_location(value, info.field_name)
        return value

    @field_validator("dask_scheduler")
    @classmethod
    def _a_scheduler(cls, value: str | None) -> str | None:
        if not unset(value):
            check_scheduler(value, "dask_scheduler")
        return value

    def check_settings(self) -> Settings:
        """Refuse settings that cannot be used, from the environment too: the store and data root, a spool or
        ``TDPROV_HOME`` that is a URI other than ``file://``, a mask key
        file (``TDPROV_MASK_KEY``) that is missing or unreadable, and a ``TDPROV_DASK_SCHEDULER`` that is no
        address; called when the resource is set up for a run, before any asset computes (not when a validation
        of a ``record``-policy asset first fails, nor when shards are first hashed). Returns the settings checked."""
        settings = self.settings()
        # the data root and the store (from TDPROV_STORE too) it defaults next to
        self.data_location(settings).check_folder("the data root next to the store" if unset(self.data_root) else "data_root")
        default_spool_dir(settings)  # a spool (or TDPROV_HOME) that is a URI: the outbox would fail in an outage
        check_mask_key()
        if self.scheduler_setting() == ENV and os.environ.get(ENV, "").strip():  # the field is checked when it is given
            check_scheduler(os.environ[ENV], ENV)
        return settings

    def scheduler_setting(self) -> str:
        """The setting the Dask scheduler is taken from, as messages name it: ``dask_scheduler`` where it is configured,
        else ``TDPROV_DASK_SCHEDULER``."""
        return ENV if unset(self.dask_scheduler) else "dask_scheduler"

    def store_setting(self) -> str:
        """The setting the store is taken from, as messages name it: this resource's ``store`` config where it is
        configured, else ``TDPROV_STORE``."""
        return STORE_VARIABLE if unset(self.store) else f"the {type(self).__name__}'s 'store' config"

    def signing_key_setting(self) -> str:
        """The setting the signing key is taken from, as messages name it: this resource's ``signing_key`` config where it
        is configured, else ``TDPROV_SIGNING_KEY``."""
        return KEY_VARIABLE if unset(self.signing_key) else f"the {type(self).__name__}'s 'signing_key' config"

    def strict_setting(self) -> str | None:
        """The setting that turns strict mode on, as messages name it (``strict`` where it is configured, else
        ``TDPROV_STRICT``), or ``None`` when strict mode is off."""
        if not self.settings().strict:
            return None
        return "strict" if self.strict is not None else "TDPROV_STRICT"

    def settings(self) -> Settings:
        """The resolved tdprov settings (environment, overridden by what is configured here)."""
        return Settings.from_env(store=self.store, signing_key=self.signing_key, spool=self.spool, strict=self.strict,
                                 snapshot=self.snapshot)

    def data_location(self, settings: Settings | None = None) -> DataLocation:
        """Where data files go: ``data_root``, else next to the store of ``settings`` (default: :meth:`settings`)."""
        if not unset(self.data_root):
            return DataLocation(str(self.data_root))
        store = (self.settings() if settings is None else settings).store
        return DataLocation(default_data_root(store, "TDPROV_STORE" if unset(self.store) else "store"))

    def namespace_uri(self) -> str:
        return namespace_uri(self.namespace)


class UnreadNamespaceError(BadInputError):
    """The namespace of a ``ProvenanceIOManager`` or ``ProvenanceResource`` is an ``EnvVar`` whose variable is not set
    in this process: the job its run's steps named cannot be told here."""


def configured_values(config: Mapping[str, Any], *, required: bool = True) -> dict[str, Any]:
    """The fields of a ``ProvenanceConfig``'s ``config`` (given in code or at launch, an ``EnvVar`` field as ``{"env":
    <name>}``) with each ``EnvVar`` read from this process's environment; an unset one is left out (its field's
    default), but the namespace, which no default may stand for (the run's steps named their jobs by the one they
    read): raises :class:`UnreadNamespaceError` naming the variable and the fix (``required=False``: left out too)."""
    values = {}
    for field, value in config.items():
        if isinstance(value, Mapping):
            variable = str(value.get("env"))
            value = os.environ.get(variable)
            if value is None and field == "namespace" and required:
                raise UnreadNamespaceError(
                    f"the namespace of a provenance IO manager or resource is the environment variable {variable}, "
                    "which is not set in this process, so the job its steps' runs are of cannot be told.",
                    fix=f"set {variable} here as in the process that ran the steps")
        if value is not None:
            values[field] = value
    return values


def namespaces_in(configs: Iterable[tuple[type, Mapping[str, Any]]], *, required: bool = False) -> set[str]:
    """The ``dagster://`` namespaces of the ``ProvenanceIOManager``s and ``ProvenanceResource``s among ``configs``
    (class, config given in code or at launch: :func:`~prov_dagster._compat.defined_configs`); one set by an
    ``EnvVar`` is read from this process's environment: unset, it raises :class:`UnreadNamespaceError` when
    ``required`` (a sensor closing a run: :func:`configured_values`), else it is left out (a step's process, where
    Dagster refuses a resource it sets up with an unset variable)."""
    found = set()
    for cls, config in configs:
        if issubclass(cls, ProvenanceConfig):
            namespace = configured_values(config, required=required).get("namespace", "default")
            if isinstance(namespace, str):
                found.add(namespace_uri(namespace))
    return found


def run_namespace(configs: Iterable[tuple[type, Mapping[str, Any]]], *, required: bool = False) -> str | None:
    """The namespace of the job of a Dagster run, the ``parent`` of its steps' runs: the first in order of the
    namespaces other than ``dagster://default`` its job's tdprov resources are configured with, in code or in the run's
    config (``configs``: its ``resource_defs``', see :func:`namespaces_in`), ``dagster://default`` when they have no
    other, so every step of the run, whatever its IO managers' namespaces, and every sensor closing it name one job;
    None when none is configured (each step then names its own). Dagster's resource definition holds every field's
    value, its default filled in, so a namespace left at the default and one set to ``default`` are alike. ``required``:
    see :func:`namespaces_in`."""
    found = namespaces_in(configs, required=required)
    return min(found - {DEFAULT_NAMESPACE} or found, default=None)
