"""When the disk misbehaves: a read-only, vanished, unreachable or flaky database leaves
solving working, the failure reported (returned, logged, in `health()`), and what can be
saved later saved."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event

from storage import DatabaseUnavailableError, Store, new_session_id
from tests.storage_worker import make_outcome, make_samples, make_start


def _path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _solve(store: Store, sid: str):
    """What the UI does around one answer; the answer itself is never touched by the log."""
    started = store.start_attempt(make_start(sid))
    answer = "\\boxed{19}"  # computed by the model whatever the log did
    finished = store.finish_attempt(started.attempt_id, make_outcome(), make_samples(3))
    return answer, started, finished


def test_a_read_only_database_leaves_solving_working(tmp_db_url, caplog):
    sid = new_session_id()
    with Store.open(tmp_db_url) as store:
        _answer, started, _ = _solve(store, sid)
    read_only_url = f"sqlite:///file:{_path(tmp_db_url)}?mode=ro&uri=true"
    with caplog.at_level(logging.ERROR, logger="storage"):
        store = Store.open(read_only_url, write_budget_s=2)
        try:
            answer, start_status, finish_status = _solve(store, sid)
            # history written before can still be read
            assert store.get_attempt(started.attempt_id, session_id=sid).status == "done"
        finally:
            store.close()
    assert answer == "\\boxed{19}"
    for status in (start_status, finish_status):
        assert not status.ok and status.tries == 3  # RetryPolicy.other_tries, then given up
        assert "readonly" in status.message or "read-only" in status.message
        assert status.message in caplog.text
    assert finish_status.pending == 2  # both kept in memory in case the file becomes writable


def test_a_database_that_turns_read_only_is_reported_then_caught_up(tmp_db_url, caplog):
    """The file becomes unwritable while the app runs (simulated with SQLite's query_only,
    which refuses writes whoever the process runs as, root included); later it heals."""
    sid = new_session_id()
    with Store.open(tmp_db_url) as store:

        def refuse_writes(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA query_only = ON")

        event.listen(store.engine, "connect", refuse_writes)
        store.engine.dispose()
        with caplog.at_level(logging.ERROR, logger="storage"):
            answer, started, finished = _solve(store, sid)
        assert answer == "\\boxed{19}"
        assert not started.ok and not finished.ok and finished.pending == 2
        assert "readonly" in finished.message and finished.message in caplog.text
        health = store.health()
        assert not health.ok and "2 write(s) are waiting" in health.message

        event.remove(store.engine, "connect", refuse_writes)
        store.engine.dispose()
        assert store.flush_pending().ok
        detail = store.get_attempt(started.attempt_id, session_id=sid)
        assert detail.status == "done" and len(detail.samples) == 3


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files; covered above with query_only")
def test_a_file_without_write_permission(tmp_db_url):
    path = _path(tmp_db_url)
    Store.open(tmp_db_url).close()
    for name in (path, path.parent):
        name.chmod(0o555 if name.is_dir() else 0o444)
    try:
        with Store.open(tmp_db_url) as store:
            answer, started, _ = _solve(store, new_session_id())
            assert answer and not started.ok
    finally:
        path.parent.chmod(0o755)
        path.chmod(0o644)


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_vanished_database_leaves_solving_working(tmp_db_url, caplog, what):
    path = _path(tmp_db_url)
    sid = new_session_id()
    with Store.open(tmp_db_url) as store:
        _solve(store, sid)  # the pool now holds connections to the file
        if what == "file":
            _remove_database(path)
        else:
            shutil.rmtree(path.parent)
        with caplog.at_level(logging.ERROR, logger="storage"):
            answer, started, finished = _solve(store, sid)
        assert answer == "\\boxed{19}"
        assert not started.ok and not finished.ok and started.tries == finished.tries == 1  # no retrying
        assert "vanished" in finished.message and finished.message in caplog.text
        assert "vanished" in store.health().message
        with pytest.raises(DatabaseUnavailableError, match="vanished"):
            store.history(sid)
        # No empty database was quietly created in its place.
        assert not path.exists()


def test_a_restored_database_is_picked_up_and_the_backlog_saved(tmp_db_url):
    path = _path(tmp_db_url)
    backup = path.with_name("backup.sqlite3")
    sid = new_session_id()
    with Store.open(tmp_db_url) as store:
        _answer, before, _ = _solve(store, sid)
        with sqlite3.connect(path) as source, sqlite3.connect(backup) as target:
            source.backup(target)
        _remove_database(path)
        _answer, lost_meanwhile, finished = _solve(store, sid)
        assert not finished.ok and finished.pending == 2
        shutil.copy(backup, path)  # the operator restores the backup: a new file
        _answer, after, finished = _solve(store, sid)
        assert finished.ok and finished.pending == 0
        ids = {a.id for a in store.history(sid).items}
        assert ids == {before.attempt_id, lost_meanwhile.attempt_id, after.attempt_id}


def test_an_unreachable_database_at_start_up_leaves_solving_working(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log's folder should be")
    url = f"sqlite:///{blocker / 'log.sqlite3'}"
    with caplog.at_level(logging.ERROR, logger="storage"):
        store = Store.open(url)
    try:
        assert not store.health().ok and "cannot be used" in caplog.text
        answer, started, finished = _solve(store, new_session_id())
        assert answer and not started.ok and not finished.ok and "cannot create" in finished.message
    finally:
        store.close()
    with pytest.raises(DatabaseUnavailableError, match="cannot create"):
        Store.open(url, strict=True)


def _flaky(store: Store, failures: int, message: str = "disk I/O error"):
    """Make the next `failures` statements fail as a flaky disk would."""
    left = {"n": failures}

    def before(_conn, _cursor, statement, _params, _context, _many):
        if left["n"] > 0 and not statement.startswith(("BEGIN", "PRAGMA")):
            left["n"] -= 1
            raise sqlite3.OperationalError(message)

    event.listen(store.engine, "before_cursor_execute", before)
    return left


def test_a_transient_disk_error_is_retried(tmp_db_url, caplog):
    sid = new_session_id()
    with Store.open(tmp_db_url) as store:
        _flaky(store, 2)
        with caplog.at_level(logging.INFO, logger="storage"):
            status = store.start_attempt(make_start(sid))
        assert status.ok and status.tries == 3
        assert "disk I/O error" in caplog.text
        assert store.get_attempt(status.attempt_id, session_id=sid) is not None


def test_a_persistent_disk_error_is_reported_not_swallowed(tmp_db_url, caplog):
    sid = new_session_id()
    with Store.open(tmp_db_url) as store:
        left = _flaky(store, 10**6, "database or disk is full")
        with caplog.at_level(logging.ERROR, logger="storage"):
            status = store.start_attempt(make_start(sid))
        assert not status.ok and status.tries == 3 and "disk is full" in status.message
        assert any(r.levelno == logging.ERROR and "disk is full" in r.getMessage() for r in caplog.records)
        left["n"] = 0  # space freed
        assert store.flush_pending().ok
        assert store.get_attempt(status.attempt_id, session_id=sid).status == "running"


def test_the_backlog_is_bounded_and_drops_are_reported(tmp_db_url, caplog):
    with Store.open(tmp_db_url, max_pending=2) as store:
        _flaky(store, 10**6)
        with caplog.at_level(logging.ERROR, logger="storage"):
            for _ in range(3):
                store.start_attempt(make_start(new_session_id()))
        health = store.health()
        assert health.pending == 2 and "1 write(s) were lost" in health.message
        assert "is lost" in caplog.text


def test_strict_open_of_a_missing_database_without_create(tmp_db_url):
    with pytest.raises(DatabaseUnavailableError, match="does not exist"):
        Store.open(tmp_db_url, create=False, strict=True)
    assert not _path(tmp_db_url).exists()
