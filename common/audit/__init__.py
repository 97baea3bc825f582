"""The audit: signatures, tamper-evident log, PROV, completeness, quality, unfinished runs, re-hash;
its report (JSON, HTML) and its own PROV record. ``run_audit`` is the one entry point."""
from __future__ import annotations

from prov_common.audit.engine import run_audit
from prov_common.audit.model import CheckResult, Finding
from prov_common.audit.result import AuditResult

__all__ = ["AuditResult", "CheckResult", "Finding", "run_audit"]
