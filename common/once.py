"""What a process does once (a warning, above all): the keys met so far, forgotten in a forked child unless inherited."""
from __future__ import annotations

import os
import threading


class Once:
    """The keys met so far in this process: what is warned about once per process. A forked child starts afresh
    (its output may go to another log, as an Airflow task's does) unless ``inherited``: then it knows what its parent
    met (a process forked for every event, as the OpenLineage provider's are, must not repeat a setting's warning)."""

    def __init__(self, *, inherited: bool = False) -> None:
        self._seen: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._new_lock if inherited else self.clear)

    def first(self, *key: str) -> bool:
        """True the first time ``key`` is met in this process."""
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def clear(self) -> None:
        self._seen = set()
        self._new_lock()

    def _new_lock(self) -> None:
        self._lock = threading.Lock()
