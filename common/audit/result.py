"""The result of an audit: checks, log head, lineage index, report locations; and its JSON form."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import Any

from prov_common import __version__
from prov_common.audit.lineage import LineageIndex, run_order
from prov_common.audit.model import ERROR, CheckResult, Finding, QualityRow
from prov_common.audit.training import validated_versions
from prov_common.sources.registry import StoredSource
from prov_common.text import counted
from prov_common.audit.memory import KnownCheckpoint
from prov_common.tlog.log import StoredCheckpoint
from prov_common.w3cprov.identity import iso_z

REPORT_FORMAT = "https://tdprov.dev/audit-report/v1"
MAX_QUALITY_ROWS = 1000  # failing versions listed in the report (all failures are also findings or notes)


def scope_note(mode: str, examined: int, *, first: bool = False, remembered: str = "", unlogged: bool = False) -> str:
    """What the checks' counts cover: a full audit re-checked everything now; an incremental one examined
    only the bundles new since the last audit and continues the earlier audits' counts. ``first``: this
    auditor never audited the store, so it examined every bundle itself (a full audit); ``unlogged``: it audited the
    store before but remembers no log of it (it held none then), so this audit is a full one too; ``remembered``: the
    records it does remember (source records of a store with no run yet), in words."""
    if first and mode == "full":
        return (f"First audit of this store by this auditor (none remembered): every bundle was examined now ({examined:,}), as "
                "'tdprov audit --full' does, since it has no earlier audit of its own to continue from.")
    if unlogged and mode == "full":
        what = f"it remembers {remembered}, and no log" if remembered else "the store held no record then"
        return (f"Full audit: this auditor audited this store before but remembers no log of it ({what}), so every bundle was "
                f"examined now ({examined:,}), as 'tdprov audit --full' does.")
    if mode == "full":
        return f"Full audit: every bundle was examined now ({examined:,})."
    return (f"Incremental audit: {counted(examined, 'bundle')} new since the last audit {'was' if examined == 1 else 'were'} "
            "examined now; the counts include what "
            "earlier audits checked (their signed state). Bundles logged before are covered by the store inventory (a logged "
            "bundle with a changed, missing or unlisted file is verified again), not read: 'tdprov audit --full' re-verifies every bundle.")


def resolution_view(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A signed resolution of the log (``--accept-checkpoint``) as report.json shows it: its ``closed`` findings named
    as the report's own (:meth:`~prov_common.audit.model.Finding.view`, ``runId``); the record keeps ``run_id``."""
    return dict(record, closed=[Finding(**f).view() for f in record.get("closed") or ()]) if record else record


@dataclass
class AuditResult:
    """What one audit found. ``exit_code``: 0 clean, 1 findings."""

    audit_id: str
    store: str
    started: datetime
    store_id: str | None = None  # the store's identity as this audit read it (None: it read none), signed beside its URI
    full: bool = False
    rehash: bool = False
    ended: datetime | None = None
    checks: list[CheckResult] = field(default_factory=list)
    checkpoint: StoredCheckpoint | None = None
    previous_checkpoint: int = 0
    bundles_examined: int = 0
    bundles_logged: int = 0
    first_audit: bool = False  # this auditor never audited the store (its memory holds nothing of it)
    remembered_records: str = ""  # with no log remembered: the records this auditor remembers all the same (source records), in words
    index: LineageIndex | None = None
    sources: list[StoredSource] = field(default_factory=list)
    quality_rows: list[QualityRow] = field(default_factory=list)
    runs_known: int | None = None  # every logged run (the index holds the runs examined and those upstream of them)
    training_runs_known: int | None = None
    report_json: str | None = None  # where the report went: a file path or a store key
    report_html: str | None = None
    report_digest: str | None = None
    prov_key: str | None = None
    remembered: "KnownCheckpoint | None" = None  # the checkpoint this auditor had verified before this audit
    resolution: dict[str, Any] | None = None  # recorded when this audit accepted the store's log (--accept-checkpoint)
    accepted: list[dict[str, Any]] = field(default_factory=list)  # completeness findings a person accepted, per run (--accept-finding)
    examined: set[str] = field(default_factory=set)  # run ids whose bundles this audit examined
    report_index: LineageIndex | None = None  # every run in the store, for the report (default: ``index``)
    log_gap: bool = False  # the log does not extend what this auditor or a witness verified: nothing was appended
    changed_data: dict[str, str] = field(default_factory=dict)  # --rehash: versions no longer at their location (rehash.version_at)
    read_only: bool = False  # nothing was written into the store: new bundles were examined, not logged

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.checks for f in c.findings]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def clean(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> int:
        return 0 if self.clean else 1

    @property
    def accepted_count(self) -> int:
        """How many findings a person accepted (listed apart, they do not fail the audit)."""
        return sum(len(a["findings"]) for a in self.accepted)

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    def location(self, where: str | None) -> str | None:
        """Where a report (``report_json``/``report_html``) can be opened: a file under the report folder as it is
        (an absolute path), an object in the store as the store's URI joined with its key."""
        if not where:
            return None
        return where if PurePath(where).is_absolute() else f"{self.store.rstrip('/')}/{where}"

    def summary(self) -> dict[str, Any]:
        runs = list(self.index.runs.values()) if self.index else []
        return {
            "clean": self.clean,
            "findings": len(self.errors),
            "notes": len(self.findings) - len(self.errors),
            "accepted": self.accepted_count,
            "runs": len(runs) if self.runs_known is None else self.runs_known,
            "trainingRuns": sum(1 for r in runs if r.is_training) if self.training_runs_known is None else self.training_runs_known,
            "bundlesExamined": self.bundles_examined,
            "bundlesLogged": self.bundles_logged,
            "sources": len(self.sources),
            "checks": {c.name: c.status for c in self.checks},
            "checked": {c.name: c.checked for c in self.checks},  # what the text prints as "(N checked)"
        }

    def published_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint this audit verified and leaves (size, root, digest of the checkpoint object): what
        witnesses keep. None over a gap: a log that does not extend the remembered one is not vouched for."""
        return KnownCheckpoint.of(self.checkpoint).published() if self.checkpoint and not self.log_gap else None

    def published(self) -> dict[str, Any]:
        """What ``tdprov audit --json`` prints and orchestrators publish: summary, checkpoint, findings, report."""
        return {"format": REPORT_FORMAT + "#summary", "auditId": self.audit_id, "store": self.store, "summary": self.summary(),
                "checkpoint": self.published_checkpoint(),
                "remembered": self.remembered.published() if self.remembered else None,
                "findings": [f.report_dict() for f in self.errors], "report": {"json": self.report_json, "html": self.report_html,
                                                                          "digest": self.report_digest}}

    def to_dict(self, training: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The machine-readable report (the HTML page shows the same content)."""
        cp = self.checkpoint.checkpoint if self.checkpoint else None
        index = self.report_index or self.index  # the whole store, whatever this audit examined
        failed = [r for r in self.quality_rows if r.failed or r.used_by]  # listed up to MAX_QUALITY_ROWS, all counted
        return {
            "format": REPORT_FORMAT,
            "tool": {"name": "tdprov", "version": __version__},
            "auditId": self.audit_id,
            "store": self.store,
            **({"storeId": self.store_id} if self.store_id else {}),
            "mode": "full" if self.full else "incremental",
            "firstAudit": self.first_audit,
            **({"rememberedRecords": self.remembered_records} if self.remembered_records else {}),
            "readOnly": self.read_only,
            "rehash": self.rehash,
            "startedAt": iso_z(self.started),
            "endedAt": iso_z(self.ended),
            "summary": self.summary(),
            "log": {
                "previousTreeSize": self.previous_checkpoint,
                "treeSize": cp.size if cp else 0,
                "rootHash": cp.root if cp else None,
                "checkpoint": self.checkpoint.key if self.checkpoint else None,
                "checkpointDigest": self.checkpoint.digest if self.checkpoint else None,
                "signer": cp.keyid if cp else None,
                "remembered": self.remembered.published() if self.remembered else None,
                "resolution": resolution_view(self.resolution),
            },
            "checks": [c.to_dict() for c in self.checks],
            "accepted": self.accepted,
            "quality": [r.to_dict() for r in failed[:MAX_QUALITY_ROWS]],
            "qualityFailedVersions": len(failed),
            "qualityUnknownVersions": sum(1 for r in failed if r.dataset.passed is None),
            "qualityPassedVersions": validated_versions(index) if index is not None else sum(1 for r in self.quality_rows if not r.failed),
            "sources": [s.view() for s in self.sources],
            "trainingData": training or [],
            "trainingDataTotal": len(training or []),
            "runs": self.runs_listed(),
        }

    def runs_listed(self) -> list[dict[str, Any]]:
        """Every run the report describes, newest first, marked when this audit examined its bundle."""
        index = self.report_index or self.index
        runs = sorted(index.runs.values(), key=lambda r: (run_order(r), r.run_id), reverse=True) if index else []
        return [{"runId": r.run_id, "job": r.job_json, "state": r.state, "endedAt": r.ended_at, "training": r.is_training,
                 "trainingRule": r.training_rule, "examinedNow": r.run_id in self.examined, "keyId": r.key_id} for r in runs]
