"""The index entries the lineage of one dataset needs (``tdprov lineage``), instead of every entry of the store.

An audit's signed catalog (:mod:`~prov_common.audit.catalog`) holds what each run it examined read and wrote. Of
the runs it found sound, signed by a key trusted here now, and still indexed under the key it logged, it tells
which ones can be in the lineage of a dataset: only their index entries are read. Every other run (uncatalogued:
sealed since the last audit; or doubted: a finding, an untrusted signer, a moved entry) is read from its index
entry, as before. So a run missing from the catalog is never missing from a lineage, and no entry is taken on the
catalog's word: the runs a lineage shows are verified from their bundles by the caller, as before.

Which catalogued runs can matter, by content digest (a name in the catalog might be spelled otherwise than in an
entry; a digest is the same): upstream, every run that generated a version on the way and, for the "same content
as" names, one reader of each dataset holding it; downstream, every run that read or generated a version on the
way. A query the catalog's runs do not name (an asset key, a name no run wrote) reads every entry.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prov_common.audit.model import RunRecord
from prov_common.bundle.model import BundleSummary
from prov_common.signing import TrustStore
from prov_common.store.base import Store

if TYPE_CHECKING:
    from prov_common.audit.recorded import Catalogued

DataKey = tuple[str, str]
"""A version by content (``("v", normal digest)``), or a dataset without a version by its PROV id (``("d", id)``)."""


def data_key(dataset: Any) -> DataKey:
    """The :data:`DataKey` of a dataset a run read or wrote (namespace, name, version)."""
    from prov_common.w3cprov.graph import named_ids
    from prov_common.w3cprov.identity import normal_version

    if dataset.version:
        return "v", normal_version(dataset.version)
    return "d", named_ids(dataset.namespace or "", dataset.name or "", None)[0]


@dataclass
class LineageScope:
    """The index of a store as a lineage of one dataset reads it: ``keys`` (run id -> index key, as listed),
    ``taken`` (catalogued runs whose entries are read only when the lineage can reach them) and ``read``
    (the entries read so far, by the run id they summarise); ``catalogued``: the catalog, as loaded once (for
    :meth:`RecordedRuns.of <prov_common.audit.recorded.RecordedRuns.of>`)."""

    store: Store
    keys: dict[str, str]
    taken: dict[str, RunRecord]
    catalogued: Catalogued
    read: dict[str, BundleSummary] = field(default_factory=dict)
    tried: set[str] = field(default_factory=set)
    unlisted: dict[str, str] = field(default_factory=dict)  # entries read that neither they nor their bundles summarise

    @classmethod
    def of(cls, store: Store, trust: TrustStore, audit_trust: TrustStore | None = None) -> "LineageScope":
        """One listing of the index, the catalog (signatures by ``audit_trust``, default ``trust``), and the entries
        of every run the catalog does not vouch for."""
        from prov_common.audit.recorded import Catalogued
        from prov_common.bundle import layout
        from prov_common.bundle.storage import index_keys

        keys: dict[str, str] = {}
        for key in index_keys(store):
            keys[layout.run_id_of_index_key(key) or key] = key
        catalogued = Catalogued.of(store, trust, audit_trust)
        taken = {run_id: record for run_id, record in catalogued.vouched.items() if keys.get(run_id) == record.index_key}
        scope = cls(store, keys, taken, catalogued)
        scope._read(run_id for run_id in keys if run_id not in taken)
        return scope

    def summaries(self) -> list[BundleSummary]:
        """The entries read so far, oldest first (as :func:`~prov_common.w3cprov.collect.summaries` gives them)."""
        return sorted(self.read.values(), key=lambda s: s.cursor or "")

    def every(self) -> list[BundleSummary]:
        """Every entry of the index (those not read yet are read now)."""
        self._read(self.keys)
        return self.summaries()

    def unindexed(self) -> list[RunRecord]:
        """The runs the catalog vouches for that have no index entry now (deleted since the audit, or the store copied back
        to an earlier state), as the catalog records them: the lineage checks whether their bundles are gone too."""
        return [record for run_id, record in self.catalogued.vouched.items() if run_id not in self.keys]

    def reaching(self, query: str, direction: str, found: Sequence[BundleSummary] | None = None, drop: Container[str] = (),
                 every_reader: bool = False) -> list[BundleSummary] | None:
        """The entries the lineage of ``query`` (``direction``: upstream or downstream) can need: ``found`` (default: the
        entries read; a caller passes them as corrected from their bundles) and the entries of the catalogued runs connected
        to ``query`` by content, read now, except the runs ``drop`` (left out: their bundles do not verify).
        ``every_reader``: upstream too, every reader of a version on the way (whose quality checks of it are shown).
        None when no recorded run names ``query``: the caller reads every entry (:meth:`every`)."""
        found = self.summaries() if found is None else list(found)
        views: list[Any] = [*self.taken.values(), *found]  # run records and entries alike: run_id, inputs, outputs
        seeds = _named(views, query)
        if not seeds:
            return None
        needed = _connected(views, seeds, direction, every_reader) - set(drop)
        self._read(run_id for run_id in self.taken if run_id in needed)
        known = {s.run_id for s in found}
        more = [s for run_id, s in self.read.items() if run_id in self.taken and run_id in needed and run_id not in known]
        return sorted([*found, *more], key=lambda s: s.cursor or "")

    def _read(self, run_ids: Iterable[str]) -> None:
        """Read the index entries of ``run_ids`` not read yet (one whose entry and bundle cannot be read is left out and
        added to ``unlisted``: run id, or key of an entry that names none, -> why)."""
        from prov_common.bundle.storage import listed_entry

        for run_id in [i for i in run_ids if i in self.keys and i not in self.tried]:
            self.tried.add(run_id)
            if (summary := listed_entry(self.store, self.keys[run_id], self.unlisted)) is not None:
                self.read[summary.run_id] = summary


def _named(views: Sequence[Any], query: str) -> list[DataKey]:
    """Every version of each dataset ``query`` names among the datasets ``views`` read or wrote (a name, URI, digest,
    ``REF@DIGEST`` or a version's PROV id, matched as :func:`~prov_common.w3cprov.lineage.find_nodes` does)."""
    from prov_common.w3cprov.graph import DATASET, VERSION, LineageGraph, Node
    from prov_common.w3cprov.lineage import data_node_id, find_nodes

    named = {data_node_id(d.namespace, d.name, d.version): d for view in views for d in (*view.inputs, *view.outputs)}
    nodes = {node_id: Node(node_id, VERSION if d.version else DATASET, "", dataset=d.name, namespace=d.namespace, version=d.version)
             for node_id, d in named.items()}
    return [data_key(named[key]) for key in find_nodes(LineageGraph(nodes), query, all_versions=True)]


def _connected(views: Sequence[Any], seeds: Iterable[DataKey], direction: str, every_reader: bool) -> set[str]:
    """The run ids of ``views`` (run records and index entries; a run may have both) that the lineage from the versions
    ``seeds`` can show or depend on: upstream the generators on the way and one reader of each dataset holding a version
    on the way (for "same content as"; every reader with ``every_reader``), downstream the readers and generators."""
    from prov_common.w3cprov.graph import named_ids
    from prov_common.w3cprov.lineage import UPSTREAM

    made: dict[DataKey, set[str]] = defaultdict(set)
    readers: dict[DataKey, set[str]] = defaultdict(set)
    holders: dict[DataKey, dict[str, str]] = defaultdict(dict)  # version -> dataset id of a reader's name -> a reader
    inputs: dict[str, set[DataKey]] = defaultdict(set)
    outputs: dict[str, set[DataKey]] = defaultdict(set)
    for view in sorted(views, key=lambda v: v.run_id):
        for dataset in view.outputs:
            key = data_key(dataset)
            made[key].add(view.run_id)
            outputs[view.run_id].add(key)
        for dataset in view.inputs:
            key = data_key(dataset)
            readers[key].add(view.run_id)
            holders[key].setdefault(named_ids(dataset.namespace or "", dataset.name or "", None)[0], view.run_id)
            inputs[view.run_id].add(key)
    upstream = direction == UPSTREAM
    needed: set[str] = set()
    todo, seen = list(seeds), set()
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        needed |= made[key] | (set(holders[key].values()) if upstream and not every_reader else readers[key])
        todo.extend(k for run_id in (made[key] if upstream else readers[key]) for k in (inputs if upstream else outputs)[run_id])
    return needed
