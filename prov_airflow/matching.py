"""Find a sealed bundle matching a job, dataset or digest in the store (shared by sensor and trigger)."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from prov_common.bundle import BundleSummary, list_bundles
from prov_common.bundle.layout import index_cursor
from prov_common.bundle.model import DatasetRef
from prov_common.errors import BadInputError
from prov_common.signing import TrustStore
from prov_common.w3cprov.identity import DIGEST_RULE, digest_query, digest_starts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundleQuery:
    """What bundle to wait for. Every given criterion must match.

    job: job name (``<dag_id>.<task_id>`` or ``<dag_id>``); dataset: URI or path of an output dataset, or
    ``airflow-asset:<name>`` for a logical asset (an ``Asset(name=...)`` with no URI);
    digest: content digest of an output (with ``dataset``: of that output, the dataset at that version), its hex
    digits in either case, in full or its first 12 or more as ``tdprov runs`` prints them (kept in lower case);
    state: run state (default ``COMPLETE``);
    since: only bundles indexed at or after this ISO time (default: any).
    """

    job: str | None = None
    dataset: str | None = None
    digest: str | None = None
    state: str | None = "COMPLETE"
    since: str | None = None

    def __post_init__(self) -> None:
        if not (self.job or self.dataset or self.digest):
            raise BadInputError("a bundle sensor needs job=, dataset= or digest=",
                                fix="e.g. LineageBundleSensor(job='train.features', ...)")
        if self.digest:
            query = digest_query(self.digest)
            if query is None:
                raise BadInputError(f"a bundle sensor's digest={self.digest!r} is not a content digest or the start of one.",
                                    fix=DIGEST_RULE)
            object.__setattr__(self, "digest", query)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def matches(self, summary: BundleSummary) -> bool:
        if self.job and summary.job_name != self.job:
            return False
        if self.state and summary.state.upper() != self.state.upper():
            return False
        if not (self.dataset or self.digest):
            return True
        from prov_airflow.capture import dataset_key

        wanted = dataset_key(self.dataset) if self.dataset else None
        return any(self._output_matches(o, wanted) for o in summary.outputs)

    def _output_matches(self, output: DatasetRef, wanted: tuple[str, str] | None) -> bool:
        """One output that is the dataset (``wanted``, as :func:`dataset_key` names it) and has the digest asked for:
        both at once when both are given (``dataset`` at version ``digest``, never the dataset from one output and the
        digest from another)."""
        if wanted is not None and (output.namespace, output.name) != wanted:
            return False
        return not self.digest or digest_starts(output.version, self.digest)

    def start_cursor(self) -> str | None:
        if not self.since:
            return None
        return index_cursor(datetime.fromisoformat(self.since))


def find_bundle(store: Any, query: BundleQuery, trust: TrustStore, told: set[tuple[str, str]] | None = None) -> BundleSummary | None:
    """First matching bundle indexed since the query's ``since`` (re-listed on every poke, so a bundle
    that a slow writer indexes late is not skipped) whose bundle verifies against ``trust``.

    Index entries are not signed, so a match is verified before it counts: an entry whose bundle does not
    verify (missing, altered, signed by a key not trusted) is skipped with a warning, and a sound bundle
    whose entry was altered counts only if its signed manifest matches the query (and is returned as the
    manifest says). ``told``: the (run id, reason) pairs already warned of, by a sensor or trigger that
    polls again; each is warned of once (and added), while the bundle is still verified at every poll
    (a key trusted since then counts)."""
    from prov_common.audit.recorded import examined
    from prov_common.bundle.storage import summary_of_bundle

    for summary in list_bundles(store, since_cursor=query.start_cursor()):
        if not query.matches(summary):
            continue
        _, why, sound = examined(store, trust, summary)
        if why is None:
            return summary
        first_time = told is None or (summary.run_id, why) not in told
        if told is not None:
            told.add((summary.run_id, why))
        if not sound:
            if first_time:
                log.warning("tdprov: run %s matches, but its bundle does not verify (%s): not taken. Fix: 'tdprov verify %s' "
                            "names every problem; if the bundle is sound, trust its signer's key (trusted_keys)", summary.run_id,
                            why, summary.run_id)
            continue
        signed = summary_of_bundle(store, summary.run_id)
        if first_time:
            log.warning("tdprov: the index entry of run %s is not what its signed bundle says (%s): the bundle counts",
                        summary.run_id, why)
        if signed is not None and query.matches(signed):
            return signed
    return None


def found_payload(summary: BundleSummary) -> dict[str, Any]:
    """What the sensor returns (XCom) for a matching bundle."""
    return {"run_id": summary.run_id, "job": summary.job_name, "state": summary.state,
            "sealed_at": summary.sealed_at, "outputs": [o.to_dict() for o in summary.outputs]}
