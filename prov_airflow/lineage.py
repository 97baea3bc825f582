"""What an operator adds to its task's record, beyond the declared inlets and outlets (model, no I/O)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prov_common.bundle.attachments import Attachments
from prov_common.lineage.datasets import DatasetRef, input_dataset, output_dataset

from prov_airflow.links import BundleLink

LINEAGE_ATTR = "tdprov_lineage"
"""Attribute of an operator instance holding its :class:`TaskLineage`; the listener merges it."""


@dataclass
class TaskLineage:
    """Datasets (with digests and quality results), run facets and bundle attachments of one task run."""

    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: list[DatasetRef] = field(default_factory=list)
    run_facets: dict[str, Any] = field(default_factory=dict)
    attachments: Attachments = field(default_factory=Attachments)

    def operator_lineage(self) -> Any:
        """The same, as the OpenLineage provider's ``OperatorLineage`` (for ``get_openlineage_facets_on_*``)."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        return OperatorLineage(
            inputs=[input_dataset(ref) for ref in self.inputs],
            outputs=[output_dataset(ref) for ref in self.outputs],
            run_facets=dict(self.run_facets),
        )


def lineage_of(task: Any) -> TaskLineage:
    """The lineage an operator recorded during ``execute`` (empty when it recorded none)."""
    value = getattr(task, LINEAGE_ATTR, None)
    return value if isinstance(value, TaskLineage) else TaskLineage()


class LineageMixin:
    """Operator mixin: keeps a :class:`TaskLineage`, exposes it to the official OpenLineage provider, and
    gives the task the "tdprov bundle" extra link."""

    operator_extra_links = (BundleLink(),)

    def record_lineage(self) -> TaskLineage:
        lineage = getattr(self, LINEAGE_ATTR, None)
        if not isinstance(lineage, TaskLineage):
            lineage = TaskLineage()
            setattr(self, LINEAGE_ATTR, lineage)
        return lineage

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return lineage_of(self).operator_lineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return lineage_of(self).operator_lineage()
