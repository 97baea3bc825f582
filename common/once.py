"""What a process does once (a warning, above all): the keys met so far, forgotten in a forked child."""
from __future__ import annotations

import os
import threading


class Once:
    """The keys met so far in this process (a forked child starts afresh): what is warned about once per process."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self.clear)

    def first(self, *key: str) -> bool:
        """True the first time ``key`` is met in this process."""
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def clear(self) -> None:
        self._seen = set()
        self._lock = threading.Lock()
