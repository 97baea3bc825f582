"""The audit: signatures, tamper-evident log, PROV, completeness, quality, unfinished runs, re-hash;
its report (JSON, HTML) and its own PROV record. ``run_audit`` is the one entry point.

Names are loaded on first use, so that a light part (``model``, ``access``) does not load the engine."""
from __future__ import annotations

from typing import TYPE_CHECKING

from prov_common.lazy import lazy_names

_LAZY = {"AuditResult": "result", "CheckResult": "model", "Finding": "model", "run_audit": "engine"}

if TYPE_CHECKING:  # pragma: no cover
    from prov_common.audit.engine import run_audit
    from prov_common.audit.model import CheckResult, Finding
    from prov_common.audit.result import AuditResult

__getattr__ = lazy_names(__name__, _LAZY, globals())
__all__ = sorted(_LAZY)
