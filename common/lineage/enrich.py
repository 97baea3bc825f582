"""Content digests for any OpenLineage producer's events in flight, for every backend they go to.

:class:`ContentHashTransformer` is an openlineage-python ``EventTransformer``: with the standard
``transform`` transport it sits in front of any inner transport (Marquez over HTTP, Kafka, a file) and
adds, to each dataset an event names that lives in a file or an S3 object and carries no version yet,
the dataset's content digest as its version (``version`` facet), the ``schema`` facet of a table and
tdprov's ``tdprov_contentHash`` facet, with the SHA-256 of the bytes (read from the same opening), so a bundle of
the events names the file as the listener's would. Outputs are hashed when a run completes; inputs when it starts,
and again when it completes (a producer may name them then only), but for an input the completing event also names
as an output: the run rewrote it, so its bytes then are not what it read.
A dataset that cannot be read (gone, no credentials, S3 refusing the request or down, not data, a relative name in
namespace ``file``), or that is named by no string (a namespace or name that is null, a number or an object:
openlineage-python does not check them, and another producer may send one), or is no dataset (an entry that is a
dict, inputs or outputs that are no list), or whose facets are no object (a list), is passed on unchanged with a warning
naming it: enriching never drops or blocks an event.

Configuration, e.g. for the official Airflow provider (``AIRFLOW__OPENLINEAGE__TRANSPORT``)::

    {"type": "transform",
     "transformer_class": "prov_common.lineage.enrich.ContentHashTransformer",
     "transport": {"type": "http", "url": "http://marquez:5000"}}
"""
from __future__ import annotations

import logging
from typing import Any

from openlineage.client.transport.transform import EventTransformer

from prov_common.errors import TdprovError
from prov_common.file_uri import local_namespace
from prov_common.lineage.datasets import DatasetRef, input_dataset, output_dataset
from prov_common.lineage.naming import dataset_uri, file_dataset
from prov_common.text import shown_value

log = logging.getLogger(__name__)

_HASH_AT = {"inputs": ("START", "COMPLETE"), "outputs": ("COMPLETE",)}
_NO_DIGEST = "tdprov: no content digest for %s (%s); the event goes on without one"


def _event_type(event: Any) -> str:
    kind = getattr(event, "eventType", None)
    return str(getattr(kind, "value", kind) or "")


def _key(dataset: Any) -> tuple[str, str]:
    """The dataset an event's entry names, as tdprov names it (a local file however its path is spelled)."""
    namespace, name = file_dataset(dataset.namespace, dataset.name)
    return local_namespace(namespace), name


def _named(event: Any, side: str, *, warn: bool) -> list[tuple[Any, tuple[str, str]]]:
    """The datasets of ``event``'s ``side`` (``inputs`` or ``outputs``), each with its key (:func:`_key`). One whose
    namespace or name is no string, or an entry that is no dataset, is left out, as given, with a warning (if ``warn``)
    naming the run, its place (``inputs[0]``) and what is wrong; so are all of a side that is no list."""
    datasets, run = getattr(event, side, None) or [], getattr(getattr(event, "run", None), "runId", None)
    if not isinstance(datasets, (list, tuple)):
        if warn:
            log.warning(_NO_DIGEST, f"the {side} of run {run}", f"{side} is of type {type(datasets).__name__}, not a list")
        return []
    named = []
    for at, dataset in enumerate(datasets):
        if not (hasattr(dataset, "namespace") and hasattr(dataset, "name")):
            wrong = [f"it is of type {type(dataset).__name__}, not a dataset"]
        else:
            wrong = [f"its {field} is {shown_value(value)}, not a string" for field in ("namespace", "name")
                     if not isinstance(value := getattr(dataset, field), str)]
        if not wrong:
            named.append((dataset, _key(dataset)))
        elif warn:
            log.warning(_NO_DIGEST, f"{side}[{at}] of run {run}", " and ".join(wrong))
    return named


def _located(namespace: str) -> bool:
    """Whether a namespace, as :func:`~prov_common.file_uri.local_namespace` gives it, is of files or S3 objects."""
    return namespace == "file" or namespace.startswith("s3://")


class ContentHashTransformer(EventTransformer):
    """Adds content digests (``version``, ``schema``, ``tdprov_contentHash``) to located datasets of run events.

    Properties: ``hash_inputs`` / ``hash_outputs`` (default true) turn either side off.
    """

    def transform(self, event: Any) -> Any:
        kind = _event_type(event)
        hashed = {side for side, kinds in _HASH_AT.items()
                  if kind in kinds and self.properties.get(f"hash_{side}", True) not in (False, "false", "False")}
        outputs = _named(event, "outputs", warn="outputs" in hashed) if kind == "COMPLETE" else []
        written = {key for _, key in outputs}
        for side, builder in (("inputs", input_dataset), ("outputs", output_dataset)):
            if side not in hashed:
                continue
            named = outputs if side == "outputs" else _named(event, side, warn=True)
            for dataset, key in named:
                if side == "inputs" and key in written:
                    continue  # rewritten by the run: its bytes now are what it wrote, not what it read
                self._enrich(dataset, builder, key)
        return event

    @staticmethod
    def _enrich(dataset: Any, builder: Any, key: tuple[str, str]) -> None:
        """Add the content digest of ``dataset``, which tdprov names ``key`` (:func:`_key`: once, as file_dataset gives
        back a name it cannot read as it was given)."""
        facets = getattr(dataset, "facets", None)
        namespace, name = key
        if (isinstance(facets, dict) and "version" in facets) or not _located(namespace):
            return
        from prov_common.hashing import hash_path  # loads on use: it imports pandas and pyarrow

        try:
            location = dataset_uri(namespace, name)
        except ValueError as exc:  # a relative name in namespace "file": no file of this machine by itself
            log.warning(_NO_DIGEST, f"{name!r} in namespace {namespace!r}", exc)
            return
        if facets is not None and not isinstance(facets, dict):  # ours would replace them: the producer's are kept
            log.warning(_NO_DIGEST, location,
                        f"its facets are of type {type(facets).__name__}, not an object: they are kept as given")
            return
        try:
            digest = hash_path(location, file_sha256=True)
        except (TdprovError, OSError, ValueError) as exc:
            log.warning(_NO_DIGEST, location, exc)
            return
        except Exception as exc:  # noqa: BLE001 - botocore's: a refused request, no credentials, an endpoint down
            from prov_common.refusals import as_refusal

            log.warning(_NO_DIGEST, location, as_refusal(exc))
            return
        built = builder(DatasetRef(namespace=dataset.namespace, name=dataset.name, digest=digest))
        dataset.facets = {**built.facets, **(facets or {})}
