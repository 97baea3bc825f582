"""Watching the index for new bundles, each taken once: a cursor that re-lists a settle window.

Index keys are stamped when the entry is written, but writers finish out of order (a slow or retried PUT, a
second process) and a writer's clock may run ahead, so "everything after the newest key seen" misses entries.
An :class:`IndexWatch` lists from :data:`~prov_common.bundle.layout.SETTLE_SECONDS` before the newest key it
took that is not dated in the future, and remembers the keys it took since then: every entry is taken exactly
once, however late it lands within the window. It also remembers the keys there it passed over as no run's own
entry (copied or moved), so that each is named once, not at every listing until the window moves past it.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice

from prov_common.bundle import layout
from prov_common.bundle.storage import index_keys, not_the_runs_entry
from prov_common.errors import BadInputError
from prov_common.store.base import Store
from prov_common.store.identity import IDENTITY_KEY

log = logging.getLogger(__name__)

MAX_REMEMBERED = 10_000
"""Keys a watch remembers at most; past that (more than this many bundles in one settle window) its window
is shortened to the keys it remembers, so that no entry is taken twice."""


@dataclass(frozen=True)
class IndexWatch:
    """Where a consumer of the index is (no I/O). ``start``: list the keys after this one (None: from the
    first); ``seen``: the keys after ``start`` already taken, sorted; ``passed``: the keys after ``start`` passed over
    as not their run's own entry and named already, sorted (by key: their run's own entry is still taken)."""

    start: str | None = None
    seen: tuple[str, ...] = ()
    passed: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> IndexWatch:
        """The watch ``to_text`` wrote; a bare index key (an older cursor) means: every key up to it was taken.

        Raises :class:`BadInputError` naming ``text`` when it is neither (cut short, set by hand): a key that is no
        index key would list nothing (or everything) and a watch that is no JSON object fails every listing."""
        if not text:
            return cls()
        if not text.startswith("{"):
            return cls(start=_index_key(text, text))
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise _damaged(text, f"not JSON: {exc}") from None
        if not isinstance(raw, dict) or not all(isinstance(raw.get(part) or [], list) for part in ("seen", "passed")):
            raise _damaged(text, 'not {"start": KEY, "seen": [KEY, ...], "passed": [KEY, ...]}')
        start = raw.get("start")
        return cls(None if start is None else _index_key(start, text),
                   *(tuple(sorted(_index_key(key, text) for key in raw.get(part) or ())) for part in ("seen", "passed")))

    def to_text(self) -> str:
        passed = {"passed": list(self.passed)} if self.passed else {}
        return json.dumps({"start": self.start, "seen": list(self.seen), **passed}, separators=(",", ":"))

    def unseen(self, listed: Iterable[str], own: Callable[[str], bool] | None = None) -> Iterable[str]:
        """The keys of ``listed`` whose run was not taken yet (a run's key once, however often it is listed); ``own``:
        whether a key is its run's own entry (one that is not, such as a copy, is passed over and takes no run). A key
        passed over before is passed over again without asking ``own``."""
        taken, passed = {layout.run_id_of_index_key(k) for k in self.seen} - {""}, set(self.passed)  # "": a key naming no run
        for key in listed:
            run_id = layout.run_id_of_index_key(key)
            if run_id not in taken and key not in passed and (own is None or own(key)):
                taken.add(run_id)
                yield key

    def after(self, taken: Iterable[str], now: datetime | None = None, passed: Iterable[str] = ()) -> IndexWatch:
        """The watch once ``taken`` are taken too, and ``passed`` passed over. Its window starts
        :data:`layout.SETTLE_SECONDS` before the newest key dated before ``now`` (a key from a clock running ahead is
        remembered but does not move it) and never moves back; keys passed over are remembered while in the window,
        at most :data:`MAX_REMEMBERED` (the newest)."""
        keys = sorted({*self.seen, *taken})
        present = layout.index_cursor(now or datetime.now(timezone.utc))
        settled = [k for k in keys if k < present]
        start = self.start
        if settled:
            rewound = layout.rewind_cursor(settled[-1], layout.SETTLE_SECONDS)
            start = rewound if start is None or rewound > start else start
        kept = [k for k in keys if start is None or k > start]
        if len(kept) > MAX_REMEMBERED:
            start, kept = kept[-MAX_REMEMBERED - 1], kept[-MAX_REMEMBERED:]
        passed_over = sorted(k for k in {*self.passed, *passed} if start is None or k > start)
        return IndexWatch(start, tuple(kept), tuple(passed_over[-MAX_REMEMBERED:]))


def _index_key(key: object, text: str) -> str:
    """``key`` when it is an index key, else the error that names the damaged watch ``text``."""
    if not isinstance(key, str) or not key.startswith(f"{layout.INDEX}/"):
        raise _damaged(text, f"{key!r} is no index key ({layout.INDEX}/...)")
    return key


def _damaged(text: str, why: str) -> BadInputError:
    return BadInputError(f"cursor {text[:200]!r} is damaged: {why}.",
                         fix="start the watch again from the first bundle (an empty cursor); bundles it took are taken again")


def watch_index(store: Store, watch: IndexWatch, limit: int | None = None,
                now: datetime | None = None) -> tuple[list[str], IndexWatch]:
    """The index keys new to ``watch`` (oldest first, at most ``limit``) and the watch that has taken them.
    An entry that is not its run's own (:func:`~prov_common.bundle.storage.not_the_runs_entry`, the rule of 'tdprov
    verify': copied or moved, as under a new key once the run's entry left the settle window) is no new run: it is not
    taken, and it is named once, the watch remembering its key while in its window. Costs one listing of the settle
    window plus what is new, and one read of each new entry's ``indexed`` record."""
    passed: list[str] = []

    def own(key: str) -> bool:
        if _the_runs_own(store, key):
            return True
        passed.append(key)
        return False

    new = list(islice(watch.unseen(index_keys(store, watch.start), own), limit))
    return new, watch.after(new, now, passed)


def _the_runs_own(store: Store, key: str) -> bool:
    """Whether the index entry ``key`` is its run's own; if not, a warning names it and why (an entry whose name does not
    parse names no run: it is no run's own)."""
    if not layout.index_name_parses(key):
        log.warning("tdprov: %s: it names no run, and it is not taken as a new run. Fix: %s", layout.unparsed_index_entry(key),
                    layout.UNPARSED_INDEX_FIX)
        return False
    why = not_the_runs_entry(store, key)
    if why is not None:
        run_id = layout.run_id_of_index_key(key)
        log.warning("tdprov: index entry %s is not the entry of run %s (%s): a run is indexed once, so it was copied or "
                    "moved, and it is not taken as a new run. Fix: run 'tdprov verify %s' (it names the entry) and remove "
                    "the entry", key, run_id, why, run_id)
    return why is None


def missing_store(store: Store) -> str | None:
    """Why ``store`` is no tdprov store yet (None when it is one): neither its identity object nor any other object
    is there. A waiting consumer says so, since a typo in the store's location looks just like a quiet store."""
    if store.exists(IDENTITY_KEY) or next(iter(store.list("")), None) is not None:
        return None
    return (f"no tdprov store at {store.uri} (no {IDENTITY_KEY}, nothing at all): no pipeline has written to it yet, or "
            "its location is wrong. Fix: check the store setting (TDPROV_STORE, the resource's or connection's store) "
            "for a typo or an unmounted volume; waiting goes on, and the first run a pipeline records creates it")


__all__ = ["MAX_REMEMBERED", "IndexWatch", "missing_store", "watch_index"]
