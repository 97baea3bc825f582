"""The official OpenLineage Airflow provider's dataset names, renamed as tdprov names the same data.

The provider names a lineage ``File`` by its URL split as an object-store URI: a path ``/abs/p`` is
``("", "/abs/p")`` (an empty namespace, which the OpenLineage spec does not allow), ``file:///abs/p`` is
``("file://", "abs/p")`` and ``file://host/p`` is ``("file://host", "p")``; it keeps the host of an
``Asset("file://localhost/p")`` (``("file://localhost", "/p")``). tdprov names each of these as its listener
does (:func:`~prov_common.lineage.naming.file_dataset`: ``("file", "/abs/p")``), so one file is one dataset
whichever of them named it. It names a ``File("hdfs://nn:8020/p")`` ``("hdfs://nn:8020", "p")``, which tdprov names
as the OpenLineage naming spec does, ``("hdfs://nn:8020", "/p")``, and a ``File("sftp://user@h/p")`` (or of another
of :data:`~prov_common.lineage.naming.PROVIDER_URL_SCHEMES`) ``("sftp", "user@h/p")``, which tdprov names as its
listener names that URL, ``("sftp://h", "/p")``. Other datasets keep the provider's name.

The provider takes a scheme for one of s3, gs, hdfs and file when it merely begins so (``File("gsiftp://h/p")`` is
``("gs://h", "p")``, a GCS object) and leaves ``;params`` out of a path (``File("https://h/p;v=2")`` is
``("https", "h/p")``): neither can be read back into the URL, so the listener notes, for each try, the provider's
name of each ``File`` it declares that tdprov names otherwise, as it notes an ``Asset``'s (below).

The provider names an ``Asset`` by its URI's path with its escapes (``Asset(Path("/d/a b.csv").as_uri())`` is
``("file", "/d/a%20b.csv")``), which an OpenLineage ``Dataset`` it passes on as given would name the file
``a%20b.csv``: the listener notes, for each try, the provider's name of each ``Asset`` it declares that tdprov names
otherwise (:func:`note_assets`, before the provider's hooks run; an ``Asset`` the task adds through an
``AssetAlias``, which the provider's COMPLETE names too, after ``execute``), and the try's events are named by that
note.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from prov_common.bounded import keep_newest
from prov_common.lineage.naming import file_dataset
from prov_common.w3cprov.events import DatasetState


Key = tuple[str, str]
_ASSETS: OrderedDict[str, dict[Key, Key]] = OrderedDict()
_LOCK = threading.Lock()
_NOTED = 1000


def note_assets(run_id: str, items: Iterable[Any]) -> None:
    """Note, for the try ``run_id``, the provider's name of each ``Asset`` and lineage ``File`` among ``items`` (its
    declared inlets and outlets, or the assets it added through an alias: :class:`~prov_airflow.capture.Named`) that
    tdprov names otherwise (``named.key``), beside what was noted for it before."""
    from airflow.providers.common.compat.lineage.entities import File
    from airflow.providers.openlineage.extractors.manager import ExtractorManager
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset

    aliases: dict[Key, Key] = {}
    for named in items:
        if isinstance(named.item, Asset):
            theirs = translate_airflow_asset(named.item, None)
        elif isinstance(named.item, File):
            theirs = ExtractorManager.convert_to_ol_dataset_from_object_storage_uri(named.item.url)
        else:
            continue
        key = file_dataset(theirs.namespace, theirs.name) if theirs is not None else None
        if key is not None and key != named.key:
            aliases[key] = named.key
    with _LOCK:
        keep_newest(_ASSETS, run_id, {**_ASSETS.get(run_id, {}), **aliases}, _NOTED)


def noted_assets(run_id: str) -> dict[Key, Key]:
    """What :func:`note_assets` noted for the try ``run_id`` (the provider's name -> tdprov's), empty when nothing."""
    with _LOCK:
        return dict(_ASSETS.get(run_id) or {})


def renamed(datasets: Any, assets: Mapping[Key, Key] | None = None) -> Any:
    """``datasets`` (an event's ``inputs`` or ``outputs``), each named by
    :func:`~prov_common.lineage.naming.file_dataset`, then by ``assets`` (:func:`noted_assets` of its run); entries
    that then name one dataset are one entry (the first with a version, else the first). Anything but a list of
    datasets is returned as it is (the event's validation then says what is wrong)."""
    if not isinstance(datasets, list) or not all(
            isinstance(d, Mapping) and isinstance(d.get("namespace"), str) and isinstance(d.get("name"), str)
            for d in datasets):
        return datasets
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for dataset in datasets:
        key = file_dataset(dataset["namespace"], dataset["name"])
        key = (assets or {}).get(key, key)
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
