"""ProvenanceHook: tdprov settings and store from an Airflow connection of type ``tdprov``."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

from prov_common.config import Settings, unknown_keys, unset
from prov_common.errors import BadInputError, StoreError, StoreUnavailableError

from prov_airflow.settings import resolve_settings

if TYPE_CHECKING:
    from prov_common.signing import TrustStore

EXTRA_KEYS: tuple[str, ...] = ("store", "signing_key", "trusted_keys", "spool", "strict", "snapshot", "issuer",
                               "aws_conn_id")
"""Keys the extra of a ``tdprov`` connection may hold (``store`` is read when the host is empty)."""


_KINDS = {"strict": "true or false", "snapshot": "true or false", "trusted_keys": "text or a list of texts"}  # others: text
_JSON_NAMES = {"dict": "an object", "list": "an array", "str": "a string", "int": "a number", "float": "a number", "bool": "true or false"}


def _of_kind(key: str, value: Any) -> bool:
    """Whether ``value`` may be the extra's ``key``: text, a yes/no (true/false, or the text Settings reads as yes/no),
    or for ``trusted_keys`` a list of texts as well; null is unset."""
    if value is None or isinstance(value, str):
        return True
    if key == "trusted_keys":
        return isinstance(value, list) and all(isinstance(k, str) for k in value)
    return key in ("strict", "snapshot") and isinstance(value, bool)


def checked_extra(extra: Any, conn_id: str) -> dict[str, Any]:
    """The extra of the ``tdprov`` connection ``conn_id``, refused naming the key when a setting is of another type
    (``{"store": 5}``, ``{"trusted_keys": [5, null]}``): it was read as it came, and failed later as an error in
    tdprov (``'int' object is not iterable``) or was taken as the text ``'None'``."""
    where = f"the extra of Airflow connection {conn_id!r}"
    if not isinstance(extra, dict):
        raise BadInputError(f"{where} is {_JSON_NAMES.get(type(extra).__name__, type(extra).__name__)}, not an object of settings.",
                            fix='give a JSON object, e.g. {"signing_key": "/secrets/tdprov.key", "strict": false}')
    for key in EXTRA_KEYS:
        if not _of_kind(key, extra.get(key)):
            kind = _KINDS.get(key, "text")
            raise BadInputError(f"{key!r} in {where} is {json.dumps(extra[key])[:80]}, not {kind}.",
                                fix=f"give {key} as {kind} in the connection's extra (or remove it)")
    return extra


def aws_s3_client_factory(aws_conn_id: str, named_by: str | None = None) -> Callable[[Any], Any]:
    """A maker of S3 clients from the AWS connection ``aws_conn_id``, through the Amazon provider's
    ``AwsBaseHook`` (its boto3 session: keys, region, ``endpoint_url``, assumed roles, profiles). Their answers'
    timestamps are read by :func:`~prov_common.store.s3_time.parse_s3_timestamp`, as ``fresh_s3_client``'s are.

    The connection is read now (on the calling thread); clients are made later, from the botocore
    ``Config`` the store passes. Nothing is written to ``os.environ``. A connection the provider refuses (an
    ``assume_role_method`` it does not know, a ``config_kwargs`` that is no object) raises :class:`BadInputError`
    naming it (``named_by``: the tdprov connection whose ``aws_conn_id`` it is).
    """
    try:
        from prov_airflow.hooks.aws import S3TimestampsAwsHook
    except ImportError:
        raise BadInputError(f"the tdprov connection names aws_conn_id {aws_conn_id!r}, but the Amazon provider "
                            "is not installed", fix="pip install 'tdprov[airflow]' (it brings "
                            "apache-airflow-providers-amazon)") from None
    hook = S3TimestampsAwsHook(aws_conn_id=aws_conn_id, client_type="s3")
    try:
        hook.conn_config  # noqa: B018 - reads the connection here, not in a delivery thread
    except Exception as exc:  # noqa: BLE001 - the provider's refusal of the connection, named
        given = f" (aws_conn_id of Airflow connection {named_by!r})" if named_by else ""
        raise BadInputError(f"AWS connection {aws_conn_id!r}{given} cannot be used: {type(exc).__name__}: {exc}",
                            fix=f"correct AWS connection {aws_conn_id!r} (its extra), or name another in aws_conn_id") from exc

    def make_client(config: Any) -> Any:
        return hook.get_client_type(config=config)

    return make_client


class ProvenanceHook(BaseHook):
    """Settings and store of tdprov from a ``tdprov`` connection, the ``[tdprov]`` section and ``TDPROV_*``.

    Connection: ``host`` is the store URI (a folder or ``s3://bucket/prefix``); ``extra`` may hold
    ``signing_key``, ``trusted_keys`` (list or os.pathsep-separated), ``spool``, ``strict`` and
    ``aws_conn_id`` (an AWS connection: the store's S3 client comes from its ``AwsBaseHook`` session).
    Without a connection (``tdprov_conn_id=None``, or the default one not defined) the hook uses
    ``[tdprov]`` and the ``TDPROV_*`` environment.
    """

    conn_name_attr = "tdprov_conn_id"
    default_conn_name = "tdprov_default"
    conn_type = "tdprov"
    hook_name = "tdprov provenance store"

    def __init__(self, tdprov_conn_id: str | None = default_conn_name, *, named_by: str | None = None,
                 **overrides: Any) -> None:
        """``named_by``: the setting that gave ``tdprov_conn_id`` (``[tdprov] conn_id``), named in the error of a
        connection that is not defined; None: an operator's ``tdprov_conn_id``. ``overrides`` (``signing_key``,
        ``strict``...) win over the connection; one that is :func:`~prov_common.config.unset` (``None``, ``""``) is
        not given, as an empty extra is not."""
        super().__init__()
        self.tdprov_conn_id = tdprov_conn_id
        self.named_by = named_by
        self.overrides = {k: v for k, v in overrides.items() if not unset(v)}
        self._extra: dict[str, Any] | None = None
        self._host: str | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port", "login", "password"],
            "relabeling": {"host": "Store URI (folder or s3://bucket/prefix)"},
            "placeholders": {
                "host": "s3://lineage-bucket/tdprov",
                "extra": json.dumps({"signing_key": "/secrets/tdprov.key", "trusted_keys": ["/keys/team.pub"],
                                     "spool": "/var/spool/tdprov", "strict": False, "aws_conn_id": "aws_default"}),
            },
        }

    def _load(self) -> tuple[str | None, dict[str, Any]]:
        """The connection's host and checked extra, read once; a connection refused is refused again on every call
        (never read as no connection: a trigger polling with this hook would wait on the [tdprov] store). Only a
        connection that is not defined is that (``tdprov_default``: none); any other error reading it (a secrets
        backend denying access) is named as it is."""
        if self._extra is None:
            host, extra = None, {}
            if self.tdprov_conn_id:
                try:
                    conn = self.get_connection(self.tdprov_conn_id)
                except Exception as exc:  # noqa: BLE001 - named below
                    if not isinstance(exc, AirflowNotFoundException):
                        raise self._unreadable(exc) from exc
                    if self.tdprov_conn_id != self.default_conn_name:
                        raise self._undefined() from None
                else:
                    host = conn.host or None
                    extra = checked_extra(conn.extra_dejson or {}, self.tdprov_conn_id)
                    unknown_keys(extra, EXTRA_KEYS, f"the extra of Airflow connection {self.tdprov_conn_id!r}")
            self._host, self._extra = host, extra
        return self._host, self._extra

    def _undefined(self) -> BadInputError:
        """The error of a connection that is not defined, naming where its id was given and how to do without it."""
        given = f" (named by {self.named_by})" if self.named_by else ""
        without = f"unset {self.named_by}" if self.named_by else "pass tdprov_conn_id=None"
        return BadInputError(f"Airflow connection {self.tdprov_conn_id!r} (type tdprov){given} is not defined",
                             fix=f"create it (airflow connections add {self.tdprov_conn_id} --conn-type tdprov "
                                 f"--conn-host <store URI>) or {without} to use [tdprov]")

    def _unreadable(self, exc: Exception) -> BadInputError:
        """The error of a connection that could not be read (``exc``), naming where its id was given."""
        given = f" (named by {self.named_by})" if self.named_by else ""
        return BadInputError(f"Airflow connection {self.tdprov_conn_id!r}{given} could not be read: "
                             f"{type(exc).__name__}: {exc}",
                             fix="let this process read it (the secrets backend's access policy, or [secrets] backend)")

    def get_settings(self) -> Settings:
        """The resolved tdprov settings (explicit overrides > connection > [tdprov] > TDPROV_* > defaults)."""
        host, extra = self._load()
        given: dict[str, Any] = {"store": host or extra.get("store") or None}
        for name in ("signing_key", "spool", "issuer"):
            given[name] = extra.get(name) or None
        given["strict"] = extra.get("strict")  # Settings parses the flags and the path list
        given["snapshot"] = extra.get("snapshot")
        given["trusted_keys"] = extra.get("trusted_keys") or None
        given.update(self.overrides)
        return resolve_settings(**given)

    def store_source(self) -> str:
        """Where the store of :meth:`get_settings` is set, named in a fix (the connection's host, ``[tdprov] store``
        or ``TDPROV_STORE``)."""
        from prov_airflow.settings import store_source

        host, _ = self._load()
        if self.overrides.get("store"):
            return "the store given to the hook"
        if host:
            return f"the host of Airflow connection {self.tdprov_conn_id!r}"
        if self._extra and self._extra.get("store"):
            return f"the store in the extra of Airflow connection {self.tdprov_conn_id!r}"
        return store_source()

    def get_trust(self, settings: Settings | None = None) -> TrustStore:
        """The trusted keys of :meth:`get_settings` (or of ``settings``, this hook's); keys that cannot be read are
        refused naming where they are set here (the connection's extra, ``[tdprov] trusted_keys``...), or where the
        signing key is, whose public key local trust takes, not the CLI's ``--trusted-keys``."""
        from prov_common.signing import trust_from_settings

        return trust_from_settings(settings or self.get_settings(), source=self.option_source("trusted_keys"),
                                   key_setting=self.option_source("signing_key"))

    def option_source(self, option: str) -> str:
        """Where ``option`` (``signing_key``, ``strict``, ``trusted_keys``...) of :meth:`get_settings` is set, named in a
        fix (the hook's overrides, the connection's extra, ``[tdprov] <option>`` or ``TDPROV_<OPTION>``)."""
        from prov_airflow.settings import setting_source

        _, extra = self._load()
        if option in self.overrides:
            return f"the {option} given to the hook"
        if not unset(extra.get(option)):  # an empty one is not given (get_settings)
            return f"{option} in the extra of Airflow connection {self.tdprov_conn_id!r}"
        return setting_source(option)

    @property
    def aws_conn_id(self) -> str | None:
        """The AWS connection of an ``s3://`` store (``aws_conn_id`` in the extra), if any."""
        _, extra = self._load()
        return extra.get("aws_conn_id") or None

    def s3_client_factory(self) -> Callable[[Any], Any] | None:
        """Maker of the store's S3 client from ``aws_conn_id`` (None: the standard AWS environment)."""
        return aws_s3_client_factory(self.aws_conn_id, self.tdprov_conn_id) if self.aws_conn_id else None

    def get_conn(self) -> Any:
        """The tdprov store (``prov_common.store.Store``) these settings point at; an ``s3://`` store
        reaches S3 through the ``aws_conn_id`` connection's session.
        A store setting that cannot be opened (an unsupported URI, a file) raises naming where it is set (the
        connection's host, ``[tdprov] store``...)."""
        from prov_common.store import open_store
        from prov_common.store.factory import cannot_open

        settings = self.get_settings()
        try:
            return open_store(settings.store, settings=settings, s3_client_factory=self.s3_client_factory())
        except StoreUnavailableError:
            raise
        except (BadInputError, StoreError) as exc:
            where = self.store_source()
            raise type(exc)(cannot_open(where, settings.store, exc) + ".",
                            fix=f"correct {where} (a folder path, file:///absolute/path or s3://bucket/prefix)") from exc

    def read_store(self) -> Any:
        """The store (:meth:`get_conn`), once it answered a listing: its error is raised when it cannot be read."""
        store = self.get_conn()
        next(iter(store.list("")), None)
        return store

    def test_connection(self) -> tuple[bool, str]:
        """Airflow UI "Test": list the store."""
        try:
            store = self.read_store()
            return True, f"store {store.uri} is readable"
        except Exception as exc:  # noqa: BLE001 - reported to the UI
            return False, f"{type(exc).__name__}: {exc}"
