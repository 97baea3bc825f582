"""Personal data without documented consent or legal basis: a finding of the source-records check (no I/O)."""
from __future__ import annotations

from collections.abc import Iterable

from prov_common.audit.model import CHECK_SOURCES, Finding
from prov_common.sources.merged import by_version
from prov_common.sources.registry import StoredSource
from prov_common.w3cprov.identity import normal_version

FIX_CONSENT = (
    "register the same data at the same location again under a new name with --consent URI (where consent is documented) "
    "or --legal-basis TEXT (e.g. 'GDPR Art. 6(1)(f)'); records are never changed, and the audit reads the records of one "
    "digest at one location together: one that documents it closes this finding"
)


def undocumented_personal_data(sources: Iterable[StoredSource]) -> list[Finding]:
    """One finding per source version (digest and location) whose records, read together
    (:func:`~prov_common.sources.merged.by_version`), declare
    personal data (``--personal-data`` personal, sensitive or pseudonymised, or ``--personal-columns``) while none
    documents consent or a legal basis; the finding's object is the first record registered."""
    stored = list(sources)
    keys: dict[tuple[str, str], str] = {}  # (digest, name) -> the record's key
    for s in stored:
        keys.setdefault((normal_version(s.record.digest), s.record.name), s.key)
    out = []
    for v in by_version(s.record for s in stored):
        r = v.record
        if r.personal and not (r.consent or r.legal_basis):
            what = ", ".join(filter(None, [f"classified {r.personal_data}" if r.personal_data else "",
                                           f"personal columns {', '.join(r.personal_columns)}" if r.personal_columns else ""]))
            key = keys[(normal_version(r.digest), v.names[0])]
            out.append(Finding(CHECK_SOURCES, key, f"{v.label} holds personal data ({what}) but documents neither "
                               "consent nor a legal basis for processing it", FIX_CONSENT))
    return out
