"""What the Dagster integration records about a step (no I/O here)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from prov_common.bundle.layout import samples_path
from prov_common.hashing import FileDigest, ShardedDigest, TableDigest
from prov_common.lineage.facets import ContentHashDatasetFacet
from prov_common.quality import QualityResult
from prov_common.rowset.capture import RowSet
from prov_dagster.naming import DEFAULT_NAMESPACE, located_dataset, mapped_step, step_run_id

if TYPE_CHECKING:  # pragma: no cover - the snapshots load when a step keeps a copy of its data
    from prov_common.store.snapshots import KeptSnapshot


@dataclass(frozen=True)
class DatasetRecord:
    """One dataset version a step read or wrote."""

    name: str
    digest: TableDigest | FileDigest | ShardedDigest | None
    uri: str | None = None
    partition: str | None = None
    quality: QualityResult | None = None
    owners: tuple[str, ...] = ()
    namespace: str | None = None  # None: ``name`` is an asset key; the dataset is named by ``uri`` (see prov_dagster.naming)
    version: str | None = None  # the version when there is no digest object (a registered source)
    content: ContentHashDatasetFacet | None = None  # what is known of that version's digest (a source record, an upstream's metadata)
    row_set: RowSet | None = None  # recorded at row granularity: attached to the bundle, its root in the facet
    asset_namespace: str | None = None  # the dagster:// namespace its asset key was written in, when not the recording step's
    snapshot: KeptSnapshot | None = None  # the copy kept in the store before the event names this version (in its facet)

    @property
    def version_id(self) -> str | None:
        return self.digest.digest if self.digest is not None else self.version

    @property
    def dataset(self) -> tuple[str, str]:
        """The (namespace, name) the dataset is named by: its own, else where an asset's data lives."""
        return (self.namespace, self.name) if self.namespace is not None else located_dataset(self.uri, self.name)

    @property
    def samples_file(self) -> str | None:
        """The bundle path of its failure samples (``None``: it has none), as its facet names and its run attaches."""
        if self.quality is None or not self.quality.has_samples:
            return None
        return samples_path(*self.dataset, self.name, self.version_id)


@dataclass(frozen=True)
class BundleStatus:
    """Whether a step's bundle can be sealed, as a write finds it: ``problem`` says why not (then ``spooled`` is
    ``None``); ``spooled`` is the spool folder while its records wait there (the store was unreachable); ``store`` is
    the store it is sealed in, as :func:`~prov_dagster.transport.store_uri` names it (``None`` with a ``problem``)."""

    problem: str | None = None
    spooled: Path | None = None
    store: str | None = None


@dataclass(frozen=True)
class Staging:
    """What is staged for a step run, as one listing found it: the ``keys`` in the store under its staging prefix, or
    None when its events wait in this machine's spool (to be listed once they are delivered)."""

    keys: tuple[str, ...] | None


@dataclass(frozen=True)
class StepIdentity:
    """Which Dagster step an OpenLineage run stands for."""

    dagster_run_id: str
    job_name: str | None  # the Dagster job it ran in (None: recorded outside a Dagster run, no parent)
    step_key: str
    attempt: int = 0  # retries of a step (RetryPolicy) are runs of their own
    part: int = 0  # outputs recorded after the attempt's run ended (by ProvenanceResource.record) are a run of their own
    namespace: str = DEFAULT_NAMESPACE  # the job's namespace: a step recording in two namespaces is a run of each job
    job: str | None = field(default=None, compare=False)  # its OpenLineage job name (naming.step_job; None: the step key)
    reexecution_of: str | None = field(default=None, compare=False)  # the Dagster run its Dagster run re-executes
    reexecution_root: str | None = field(default=None, compare=False)  # the first run of those re-executions
    run_namespace: str | None = field(default=None, compare=False)  # its Dagster run's job's (config.run_namespace; None: its own)

    @property
    def job_ol_name(self) -> str:
        """The OpenLineage name of the step's job."""
        return self.job or self.step_key

    @property
    def mapping_key(self) -> str | None:
        """The mapping key of a mapped op's step (``a`` of ``work[a]``), which is a run of the op's job; None when not mapped."""
        return mapped_step(self.step_key)[1]

    @property
    def ol_run_id(self) -> str:
        return step_run_id(self.dagster_run_id, self.step_key, self.attempt, self.part, self.namespace,
                           direct=self.job_name is None)

    @property
    def step(self) -> "StepIdentity":
        """The identity of the attempt itself (its first part)."""
        return replace(self, part=0)
