"""``tdprov store init``: check (and when asked, set) the protections of a store's bucket.
``tdprov store repair``: give sealed bundles that verify their missing index entries.
``tdprov store seal``: seal runs from what is staged for them, when their writer could not.

Write-once in tdprov rests on conditional puts; versioning and S3 Object Lock add what a store
admin cannot undo: with a default retention in compliance mode no one, root included, can delete
or overwrite an object version before the retention ends.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from prov_common.cli._common import add_store_option, add_verb, check_store_exists
from prov_common.errors import BadInputError, StoreError
from prov_common.store.protection import LOCK_MODES, BucketProtection
from prov_common.text import camel_keys, counted

if TYPE_CHECKING:
    from prov_common.bundle.repair import RepairOutcome
    from prov_common.bundle.transport import ProvenanceTransport
    from prov_common.store.base import Store
    from prov_common.store.identity import StoreIdentity
    from prov_common.store.s3 import S3Store


UNKNOWN = "unknown"  # a bucket setting that could not be read


@dataclass
class BucketState:
    """What ``store init`` found (and set) on a bucket: its ``protection`` as read after any change (None: it could
    not be read, printed as unknown), and its ``versioning`` as read (what is printed of it when the Object Lock could not be
    read)."""

    store: str
    protection: BucketProtection | None = None
    versioning: str | None = None
    conditional_writes: bool | None = None
    store_id: str | None = None  # the store's identity (_tdprov/store.json), created by init when it had none
    changed: list[str] | None = None
    problems: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """What ``store init --json`` prints: the fields named in camelCase, as in all of tdprov's JSON (the store's id
        ``storeId``, as a local folder's and the identity's own JSON name it), the protection's among them (versioning
        ``unknown`` and objectLock null when they could not be read)."""
        found = self.protection.to_dict() if self.protection else {**BucketProtection().to_dict(),
                                                                   "versioning": self.versioning or UNKNOWN, "objectLock": None}
        rest = camel_keys({k: v for k, v in asdict(self).items() if k not in ("store", "protection", "versioning")})
        return {"store": self.store, **found, **rest}

    def lines(self) -> list[str]:
        return [
            f"store:              {self.store}",
            f"versioning:         {self.protection.versioning if self.protection else self.versioning or UNKNOWN}",
            f"object lock:        {self.protection.lock() if self.protection else UNKNOWN}",
            f"conditional writes: {'honoured (If-None-Match: *)' if self.conditional_writes else 'NOT honoured' if self.conditional_writes is False else 'not checked'}",
            f"store id:           {self.store_id or 'none'}",
        ]


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "store",
        help="create a store, or check and protect its S3 bucket (versioning, Object Lock); repair its index; seal runs "
             "from their staged events",
        description=(
            "store init PATH|URI: create a local store folder (no WORM protection), or check the S3 bucket "
            "behind an s3:// store and print what it found: versioning, Object Lock and its default "
            "retention, and whether the endpoint honours conditional writes. "
            "--versioning turns versioning on; --object-lock MODE --retention-days N sets the default "
            "retention (the bucket must have been created with Object Lock, or the endpoint must allow "
            "enabling it later, as AWS does on versioned buckets). Exit 0 when versioning and a default "
            "retention are in place, 1 when one is missing, 2 on bad input.\n\n"
            "store repair [URI]: write the missing index entry of every sealed bundle that verifies but "
            "is not in the index (its writer stopped after the commit marker). Bundles that do not verify "
            "are reported and left alone. Needs writer credentials. Exit 0 when every sealed bundle is "
            "indexed afterwards, 1 when one is not (not verified, or left to do by --dry-run), 2 on bad input.\n\n"
            "store seal RUN_ID...: seal runs from their staged events, which their writer could not seal."
        ),
        example="tdprov store init ./.tdprov\n"
                "  tdprov store init s3://lineage/prod --versioning --object-lock compliance --retention-days 3650\n"
                "  tdprov store repair s3://lineage/prod --dry-run",
    )
    verbs = parser.add_subparsers(dest="store_verb", required=True, metavar="{init,repair,seal}")
    init = add_verb(verbs, "init", help="create a local store, or check and set versioning and Object Lock on an S3 store's bucket",
                    description="Create a local store folder, or check an s3:// store: that the endpoint honours conditional "
                                "writes, and (asked) turn on versioning and a default Object Lock retention. Either way, give "
                                "the store its identity (_tdprov/store.json) when it has none: the id its bundles and source "
                                "records are signed for. Exit 1 when a check fails.",
                    example="tdprov store init s3://ml-lineage/prod --versioning --object-lock compliance --retention-days 3650")
    init.add_argument("uri", metavar="PATH|URI", help="a local folder to create (no WORM protection) or s3://bucket/prefix to check")
    init.add_argument("--versioning", action="store_true",
                      help="turn bucket versioning on (needs s3:GetBucketVersioning and s3:PutBucketVersioning; a "
                           "refusal names the request and the permission to grant, exit 2)")
    init.add_argument("--object-lock", choices=LOCK_MODES, default=None, help="set the default retention in this mode")
    init.add_argument("--retention-days", type=int, default=None, help="default retention period in days")
    init.add_argument("--store-id", default=None, metavar="ID", type=_store_id,
                      help="create the identity with this id, not a random one: a lost _tdprov/store.json made again with "
                           "the id its bundles name and the audit remembers (refused when the store holds another)")
    init.add_argument("--json", action="store_true", help="print the findings as JSON")
    init.set_defaults(func=run)
    repair = add_verb(verbs, "repair", help="index sealed bundles that verify but have no index entry",
                      description="Index each sealed bundle that verifies but has no index entry (a writer stopped between "
                                  "the two); a bundle that does not verify is never indexed, only reported. Exit 1 when "
                                  "something was left to index or did not verify.",
                      example="tdprov store repair s3://ml-lineage/prod --dry-run")
    repair.add_argument("uri", nargs="?", default=None, help="store URI (default: $TDPROV_STORE or ./.tdprov)")
    repair.add_argument("--dry-run", action="store_true", help="report what would be indexed, write nothing")
    repair.add_argument("--trusted-keys", action="append", default=None, metavar="PATH",
                        help="public key file or folder to trust (repeatable; overrides TDPROV_TRUSTED_KEYS)")
    repair.add_argument("--json", action="store_true", help="print the outcome as one JSON document")
    add_store_option(repair, must_exist=False)  # checked in run_repair: the store may be given as URI instead
    repair.set_defaults(func=run_repair)
    seal = add_verb(verbs, "seal", help="seal runs from their staged events, which their writer could not seal",
                    description="Seal each run from the events and attachments staged for it (staging/<run>/), signed with "
                                "the configured key, as its writer would have: for a run the audit names as staged and never "
                                "sealed (the writer could not read its signing key or reach the store and was stopped before "
                                "it spooled the bundle, or its process died). A run already sealed keeps its bundle. Needs "
                                "writer credentials and the writer's signing key (TDPROV_SIGNING_KEY). Only staged events "
                                "signed by that key or a trusted one (TDPROV_TRUSTED_KEYS) are sealed; the others are kept "
                                "in the bundle under refused/ with the reason. Exit 1 when a run "
                                "could only be spooled (store unreachable: 'tdprov flush' delivers it).",
                    example="tdprov store seal 0190b7a4-2c1e-7cc1-9a4e-5b2f0e8c1d22 --store s3://ml-lineage/prod")
    seal.add_argument("run_ids", nargs="+", metavar="RUN_ID",
                      help="one or more runs to seal, each as the audit names it: the full id, or a unique beginning or ending of 8+ "
                           "characters")
    seal.add_argument("--force", action="store_true",
                      help="seal a run whose newest staged event is no terminal one and is recent (it may still be running), "
                           "or is a terminal one staged unsigned (sealed without its end, recorded as RUNNING)")
    seal.add_argument("--accept-unsigned", action="store_true",
                      help="seal the run's unsigned staged events too (staged by a writer without a signing key, or by a "
                           "tdprov before staged events were signed), which are refused otherwise: only when you know who "
                           "staged them, as anyone who can write the store could have")
    add_store_option(seal)
    seal.set_defaults(func=run_seal)


def _store_id(text: str) -> str:
    """``--store-id``: a store id as the audit names it (a UUID), in the form writers write it."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is no store id: give the UUID the audit names "
                                         "('the store's identity (store id ...)')") from None


def run(args: argparse.Namespace) -> int:
    if (args.object_lock is None) != (args.retention_days is None):
        raise BadInputError("--object-lock and --retention-days go together.",
                            fix="e.g. --object-lock compliance --retention-days 3650")
    if args.retention_days is not None and args.retention_days <= 0:
        raise BadInputError(f"--retention-days {args.retention_days} must be positive.", fix="e.g. --retention-days 3650")
    if not args.uri.startswith("s3://"):
        return _init_local(args)
    state = init_s3(args.uri, versioning=args.versioning, lock_mode=args.object_lock, retention_days=args.retention_days,
                    store_id=args.store_id)
    if args.json:
        print(json.dumps(state.to_dict(), indent=2))
    else:
        print("\n".join(state.lines()))
        for change in state.changed or []:
            print(f"changed: {change}")
        for problem in state.problems or []:
            print(f"tdprov store init: {problem}")
    return 1 if state.problems else 0


def run_repair(args: argparse.Namespace) -> int:
    from prov_common.bundle.repair import find_unindexed
    from prov_common.cli._output import emit_json
    from prov_common.config import Settings
    from prov_common.bundle.trust import bundle_trust
    from prov_common.progress import Bar, bar, on_terminal
    from prov_common.store import open_store

    if args.uri and args.store and args.uri != args.store:
        raise BadInputError(f"two stores given: {args.uri} and --store {args.store}.", fix="give the store once")
    check_store_exists(args.uri or args.store)
    settings = Settings.from_env(store=args.uri or args.store, trusted_keys=args.trusted_keys)
    store = open_store(settings=settings)
    repair = find_unindexed(store, bundle_trust(settings, store), dry_run=args.dry_run, progress=None)
    outcomes = []
    with on_terminal():
        for outcome in bar(repair, total=len(repair), desc="repairing index", unit="bundle"):
            outcomes.append(outcome)
            if not args.json:
                Bar.write("\n".join(_repair_lines(outcome)), file=sys.stdout)
    indexed, to_index, not_verified = (sum(o.status == s for o in outcomes) for s in ("indexed", "would-index", "not-verified"))
    if args.json:
        emit_json({"store": store.uri, "dryRun": args.dry_run, "sealed": repair.sealed, "unindexed": len(repair),
                   "indexed": indexed, "wouldIndex": to_index, "notVerified": not_verified,
                   "runs": [o.to_dict() for o in outcomes]})
    else:
        done = f"{to_index} to index (dry run)" if args.dry_run else f"{indexed} indexed"
        print(f"{counted(repair.sealed, 'sealed bundle')}, {len(repair):,} without an index entry: {done}, "
              f"{not_verified} not verified (left alone)", file=sys.stderr)
    return 1 if to_index or not_verified else 0


def _repair_lines(outcome: RepairOutcome) -> list[str]:
    if outcome.status == "indexed":
        return [f"indexed       {outcome.run_id}  {outcome.index_key}"]
    if outcome.status == "would-index":
        return [f"would index   {outcome.run_id}"]
    return [f"NOT VERIFIED  {outcome.run_id}  (not indexed)"] + [f"      {finding}" for finding in outcome.findings]


def _init_local(args: argparse.Namespace) -> int:
    from prov_common.store import open_store
    from prov_common.store.identity import IDENTITY_KEY, ensure_identity

    if args.versioning or args.object_lock:
        raise BadInputError(f"'{args.uri}' is a local folder: versioning and Object Lock are S3 features.",
                            fix="use an s3://bucket/prefix store for WORM protection")
    store = open_store(args.uri)
    store.root.mkdir(parents=True, exist_ok=True)  # type: ignore[attr-defined]
    store.check_write_once()
    identity, created = ensure_identity(store, verified=True, store_id=args.store_id)
    recorded = record_write_once(store, identity)
    if args.json:
        print(json.dumps({"store": store.uri, "kind": "local folder", "writeOnce": "exclusive create", "worm": False,
                          "storeId": identity.store_id, "storeIdCreated": created}, indent=2))
    else:
        print(f"store: {store.describe()} (write-once by exclusive create; no WORM: a user with write access can delete files)")
        print(f"store id: {identity.store_id} ({'created' if created else 'kept'}, {IDENTITY_KEY})")
        if recorded:
            print(recorded)
    return 0


def record_write_once(store: Store, identity: StoreIdentity) -> str | None:
    """After ``store.check_write_once()`` passed: record it for an ``identity`` its creator marked not write-once, which
    ends the audit's finding (``prov_common.store.write_once``); what was recorded (None: nothing to record, or an
    earlier check recorded it)."""
    from prov_common.store.identity import WRITE_ONCE_IGNORED
    from prov_common.store.write_once import record_verified, verified_key

    if identity.write_once != WRITE_ONCE_IGNORED or not record_verified(store, identity):
        return None
    return (f"write-once verified since the store id was created on a server that ignored If-None-Match: * "
            f"(recorded in {verified_key(identity)})")


def init_s3(uri: str, *, versioning: bool = False, lock_mode: str | None = None, retention_days: int | None = None,
            client: Any = None, store_id: str | None = None) -> BucketState:
    """Read, and when asked set, versioning and the Object Lock default retention of ``uri``'s bucket; give the store its
    identity (with ``store_id`` when given) when it has none."""
    from botocore.exceptions import BotoCoreError, ClientError

    from prov_common.store.identity import IDENTITY_KEY, ensure_identity
    from prov_common.store.protection import lock_change_refused, protection_refused, read_versioning
    from prov_common.store.s3 import S3Store

    store = S3Store(uri, client=client)
    s3, bucket = store.client, store.bucket
    state = BucketState(store=store.uri, changed=[], problems=[])
    try:
        s3.head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:  # a network error too: the store unavailable, with its fix
        raise store.bucket_refusal(exc) from exc
    # an endpoint that stops answering these: StoreUnavailableError naming the request, as every read of the store
    if versioning:
        with _versioning(store, "read the versioning of bucket"):
            enabled = read_versioning(s3, bucket) == "Enabled"
        if not enabled:
            with _versioning(store, "turn on versioning of bucket"):
                s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            state.changed.append("versioning turned on")
    if lock_mode:
        rule = {"DefaultRetention": {"Mode": lock_mode.upper(), "Days": retention_days}}
        try:
            with store.answering("set the Object Lock default retention of bucket"):
                s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule})
            state.changed.append(f"default retention set: {lock_mode} mode, {counted(retention_days, 'day')}")
        except ClientError as exc:
            state.problems.append(lock_change_refused(exc, bucket) or (  # refused: the permission; else the bucket's state
                f"could not set Object Lock on '{bucket}': {exc.response.get('Error', {}).get('Code')}: "
                "create the bucket with Object Lock enabled (aws s3api create-bucket --object-lock-enabled-for-bucket) "
                "or enable versioning first where the endpoint allows enabling it later"
            ))
    try:
        state.versioning = store.versioning()
        state.protection = store.protection(state.versioning)
    except ClientError as exc:
        state.problems.append("{}: {}".format(*protection_refused(exc, bucket, versioning_read=state.versioning is not None)))
    try:
        store.check_write_once()
        state.conditional_writes = True
    except StoreError as exc:
        state.conditional_writes = False
        state.problems.append(exc.what)
    else:  # only where objects are write-once: the identity is never replaced (a mark it holds stays, with the check's record)
        identity, created = ensure_identity(store, verified=True, store_id=store_id)
        state.store_id = identity.store_id
        if created:
            state.changed.append(f"store id {identity.store_id} created ({IDENTITY_KEY})")
        recorded = record_write_once(store, identity)
        if recorded:
            state.changed.append(recorded)
    found = state.protection
    if state.versioning not in (None, "Enabled"):  # None: unknown, named above
        state.problems.append("versioning is off: a deleted or overwritten object cannot be recovered (use --versioning)")
    if found is None:  # the Object Lock unknown: named above
        return state
    if not (found.object_lock and (found.retention_days or found.retention_years)):
        state.problems.append("no Object Lock default retention: a store admin can delete bundles "
                              "(use --object-lock compliance --retention-days N on a bucket created with Object Lock)")
    return state


@contextlib.contextmanager
def _versioning(store: S3Store, action: str) -> Iterator[None]:
    """Runs a request about the versioning of ``store``'s bucket (``action``: what it does, as the error says it), as
    :meth:`~prov_common.store.s3.S3Store.answering` does; S3's refusal is the error naming the request, the permission
    to grant and the fix (:func:`~prov_common.store.protection.versioning_refused`)."""
    from botocore.exceptions import ClientError

    from prov_common.store.protection import versioning_refused

    try:
        with store.answering(action):
            yield
    except ClientError as exc:
        refused = versioning_refused(exc, store.bucket, f"cannot {action} '{store.bucket}' in {store.describe()}")
        if refused is None:
            raise
        raise refused from exc


RUNNING_FOR = timedelta(hours=24)  # a run with no terminal event is taken as over this long after its newest event


def run_seal(args: argparse.Namespace) -> int:
    from prov_common.audit.unfinished import newest_staged
    from prov_common.bundle import layout
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
    from prov_common.cli._runs import resolve_run_ids

    transport = ProvenanceTransport(ProvenanceConfig(store=args.store, strict=False))
    left = 0
    try:
        for run_id in resolve_run_ids(transport.store, args.run_ids, staged=True):
            newest = newest_staged(transport.store, run_id)
            if newest is None:
                sealed = transport.store.exists(layout.bundle_key(run_id, layout.STATEMENT_FILE))
                raise BadInputError(f"no events are staged for run {run_id} in {transport.store.uri}"
                                    f"{'; it has a bundle' if sealed else ''}, so there is nothing to seal it from.",
                                    fix="give a run id the audit names as staged and never sealed")
            if not args.force:
                _check_ended(transport, run_id, newest, accept_unsigned=args.accept_unsigned)
            result = transport.seal(run_id, accept_unsigned=args.accept_unsigned)
            left += result.status == "spooled"
            print(f"{result.status:<14} {run_id}  {result.index_key or ''}".rstrip())
    finally:
        transport.close()
    return 1 if left else 0


def _check_ended(transport: ProvenanceTransport, run_id: str, newest: tuple[str, datetime], *, accept_unsigned: bool) -> None:
    """Refuse to seal ``run_id`` (its newest staged event's key and time: ``newest``) without ``--force`` when its end is
    not what the seal takes: its newest event is no terminal one that a key the seal trusts signed and is under
    :data:`RUNNING_FOR` old (it may still be running), or it is a terminal event staged unsigned and the seal does not
    accept unsigned events (sealed, the run would be recorded as RUNNING whatever its age). An event planted unsigned
    does not end a run: the check reads it through the seal's trust."""
    from prov_common.audit.unfinished import staged_end
    from prov_common.store.identity import writer_store_id

    key, moment = newest
    state, unsigned = staged_end(transport.store, key, transport.staging_trust(run_id),
                                 store_id=writer_store_id(transport.store))
    when = f"{moment:%Y-%m-%dT%H:%M:%SZ}"
    refused_end = unsigned and not accept_unsigned
    accept = (f"check that its staged events (staging/{run_id}/) are its producer's (a writer of yours that lost its "
              "signing key stages its events unsigned; anyone who can write staging/ could have put them there), then "
              f"'tdprov store seal --accept-unsigned {run_id}'")
    if (state is None or refused_end) and datetime.now(timezone.utc) - moment < RUNNING_FOR:
        raise BadInputError(f"run {run_id} may still be running: its newest staged event, {when}, is "
                            "no terminal one that a key this seal trusts signed"
                            f"{f' (a {state} staged unsigned)' if refused_end else ''}; sealed now, what it records "
                            "later would be in no bundle.",
                            fix=f"wait until it ends (or for {RUNNING_FOR}), or pass --force when it is known to be over"
                                f"{f'; if it is over, {accept}' if refused_end else ''}")
    if refused_end:
        raise BadInputError(f"run {run_id} ended with a {state} event staged unsigned ({key}, {when}): a seal refuses "
                            f"unsigned staged events, so it would seal the run without its end (recorded as RUNNING, the "
                            f"{state} kept under refused/).",
                            fix=f"{accept}; or pass --force to seal it without its end")
