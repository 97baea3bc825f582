"""Write the audit's report (JSON + HTML) and record the audit as a signed PROV activity in the store."""
from __future__ import annotations

from pathlib import Path

from prov.model import ProvDocument

from prov_common.audit.catalog import Written
from prov_common.audit.result import AuditResult
from prov_common.audit.svg import lineage_svg
from prov_common.audit.training import training_data
from prov_common.audit.html import render_html
from prov_common.bundle.layout import stamp
from prov_common.hashing.raw import blake3_digest
from prov_common.signing import SigningKey, sign_envelope
from prov_common.store.base import Store
from prov_common.w3cprov import serialize
from prov_common.w3cprov.ids import TDPROV

from prov_common.audit.published import PROV_PAYLOAD_TYPE, REPORTS_PREFIX, RUNS_PREFIX, record_key, report_bytes, report_folder

FOLDER_RECORD = "audit.prov.dsse.json"  # a read-only audit's signed record, next to its report

__all__ = ["FOLDER_RECORD", "PROV_PAYLOAD_TYPE", "REPORTS_PREFIX", "RUNS_PREFIX", "audit_prov", "publish", "render"]


def render(result: AuditResult) -> tuple[bytes, bytes]:
    """The JSON and HTML report of ``result``."""
    index = result.report_index or result.index  # the whole store, whatever this audit examined
    assert index is not None
    report = result.to_dict(training_data(index, result.changed_data))
    json_bytes = report_bytes(report)
    svg, drawn_by, scope = lineage_svg(index)
    html_bytes = render_html(report, svg, drawn_by, scope).encode("utf-8", "backslashreplace")  # never a lone surrogate
    return json_bytes, html_bytes


def audit_prov(result: AuditResult, signer: SigningKey, report_digest: str, report_location: str,
               html: tuple[str, str] | None = None) -> bytes:
    """PROV-JSON of the audit: an activity that used the previous checkpoint and generated the report (and its
    HTML page: ``html`` is its digest and location) and the new checkpoint."""
    doc = ProvDocument()
    doc.add_namespace(TDPROV)
    activity = doc.activity(
        TDPROV[f"audit-{result.audit_id}"], result.started, result.ended,
        {"prov:type": TDPROV["Audit"], TDPROV["mode"]: "full" if result.full else "incremental", TDPROV["rehash"]: result.rehash,
         TDPROV["clean"]: result.clean, TDPROV["findings"]: len(result.errors), TDPROV["store"]: result.store,
         **({TDPROV["storeId"]: result.store_id} if result.store_id else {})},  # the identity read: it travels with the store
    )
    agent = doc.agent(TDPROV[f"auditor-{signer.key_id.split(':', 1)[1][:16]}"], {"prov:type": TDPROV["Auditor"], TDPROV["keyId"]: signer.key_id})
    doc.wasAssociatedWith(activity, agent)
    report = doc.entity(TDPROV[f"audit-report-{result.audit_id}"], {TDPROV["digest"]: report_digest, TDPROV["location"]: report_location})
    doc.wasGeneratedBy(report, activity, result.ended)
    if html is not None:
        page = doc.entity(TDPROV[f"audit-report-page-{result.audit_id}"], {TDPROV["digest"]: html[0], TDPROV["location"]: html[1],
                                                                          "prov:type": TDPROV["AuditReportPage"]})
        doc.wasGeneratedBy(page, activity, result.ended)
        doc.wasDerivedFrom(page, report)  # the page shows what the JSON report holds
    if result.previous_checkpoint:
        doc.used(activity, TDPROV[f"log-checkpoint-{result.previous_checkpoint}"])
    if result.checkpoint is not None:
        cp = result.checkpoint.checkpoint
        entity = doc.entity(TDPROV[f"log-checkpoint-{cp.size}"], {TDPROV["rootHash"]: cp.root, TDPROV["treeSize"]: cp.size, TDPROV["key"]: result.checkpoint.key})
        if cp.size != result.previous_checkpoint:
            doc.wasGeneratedBy(entity, activity)
    return serialize(doc, "json")


def publish(result: AuditResult, store: Store, signer: SigningKey, report_dir: str | Path | None, *,
            read_only: bool = False) -> list[Written]:
    """Write the signed PROV record of the audit, then the report (to ``report_dir`` or into the store) it names: a
    report in the store is never there without the record that vouches for it (an auditor stopped in between left
    reports that every later audit named as not verified). ``read_only``: the record goes to ``report_dir`` too
    (:data:`FOLDER_RECORD`), and nothing into the store. Returns what was written into the store, with the SHA-256 of
    the bytes: the auditor's memory pins them, so that its next listing compares each with what was written, on its own
    (a report is not left unchecked because its record was changed too)."""
    json_bytes, html_bytes = render(result)
    result.report_digest = blake3_digest(json_bytes)
    name = f"{stamp(result.started)}-{result.audit_id}"
    folder = Path(report_dir) if report_dir is not None else None
    assert folder is not None or not read_only, "a read-only audit writes its report to a folder"
    if folder is not None:
        result.report_json, result.report_html = str(folder / "report.json"), str(folder / "report.html")
    else:
        result.report_json, result.report_html = report_folder(name) + "report.json", report_folder(name) + "report.html"
    prov = audit_prov(result, signer, result.report_digest, result.report_json, (blake3_digest(html_bytes), result.report_html))
    record = sign_envelope(prov, PROV_PAYLOAD_TYPE, [signer]).to_json()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    written: list[Written] = []
    if read_only:
        assert folder is not None
        result.prov_key = str(folder / FOLDER_RECORD)
        (folder / FOLDER_RECORD).write_bytes(record)
    else:
        result.prov_key = record_key(name)
        written.append(Written.put(store, result.prov_key, record))
    if folder is not None:
        (folder / "report.json").write_bytes(json_bytes)
        (folder / "report.html").write_bytes(html_bytes)
    else:
        written += [Written.put(store, result.report_json, json_bytes), Written.put(store, result.report_html, html_bytes)]
    return written
