"""The one place that touches Dagster internals.

``OutputContext`` has no public setter for the data version. The step context's
``set_data_version`` is what Dagster itself reads when it builds the materialization
(``dagster/data_version`` tag), and it works inside ``handle_output`` because the IO manager runs
before the materialization event is made. ``tests/test_dagster_compat.py`` fails loudly when a
Dagster release changes this; the public path (``Output(..., data_version=...)``) is what
``provenance_asset`` uses.
"""
from __future__ import annotations

from typing import Any

from dagster import AssetKey, DataVersion, InputContext, OutputContext


class DagsterCompatError(RuntimeError):
    """This Dagster release changed an internal that prov_dagster relies on."""


def _step_context(context: OutputContext | InputContext) -> Any | None:
    step_context = getattr(context, "_step_context", None)
    if step_context is None and isinstance(context, InputContext):
        step_context = getattr(context, "step_context", None) if context.has_asset_key else None
    return step_context


def set_output_data_version(context: OutputContext, asset_key: AssetKey, version: str) -> bool:
    """Make ``version`` the data version of ``asset_key``'s materialization; ``False`` outside a run."""
    step_context = _step_context(context)
    if step_context is None:
        return False
    setter = getattr(step_context, "set_data_version", None)
    if setter is None:
        raise DagsterCompatError(
            "StepExecutionContext.set_data_version is gone in this Dagster release; "
            "prov_dagster cannot version materializations by content from the IO manager. "
            "Use provenance_asset (it returns Output(data_version=...)) or pin dagster<=1.13."
        )
    setter(asset_key, DataVersion(version))
    return True


def recorded_input_version(context: InputContext, asset_key: AssetKey) -> str | None:
    """The data version Dagster recorded for the upstream ``asset_key`` (latest materialization), if any."""
    step_context = _step_context(context)
    if step_context is None:
        return None
    fetch = getattr(step_context, "maybe_fetch_and_get_input_asset_version_info", None)
    if fetch is None:
        raise DagsterCompatError(
            "StepExecutionContext.maybe_fetch_and_get_input_asset_version_info is gone in this Dagster release."
        )
    info = fetch(asset_key)
    if info is None or info.data_version is None:
        return None
    return info.data_version.value


def run_context(context: OutputContext | InputContext) -> tuple[str, str, str] | None:
    """(dagster run id, job name, step key) of the step running the IO manager, ``None`` outside a run."""
    step_context = _step_context(context)
    if step_context is None:
        return None
    return step_context.run_id, step_context.job_name, step_context.step.key


def expected_outputs(context: OutputContext) -> tuple[str, ...]:
    """Names of the outputs of ``context``'s step that this IO manager will handle.

    The step's outputs that go to the same IO manager key and are neither asset checks nor
    ``Nothing``: once all are handled, the step's run can be closed.
    """
    step_context = _step_context(context)
    if step_context is None:
        return (context.name,)
    op_def = step_context.op_def
    key = op_def.output_def_named(context.name).io_manager_key
    return tuple(
        out.name
        for out in step_context.step.step_outputs
        if out.properties.asset_check_key is None
        and op_def.output_def_named(out.name).io_manager_key == key
        and not op_def.output_def_named(out.name).dagster_type.is_nothing
    )
