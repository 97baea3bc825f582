"""A partition range in one step: ``ProvenanceIOManager`` versions one partition per step, so an asset whose
``BackfillPolicy`` runs several partitions in one run is named when the code location loads and refused (its step's
run sealed FAIL) when such a run hands it a range."""
from __future__ import annotations

import inspect
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from dagster import AssetsDefinition

from prov_common.errors import BadInputError
from prov_dagster.assets import returns_nothing_to_store
from prov_dagster.naming import dataset_name


class PartitionRangeError(BadInputError):
    """An asset output of several partitions handed to ``ProvenanceIOManager`` in one step."""


def policy_text(policy: Any) -> str:
    """How the user wrote the policy: ``BackfillPolicy.single_run()``, ``BackfillPolicy.multi_run(3)``."""
    n = getattr(policy, "max_partitions_per_run", None)
    return "BackfillPolicy.single_run()" if n is None else f"BackfillPolicy.multi_run({n})"


def one_partition_fix(policy: Any) -> str:
    """The fix for an asset whose backfill policy (``None``: none declared) runs a range in one step."""
    drop = (f"declare backfill_policy=BackfillPolicy.multi_run(1) instead of {policy_text(policy)} (or leave it out)"
            if policy is not None else "run one partition per run (the default for backfills)")
    return (f"{drop}, so that each partition is its own run and version; or write the range yourself and record it with "
            "ProvenanceResource.record(outputs=..., context=context), returning MaterializeResult")


def range_refusal(asset: str, partitions: list[str], policy: Any) -> PartitionRangeError:
    """The refusal of ``partitions`` of ``asset`` written in one step."""
    shown = f" ({partitions[0]!r} to {partitions[-1]!r})" if partitions else ""
    by = f" (its backfill_policy is {policy_text(policy)})" if policy is not None else ""
    return PartitionRangeError(f"asset {asset!r} materialized {len(partitions)} partitions{shown} in one step{by}; "
                               "ProvenanceIOManager records one partition per step.", fix=one_partition_fix(policy))


def ranged_assets(assets: Iterable[Any], io_managers: Mapping[str, Any], io_manager_type: type) -> list[str]:
    """A warning for each partitioned asset whose backfill policy runs several partitions in one step and whose
    output goes to an IO manager of ``io_manager_type`` (by its key in ``io_managers``); an asset whose function
    returns ``MaterializeResult`` or ``None`` writes its own data and is left out."""
    warnings = []
    for item in assets:
        if not isinstance(item, AssetsDefinition) or item.partitions_def is None:
            continue
        policy = item.backfill_policy
        if policy is None or policy.max_partitions_per_run == 1 or _writes_itself(item):
            continue
        outputs = item.node_def.output_dict.values() if hasattr(item.node_def, "output_dict") else ()
        if any(isinstance(io_managers.get(out.io_manager_key), io_manager_type) for out in outputs):
            names = ", ".join(repr(dataset_name(key)) for key in item.keys)
            warnings.append(f"tdprov: asset {names} has backfill_policy={policy_text(policy)}, so a backfill hands it a "
                            "range of partitions in one step, which ProvenanceIOManager refuses (after computing it). "
                            f"Fix: {one_partition_fix(policy)}.")
    return warnings


def _writes_itself(item: AssetsDefinition) -> bool:
    """Whether the asset's function is annotated to return ``MaterializeResult`` or ``None`` (nothing to store)."""
    compute = getattr(getattr(item.node_def, "compute_fn", None), "decorated_fn", None)
    if compute is None:
        return False
    try:
        returns = typing.get_type_hints(compute).get("return", inspect.Signature.empty)
    except Exception:  # an annotation that cannot be resolved: assume the IO manager stores the output
        return False
    return returns_nothing_to_store(returns)
