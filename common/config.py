"""Settings shared by every piece, read from ``TDPROV_*`` environment variables.

Orchestrator components accept the same settings as typed config and pass them as overrides.
"""
from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import overload

from prov_common.errors import BadInputError
from prov_common.once import Once

DEFAULT_STORE = "./.tdprov"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
WARNED = Once(inherited=True)  # settings are read again and again: each bad value, unknown key or relative place is named once per process


@overload
def flag(value: object, name: str = ..., default: bool = ...) -> bool: ...
@overload
def flag(value: object, name: str, default: None) -> bool | None: ...


def flag(value: object, name: str = "setting", default: bool | None = False) -> bool | None:
    """A boolean setting given as a bool or as text (``1``, ``true``, ``yes``, ``on``; ``0``, ``false``, ``no``,
    ``off`` or nothing for off; any case). Other text is ``default`` (the setting's documented default; ``None``:
    the caller's fallback applies), with a warning naming ``name``: a typo never turns an option that is on by
    default off, nor one that is off (raw samples, strict mode) on, and never stops a pipeline."""
    if isinstance(value, bool):
        return value
    meaning = yes_no(value or "")
    if meaning is None and str(value or "").strip():
        if WARNED.first("flag", name, str(value), repr(default)):
            _warn_flag(name, str(value), default)
        return default
    return bool(meaning)


def yes_no(text: object) -> bool | None:
    """What a yes/no text means: True for ``1``, ``true``, ``yes``, ``on``, False for ``0``, ``false``, ``no``, ``off``
    (any case, white space around it dropped), None for any other text (blank too)."""
    word = str(text).strip().lower()
    return True if word in _TRUE else False if word in _FALSE else None


def check_flag(value: object, name: str, where: str) -> bool:
    """A yes/no setting given in code or in an asset's or task's definition (``True``, ``"yes"``, ``0``; any case),
    else a clear error naming ``name``, ``where`` and the accepted values: unlike an environment or config file
    setting (:func:`flag`), such a typo is refused when the definition is read, never taken as the store's setting."""
    if isinstance(value, bool):
        return value
    meaning = yes_no(value)
    if meaning is None:
        raise BadInputError(f"{name}={value!r} of {where} is not a yes/no value (true, yes, on, 1 / false, no, off, 0)",
                            fix=f"set {name} to True or False, or leave it unset for the store's setting")
    return meaning


def _warn_flag(name: str, value: str, default: bool | None) -> None:
    """Warn of a setting that is no yes/no value."""
    taken = {True: "on (its default)", False: "off (its default)", None: "unset"}[default]
    logging.getLogger("prov_common").warning("tdprov: %s=%r is not a yes/no value (1, true, yes, on / 0, false, no, off): "
                                             "taken as %s. Fix: set %s to one of those values", name, value, taken, name)


def positive_number(value: object) -> float | None:
    """``value`` (a number or its text) as a finite number above 0, else ``None`` (``nan``, ``inf``, ``-1``, ``abc``):
    a timeout or size limit of ``inf`` or ``nan`` would never bound anything, or fail where it is used."""
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number > 0 else None


KNOWN_ENVIRONMENT: frozenset[str] = frozenset({
    "TDPROV_STORE", "TDPROV_SIGNING_KEY", "TDPROV_TRUSTED_KEYS", "TDPROV_SPOOL", "TDPROV_STRICT", "TDPROV_ISSUER",
    "TDPROV_SNAPSHOT", "TDPROV_WITNESS", "TDPROV_AUDITOR_KEYS", "TDPROV_RETIRED_KEYS", "TDPROV_RETIRED_AUDITOR_KEYS",
    "TDPROV_HOME", "TDPROV_MASK_KEY", "TDPROV_DASK_SCHEDULER", "TDPROV_DASK_SPILL", "TDPROV_DEBUG", "TDPROV_STORE_CONNECT_TIMEOUT",
    "TDPROV_STORE_READ_TIMEOUT", "TDPROV_STORE_MAX_ATTEMPTS", "TDPROV_STORE_FSYNC", "TDPROV_EXAMPLE_DATA",
    "TDPROV_EXIT_TIMEOUT",
})
"""Every ``TDPROV_*`` environment variable tdprov reads; another is named as unknown (:func:`unknown_keys`)."""


def unknown_keys(given: Iterable[object], known: Iterable[str], where: str) -> list[str]:
    """The keys of ``given`` that are not in ``known``, each named once per process in a warning with the closest
    known key ("did you mean"): a misspelt option must not be ignored silently. ``where``: the place they were
    given (``the [tdprov] section``, ``the metadata of asset 'x'``)."""
    choices = sorted(known)
    unknown = [str(key) for key in given if str(key) not in choices]
    for key in unknown:
        if WARNED.first("unknown", key, where):  # every caller passes one ``known`` for a ``where``: so is the hint
            _warn_unknown(key, where, difflib.get_close_matches(key, choices, n=1, cutoff=0.6))
    return unknown


EXIT_TIMEOUT = 60.0
"""How long a process's exit waits for tdprov's writes under way by default (as Airflow's ``[tdprov] flush_timeout``)."""


def exit_timeout(environ: Mapping[str, str] | None = None) -> float:
    """How long a process's exit waits for tdprov's deliveries and writes under way before it spools and names what is
    left: ``TDPROV_EXIT_TIMEOUT`` seconds, default :data:`EXIT_TIMEOUT`. Read as the process ends, where nothing may
    fail: a value that is no number above 0 is named (once) and the default taken."""
    raw = (os.environ if environ is None else environ).get("TDPROV_EXIT_TIMEOUT")
    if raw is None or not raw.strip():
        return EXIT_TIMEOUT
    if (seconds := positive_number(raw)) is not None:
        return seconds
    if WARNED.first("number", "TDPROV_EXIT_TIMEOUT", raw):
        logging.getLogger("prov_common").warning("tdprov: TDPROV_EXIT_TIMEOUT=%r is not a number of seconds above 0: taken "
                                                 "as %gs (its default). Fix: set it to e.g. 60", raw, EXIT_TIMEOUT)
    return EXIT_TIMEOUT


def _warn_unknown(key: str, where: str, close: list[str]) -> None:
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    logging.getLogger("prov_common").warning("tdprov: unknown key %r in %s%s; it is not read. Fix: correct or remove it",
                                             key, where, hint)


RECORDED_GRANULARITIES: tuple[str, ...] = ("column", "row")
"""What the integrations record of a dataset: column digests (the default) or also its row set."""


def check_granularity(value: object, where: str) -> str:
    """``value`` if it is one of :data:`RECORDED_GRANULARITIES`, else a clear error naming ``where``."""
    if value not in RECORDED_GRANULARITIES:
        raise BadInputError(f"granularity {value!r} of {where} is not one of {', '.join(RECORDED_GRANULARITIES)}",
                            fix="use granularity='row' to record row digests for 'tdprov contains', or leave it unset")
    return str(value)


def paths(value: object) -> tuple[str, ...]:
    """A list of paths given as a sequence or as one ``os.pathsep``-separated string (each stripped of the white
    space around it)."""
    items = str(value or "").split(os.pathsep) if isinstance(value, str) or value is None else value
    return tuple(str(p).strip() for p in items if str(p).strip())  # type: ignore[union-attr]


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def uris(value: object, name: str = "witness place") -> tuple[str, ...]:
    """A list of URIs given as a sequence or as one comma-separated string (white space around each is dropped;
    inside, it is part of the path: ``/data/my witness`` is one place). A string without a comma whose white space
    separates absolute paths or URIs, as earlier versions read it (``/a s3://b/w``), is still read so, with a
    warning, unless the whole string is an existing folder. A relative path is kept, with a warning naming it: it depends on the working
    directory of each process."""
    parts = value.split() if isinstance(value, str) and "," not in value else []
    if len(parts) > 1 and all(p.startswith("/") or "://" in p for p in parts) and not Path(value.strip()).exists():
        logging.getLogger("prov_common").warning(
            "tdprov: %s list %r is separated by spaces; it is read as %d places. Fix: separate them with commas (a "
            "space is then part of a path)", name, value.strip(), len(parts))
        value = ",".join(parts)
    items = str(value or "").split(",") if isinstance(value, str) or value is None else value
    found = tuple(str(p).strip() for p in items if str(p).strip())  # type: ignore[union-attr]
    for place in found:
        if "://" not in place and not Path(place).expanduser().is_absolute():
            if WARNED.first("relative", name, place):
                _warn_relative(name, place)
    return found


def _warn_relative(name: str, place: str) -> None:
    logging.getLogger("prov_common").warning("tdprov: %s %r is relative: each process finds it under its own working "
                                             "directory. Fix: give an absolute path or an s3:// URI", name, place)


def unset(value: object) -> bool:
    """Whether a setting given in code, in config or in a connection's extra is not given: ``None``, text that is blank
    and a list of none but blank texts. One rule for every option: an empty override leaves the setting below it
    (``[tdprov]``, ``TDPROV_*``, the default) to apply, as an empty ``TDPROV_*`` variable or ``[tdprov]`` option does."""
    if isinstance(value, (list, tuple)):
        return all(unset(item) for item in value)
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: str | None) -> str | None:
    """A path or name setting without the white space around it (a value read from a secret file ends with a
    newline); ``None`` when nothing is left."""
    return (value or "").strip() or None


def default_home() -> Path:
    """Per-user tdprov folder (keys and trust), ``$TDPROV_HOME`` (a path or ``file://`` URI) or ``~/.config/tdprov``."""
    from prov_common.store.location import local_folder  # here: the store package imports this module

    given = os.environ.get("TDPROV_HOME")
    return Path(local_folder(given, "TDPROV_HOME") if given else Path.home() / ".config" / "tdprov")


@dataclass(frozen=True)
class Settings:
    """Resolved tdprov settings.

    store: store URI (local folder or ``s3://bucket/prefix``).
    signing_key: Ed25519 private key file; ``None`` means the per-user default key.
    trusted_keys: public key files or folders whose signatures verify.
    spool: outbox folder for bundles that could not be delivered.
    strict: an unreachable store is an error instead of a spool entry.
    issuer: the organisation that issues the datasets the pipelines make (training-data records).
    snapshot: keep a content-addressed copy of every dataset the pipelines write (``TDPROV_SNAPSHOT``).
    witnesses: places (folders or ``s3://`` URIs) where audits keep the newest checkpoint they verified.
    auditor_keys: public key files or folders of the auditors (``TDPROV_AUDITOR_KEYS``): when given, what
    audits write (checkpoints, audit state, catalog, lookups, inventory, witness records) counts only when
    one of them signed it, so that a writer's key, trusted for bundles, cannot forge an audit's record.
    retired_keys: lost or replaced writer keys, each ``PATH.pub@SIZE`` (``TDPROV_RETIRED_KEYS``): a bundle one of
    them signed counts only when the log holds it at a leaf index below SIZE, the log size when it was retired.
    retired_auditor_keys: the same for auditor keys (``TDPROV_RETIRED_AUDITOR_KEYS``): what audits wrote counts
    when signed by one of them only for checkpoints of at most SIZE leaves.
    """

    store: str = DEFAULT_STORE
    signing_key: str | None = None
    trusted_keys: tuple[str, ...] = field(default_factory=tuple)
    spool: str | None = None
    strict: bool = False
    issuer: str | None = None
    snapshot: bool = False
    witnesses: tuple[str, ...] = field(default_factory=tuple)
    auditor_keys: tuple[str, ...] = field(default_factory=tuple)
    retired_keys: tuple[str, ...] = field(default_factory=tuple)
    retired_auditor_keys: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> "Settings":
        """Settings from the environment; keyword overrides that are given win (``strict`` may be given as text,
        ``trusted_keys`` as one ``os.pathsep``-separated string); one that is :func:`unset` (``None``, ``""``, ``[]``)
        leaves the environment's setting."""
        env = os.environ if environ is None else environ
        unknown_keys((name for name in env if name.startswith("TDPROV_")), KNOWN_ENVIRONMENT, "the environment")
        settings = cls(
            store=_text(env.get("TDPROV_STORE")) or DEFAULT_STORE,
            signing_key=_text(env.get("TDPROV_SIGNING_KEY")),
            trusted_keys=paths(env.get("TDPROV_TRUSTED_KEYS")),
            spool=_text(env.get("TDPROV_SPOOL")),
            strict=flag(env.get("TDPROV_STRICT"), "TDPROV_STRICT"),
            issuer=_text(env.get("TDPROV_ISSUER")),
            snapshot=flag(env.get("TDPROV_SNAPSHOT"), "TDPROV_SNAPSHOT"),
            witnesses=uris(env.get("TDPROV_WITNESS")),
            auditor_keys=paths(env.get("TDPROV_AUDITOR_KEYS")),
            retired_keys=paths(env.get("TDPROV_RETIRED_KEYS")),
            retired_auditor_keys=paths(env.get("TDPROV_RETIRED_AUDITOR_KEYS")),
        )
        given = {k: v for k, v in overrides.items() if not unset(v)}
        for name in ("store", "signing_key", "spool", "issuer"):
            if isinstance(given.get(name), str):
                given[name] = _text(given[name])
        for name in ("trusted_keys", "auditor_keys", "retired_keys", "retired_auditor_keys"):
            if name in given:
                given[name] = paths(given[name])
        for name in ("strict", "snapshot"):
            if name in given:
                given[name] = flag(given[name], name, default=getattr(settings, name))
        if "witnesses" in given:
            given["witnesses"] = uris(given["witnesses"])
        return replace(settings, **given) if given else settings
