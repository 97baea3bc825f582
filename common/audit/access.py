"""What an audit may write, checked before it does the work: the store's ``log/`` and ``audit/`` (a writing audit),
with a key whose audit objects the audits of this store count; or nothing in the store at all (a read-only audit,
for an auditor with read access)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prov_common.errors import BadInputError, StoreError, StoreUnavailableError, TdprovError
from prov_common.signing import SigningKey, TrustStore
from prov_common.store.base import Store
from prov_common.text import counted

WRITTEN_PREFIXES = ("log/", "audit/")  # where a writing audit creates objects (docs/iam/tdprov-auditor.json)
IAM_POLICY = "docs/iam/tdprov-auditor.json"
READ_ONLY_FIX = "--read-only --report DIR"


def require_write_access(store: Store) -> None:
    """Raise :class:`StoreError` unless objects can be created under each of :data:`WRITTEN_PREFIXES`, naming the store,
    the access needed and what to do with read access only."""
    for prefix in WRITTEN_PREFIXES:
        try:
            store.check_writable(prefix)
        except StoreUnavailableError:
            raise
        except TdprovError as exc:
            raise StoreError(
                f"cannot write to the store {store.uri}: 'tdprov audit' appends to the store's log and records itself there, "
                f"and needs write access to log/ and audit/ ({exc.what.rstrip('.')}).",
                fix=f"with read access only, audit with 'tdprov audit {READ_ONLY_FIX}' (the report and the audit's signed record "
                    f"go to DIR, nothing into the store); to audit and log, give these credentials the auditor's permissions "
                    f"({IAM_POLICY}: create under log/ and audit/)") from exc


def require_auditor_key(signer: SigningKey, auditor_trust: TrustStore) -> None:
    """Raise :class:`BadInputError` when ``signer`` is not among the keys whose audit objects count here: every
    checkpoint, state, catalog, inventory and record this audit wrote would be untrusted (a finding) to later audits."""
    if auditor_trust.get(signer.key_id) is not None:
        return
    raise BadInputError(
        f"this audit signs with key {signer.key_id}, which is not among the {counted(len(auditor_trust), 'key')} whose audit objects "
        "count here (TDPROV_AUDITOR_KEYS, else TDPROV_TRUSTED_KEYS): later audits would call what it writes untrusted "
        "(nothing was written)",
        fix="add its public key (.pub next to the signing key) to TDPROV_AUDITOR_KEYS; or sign with the store's auditor key "
            f"(TDPROV_SIGNING_KEY); or audit without writing: 'tdprov audit {READ_ONLY_FIX}'")


@dataclass(frozen=True)
class ReadOnlyTerms:
    """How the read-only audit's refusals name its settings: the CLI's flags (:data:`CLI_TERMS`), or a caller's own."""

    read_only: str  # the read-only setting
    accept_checkpoint: str  # the setting that accepts the store's log
    set_report: str  # how to give the report folder (a fix)
    writing: str  # how to run an audit that writes the store (in parentheses)


CLI_TERMS = ReadOnlyTerms("--read-only", "--accept-checkpoint",
                          f"pass --report DIR with --read-only ('tdprov audit {READ_ONLY_FIX}')", "without --read-only")


def require_report_dir(report_dir: object, accept_checkpoint: str | None, accept_findings: object = (),
                       terms: ReadOnlyTerms = CLI_TERMS) -> None:
    """A read-only audit writes its report and record to a folder, and records no resolution or acceptance
    (:class:`BadInputError` naming the setting as ``terms`` does)."""
    if report_dir is None:
        raise BadInputError(f"{terms.read_only}: a read-only audit writes its report and signed record to a folder, not into "
                            "the store, and report_dir is not set.", fix=terms.set_report)
    if accept_checkpoint is not None:
        raise BadInputError(f"{terms.accept_checkpoint} records a resolution in the store, which a read-only audit does not "
                            "write.", fix=f"accept the store's log with an audit that can write it ({terms.writing})")
    if accept_findings:
        raise BadInputError("--accept-finding records a person's acceptance in the store, which a read-only audit does not write.",
                            fix=f"accept the findings with an audit that can write the store ({terms.writing})")


class ReadOnlyStore:
    """``store`` as a read-only audit uses it: reads go to it; a write is refused (:class:`StoreError`), never made."""

    def __init__(self, store: Store) -> None:
        self.store, self.uri = store, store.uri

    def put(self, key: str, data: bytes) -> bool:
        raise StoreError(f"a read-only audit writes nothing into {self.uri} (it was about to write '{key}')",
                         fix="audit without --read-only to append to the log")

    def put_file(self, key: str, path: Path) -> bool:
        return self.put(key, b"")

    def put_listed(self, key: str, data: bytes) -> tuple[bool, str | None]:
        return self.put(key, data), None

    def check_writable(self, prefix: str) -> None:
        self.put(prefix, b"")

    def refuses_rewrite(self, key: str, data: bytes) -> bool:
        return self.put(key, data)

    def __getattr__(self, name: str) -> Any:
        if name == "store":  # not set yet (unpickling in a worker process)
            raise AttributeError(name)
        return getattr(self.store, name)


def not_logged(count: int) -> str:
    """What a read-only audit says of the bundles it examined and could not append to the log."""
    return f"{counted(count, 'bundle')} not yet logged: examined, not logged (read-only audit)"


__all__ = ["CLI_TERMS", "ReadOnlyStore", "ReadOnlyTerms", "WRITTEN_PREFIXES", "not_logged", "require_auditor_key",
           "require_report_dir", "require_write_access"]
