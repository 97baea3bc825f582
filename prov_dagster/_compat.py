"""The one place that touches Dagster internals.

``OutputContext`` has no public setter for the data version. The step context's
``set_data_version`` is what Dagster itself reads when it builds the materialization
(``dagster/data_version`` tag), and it works inside ``handle_output`` because the IO manager runs
before the materialization event is made. ``tests/test_dagster_compat.py`` fails loudly when a
Dagster release changes this; the public path (``Output(..., data_version=...)``) is what
``provenance_asset`` uses.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dagster import AssetKey, DagsterEventType, DataVersion, InputContext, IOManager, OutputContext
from dagster._core.definitions.metadata import normalize_metadata

from prov_dagster.config import run_namespace
from prov_dagster.model import StepIdentity
from prov_dagster.naming import mapped_step, step_job


class DagsterCompatError(RuntimeError):
    """This Dagster release changed an internal that prov_dagster relies on."""


def _step_context(context: OutputContext | InputContext) -> Any | None:
    """The step execution context behind an IO manager context (``None`` when built for a direct call)."""
    return getattr(context, "_step_context", None)


def _asset_keys(outputs: Any) -> list[AssetKey]:
    """The asset keys of a step's ``outputs`` (of the running step, or of its plan snapshot) that write an asset."""
    return [o.properties.asset_key for o in outputs if o.properties is not None and o.properties.asset_key]


def _job_of(step_key: str, outputs: Any, plan: Callable[[], Iterable[tuple[str, Any]]], dagster_job: str | None,
            keys: Iterable[AssetKey] | None = None) -> str:
    """The job name of step ``step_key`` of Dagster job ``dagster_job`` (:func:`~prov_dagster.naming.step_job`) from
    its ``outputs`` and, for a step that writes no asset, the (step key, outputs) of every step of its run's ``plan``:
    those of its graph node write the graph's assets, and a plan with no asset or check output is an op job's; a step
    that writes no asset is named by the asset checks it evaluates (an ``@asset_check``'s, a ``@multi_asset_check``'s).
    ``keys``: every asset key of the step's op, or of its graph for a step inside a graph-backed asset, also those the
    run did not select (None: the keys of ``outputs``, of the graph's steps' outputs in ``plan``)."""
    inside = "." in step_key
    node_keys = ([key for outs in _node_outputs(step_key, outputs, plan) for key in _asset_keys(outs)]
                 if keys is None else list(keys))
    own, graph = (_asset_keys(outputs), node_keys) if inside else (node_keys, [])
    op_job = not own and not graph and dagster_job is not None and not any(
        o.properties is not None and (o.properties.asset_key or o.properties.asset_check_key)
        for _, outs in plan() for o in outs)
    checks = [o.properties.asset_check_key for o in outputs if o.properties is not None and o.properties.asset_check_key]
    return step_job(step_key, own, graph, op_job=dagster_job if op_job else None, checks=() if own or inside else checks)


def _node_keys(assets_def: Any) -> list[AssetKey] | None:
    """Every asset key of ``assets_def``'s op or graph (an ``AssetsDefinition``, also one subset to some of its keys;
    None for none), whatever a run selected."""
    return None if assets_def is None else list(assets_def.node_keys_by_output_name.values())


def _unselected(outputs: Any) -> bool:
    """Whether ``outputs`` (a step's, or its plan snapshot's) hold an asset output the run did not select: Dagster's
    plan gives such an output no asset key."""
    return any(o.properties is not None and getattr(o.properties, "is_asset", False) and o.properties.asset_key is None
               for o in outputs)


def _node_outputs(step_key: str, outputs: Any, plan: Callable[[], Iterable[tuple[str, Any]]]) -> list[Any]:
    """The outputs of each step of step ``step_key``'s graph node in ``plan`` (a step inside a graph-backed asset), or
    the step's own ``outputs``."""
    node, inside, _ = step_key.partition(".")
    return [outs for other, outs in plan() if other.startswith(f"{node}.")] if inside else [outputs]


def step_identity(step_context: Any) -> StepIdentity:
    """The identity of the step attempt running ``step_context`` (a ``StepExecutionContext``), its job named by
    :func:`~prov_dagster.naming.step_job` from the assets the step (or its graph) writes: all the keys of its op,
    also those the run did not select."""
    step = step_context.step

    def planned() -> Iterable[tuple[str, Any]]:  # the whole plan, also in a step's own process
        return ((s.key, s.step_outputs) for s in step_context.execution_plan.step_dict.values())

    layer = getattr(step_context.job_def, "asset_layer", None)
    keys = (_node_keys(layer.get_assets_def_for_node(step.node_handle.root))
            if layer is not None and any(map(_unselected, _node_outputs(step.key, step.step_outputs, planned))) else None)

    return StepIdentity(step_context.run_id, step_context.job_name, step.key, step_context.previous_attempt_count,
                        job=_job_of(step.key, step.step_outputs, planned, step_context.job_name, keys),
                        run_namespace=run_namespace(defined_configs(step_context.job_def.resource_defs,
                                                                    step_context.dagster_run)),
                        **reexecution(step_context.dagster_run))


_ABSENT = object()


def init_run(context: Any) -> Any | None:
    """The Dagster run of a resource's ``InitResourceContext`` (None outside a run): its ``run``, as Dagster 1.13
    deprecates ``dagster_run``; ``dagster_run`` on an older release, which has no ``run`` (1.10)."""
    run = getattr(context, "run", _ABSENT)
    return getattr(context, "dagster_run", None) if run is _ABSENT else run


def reexecution(dagster_run: Any) -> dict[str, str | None]:
    """The :class:`StepIdentity` fields naming the run that ``dagster_run`` re-executes and the first run of those
    re-executions (both None for a run that is no re-execution)."""
    return {"reexecution_of": getattr(dagster_run, "parent_run_id", None),
            "reexecution_root": getattr(dagster_run, "root_run_id", None)}


def planned_steps(instance: Any, dagster_run: Any) -> Mapping[str, Any]:
    """Step key -> the step's snapshot in the execution plan of ``dagster_run`` in ``instance`` (empty when the plan
    is not found), for :func:`planned_step_job`."""
    snapshot_id = getattr(dagster_run, "execution_plan_snapshot_id", None)
    try:
        plan = instance.get_execution_plan_snapshot(snapshot_id) if snapshot_id else None
    except Exception:  # noqa: BLE001 - a sensor closing the run never stops on it: the step key names the job
        plan = None
    return {} if plan is None else {s.key: s for s in plan.steps}


def planned_step_job(steps: Mapping[str, Any], step_key: str, dagster_job: str,
                     assets_defs: Callable[[], Mapping[AssetKey, Any]] = dict, *, selected: bool = False) -> str | None:
    """The job name of step ``step_key`` of Dagster job ``dagster_job`` (as :func:`step_identity` names it), from its
    run's planned ``steps`` (:func:`planned_steps`); the step key when the plan is not found. A plan holds a mapped
    op's step once, as ``<step key>[?]``.

    The plan of a run that selected some of an op's (or a graph-backed asset's) assets gives the others no key: the
    op's keys are then read from ``assets_defs`` (its code location's ``AssetsDefinition`` by asset key), and None is
    returned when it holds none of them, the job being unknown, unless ``selected``: then the step is named by the keys
    the run selected."""
    step = steps.get(step_key) or steps.get(f"{mapped_step(step_key)[0]}[?]")
    outputs = step.outputs if step is not None else ()

    def plan() -> Iterable[tuple[str, Any]]:
        return ((s.key, s.outputs) for s in steps.values())

    keys, node = None, _node_outputs(step_key, outputs, plan)
    if any(map(_unselected, node)) and (chosen := [key for outs in node for key in _asset_keys(outs)]):
        defined = assets_defs()
        keys = next((_node_keys(defined[key]) for key in chosen if key in defined), None)
        if keys is None and not selected:
            return None
    return _job_of(step_key, outputs, plan, dagster_job if steps else None, keys)


def defined_assets(repository_def: Any) -> Mapping[AssetKey, Any]:
    """The ``AssetsDefinition`` of each asset key of a code location's ``repository_def`` (none without one)."""
    return getattr(repository_def, "assets_defs_by_key", None) or {}


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
    return _attempt_of(_step_context(context))


def computing_step() -> tuple[str, str, str, int] | None:
    """(dagster run id, job name, step key, attempt) of the step whose compute function is running, as
    :func:`run_context` gives it to that step's IO manager; ``None`` outside one (an asset called directly)."""
    from dagster import OpExecutionContext
    from dagster._check import CheckError
    from dagster._core.errors import DagsterInvariantViolationError

    try:
        return _attempt_of(OpExecutionContext.get().get_step_execution_context())
    except (DagsterInvariantViolationError, CheckError):  # no step in scope, or a context built for a direct call
        return None


def _attempt_of(step_context: Any | None) -> tuple[str, str, str, int] | None:
    if step_context is None:
        return None
    return step_context.run_id, step_context.job_name, step_context.step.key, step_context.previous_attempt_count


def expected_outputs(context: OutputContext, same_run: Callable[[Any], bool]) -> tuple[str, ...] | None:
    """Names of the outputs of ``context``'s step whose handling ends the step: once all are handled, the
    step's run can be completed.

    The step's selected outputs that are not ``Nothing``, when all go to IO managers that record into the
    run of ``context``'s (``same_run(io_manager)`` is asked of those under another key than ``context``'s)
    and the step's code has returned by the time they are handed over. ``None`` when the step can still
    work or fail after its last such output: a generator compute function, a dynamic output, an asset
    check evaluated in the step, an output that goes elsewhere; its run is then ended when the IO manager
    is torn down, as Dagster recorded the step (:mod:`prov_dagster.steps`).
    """
    step_context = _step_context(context)
    if step_context is None:
        return (context.name,)
    op_def = step_context.op_def
    if not _returns(op_def.compute_fn):
        return None
    key = op_def.output_def_named(context.name).io_manager_key
    selected = step_context.selected_output_names  # a subsetted multi-asset runs only some outputs
    names = []
    for out in step_context.step.step_outputs:
        if out.name not in selected:
            continue
        if out.properties.asset_check_key is not None:
            return None
        definition = op_def.output_def_named(out.name)
        if definition.dagster_type.is_nothing:
            continue
        if definition.is_dynamic or (definition.io_manager_key != key
                                     and not same_run(getattr(step_context.resources, definition.io_manager_key, None))):
            return None
        names.append(out.name)
    return tuple(names)


def _returns(compute_fn: Any) -> bool:
    """Whether an op's compute function returns its outputs (a plain or ``async`` function decorated as an op or
    asset), so that Dagster hands them over after the function ended; not a generator, nor an unknown callable."""
    function = getattr(compute_fn, "decorated_fn", None)
    if function is None:
        return False
    return not any(inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f) for f in (function, inspect.unwrap(function)))


def _handed_outputs(op_def: Any) -> list[Any]:
    """The output definitions of ``op_def`` that hand a value to an IO manager (not ``Nothing``)."""
    return [out for out in op_def.output_defs if not out.dagster_type.is_nothing]


def output_io_managers(context: OutputContext | InputContext) -> list[Any] | None:
    """The IO managers of the outputs of ``context``'s step that hand over a value (not ``Nothing``), in output
    order, once each; ``None`` outside a run (a context built for a direct call)."""
    step_context = _step_context(context)
    if step_context is None:
        return None
    resources = step_context.resources
    keys = dict.fromkeys(out.io_manager_key for out in _handed_outputs(step_context.op_def))
    return [getattr(resources, key) for key in keys if hasattr(resources, key)]


def required_resources(step_context: Any) -> list[Any]:
    """The resources the step running ``step_context`` requires (its IO managers, those of its inputs, the rest)."""
    resources = step_context.resources
    return [getattr(resources, key) for key in sorted(step_context.required_resource_keys) if hasattr(resources, key)]


def step_resources(context: InputContext) -> list[Any] | None:
    """The resources of the step loading ``context``'s input: the IO managers of its outputs (in output order),
    then the resources it requires that are not IO managers (those of its inputs' writers are left out);
    ``None`` outside a run (a context built for a direct call)."""
    outputs = output_io_managers(context)
    step_context = _step_context(context)
    if outputs is None or step_context is None:
        return None
    resources = step_context.resources
    output_keys = {out.io_manager_key for out in step_context.op_def.output_defs}
    others = [getattr(resources, key) for key in sorted(step_context.required_resource_keys - output_keys) if hasattr(resources, key)]
    return [*outputs, *(r for r in others if not isinstance(r, IOManager))]


def set_loaded_input_metadata(context: InputContext, metadata: Mapping[str, Any]) -> None:
    """Put ``metadata`` on the step's ``LOADED_INPUT`` event, which the Dagster instance keeps with the run.
    ``InputContext.add_input_metadata`` would also record an asset observation of the loaded asset, which
    is no fact about that asset."""
    if _step_context(context) is None:
        return
    if not isinstance(getattr(context, "_user_generated_metadata", None), dict):
        raise DagsterCompatError(
            "InputContext._user_generated_metadata is gone in this Dagster release; prov_dagster cannot tell the "
            "step that writes a graph-backed asset what the graph's other steps read. Pin dagster<=1.13."
        )
    context._user_generated_metadata.update(normalize_metadata(dict(metadata)))  # noqa: SLF001


def inside_graph(context: OutputContext | InputContext) -> bool:
    """Whether ``context``'s step is an op inside a graph (a graph-backed asset's), not a node of its own."""
    step_context = _step_context(context)
    return step_context is not None and step_context.node_handle.parent is not None


def graph_steps_upstream(context: OutputContext) -> tuple[str, ...]:
    """The node handles (``features.clean_rows``) of the other ops of the graph-backed asset that
    ``context`` writes, on which the asset depends; ``()`` for an asset that is one op, or outside a run."""
    step_context = _step_context(context)
    if not inside_graph(context) or not context.has_asset_key:
        return ()
    own = step_context.node_handle
    handles = step_context.job_def.asset_layer.upstream_dep_op_handles(context.asset_key)
    return tuple(sorted(str(h) for h in handles if h != own))


def step_context_of(context: OutputContext | InputContext) -> Any | None:
    """The step execution context behind an IO manager context (``None`` when built for a direct call)."""
    return _step_context(context)


def declared_upstream(step_context: Any) -> tuple[AssetKey, ...]:
    """The asset keys that the step's selected assets depend on, other than their own (arguments, ``deps=[...]``,
    observable sources), as Dagster versions them in ``dagster/input_data_version/<key>``; ``()`` for a step
    that is no asset, or an op inside a graph (:mod:`prov_dagster.graphs` records what the graph's ops read)."""
    if step_context.node_handle.parent is not None or not step_context.is_sda_step:
        return ()
    layer = step_context.job_def.asset_layer
    own = step_context.get_output_asset_keys()
    upstream = (key for out in own if layer.has(out) for key in layer.get(out).parent_keys)
    return tuple(dict.fromkeys(key for key in upstream if key not in own))


def upstream_pointer(step_context: Any, key: AssetKey) -> tuple[int, bool] | None:
    """(storage id, is a materialization) of the event of ``key`` that Dagster tags as the version the step used
    (``dagster/input_event_pointer/<key>``, found when the step started); ``None`` when there is none."""
    info = step_context.maybe_fetch_and_get_input_asset_version_info(key)
    if info is None:
        return None
    return info.storage_id, info.event_type == DagsterEventType.ASSET_MATERIALIZATION


def upstream_partitions(step_context: Any, key: AssetKey) -> list[str] | None:
    """The partitions of ``key`` that the step's partition maps to (its partition mapping), or ``None`` when
    ``key`` is not partitioned or no input of the step stands for it."""
    name = step_context.job_def.asset_layer.get_node_input_name(step_context.node_handle, key)
    if name is None or not step_context.has_asset_partitions_for_input(name):
        return None
    return list(step_context.asset_partitions_subset_for_input(name, require_valid_partitions=False).get_partition_keys())


def _written_assets_def(context: OutputContext) -> Any | None:
    """The ``AssetsDefinition`` of the asset an output context writes (``None``: an op's output, or a context built
    for a direct call)."""
    step_context = _step_context(context)
    if step_context is None or not context.has_asset_key:
        return None
    layer = step_context.job_def.asset_layer
    return layer.get(context.asset_key).assets_def if layer.has(context.asset_key) else None


def backfill_policy(context: OutputContext) -> Any | None:
    """The ``BackfillPolicy`` of the asset an output context writes (``None``: none declared, or built for a direct call)."""
    assets_def = _written_assets_def(context)
    return assets_def.backfill_policy if assets_def is not None else None


def asset_tags(context: OutputContext) -> Mapping[str, str] | None:
    """The tags of the asset an output context writes (``tdprov/training`` on a plain ``@asset``); ``None`` for an
    op's output or a context built for a direct call."""
    assets_def = _written_assets_def(context)
    return assets_def.specs_by_key[context.asset_key].tags if assets_def is not None else None


def is_materializable(step_context: Any, key: AssetKey) -> bool:
    """Whether the run's asset graph can materialize ``key`` (``False`` for an external ``AssetSpec`` and an
    observable source, which no step writes; ``True`` when the graph does not know it)."""
    graph = step_context.job_def.asset_layer.asset_graph
    return graph.get(key).is_materializable if graph.has(key) else True


def resource_configs(repository_def: Any, dagster_run: Any = None) -> list[tuple[type, Mapping[str, Any]]]:
    """The class and the config given in code of each top-level resource of a code location that is a Pythonic
    (``ConfigurableResource``) one, with the fields the run config of ``dagster_run`` gives it at launch
    (:func:`defined_configs`); an ``EnvVar`` field is ``{"env": <name>}``. Empty without a repository."""
    top_level = getattr(repository_def, "get_top_level_resources", None)
    return defined_configs(top_level() if top_level is not None else {}, dagster_run)


def defined_configs(resources: Mapping[str, Any], dagster_run: Any = None) -> list[tuple[type, Mapping[str, Any]]]:
    """The class and the config of each Pythonic (``ConfigurableResource``) resource definition of ``resources`` (a
    code location's top-level resources, a Dagster job's ``resource_defs``): as given in code, with the fields that
    the run config of ``dagster_run`` (given at launch, the same for every step of the run) gives it instead."""
    launched = _launched_configs(getattr(dagster_run, "run_config", None))
    found = []
    for key, resource in resources.items():
        cls = getattr(resource, "configurable_resource_cls", None)
        schema = getattr(resource, "config_schema", None)
        config = schema.default_value if schema is not None and schema.default_provided else {}
        if isinstance(cls, type) and isinstance(config, Mapping):
            found.append((cls, {**config, **launched.get(key, {})}))
    return found


def _launched_configs(run_config: Any) -> dict[str, Mapping[str, Any]]:
    """Resource key -> the config a Dagster run config gives that resource (``{"resources": {key: {"config": ...}}}``)."""
    resources = run_config.get("resources") if isinstance(run_config, Mapping) else None
    if not isinstance(resources, Mapping):
        return {}
    return {key: entry["config"] for key, entry in resources.items()
            if isinstance(entry, Mapping) and isinstance(entry.get("config"), Mapping)}


def job_resource_defs(repository_def: Any, job_name: str | None) -> Mapping[str, Any]:
    """The resource definitions of Dagster job ``job_name`` of a code location (none when the job cannot be read from
    it, or without a repository: another code location's, an ephemeral job's)."""
    try:
        return repository_def.get_job(job_name).resource_defs
    except Exception:  # noqa: BLE001 - a sensor closing the run never stops on it: each run is named as its step's
        return {}
