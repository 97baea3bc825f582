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

from dagster import AssetKey, DataVersion, InputContext, IOManager, OutputContext


class DagsterCompatError(RuntimeError):
    """This Dagster release changed an internal that prov_dagster relies on."""


def _step_context(context: OutputContext | InputContext) -> Any | None:
    """The step execution context behind an IO manager context (``None`` when built for a direct call)."""
    return getattr(context, "_step_context", None)


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


def run_context(context: OutputContext | InputContext) -> tuple[str, str, str, int] | None:
    """(dagster run id, job name, step key, attempt) of the step running the IO manager, ``None`` outside a run."""
    step_context = _step_context(context)
    if step_context is None:
        return None
    return step_context.run_id, step_context.job_name, step_context.step.key, step_context.previous_attempt_count


def expected_outputs(context: OutputContext) -> tuple[str, ...]:
    """Names of the outputs of ``context``'s step that this IO manager will handle.

    The step's selected outputs that go to the same IO manager key and are neither asset checks nor
    ``Nothing``: once all are handled, the step's run can be closed.
    """
    step_context = _step_context(context)
    if step_context is None:
        return (context.name,)
    op_def = step_context.op_def
    key = op_def.output_def_named(context.name).io_manager_key
    selected = step_context.selected_output_names  # a subsetted multi-asset runs only some outputs
    return tuple(
        out.name
        for out in step_context.step.step_outputs
        if out.name in selected
        and out.properties.asset_check_key is None
        and op_def.output_def_named(out.name).io_manager_key == key
        and not op_def.output_def_named(out.name).dagster_type.is_nothing
    )


def step_resources(context: InputContext) -> list[Any] | None:
    """The resources of the step loading ``context``'s input: the IO managers of its outputs (in output order),
    then the resources it requires that are not IO managers (those of its inputs' writers are left out);
    ``None`` outside a run (a context built for a direct call)."""
    step_context = _step_context(context)
    if step_context is None:
        return None
    resources = step_context.resources
    outputs = dict.fromkeys(out.io_manager_key for out in step_context.op_def.output_defs)
    others = [getattr(resources, key) for key in sorted(step_context.required_resource_keys - outputs.keys()) if hasattr(resources, key)]
    return [*(getattr(resources, key) for key in outputs if hasattr(resources, key)),
            *(r for r in others if not isinstance(r, IOManager))]
