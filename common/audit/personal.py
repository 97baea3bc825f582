"""Personal data without documented consent or legal basis: a finding of the source-records check (no I/O)."""
from __future__ import annotations

from collections.abc import Iterable

from prov_common.audit.model import CHECK_SOURCES, Finding
from prov_common.sources.registry import StoredSource

FIX_CONSENT = (
    "register the same data again under a new name with --consent URI (where consent is documented) or --legal-basis TEXT "
    "(e.g. 'GDPR Art. 6(1)(f)'); records are never changed, and a record of the same digest that documents it closes this finding"
)


def undocumented_personal_data(sources: Iterable[StoredSource]) -> list[Finding]:
    """One finding per source record that declares personal data (``--personal-data`` personal, sensitive or
    pseudonymised, or ``--personal-columns``) while no record of the same data documents consent or a legal basis."""
    sources = list(sources)
    documented = {s.record.digest for s in sources if s.record.consent or s.record.legal_basis}
    out = []
    for s in sources:
        r = s.record
        if r.personal and r.digest not in documented:
            what = ", ".join(filter(None, [f"classified {r.personal_data}" if r.personal_data else "",
                                           f"personal columns {', '.join(r.personal_columns)}" if r.personal_columns else ""]))
            out.append(Finding(CHECK_SOURCES, s.key, f"source '{r.name}' holds personal data ({what}) but documents neither "
                               "consent nor a legal basis for processing it", FIX_CONSENT))
    return out
