"""Inlets and outlets named by reference, resolved in the task process to the assets they stand for.

``Asset.ref(name=...)`` (what an ``@asset`` consuming another ``@asset`` gets as inlet) names an asset by name
only, and an ``AssetAlias`` stands for the assets added through it so far. Airflow resolves them for the task's
``inlet_events`` (and an outlet's reference for its asset event) through the task runner's supervisor;
:func:`resolve_inlets` and :func:`resolve_outlets` ask it the same questions, so their data is hashed as the task's
inputs and outputs.
"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def resolve_inlets(items: list[Any]) -> list[Any]:
    """``items`` with each ``Asset.ref(name=...)`` replaced by the asset of that name and each ``AssetAlias`` by
    the assets added through it. One that cannot be resolved (no supervisor: not a task process; an unknown name)
    is left out with a warning naming it."""
    from airflow.sdk import AssetAlias

    return _resolved(items, "inlet", (AssetAlias,))


def resolve_outlets(items: list[Any]) -> list[Any]:
    """``items`` with each ``Asset.ref(name=...)`` replaced by the asset of that name (an ``AssetAlias`` is kept: the
    assets added through it come with its events). One that cannot be resolved is left out with a warning naming it."""
    return _resolved(items, "outlet", ())


def _resolved(items: list[Any], what: str, aliases: tuple[type, ...]) -> list[Any]:
    """``items`` (a task's inlets or outlets: ``what``), each reference by name and each of ``aliases`` resolved."""
    from airflow.sdk.definitions.asset import AssetNameRef

    resolved: list[Any] = []
    for item in items:
        if not isinstance(item, (AssetNameRef, *aliases)):
            resolved.append(item)
            continue
        try:
            assets = _assets_of_alias(item.name) if isinstance(item, aliases) else [_asset_named(item.name)]
        except Exception as exc:  # noqa: BLE001 - reported, never raised into the task
            side = "an input" if what == "inlet" else "an output"
            log.warning("tdprov: %s %r could not be resolved to its assets (%s: %s): not recorded as %s. "
                        "Fix: declare the asset itself as %s (Asset('file:///abs/path') or Asset('s3://bucket/key'))",
                        what, item, type(exc).__name__, exc, side, what)
            continue
        if not assets:
            log.info("tdprov: %s %r stands for no asset yet: nothing recorded for it", what, item)
        resolved.extend(assets)
    return resolved


def _asset_named(name: str) -> Any:
    from airflow.sdk.execution_time.comms import GetAssetByName

    return _asset(_ask(GetAssetByName(name=name)))


def _assets_of_alias(name: str) -> list[Any]:
    from airflow.sdk.execution_time.comms import GetAssetsByAlias

    return [_asset(result) for result in _ask(GetAssetsByAlias(alias_name=name)).assets]


def _asset(result: Any) -> Any:
    from airflow.sdk import Asset

    return Asset(**result.model_dump(exclude={"type"}))


def _ask(message: Any) -> Any:
    """The supervisor's answer to ``message``; raises on an error answer."""
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import ErrorResponse

    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    if comms is None:
        raise RuntimeError("no task supervisor in this process")
    response = comms.send(message)
    if isinstance(response, ErrorResponse):
        raise RuntimeError(f"{response.error}: {response.detail}")
    return response
