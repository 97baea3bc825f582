"""tdprov settings as Airflow sees them: the ``[tdprov]`` config section over the ``TDPROV_*`` environment.

Precedence: explicit overrides (hook/connection) > ``[tdprov]`` (``AIRFLOW__TDPROV__*``) > ``TDPROV_*`` > defaults.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from prov_common.config import WARNED, Settings, flag, positive_number, unknown_keys, unset, yes_no

from prov_airflow.get_provider_info import CONFIG_OPTIONS

SECTION = "tdprov"
_SETTINGS_FIELDS = ("store", "signing_key", "trusted_keys", "spool", "strict", "snapshot")


def _conf():
    from airflow.providers.common.compat.sdk import conf

    return conf


def conf_get(option: str) -> str:
    """Raw ``[tdprov] option`` value, falling back to the documented default ('' when unset)."""
    default = CONFIG_OPTIONS[option][2]
    try:
        value = _conf().get(SECTION, option, fallback=default)
    except Exception:  # configuration not loadable: behave as unset
        value = default
    return "" if value is None else str(value)


def conf_flag(option: str) -> bool:
    """``[tdprov] option`` as a yes/no value; text that is neither keeps the option's documented default."""
    return flag(conf_get(option), f"[{SECTION}] {option}", default=flag(CONFIG_OPTIONS[option][2]))


def conf_number(option: str) -> float:
    """``[tdprov] option`` as a finite number above 0; any other value keeps the option's documented default,
    with a warning naming the option (a limit of ``inf`` or ``nan`` would lose the task's run)."""
    raw = conf_get(option)
    number = positive_number(raw)
    if number is None:
        default = float(CONFIG_OPTIONS[option][2])
        _warn_number_once(option, raw, default)
        return default
    return number


def _warn_number_once(option: str, raw: str, default: float) -> None:
    if WARNED.first("number", option, raw, repr(default)):  # a bad number is named once per process
        logging.getLogger(__name__).warning("tdprov: [%s] %s=%r is not a finite number above 0: taken as its default %g. "
                                            "Fix: set [%s] %s to a positive number", SECTION, option, raw, default, SECTION, option)


def _explicit(option: str) -> bool:
    """Whether ``[tdprov] option`` was set by the user (file or ``AIRFLOW__TDPROV__*``) to a value: one present but
    :func:`~prov_common.config.unset` (``strict =``) gives nothing, so ``TDPROV_*`` applies and is named."""
    if unset(conf_get(option)):
        return False
    if os.environ.get(f"AIRFLOW__{SECTION.upper()}__{option.upper()}"):
        return True
    try:  # the airflow.cfg Airflow generates holds every option with its default: a default is taken as not set
        return bool(_conf().has_option(SECTION, option)) and not _is_default(option, conf_get(option))
    except Exception:
        return False


def _is_default(option: str, value: str) -> bool:
    """Whether ``value`` of ``[tdprov] option`` is its default: the default's text, or for a yes/no option any text
    that means the same (``false``, ``0``, ``no``, ``off`` in any case as ``False``)."""
    _, kind, default = CONFIG_OPTIONS[option]
    if kind == "boolean" and yes_no(value) is not None:
        return yes_no(value) == yes_no(default)
    return value == default


def store_source() -> str:
    """Where the store of :func:`resolve_settings` is set, named in a fix: ``[tdprov] store`` or ``TDPROV_STORE``."""
    return setting_source("store")


def setting_source(option: str) -> str:
    """Where ``option`` of :func:`resolve_settings` is set, named in a fix: ``[tdprov] <option>`` or ``TDPROV_<OPTION>``."""
    return f"[{SECTION}] {option}" if _explicit(option) else f"TDPROV_{option.upper()}"


def _given_options() -> list[str]:
    """The options set in ``[tdprov]`` (the config file and ``AIRFLOW__TDPROV__*``)."""
    prefix = f"AIRFLOW__{SECTION.upper()}__"
    names = {name[len(prefix):].lower() for name in os.environ if name.startswith(prefix)}
    try:
        names.update(str(name).lower() for name in (_conf().getsection(SECTION) or {}))
    except Exception:  # noqa: BLE001 - configuration not loadable: the environment only
        pass
    return sorted(name.removesuffix("_cmd").removesuffix("_secret") for name in names)


def resolve_settings(**overrides: object) -> Settings:
    """tdprov :class:`Settings` for Airflow components; overrides that are :func:`~prov_common.config.unset` (``None``,
    ``""``) are not given: ``[tdprov]``, then ``TDPROV_*``, applies. An unknown ``[tdprov]`` option is named (with the
    closest known one)."""
    unknown_keys(_given_options(), CONFIG_OPTIONS, f"the [{SECTION}] section")
    from_conf: dict[str, object] = {}
    for name in _SETTINGS_FIELDS:
        if _explicit(name):  # Settings parses the flags and the path list
            from_conf[name] = conf_get(name)
    from_conf.update({k: v for k, v in overrides.items() if not unset(v)})
    return Settings.from_env(**from_conf)


@dataclass(frozen=True)
class ListenerLimits:
    """Budget of the listener per task: hashing stops after ``timeout`` seconds or above ``max_bytes`` (all
    shards of a sharded dataset together); ``dask_scheduler``: where shards are hashed (None:
    ``$TDPROV_DASK_SCHEDULER``); ``dask_spill``: where the workers of a cluster reached by address put row-set keys
    (None: ``$TDPROV_DASK_SPILL``)."""

    timeout: float = 30.0
    max_bytes: int = 2 * 1024**3
    dask_scheduler: str | None = None
    dask_spill: str | None = None
    data_aws_conn_id: str | None = None  # None: s3:// data is read with the AWS environment

    @classmethod
    def from_conf(cls) -> "ListenerLimits":
        return cls(timeout=conf_number("hash_timeout"), max_bytes=int(conf_number("max_bytes")),
                   dask_scheduler=conf_get("dask_scheduler") or None, dask_spill=conf_get("dask_spill") or None,
                   data_aws_conn_id=conf_get("data_aws_conn_id") or None)
