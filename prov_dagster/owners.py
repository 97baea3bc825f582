"""Who a data file belongs to: the owner its sidecar names, and the rule that a write never takes over another's file.

A dataset is ``(namespace, name)``; the IO manager's data file of an asset (partition) or op output is named
after its key and partition only, so two owners can map to one file: an asset key ``x/y`` and partition
``y`` of asset ``x``, or the same asset key under two namespaces writing to one data root. The sidecar
records the owner (namespace, asset and partition, or op output) of what was written last; a write for
another owner is refused before any byte is replaced, and a load for another asset, partition or op output (the
namespace aside: another code location's asset is read where its own wrote it) is refused. A sidecar that names no owner (written before the
owner fields were) blocks nothing, and a field it lacks is not compared.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prov_common.errors import BadInputError

OWNER_FIELDS = ("namespace", "asset", "partition", "output")
"""Sidecar fields that say whose data the file holds."""


class OtherOwnerError(BadInputError):
    """A data file holds another asset's (partition's, namespace's) data: writing over it was refused."""


def other_owner(recorded: Any, ours: Mapping[str, Any], loading: bool = False) -> dict[str, Any] | None:
    """The owner fields of sidecar ``recorded`` when it names an owner other than ``ours`` (owner fields of the data
    about to be written; ``loading``: about to be loaded, the namespace aside), else None: the same owner, or one it
    does not say."""
    if not isinstance(recorded, Mapping):
        return None
    fields = [f for f in OWNER_FIELDS if not (loading and f == "namespace")]  # a load reads another location's asset
    theirs = {f: recorded[f] for f in fields if f in recorded}
    differs = any(_text(value) != _text(ours.get(f)) for f, value in theirs.items())
    return theirs if differs else None


def refuse_other_owner(uri: str, theirs: Mapping[str, Any], ours: Mapping[str, Any],
                       loading: bool = False) -> OtherOwnerError:
    """The error for a write (``loading``: a load) of ``ours`` at ``uri``, which holds the data of ``theirs``, naming
    both and the fix."""
    namespaces_differ = "namespace" in theirs and _text(theirs["namespace"]) != _text(ours.get("namespace"))
    fix = ("give the IO managers of the two namespaces data roots of their own (data_root=...), or use one namespace"
           if namespaces_differ else
           "give one of the two another asset key or partition key (an asset key part and a partition key of the same "
           "name map to one file), or write one of them through an IO manager with a data_root of its own")
    them, us = describe(theirs, namespaces_differ), describe(ours, namespaces_differ)
    if loading:
        return OtherOwnerError(f"{uri} holds the data of {them}; {us} maps to the same file and was not loaded (what is "
                               "there is not its data).", fix=fix)
    return OtherOwnerError(
        f"{uri} holds the data of {them}; {us} maps to the same file and was not written (writing it would replace "
        "the other's data).",
        fix=f"{fix}; if the data of {them} is no longer wanted there, delete {uri}.tdprov.json to hand the file over",
    )


def describe(owner: Mapping[str, Any], with_namespace: bool = True) -> str:
    """An owner as messages name it: ``asset 'x' partition 'y' (namespace dagster://prod)``."""
    if owner.get("asset") is not None:
        text = f"asset {owner['asset']!r}" + (f" partition {str(owner['partition'])!r}" if owner.get("partition") is not None else "")
    elif owner.get("output") is not None:
        text = str(owner["output"])
    else:
        text = "an unnamed owner"
    return text + (f" (namespace {owner['namespace']})" if with_namespace and owner.get("namespace") else "")


def _text(value: Any) -> str | None:
    """A field as compared: text (a multi-partition key is its string), None as None."""
    return None if value is None else str(value)
