"""Many people solving at once, and a database locked by someone else: nothing is lost."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import text

from storage import Store, new_session_id
from tests.storage_worker import make_outcome, make_samples, make_start

THREADS = 20
ATTEMPTS = 200
SAMPLES = 8


def test_twenty_threads_logging_two_hundred_attempts_lose_nothing(tmp_db_url):
    sessions = [new_session_id() for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)

    def solve_many(thread: int) -> list[str]:
        barrier.wait()  # all threads hit the database at the same moment
        ids = []
        for number in range(ATTEMPTS // THREADS):
            sid = sessions[thread]
            started = store.start_attempt(make_start(sid, f"thread {thread} problem {number}"))
            assert started.ok, started.message
            finished = store.finish_attempt(started.attempt_id, make_outcome(), make_samples(SAMPLES, tag=f"{thread}/{number} "))
            assert finished.ok, finished.message
            ids.append(started.attempt_id)
        return ids

    with Store.open(tmp_db_url) as store:
        with ThreadPoolExecutor(THREADS) as pool:
            ids_by_thread = list(pool.map(solve_many, range(THREADS)))
        assert store.health().ok
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM attempts WHERE status = 'done'")).scalar() == ATTEMPTS
            assert conn.execute(text("SELECT count(*) FROM samples")).scalar() == ATTEMPTS * SAMPLES
            per_attempt = conn.execute(text("SELECT count(*) FROM samples GROUP BY attempt_id")).scalars().all()
            assert set(per_attempt) == {SAMPLES}
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        for thread, ids in enumerate(ids_by_thread):
            page = store.history(sessions[thread], page_size=100)
            assert {a.id for a in page.items} == set(ids) and page.total == ATTEMPTS // THREADS
            detail = store.get_attempt(ids[-1], session_id=sessions[thread])
            assert all(s.text.startswith(f"{thread}/{ATTEMPTS // THREADS - 1} ") for s in detail.samples)


def _hold_write_lock(
    path: Path, seconds: float, locked: threading.Event, releasing: threading.Event | None = None
) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    locked.set()
    time.sleep(seconds)
    if releasing is not None:
        releasing.set()  # before COMMIT: a write that got through must have seen this
    conn.execute("COMMIT")
    conn.close()


def test_a_locked_database_is_waited_for_and_retried(tmp_db_url, caplog):
    path = Path(tmp_db_url.removeprefix("sqlite:///"))
    sid = new_session_id()
    # Each try waits 0.2 s for the lock; the other connection holds it for 1.5 s, so the
    # write only gets through by retrying, well within its 10 s budget.
    with Store.open(tmp_db_url, busy_timeout_s=0.2, write_budget_s=10) as store:
        locked, releasing = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 1.5, locked, releasing))
        holder.start()
        locked.wait()
        with caplog.at_level(logging.INFO, logger="storage"):
            status = store.start_attempt(make_start(sid))
        got_through_after_release = releasing.is_set()
        holder.join()
        assert status.ok, status.message
        assert status.tries > 1 and got_through_after_release
        assert "database is locked" in caplog.text
        assert store.get_attempt(status.attempt_id, session_id=sid).status == "running"


def test_a_lock_held_past_the_budget_is_reported_then_saved_later(tmp_db_url, caplog):
    path = Path(tmp_db_url.removeprefix("sqlite:///"))
    sid = new_session_id()
    with Store.open(tmp_db_url, busy_timeout_s=0.1, write_budget_s=0.5) as store:
        locked = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 2.5, locked))
        holder.start()
        locked.wait()
        with caplog.at_level(logging.ERROR, logger="storage"):
            status = store.start_attempt(make_start(sid))
        # Bounded: each try waits at least the 0.1 s busy timeout, and none starts after 0.5 s.
        assert 2 <= status.tries <= 6
        assert not status.ok and "database is locked" in status.message and status.pending == 1
        assert status.message in caplog.text
        assert not store.health().ok
        holder.join()
        # The next write goes through and brings the one kept in memory with it.
        finished = store.finish_attempt(status.attempt_id, make_outcome(), make_samples(2))
        assert finished.ok and finished.pending == 0
        detail = store.get_attempt(status.attempt_id, session_id=sid)
        assert detail.status == "done" and len(detail.samples) == 2
        assert store.health().ok
