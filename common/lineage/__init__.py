"""OpenLineage events of tdprov: custom facets, event builders, dataset naming, redaction and run context.

Build events with :func:`build_run_event` from :class:`DatasetRef` s; send them as plain dicts
(:func:`event_to_dict`); check events received from any producer with :func:`parse_event`.
"""
from __future__ import annotations

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
from prov_common.lineage.redact import REDACTED, is_secret_key, redact_mapping, redact_text, redact_uri, redact_value
from prov_common.lineage.serde import EVENT_TYPES, event_to_dict, event_to_json, parse_event

__all__ = [
    "CONTENT_HASH",
    "CUSTOM_FACETS",
    "DEFAULT_JOB_NAMESPACE",
    "DEFAULT_LIBRARIES",
    "EVENT_TYPES",
    "PANDERA",
    "REDACTED",
    "RUN_CONTEXT",
    "ContentHashDatasetFacet",
    "DatasetRef",
    "PanderaCheck",
    "PanderaDatasetFacet",
    "ParentRef",
    "RunContext",
    "RunContextRunFacet",
    "assertions_facet",
    "build_run_event",
    "clean_namespace",
    "collect_run_context",
    "content_hash_facet",
    "context_job_facets",
    "dataset_from_uri",
    "dataset_uri",
    "error_facet",
    "event_to_dict",
    "event_to_json",
    "input_dataset",
    "is_secret_key",
    "library_versions",
    "metrics_facet",
    "output_dataset",
    "pandera_facet",
    "parent_facet",
    "parse_event",
    "processing_engine_facet",
    "quality_test_facet",
    "redact_mapping",
    "redact_text",
    "redact_uri",
    "redact_value",
    "run_context_facet",
    "schema_facet",
    "schema_path",
    "schema_url",
]
