"""A running solve kept in the session log while it streams, so that a crash loses little.

Each solution is written the moment it finishes; the text of the unfinished ones every
`INTERVAL_S` seconds (`Store.add_samples`: an unfinished row never replaces a finished one, and
nothing lands once the attempt has ended). The writes go to one writer thread for the whole
app, never a decode thread, and the handler never waits for them while the run streams: it
hands a write over only when the last one is done, so a slow database delays the log, not the
page or the decode. The run's end writes every solution again, complete, after `close()` has
let the last of these writes land (`Store.finish_attempt`). After a crash (a killed process)
the attempt keeps every finished solution and the others' text as of at most `INTERVAL_S`
(plus one write) before; the next start-up marks it `interrupted`.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import fields
from typing import TYPE_CHECKING

from judgements.solution import Solution
from model.types import RowDone, StreamEvent
from storage.records import LogStatus, SampleRecord

if TYPE_CHECKING:
    from storage.store import Store
    from ui.views import LiveRun

log = logging.getLogger(__name__)

INTERVAL_S = 2.0
"""Seconds between two saves of a run's unfinished text."""
CLOSE_WAIT_S = 10.0
"""How long the run's end waits for a save still in flight before writing its finish."""

_writer: ThreadPoolExecutor | None = None
_writer_lock = threading.Lock()


def writer() -> ThreadPoolExecutor:
    """The app's one thread for these writes (SQLite takes one writer at a time anyway)."""
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="progress-log")
        return _writer


def record_of(solution: Solution) -> SampleRecord:
    """A solution as the log stores it, as it stands (unfinished: no finish reason yet)."""
    return SampleRecord(**{f.name: getattr(solution, f.name) for f in fields(SampleRecord) if hasattr(solution, f.name)})


class ProgressLog:
    """The saves of one running attempt; `update` after each of the Solver's events, `close`
    before the run's finish is written."""

    def __init__(self, store: Store, attempt_id: str, *, interval_s: float = INTERVAL_S) -> None:
        self._store = store
        self._attempt_id = attempt_id
        self._interval_s = interval_s
        self._finished: dict[int, SampleRecord] = {}  # finished rows not yet saved
        self._in_flight: tuple[Future[LogStatus], tuple[int, ...]] | None = None
        self._last_text = time.monotonic()  # the start: the first text is saved one interval in

    def update(self, live: LiveRun, event: StreamEvent) -> None:
        """Queue a save when a row has just finished, or the unfinished text is due."""
        if isinstance(event, RowDone):
            self._finished[event.solution.index] = record_of(event.solution)
        if not self._writer_free():
            return
        now = time.monotonic()
        text_due = now - self._last_text >= self._interval_s
        if not self._finished and not text_due:
            return
        records = list(self._finished.values())
        if text_due:
            self._last_text = now
            view = live.snapshot()
            records += [record_of(row) for index, row in sorted(view.rows.items())
                        if not row.finished and row.text and index not in self._finished]
        if records:
            done = tuple(self._finished)
            self._in_flight = (writer().submit(self._store.add_samples, self._attempt_id, records), done)

    def close(self) -> None:
        """Let the save in flight land (bounded), so the run's finish is written after it."""
        if self._in_flight is None:
            return
        try:
            self._in_flight[0].result(timeout=CLOSE_WAIT_S)
        except FutureTimeout:
            log.warning("Session log: a save of attempt %s's progress is still waiting after %.0f s.",
                        self._attempt_id, CLOSE_WAIT_S)
        self._in_flight = None

    def _writer_free(self) -> bool:
        """Whether no save is in flight; the finished rows of one that ended are forgotten: saved,
        or kept by the store to save later (it keeps a failed save of a finished solution; sending
        it again would only pile copies into what it keeps)."""
        if self._in_flight is None:
            return True
        future, rows = self._in_flight
        if not future.done():
            return False
        self._in_flight = None
        for index in rows:
            self._finished.pop(index, None)
        return True


__all__ = ["CLOSE_WAIT_S", "INTERVAL_S", "ProgressLog", "record_of", "writer"]
