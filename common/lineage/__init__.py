"""OpenLineage events of tdprov: custom facets, event builders, dataset naming, redaction and run context.

Build events with :func:`build_run_event` from :class:`DatasetRef` s; send them as plain dicts
(:func:`event_to_dict`); check events received from any producer with :func:`parse_event`.

Names are loaded on first use: the builders load pandas and the openlineage client, while the
transport, PROV and bundles only need :mod:`.validate` and :mod:`.redact`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from prov_common.lazy import lazy_names

_LAZY = {
    "DEFAULT_LIBRARIES": "context",
    "RunContext": "context",
    "collect_run_context": "context",
    "library_versions": "context",
    "DatasetRef": "datasets",
    "assertions_facet": "datasets",
    "content_hash_facet": "datasets",
    "input_dataset": "datasets",
    "metrics_facet": "datasets",
    "output_dataset": "datasets",
    "pandera_facet": "datasets",
    "quality_test_facet": "datasets",
    "schema_facet": "datasets",
    "ParentRef": "events",
    "build_run_event": "events",
    "context_job_facets": "events",
    "error_facet": "events",
    "parent_facet": "events",
    "processing_engine_facet": "events",
    "run_context_facet": "events",
    "CONTENT_HASH": "facets",
    "CUSTOM_FACETS": "facets",
    "ContentHashDatasetFacet": "facets",
    "PANDERA": "facets",
    "PanderaCheck": "facets",
    "PanderaDatasetFacet": "facets",
    "RUN_CONTEXT": "facets",
    "RunContextRunFacet": "facets",
    "schema_path": "facets",
    "schema_url": "facets",
    "DEFAULT_JOB_NAMESPACE": "naming",
    "clean_namespace": "naming",
    "dataset_from_uri": "naming",
    "dataset_uri": "naming",
    "REDACTED": "redact",
    "is_secret_key": "redact",
    "redact_identity": "redact",
    "redact_mapping": "redact",
    "redact_namespace": "redact",
    "redact_text": "redact",
    "redact_uri": "redact",
    "redact_value": "redact",
    "event_to_dict": "serde",
    "event_to_json": "serde",
    "EVENT_TYPES": "validate",
    "parse_event": "validate",
    "parse_run_event": "validate",
}

if TYPE_CHECKING:  # pragma: no cover
    from prov_common.lineage.context import DEFAULT_LIBRARIES, RunContext, collect_run_context, library_versions
    from prov_common.lineage.datasets import (
        DatasetRef,
        assertions_facet,
        content_hash_facet,
        input_dataset,
        metrics_facet,
        output_dataset,
        pandera_facet,
        quality_test_facet,
        schema_facet,
    )
    from prov_common.lineage.events import (
        ParentRef,
        build_run_event,
        context_job_facets,
        error_facet,
        parent_facet,
        processing_engine_facet,
        run_context_facet,
    )
    from prov_common.lineage.facets import (
        CONTENT_HASH,
        CUSTOM_FACETS,
        PANDERA,
        RUN_CONTEXT,
        ContentHashDatasetFacet,
        PanderaCheck,
        PanderaDatasetFacet,
        RunContextRunFacet,
        schema_path,
        schema_url,
    )
    from prov_common.lineage.naming import DEFAULT_JOB_NAMESPACE, clean_namespace, dataset_from_uri, dataset_uri
    from prov_common.lineage.redact import (
        REDACTED,
        is_secret_key,
        redact_identity,
        redact_mapping,
        redact_namespace,
        redact_text,
        redact_uri,
        redact_value,
    )
    from prov_common.lineage.serde import event_to_dict, event_to_json
    from prov_common.lineage.validate import EVENT_TYPES, parse_event, parse_run_event


__getattr__ = lazy_names(__name__, _LAZY, globals())
__all__ = sorted(_LAZY)
