"""``tdprov flush``: deliver what the outbox spooled while the store was unreachable."""
from __future__ import annotations

import argparse
from pathlib import Path
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from prov_common.cli._common import add_store_option, add_verb
from prov_common.cli._output import tell
from prov_common.errors import BadInputError
from prov_common.text import counted

if TYPE_CHECKING:
    from prov_common.signing import TrustStore
    from prov_common.store.base import Store
    from prov_common.store.outbox import Outbox


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "flush",
        help="deliver spooled bundles to their store, each exactly once",
        description=(
            "Deliver every entry of the spool folder ($TDPROV_SPOOL, default $TDPROV_HOME/spool), oldest "
            "first. Each entry goes to the store it was meant for (one whose store cannot be opened waits, "
            "named with why), or with --store only the entries for that store are delivered, and those kept "
            "because their store setting could not be opened or whose store cannot be opened now. An entry "
            "is removed only once all its objects are stored; running flush again, or at the same time as "
            "another flush, never stores anything twice.\n"
            "Exit 0 when the spool is empty afterwards, 1 when entries are left (store still unreachable or "
            "cannot be opened) or <spool>/failed/ holds entries set aside as undeliverable (by this flush or an earlier one; "
            "each is named with its runs and the reason, one whose header cannot be read by what is wrong with it "
            "(empty, cut short, not JSON at a line and column, or not readable at all) and the fix, until it is moved "
            "out of failed/); 2 when the spool "
            "folder cannot be read or written (its entries stay there)."
        ),
        example="tdprov flush                       # after an outage, or from cron",
    )
    add_store_option(parser, must_exist=False, text="deliver only the entries for this store (a folder or "
                     "s3://bucket/prefix) and those whose store could not be opened; default: every entry to its own "
                     "store, whatever $TDPROV_STORE says")
    parser.add_argument("--spool", default=None, help="spool folder (default: $TDPROV_SPOOL or $TDPROV_HOME/spool)")
    parser.set_defaults(func=run)


def check_spool(spool: str) -> None:
    """An explicit ``--spool`` must be an existing folder: a typo must not flush nothing and exit 0."""
    path = Path(spool).expanduser()
    if not path.is_dir():
        state = "is a file" if path.exists() else "does not exist"
        raise BadInputError(f"spool {path} {state}.", fix="give the spool folder (default: $TDPROV_SPOOL or $TDPROV_HOME/spool)")


def run(args: argparse.Namespace) -> int:
    from prov_common.bundle.late import put_arrived
    from prov_common.bundle.restaged import staged_already
    from prov_common.store import Outbox, open_store
    from prov_common.store.errors import ENTRY_STORE
    from prov_common.store.location import local_folder
    from prov_common.store.outbox import WHY_SUFFIX

    if args.spool is not None:
        args.spool = local_folder(args.spool, "--spool")
        check_spool(args.spool)
    outbox = Outbox(args.spool, log_set_aside=False, arrival=put_arrived, same=staged_already,  # each set aside named below
                    setting=ENTRY_STORE)  # a store's error names no setting that would move an entry elsewhere
    store = open_store(args.store) if args.store else None
    report = outbox.flush(store, take_unopened=True)  # entries held for a store setting that could not be opened
    if report.spool_error is not None:  # its entries stay in the spool: exit 2, naming the folder and the fix
        raise report.spool_error
    claimed = len(outbox.claimed())  # (the claims this process could not give back among them: report.claimed)
    remaining = len(outbox.pending()) + claimed
    failed_dir = outbox.failed_dir
    aside = outbox.set_aside_entries(store.uri if store is not None else None)
    count = len(aside)  # (an entry that could not be moved there waits in the spool: counted in remaining)
    print(
        f"delivered {report.delivered} spooled entr{'y' if report.delivered == 1 else 'ies'} "
        f"({counted(report.objects, 'object')}, {report.written} new); {remaining} left in {outbox.spool_dir}"
        + (f" ({claimed - report.claimed} being delivered by another flush: run 'tdprov flush' again once it ends)"
           if claimed > report.claimed else "")
        + (f"; {count} set aside in {failed_dir}" if count else "")
    )
    if store is not None:
        print_left_elsewhere(outbox, store.uri, args.spool)
    print_runs_to_seal(report.delivered_to)
    for error in report.unfiled + report.errors:  # a set-aside entry with its note is named below
        tell("flush", error)
    for entry in aside:
        if entry.keys is not None:
            said = f"{entry.path.name} ({runs_or_keys(entry.keys)}): {entry.why}"
        else:  # its header read now names it, what is wrong and the fix; its note stays beside it in failed/
            said = entry.unreadable
        tell("flush", f"set aside, never delivered: {said}")
    if aside:
        tell("flush", f"{len(aside)} entr{'y' if len(aside) == 1 else 'ies'} in {failed_dir} will not be delivered; "
             f"flush exits 1 until they are dealt with. Fix: read each entry's {WHY_SUFFIX}; a run named there may have no "
             "bundle, or one sealed elsewhere from its staged events ('tdprov verify RUN_ID'); keep a copy of the entry, "
             f"then move it and its note out of {failed_dir}")
    return 1 if remaining or count else 0


def print_left_elsewhere(outbox: Outbox, store_uri: str, spool: str | None) -> None:
    """After ``tdprov flush --store STORE_URI``: name how many entries are left in the spool for each other store (that
    flush does not deliver them), with the command that delivers each to its own store; and, when it stopped early, those
    spooled for a store that could not be opened, which only a flush naming a store delivers, with that command."""
    from prov_common.text import shell_word

    spool_option = f" --spool {shell_word(spool)}" if spool is not None else ""
    named, held = outbox.waiting_stores()
    others = {uri: n for uri, n in named.items() if uri != store_uri}
    if others:
        print(f"{counted(sum(others.values()), 'entry', 'entries')} left for other stores than {store_uri} ({_per_store(others)}); "
              f"to deliver each to its own store, run: tdprov flush{spool_option}")
    if held:
        print(f"{counted(sum(held.values()), 'entry', 'entries')} left that {'was' if sum(held.values()) == 1 else 'were'} "
              f"spooled for a store that could not be opened ({_per_store(held)}), which 'tdprov flush' alone "
              f"delivers only once that store opens; to deliver {'it' if sum(held.values()) == 1 else 'them'} to {store_uri} once it answers, run: "
              f"tdprov flush --store {shell_word(store_uri)}{spool_option}")


def _per_store(counts: dict[str, int]) -> str:
    """``2 for URI, 1 for URI2``: how many entries each store's count holds."""
    return ", ".join(f"{n} for {uri}" for uri, n in counts.items())


def runs_or_keys(keys: list[str], shown: int = 3) -> str:
    """``run R1, R2`` for the runs whose bundle or staged objects ``keys`` are, else the first keys."""
    from prov_common.bundle import layout

    runs = sorted({parts[1] for parts in (k.split("/") for k in keys) if len(parts) > 2 and parts[0] in (layout.BUNDLES, layout.STAGING)})
    if runs:
        return ("run " if len(runs) == 1 else "runs ") + ", ".join(runs)
    return ", ".join(keys[:shown]) + (f", ... ({len(keys)} keys)" if len(keys) > shown else "")


def runs_to_seal(store: Store, run_ids: Iterable[str], trust: TrustStore) -> list[str]:
    """The runs of ``run_ids`` that have no bundle in ``store`` and whose newest staged event there is a terminal one
    that a key of ``trust`` signed for this store (the seal's trust and the store identity it binds, as ``tdprov store
    seal`` takes them: a COMPLETE planted unsigned, or copied from another store's staging, is no end, and that command
    refuses the run without --force): their events are stored, but only ``tdprov store seal`` makes them a bundle."""
    from prov_common.audit.unfinished import newest_staged, terminal_state
    from prov_common.bundle import layout
    from prov_common.store.identity import writer_store_id

    staged = [(run_id, newest) for run_id in sorted(run_ids) if not store.exists(layout.bundle_key(run_id, layout.STATEMENT_FILE))
              and (newest := newest_staged(store, run_id)) is not None]
    store_id = writer_store_id(store) if staged else None  # the identity that 'tdprov store seal' binds and checks
    return [run_id for run_id, newest in staged if terminal_state(store, newest[0], trust, store_id=store_id) is not None]


def print_runs_to_seal(delivered_to: Sequence[tuple[Store, list[str]]]) -> None:
    """After a flush: name each run whose staged events it delivered (``FlushReport.delivered_to``) that is now staged
    only in its store (:func:`runs_to_seal`), with the command that seals it. A store that cannot be read now is
    passed over, as is a run whose end no key the seal trusts signed."""
    from prov_common.audit.unfinished import staged_events
    from prov_common.errors import TdprovError

    by_store: dict[str, tuple[Store, set[str]]] = {}
    for target, keys in delivered_to:
        runs = {run_id for run_id, _, _ in staged_events(keys)}
        if runs:
            by_store.setdefault(target.uri, (target, set()))[1].update(runs)
    if not by_store or (trust := _sealing_trust()) is None:
        return
    for uri, (target, run_ids) in sorted(by_store.items()):
        try:
            for run_id in runs_to_seal(target, run_ids, trust):
                print(f"run {run_id}: staged only, no bundle; seal it with 'tdprov store seal --store {uri} {run_id}'")
        except TdprovError:
            continue


def _sealing_trust() -> TrustStore | None:
    """The keys whose staged events 'tdprov store seal' here takes (:func:`~prov_common.signing.keyfiles.sealing_trust`,
    as ``ProvenanceTransport.staging_trust`` reads them, but no signing key is made just to name runs). None when they
    cannot be read (the seal says why)."""
    from prov_common.config import Settings
    from prov_common.errors import TdprovError
    from prov_common.signing.keyfiles import sealing_trust

    try:
        return sealing_trust(Settings.from_env())
    except TdprovError:
        return None
