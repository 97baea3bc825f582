"""The S3 bucket's protection in the audit: read on every audit, held against what this auditor saw before.

What keeps a store's history is the bucket's versioning and its Object Lock default retention, which a bucket admin
can weaken later (suspend versioning, shorten the retention, switch compliance mode to governance, remove the default
retention), after which objects written are kept no longer, or not at all, and overwrites and deletes leave nothing.
So every audit of an S3 store reads them (two requests: GetBucketVersioning, GetObjectLockConfiguration) and holds
them against the auditor's memory, which keeps them as it saw them, whole (trust on first use, as the store's
identity): each setting weaker now is an inventory finding of every audit until it is restored or a person accepts the
bucket as it is (``--accept-checkpoint``), and its fix restores what was seen, a configuration the bucket had (never
the stronger of each setting taken apart: a compliance retention longer than any the bucket had could not be undone);
settings no weaker in any way, and stronger in one, are a note, and remembered. A setting that cannot be read is named with
the permission to grant: a finding when this auditor saw the settings before, else a note; when the versioning was read
and the Object Lock was not, the Object Lock alone is named so and the versioning is held against what was seen, while
the memory keeps the configuration it last saw whole. An endpoint that does not answer fails the audit as unavailable,
as any read of the store does. A local folder has none.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from prov_common.audit.memory import AuditorMemory
from prov_common.audit.model import CHECK_INVENTORY, ERROR, NOTE, Finding
from prov_common.store.base import Store
from prov_common.store.protection import LOCK_MODES, BucketProtection, protection_refused
from prov_common.text import shell_word

MODE_RANK = {mode: len(LOCK_MODES) - i for i, mode in enumerate(LOCK_MODES)}  # compliance 2, governance 1, none 0


@dataclass
class ProtectionCheck:
    """``findings``: the bucket's settings weaker than remembered (or unreadable), and notes of stronger ones;
    ``closed``: the weakenings a person accepted with this audit (the resolution lists them)."""

    findings: list[Finding] = field(default_factory=list)
    closed: list[Finding] = field(default_factory=list)


def check_protection(store: Store, memory: AuditorMemory, *, accepting: bool = False) -> ProtectionCheck:
    """Read the protection of ``store``'s bucket (an S3 store's; nothing for another) and compare it with ``memory``'s,
    which takes it when it has none, when ``accepting``, or when no setting is weaker than it remembers."""
    from botocore.exceptions import ClientError

    bucket = getattr(store, "bucket", None)  # an S3 store's, wrapped or not
    read, read_versioning = getattr(store, "protection", None), getattr(store, "versioning", None)
    if read is None or read_versioning is None or bucket is None:
        return ProtectionCheck()
    kept = BucketProtection.from_dict(memory.protection) if memory.protection is not None else None
    versioning = None
    try:  # an endpoint that does not answer: StoreUnavailableError, as any read of the store
        versioning = read_versioning()
        current = read(versioning)
    except ClientError as exc:
        return _unread(store, bucket, kept, versioning, exc)
    if kept is None:
        memory.protection = current.to_dict()
        return ProtectionCheck()
    weaker = [Finding(CHECK_INVENTORY, _object(bucket), what, _fix(store, bucket, kept, setting))
              for setting, what in _weakened(kept, current)]
    if weaker and not accepting:  # what was seen stays expected, whole: a stronger setting beside is not taken from it
        return ProtectionCheck(weaker)
    stronger = [] if weaker else [
        Finding(CHECK_INVENTORY, _object(bucket), what, "nothing to do: this auditor remembers the stronger setting now",
                severity=NOTE) for what in _strengthened(kept, current)]
    memory.protection = current.to_dict()  # as strong as what was seen in every setting, or accepted as it is
    return ProtectionCheck(stronger, closed=weaker)


def _unread(store: Store, bucket: str, kept: BucketProtection | None, versioning: str | None, exc: Exception) -> ProtectionCheck:
    """The settings of ``bucket`` that could not be read (``exc``: the refusal, or another error of the read) named with
    the fix: a note when this auditor never saw them (``kept`` None), else an error. When the versioning was read
    (``versioning``; the Object Lock's read failed), the Object Lock alone is named, and a versioning weaker than
    ``kept``'s is a finding as when both are read. Nothing is remembered: the memory takes the settings whole."""
    what, fix = protection_refused(exc, bucket, versioning_read=versioning is not None)
    if kept is None:
        return ProtectionCheck([Finding(CHECK_INVENTORY, _object(bucket), what, fix, severity=NOTE)])
    if versioning is None:
        what += f", so it cannot be told whether they are still {_describe(kept)}, as this auditor saw them before"
        return ProtectionCheck([Finding(CHECK_INVENTORY, _object(bucket), what, fix, severity=ERROR)])
    weaker = [Finding(CHECK_INVENTORY, _object(bucket), weakened, _fix(store, bucket, kept, setting))
              for setting, weakened in _weakened(kept, replace(kept, versioning=versioning))]  # the versioning's alone
    what += f", so it cannot be told whether it is still Object Lock {kept.lock()}, as this auditor saw it before"
    return ProtectionCheck([*weaker, Finding(CHECK_INVENTORY, _object(bucket), what, fix, severity=ERROR)])


def _object(bucket: str) -> str:
    return f"bucket {bucket} (versioning, Object Lock)"


def _describe(p: BucketProtection) -> str:
    return f"versioning {p.versioning}, Object Lock {p.lock()}"


def _weakened(kept: BucketProtection, now: BucketProtection) -> list[tuple[str, str]]:
    """Each setting weaker ``now`` than ``kept``: (setting, what)."""
    out = []
    seen = "as this auditor saw it before"
    if kept.versioning == "Enabled" and now.versioning != "Enabled":
        out.append(("versioning", f"the bucket's versioning is {now.versioning}, not Enabled {seen}: objects overwritten or "
                                  "deleted from now on keep no earlier version"))
    if MODE_RANK.get(now.mode(), 0) < MODE_RANK.get(kept.mode(), 0):
        out.append(("mode", f"the bucket's Object Lock default retention mode is {now.mode()}, not {kept.mode()} {seen}: "
                            + ("objects written from now on are locked by no default retention" if now.mode() == "none" else
                               "anyone granted s3:BypassGovernanceRetention can delete objects written from now on")))
    if now.retention and now.retention < kept.retention:
        out.append(("period", f"the bucket's Object Lock default retention period is {now.period()}, not {kept.period()} "
                              f"{seen}: objects written from now on can be deleted sooner"))
    return out


def _strengthened(kept: BucketProtection, now: BucketProtection) -> list[str]:
    """What is stronger ``now`` than ``kept``, in words."""
    out = []
    if now.versioning == "Enabled" and kept.versioning != "Enabled":
        out.append(f"the bucket's versioning is Enabled now (it was {kept.versioning})")
    if MODE_RANK.get(now.mode(), 0) > MODE_RANK.get(kept.mode(), 0):
        out.append(f"the bucket's Object Lock default retention mode is {now.mode()} now (it was {kept.mode()})")
    if now.retention > kept.retention and kept.retention:
        out.append(f"the bucket's Object Lock default retention period is {now.period()} now (it was {kept.period()})")
    return out


def _fix(store: Store, bucket: str, kept: BucketProtection, setting: str) -> str:
    """How to restore ``setting`` to what ``kept`` has, or accept it."""
    accept = ("; if it was deliberate, audit with '--accept-checkpoint --reason TEXT' to take the bucket's settings as they "
              "are now (recorded, signed, in audit/resolutions/)")
    if setting == "versioning":
        return f"turn versioning on again: 'tdprov store init {shell_word(store.uri)} --versioning'{accept}"
    if kept.retention_days:
        restore = f"'tdprov store init {shell_word(store.uri)} --object-lock {kept.lock_mode} --retention-days {kept.retention_days}'"
    else:  # tdprov store init sets a period in days: S3's own command keeps it in years
        rule = f"ObjectLockEnabled=Enabled,Rule={{DefaultRetention={{Mode={(kept.lock_mode or '').upper()},Years={kept.retention_years}}}}}"
        restore = (f"'aws s3api put-object-lock-configuration --bucket {shell_word(bucket)} "
                   f"--object-lock-configuration {shell_word(rule)}'")
    return (f"restore the default retention ({kept.mode()} mode, {kept.period()}): {restore}; objects written meanwhile "
            f"keep the retention they were written with: extend it with 'aws s3api put-object-retention'{accept}")


__all__ = ["ProtectionCheck", "check_protection"]
