"""The official OpenLineage Airflow provider's dataset names, renamed as tdprov names the same data.

The provider names a lineage ``File`` by its URL split as an object-store URI: a path ``/abs/p`` is
``("", "/abs/p")`` (an empty namespace, which the OpenLineage spec does not allow), ``file:///abs/p`` is
``("file://", "abs/p")`` and ``file://host/p`` is ``("file://host", "p")``; it keeps the host of an
``Asset("file://localhost/p")`` (``("file://localhost", "/p")``). tdprov names each of these as its listener
does (:func:`~prov_common.lineage.naming.file_dataset`: ``("file", "/abs/p")``), so one file is one dataset
whichever of them named it. Other datasets keep the provider's name.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prov_common.lineage.naming import file_dataset
from prov_common.w3cprov.events import DatasetState


def renamed(datasets: Any) -> Any:
    """``datasets`` (an event's ``inputs`` or ``outputs``), each named by
    :func:`~prov_common.lineage.naming.file_dataset`; entries that then name one dataset are one entry (the first
    with a version, else the first). Anything but a list of datasets is returned as it is (the event's validation
    then says what is wrong)."""
    if not isinstance(datasets, list) or not all(
            isinstance(d, Mapping) and isinstance(d.get("namespace"), str) and isinstance(d.get("name"), str)
            for d in datasets):
        return datasets
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for dataset in datasets:
        key = file_dataset(dataset["namespace"], dataset["name"])
        entry = {**dataset, "namespace": key[0], "name": key[1]}
        kept = found.get(key)
        if kept is None or (dataset_version(kept) is None and dataset_version(entry) is not None):
            found[key] = entry
    return list(found.values())


def dataset_version(dataset: Mapping[str, Any]) -> str | None:
    """The version (content digest) an event's dataset entry carries in its facets, ``None`` when it has none."""
    facets = dataset.get("facets")
    return DatasetState(str(dataset.get("namespace")), str(dataset.get("name")),
                        facets=dict(facets) if isinstance(facets, Mapping) else {}).version
