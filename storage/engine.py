"""Database URLs, the engine (one per store), SQLite's settings, and retrying a busy database.

Every SQLite connection gets WAL, synchronous=FULL, a busy timeout and foreign keys, and
writes begin with BEGIN IMMEDIATE (docs/storage.md says why). Other URLs are used as given.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from storage.errors import StorageConfigError

log = logging.getLogger("storage")

DEFAULT_DB_URL = "sqlite:///data/mathapp.sqlite3"
DB_URL_ENV = "MATHAPP_DB_URL"

# Execution option that marks a unit of work as a write (BEGIN IMMEDIATE on SQLite).
WRITE_OPTION = "storage_write"

T = TypeVar("T")


def resolve_db_url(url: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The URL to use: the one given, else `MATHAPP_DB_URL`, else the default file."""
    environ = os.environ if environ is None else environ
    chosen = url if url else environ.get(DB_URL_ENV) or DEFAULT_DB_URL
    return chosen.strip()


def parse_db_url(url: str) -> URL:
    """A SQLAlchemy URL object, or `StorageConfigError` saying what a valid one looks like."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        shown = re.sub(r"//[^/@]*@", "//***@", url)  # never echo a password into a log
        raise StorageConfigError(
            f"{shown!r} is not a database URL. Use e.g. sqlite:///data/mathapp.sqlite3 "
            "or postgresql+psycopg://user:password@host/dbname."
        ) from None
    if parsed.get_backend_name() == "sqlite" and sqlite_file(parsed) is None:
        raise StorageConfigError(
            f"{url!r} is an in-memory SQLite database, which every connection would see "
            "empty and which is lost at exit. Give the log a file: sqlite:///path/to/log.sqlite3."
        )
    return parsed


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL (relative to the working directory), None if in memory.

    Handles plain `sqlite:///path` and URI form `sqlite:///file:path?mode=ro&uri=true`.
    """
    database = url.database or ""
    if url.query.get("uri") in ("true", "1", "True") and database.startswith("file:"):
        # SQLAlchemy moves `?mode=...` into url.query; a hand-built URL may keep it in the name.
        parts = urlsplit(database)
        mode = url.query.get("mode") or parse_qs(parts.query).get("mode", [""])[0]
        if mode == "memory" or parts.path in ("", ":memory:"):
            return None
        return Path(unquote(parts.path))
    if database in ("", ":memory:"):
        return None
    return Path(database)


def build_engine(url: URL, *, busy_timeout_s: float, pool_timeout_s: float) -> Engine:
    """The store's engine, with SQLite's settings (see the module doc) installed on connect."""
    if url.get_backend_name() != "sqlite":
        # pre_ping: a server restart between two solves must not cost the next write.
        return create_engine(url, pool_pre_ping=True, pool_timeout=pool_timeout_s)
    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
        # Writers queue on SQLite's lock anyway; enough connections that readers never wait.
        pool_size=8,
        max_overflow=24,
        pool_timeout=pool_timeout_s,
    )
    busy_ms = max(1, int(busy_timeout_s * 1000))

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (see _begin below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # PRAGMA takes no bound parameters; busy_ms is an int computed above.
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = FULL")
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                _enable_wal(cursor)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch a SQLite file to WAL; keep going in its current mode if that is not possible."""
    import sqlite3

    try:
        mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    except sqlite3.OperationalError as exc:
        # A read-only file cannot change mode; it can still be read (and reported on).
        log.warning("Could not switch the session log to WAL mode (%s); using its current mode.", exc)
        return
    if str(mode).lower() != "wal":
        # e.g. some network file systems: WAL needs shared memory between processes.
        log.warning("The session log stays in journal mode %r: WAL is not available here.", mode)


def write_engine(engine: Engine) -> Engine:
    """The same engine (same pool), marking its transactions as writes."""
    return engine.execution_options(**{WRITE_OPTION: True})


# ------------------------------------------------------------------------------ retries

# SQLite's messages and PostgreSQL's SQLSTATEs for "someone else holds the lock, try again".
# ("database is locked" = SQLITE_BUSY, "database table is locked" = SQLITE_LOCKED).
_SQLITE_LOCK_WORDS = ("database is locked", "database table is locked")
_PG_RETRY_STATES = {"40001", "40P01", "55P03"}


def is_lock_error(exc: BaseException) -> bool:
    """Whether waiting and trying again is the cure (a lock held by another connection)."""
    if not isinstance(exc, DBAPIError):
        return False
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if state in _PG_RETRY_STATES:
        return True
    message = str(exc.orig).lower()
    return any(word in message for word in _SQLITE_LOCK_WORDS)


def is_transient(exc: BaseException) -> bool:
    """Whether a retry might help at all: operational trouble, never a bug in a statement."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


@dataclass(frozen=True)
class RetryPolicy:
    """How long a unit of work may keep trying.

    Lock errors are retried with jittered exponential backoff until `budget_s` has passed
    (each try may itself wait up to the busy timeout, so the worst case is about
    `budget_s` + the busy timeout). Other transient errors (read-only file, disk I/O error,
    disk full, server gone) are tried `other_tries` times: waiting seconds rarely cures them
    and the person is waiting for an answer.
    """

    budget_s: float = 5.0
    other_tries: int = 3
    first_backoff_s: float = 0.05
    max_backoff_s: float = 1.0


class RetriesExhausted(Exception):
    """Internal: the last error of a unit of work that kept failing, and how often it was tried."""

    def __init__(self, last: BaseException, tries: int) -> None:
        super().__init__(str(last))
        self.last = last
        self.tries = tries


# Not left to the libraries: SQLAlchemy runs no statement again (pool_pre_ping only tests a
# connection at checkout), busy_timeout only waits out SQLite's lock, and PostgreSQL's
# serialization failures and deadlocks (40001, 40P01) need the whole transaction run again.
def call_with_retry(
    work: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Run `work` until it succeeds or the policy gives up; return (result, tries).

    Raises `RetriesExhausted` for transient errors that did not clear, and lets anything else
    (a bug, a constraint violation) through at once.
    """
    deadline = time.monotonic() + policy.budget_s
    backoff = policy.first_backoff_s
    tries = 0
    other_failures = 0
    while True:
        tries += 1
        try:
            return work(), tries
        except (OperationalError, DBAPIError) as exc:
            if not is_transient(exc):
                raise
            lock = is_lock_error(exc)
            if not lock:
                other_failures += 1
            pause = backoff * random.uniform(0.5, 1.0)  # jitter: threads must not retry in step
            out_of_time = time.monotonic() + pause > deadline
            if out_of_time or other_failures >= policy.other_tries:
                raise RetriesExhausted(exc, tries) from exc
            log.info("%s: %s; trying again in %.2f s (try %d)", what, describe_error(exc), pause, tries)
            sleep(pause)
            backoff = min(backoff * 2, policy.max_backoff_s)


def describe_error(exc: BaseException) -> str:
    """The driver's own message (first line), without SQLAlchemy's statement dump."""
    orig = getattr(exc, "orig", None) or exc
    message = str(orig).strip()
    return message.splitlines()[0] if message else type(orig).__name__
