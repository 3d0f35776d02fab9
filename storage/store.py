"""The session log: one `Store` per app, shared by every request thread.

    store = Store.open(config.db_url, teacher_password=config.teacher_password)
    started = store.start_attempt(AttemptStart(session_id, problem, model_id, "bf16", "cuda", params))
    ...                                  # stream the answer; started.ok says whether it is logged
    done = store.finish_attempt(started.attempt_id, AttemptOutcome("done", ...), samples)
    if not done.ok: show(done.message)   # the answer is shown either way

Writes never raise at the caller. Each one is a short unit of work in its own transaction,
retried while the database is locked (bounded by `write_budget_s`) and a few times on other
operational errors; if it still fails, the returned `LogStatus` says so in words, the failure
is logged at ERROR, `health()` reports it, and the write is kept in memory (up to
`max_pending` of them) and saved with the next write that succeeds, or by `flush_pending()`.
A write that can never succeed (a malformed record) is reported and not kept.

Reads (`history`, `get_attempt`, the teacher view, exports) raise `StorageError`s with a
message for a person. A browser session only ever reads its own attempts: every read is
scoped by the session's key in SQL. The teacher view needs a `TeacherAccess` from
`teacher_login(password)`, which only works when the operator set a password.

Start-up (`Store.open`): creates the database's folder, applies the migrations, and marks as
`interrupted` the attempts left `running` by processes that are gone (see `storage.owner`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar
from urllib.parse import quote

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from storage import queries
from storage.engine import (
    RetriesExhausted,
    RetryPolicy,
    build_engine,
    call_with_retry,
    describe_error,
    parse_db_url,
    resolve_db_url,
    sqlite_file,
    write_engine,
)
from storage.errors import (
    DatabaseUnavailableError,
    InvalidInputError,
    StorageConfigError,
    TeacherAccessError,
)
from storage.migrations import MIGRATIONS, Migration, migrate
from storage.models import Attempt, BrowserSession, Feedback, Sample, utcnow
from storage.owner import ProcessOwner, current_owner, owner_state
from storage.queries import Scope
from storage.records import (
    BACKENDS,
    FEEDBACK_TARGETS,
    FINISHED_STATUSES,
    RANK_LABELS,
    SAMPLE_KINDS,
    VERDICTS,
    AttemptDetail,
    AttemptOutcome,
    AttemptQuery,
    AttemptStart,
    AttemptSummary,
    AttemptTimings,
    FeedbackInput,
    LogStatus,
    Page,
    SampleRecord,
    clean_float,
    clean_int,
    clean_text,
)

log = logging.getLogger("storage")

T = TypeVar("T")

MIN_SESSION_ID = 8
MAX_SESSION_ID = 512
INTERRUPTED_MESSAGE = "The app stopped before this attempt finished."
EXPORT_FORMATS = ("jsonl", "csv")


def new_session_id() -> str:
    """A fresh, unguessable browser session id (192 random bits)."""
    return secrets.token_urlsafe(24)


def session_key(session_id: str) -> str:
    """The key a session's attempts are stored under: a hash, so the log never holds the id.

    Whoever knows a session id can read that session's history; the database, its backups
    and its exports only hold this hash, from which the id cannot be recovered.
    """
    _check_session_id(session_id)
    return hashlib.sha256(b"mathapp-session\x00" + session_id.encode("utf-8")).hexdigest()


def _check_session_id(session_id: object) -> None:
    if not isinstance(session_id, str) or not MIN_SESSION_ID <= len(session_id) <= MAX_SESSION_ID:
        raise InvalidInputError(
            f"A session id must be text of {MIN_SESSION_ID} to {MAX_SESSION_ID} characters "
            "(use storage.new_session_id())."
        )


@dataclass(frozen=True)
class TeacherAccess:
    """Proof of a successful `teacher_login`, valid until `expires_at`, for that store only."""

    expires_at: datetime
    proof: bytes = field(repr=False)


class _Rejected(Exception):
    """Internal: a write that must not happen (unknown attempt, not this session's)."""


class _Unavailable(Exception):
    """Internal: the database could not be used, after retrying where that made sense."""

    def __init__(self, reason: str, tries: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tries = tries


@dataclass(frozen=True)
class _OpenAttempt:
    """An attempt this process started and has not finished: enough to write its row again."""

    attempt_id: str
    session_key: str
    started_at: datetime
    row: dict[str, Any]


@dataclass(frozen=True)
class _Pending:
    """A write that failed and waits in memory for the database to come back."""

    what: str
    unit: Callable[[Session], Any]


# INSERT ... ON CONFLICT DO NOTHING, by dialect; others check first (see _insert_ignore).
_INSERT_IGNORING = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class Store:
    """The session log. Build it with `Store.open(url, ...)`; share it between threads."""

    def __init__(
        self,
        url: URL,
        *,
        teacher_password: str | None,
        policy: RetryPolicy,
        busy_timeout_s: float,
        stale_after_s: float,
        teacher_ttl_s: float,
        max_pending: int,
        create: bool,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> None:
        self.url = url.render_as_string(hide_password=True)
        self._file = sqlite_file(url) if url.get_backend_name() == "sqlite" else None
        if self._file is not None:
            self._file = self._file.expanduser().absolute()
        self.engine: Engine = build_engine(
            _engine_url(url, self._file), busy_timeout_s=busy_timeout_s, pool_timeout_s=policy.budget_s
        )
        self._writer = write_engine(self.engine)
        self._policy = policy
        self._stale_after = timedelta(seconds=stale_after_s)
        self._teacher_ttl = timedelta(seconds=teacher_ttl_s)
        self._max_pending = max_pending
        self._create = create
        self._migrations = tuple(migrations)
        self._owner = current_owner().token()
        self._ready = False
        self._file_id: tuple[int, int] | None = None
        self._prepare_lock = threading.RLock()
        self._open: dict[str, _OpenAttempt] = {}
        self._open_lock = threading.Lock()
        self._backlog: deque[_Pending] = deque()
        self._backlog_lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self._problem = ""
        self._dropped_writes = 0
        # The password itself is not kept: only its digest, compared in constant time.
        self._teacher_digest = (
            hashlib.sha256(teacher_password.encode("utf-8")).digest() if teacher_password else None
        )
        self._teacher_secret = secrets.token_bytes(32)
        self._failed_logins: deque[float] = deque()

    # ------------------------------------------------------------------------ start-up

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        teacher_password: str | None = None,
        write_budget_s: float = 5.0,
        busy_timeout_s: float = 1.0,
        stale_after_s: float = 24 * 3600.0,
        teacher_ttl_s: float = 12 * 3600.0,
        max_pending: int = 1000,
        recover: bool = True,
        create: bool = True,
        strict: bool = False,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> Store:
        """Open the log at `url` (default: `MATHAPP_DB_URL`, else sqlite:///data/mathapp.sqlite3).

        Creates the SQLite file and its folder (unless `create=False`), applies the migrations,
        and, with `recover`, marks `interrupted` the running attempts of processes that are gone.
        A malformed URL raises `StorageConfigError`. A database that cannot be reached or
        written raises `DatabaseUnavailableError` only with `strict`; otherwise the store opens
        degraded (logged, and reported by `health()` and by every write) so that solving still
        works, and tries again at each write.
        """
        if write_budget_s <= 0 or busy_timeout_s <= 0 or max_pending < 0:
            raise StorageConfigError("write_budget_s and busy_timeout_s must be positive, max_pending >= 0.")
        parsed = parse_db_url(resolve_db_url(url))
        store = cls(
            parsed,
            teacher_password=teacher_password,
            policy=RetryPolicy(budget_s=write_budget_s),
            busy_timeout_s=busy_timeout_s,
            stale_after_s=stale_after_s,
            teacher_ttl_s=teacher_ttl_s,
            max_pending=max_pending,
            create=create,
            migrations=migrations,
        )
        try:
            store._run(lambda _session: None, write=False, what="Opening the session log")
            if recover:
                count = store.recover_interrupted()
                if count:
                    log.warning("Session log: marked %d attempt(s) of stopped processes as interrupted.", count)
        # Whatever went wrong (the disk, the server, a broken migration), solving must go on.
        except Exception as exc:  # noqa: BLE001 - logged and reported by health()
            reason = exc.reason if isinstance(exc, _Unavailable) else describe_error(exc)
            message = f"The session log at {store.url} cannot be used: {reason}."
            if strict:
                store.engine.dispose()
                raise DatabaseUnavailableError(message) from exc
            log.error("%s Solving goes on without it; each write will try again.", message, exc_info=exc)
            store._problem = message
        return store

    def recover_interrupted(self) -> int:
        """Mark `interrupted` the running attempts whose process is gone; return how many.

        Runs at start-up; an app may call it again later. Attempts this store is running are
        never touched, nor those of live processes (see `storage.owner`).
        """
        now = utcnow()
        with self._open_lock:
            mine = set(self._open)

        def unit(session: Session) -> int:
            rows = session.execute(
                select(Attempt.id, Attempt.owner, Attempt.started_at).where(Attempt.status == "running")
            ).all()
            orphans = [
                attempt_id
                for attempt_id, owner, started_at in rows
                if attempt_id not in mine and self._is_orphan(owner, started_at, now)
            ]
            if orphans:
                session.execute(
                    update(Attempt)
                    .where(Attempt.id.in_(orphans), Attempt.status == "running")
                    .values(status="interrupted", finished_at=now, error=INTERRUPTED_MESSAGE)
                )
            return len(orphans)

        try:
            count, _tries = self._run(unit, write=True, what="Marking interrupted attempts")
        except _Unavailable as exc:
            raise DatabaseUnavailableError(
                f"Could not mark interrupted attempts in the session log ({exc.reason})."
            ) from exc
        return count

    def _is_orphan(self, owner: str | None, started_at: datetime, now: datetime) -> bool:
        state = owner_state(ProcessOwner.parse(owner))
        if state == "unknown":
            return now - started_at > self._stale_after
        return state == "gone"

    def close(self) -> None:
        """Mark this process's unfinished attempts `interrupted`, save what is pending, let go.

        Writes that still cannot be saved are reported (logged at ERROR) as lost.
        """
        with self._open_lock:
            mine = list(self._open)
            self._open.clear()
        if mine:
            now = utcnow()

            def unit(session: Session) -> None:
                session.execute(
                    update(Attempt)
                    .where(Attempt.id.in_(mine), Attempt.status == "running")
                    .values(status="interrupted", finished_at=now, error=INTERRUPTED_MESSAGE)
                )

            self._write("Marking unfinished attempts interrupted", unit, keep=False)
        self._replay()
        with self._backlog_lock:
            lost = len(self._backlog)
        if lost:
            log.error("Session log: %d write(s) could not be saved before closing and are lost.", lost)
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------- health

    def health(self) -> LogStatus:
        """Whether the log is working: `ok` when the last write succeeded and none is pending."""
        with self._backlog_lock:
            pending = len(self._backlog)
        parts = [self._problem] if self._problem else []
        if pending:
            parts.append(f"{pending} write(s) are waiting in memory to be saved.")
        if self._dropped_writes:
            parts.append(f"{self._dropped_writes} write(s) were lost because too many were waiting.")
        return LogStatus(ok=not parts, message=" ".join(parts), pending=pending)

    @property
    def pending_writes(self) -> int:
        """How many failed writes wait in memory to be saved."""
        with self._backlog_lock:
            return len(self._backlog)

    def flush_pending(self) -> LogStatus:
        """Try to save the writes that wait in memory now; report how many are left."""
        self._replay()
        return self.health()

    # -------------------------------------------------------------------------- writes

    def ensure_session(self, session_id: str) -> LogStatus:
        """Record a browser session (or that it was seen again)."""
        try:
            key = session_key(session_id)
        except InvalidInputError as exc:
            return self._refuse("The session", exc)
        now = utcnow()
        return self._write("The session", lambda s: _touch_session(s, key, now), keep=False)

    def start_attempt(self, start: AttemptStart) -> LogStatus:
        """Log a solve as `running`; the returned status carries its `attempt_id` even on failure.

        Pass that id to `add_samples` / `finish_attempt`. If this write fails, finishing the
        attempt writes the whole row, so nothing is lost as long as one of them gets through.
        """
        attempt_id = uuid.uuid4().hex
        try:
            row = self._start_row(attempt_id, start)
        except (InvalidInputError, TypeError, ValueError) as exc:
            return self._refuse("This attempt", exc, attempt_id)
        opened = _OpenAttempt(attempt_id, row["session_key"], row["started_at"], row)
        with self._open_lock:
            self._open[attempt_id] = opened

        def unit(session: Session) -> None:
            _touch_session(session, opened.session_key, opened.started_at)
            _insert_ignore(session, Attempt, opened.row)

        return self._write("This attempt", unit, attempt_id=attempt_id)

    def add_samples(self, attempt_id: str, samples: Iterable[SampleRecord]) -> LogStatus:
        """Log finished solutions of a running attempt (each replaces any earlier one of its index)."""
        try:
            rows = [_sample_row(attempt_id, sample) for sample in samples]
            _check_unique_indices(rows)
        except (InvalidInputError, TypeError, ValueError) as exc:
            return self._refuse("These solutions", exc, attempt_id)
        with self._open_lock:
            opened = self._open.get(attempt_id)

        def unit(session: Session) -> None:
            _ensure_attempt(session, attempt_id, opened)
            _put_samples(session, attempt_id, rows)

        return self._write("These solutions", unit, attempt_id=attempt_id)

    def finish_attempt(
        self, attempt_id: str, outcome: AttemptOutcome, samples: Iterable[SampleRecord] = ()
    ) -> LogStatus:
        """Log how an attempt ended (`done`, `cancelled` or `error`) with its solutions."""
        try:
            values = _outcome_values(outcome)
            rows = [_sample_row(attempt_id, sample) for sample in samples]
            _check_unique_indices(rows)
        except (InvalidInputError, TypeError, ValueError) as exc:
            return self._refuse("The result of this attempt", exc, attempt_id)
        with self._open_lock:
            opened = self._open.pop(attempt_id, None)

        def unit(session: Session) -> None:
            _ensure_attempt(session, attempt_id, opened)
            session.execute(update(Attempt).where(Attempt.id == attempt_id).values(**values))
            _put_samples(session, attempt_id, rows)

        return self._write("The result of this attempt", unit, attempt_id=attempt_id)

    def add_feedback(self, attempt_id: str, *, session_id: str, feedback: FeedbackInput) -> LogStatus:
        """A student's feedback on one of their own session's attempts."""
        try:
            key = session_key(session_id)
            row = _feedback_row(attempt_id, feedback, author="student", session_key=key)
        except (InvalidInputError, TypeError, ValueError) as exc:
            return self._refuse("Your feedback", exc, attempt_id)
        return self._write_feedback(Scope.of_session(key), row)

    def teacher_add_feedback(self, access: TeacherAccess, attempt_id: str, feedback: FeedbackInput) -> LogStatus:
        """A teacher's feedback on any attempt (raises `TeacherAccessError` without access)."""
        self._check_teacher(access)
        try:
            row = _feedback_row(attempt_id, feedback, author="teacher", session_key=None)
        except (InvalidInputError, TypeError, ValueError) as exc:
            return self._refuse("The feedback", exc, attempt_id)
        return self._write_feedback(Scope.everyone(), row)

    def _write_feedback(self, scope: Scope, row: dict[str, Any]) -> LogStatus:
        def unit(session: Session) -> None:
            found = session.scalar(select(Attempt.id).where(Attempt.id == row["attempt_id"], scope.condition()))
            if found is None:
                raise _Rejected("There is no such attempt in this history, so the feedback was not saved.")
            _insert_ignore(session, Feedback, row)

        return self._write("The feedback", unit, attempt_id=row["attempt_id"])

    # --------------------------------------------------------------------------- reads

    def history(
        self, session_id: str, page: int = 1, page_size: int = 20, query: AttemptQuery | None = None
    ) -> Page[AttemptSummary]:
        """One browser session's own attempts, newest first, one page (pages count from 1)."""
        scope = Scope.of_session(session_key(session_id))
        return self._read("your history", lambda s: queries.page_of_attempts(s, scope, query, page, page_size))

    def get_attempt(self, attempt_id: str, *, session_id: str) -> AttemptDetail | None:
        """One of the session's own attempts with its samples and feedback; None if not its own."""
        scope = Scope.of_session(session_key(session_id))
        if not isinstance(attempt_id, str):
            return None
        return self._read("this attempt", lambda s: queries.load_detail(s, scope, attempt_id))

    def export_session(
        self, session_id: str, fmt: str, *, query: AttemptQuery | None = None, out: str | Path | None = None
    ) -> str:
        """A session's own attempts as JSONL or CSV: the text, or the path written when `out` is given."""
        return self._export(Scope.of_session(session_key(session_id)), fmt, query, out)

    # ---------------------------------------------------------------------- teacher view

    @property
    def teacher_enabled(self) -> bool:
        """Whether the operator set a teacher password (without one there is no teacher view)."""
        return self._teacher_digest is not None

    def teacher_login(self, password: str) -> TeacherAccess:
        """Check the teacher password in constant time; raise `TeacherAccessError` if it is wrong.

        After 10 wrong passwords within a minute, every login is refused for the rest of that
        minute (a public demo must not be a password-guessing oracle).
        """
        if self._teacher_digest is None:
            raise TeacherAccessError(
                "The teacher view is off: the operator has not set a teacher password "
                "(MATHAPP_TEACHER_PASSWORD or --teacher-password)."
            )
        now = time.monotonic()
        while self._failed_logins and now - self._failed_logins[0] > 60:
            self._failed_logins.popleft()
        if len(self._failed_logins) >= 10:
            raise TeacherAccessError("Too many wrong passwords; wait a minute and try again.")
        given = password.encode("utf-8") if isinstance(password, str) else b""
        # Compare digests, not the texts: equal lengths, so the time taken reveals nothing.
        if not hmac.compare_digest(hashlib.sha256(given).digest(), self._teacher_digest):
            self._failed_logins.append(now)
            log.warning("Teacher view: a wrong password was given.")
            raise TeacherAccessError("Wrong teacher password.")
        expires_at = utcnow() + self._teacher_ttl
        return TeacherAccess(expires_at=expires_at, proof=self._teacher_proof(expires_at))

    def _teacher_proof(self, expires_at: datetime) -> bytes:
        return hmac.new(self._teacher_secret, expires_at.isoformat().encode("ascii"), hashlib.sha256).digest()

    def _check_teacher(self, access: object) -> None:
        if self._teacher_digest is None:
            raise TeacherAccessError("The teacher view is off: no teacher password is set.")
        if not isinstance(access, TeacherAccess) or not isinstance(access.proof, bytes):
            raise TeacherAccessError("The teacher view needs the teacher password.")
        if not hmac.compare_digest(access.proof, self._teacher_proof(access.expires_at)):
            raise TeacherAccessError("The teacher view needs the teacher password.")
        if utcnow() >= access.expires_at:
            raise TeacherAccessError("The teacher login has expired; give the password again.")

    def teacher_search(
        self, access: TeacherAccess, query: AttemptQuery | None = None, page: int = 1, page_size: int = 50
    ) -> Page[AttemptSummary]:
        """Every session's attempts matching `query`, newest first, one page."""
        self._check_teacher(access)
        scope = Scope.everyone()
        return self._read("the class's attempts", lambda s: queries.page_of_attempts(s, scope, query, page, page_size))

    def teacher_get_attempt(self, access: TeacherAccess, attempt_id: str) -> AttemptDetail | None:
        """Any attempt with its samples and feedback; None if there is none with that id."""
        self._check_teacher(access)
        scope = Scope.everyone()
        return self._read("this attempt", lambda s: queries.load_detail(s, scope, str(attempt_id)))

    def teacher_export(
        self,
        access: TeacherAccess,
        fmt: str,
        *,
        query: AttemptQuery | None = None,
        out: str | Path | None = None,
    ) -> str:
        """Every session's attempts matching `query` as JSONL or CSV (text, or the path written)."""
        self._check_teacher(access)
        return self._export(Scope.everyone(), fmt, query, out)

    # ------------------------------------------------------------------------- export

    def _export(self, scope: Scope, fmt: str, query: AttemptQuery | None, out: str | Path | None) -> str:
        """Write the attempts in scope to `out` (atomically) or return them as text.

        Used by the public export methods after their access checks, and by the operator's
        command line (`python -m storage.export`), which has the database file anyway.
        """
        # Imported here, not at the top: `python -m storage.export` must be able to run that
        # module as __main__ without the package having imported it first (runpy warns).
        from storage import export

        if fmt not in EXPORT_FORMATS:
            raise InvalidInputError(f"export format must be one of {', '.join(EXPORT_FORMATS)}; got {fmt!r}")
        if query is not None:
            queries.validate_query(query)
        writer = export.write_jsonl if fmt == "jsonl" else export.write_csv

        def unit(session: Session) -> str:
            details = queries.iter_details(session, scope, query)
            if out is None:
                return export.to_text(writer, details)
            return str(export.to_file(writer, details, Path(out)))

        return self._read("the export", unit)

    # -------------------------------------------------------------------------- machinery

    def _run(self, unit: Callable[[Session], T], *, write: bool, what: str) -> tuple[T, int]:
        """Run one unit of work in its own short session and transaction, retrying per policy."""

        def once() -> T:
            self._check_database()
            with Session(self._writer if write else self.engine, expire_on_commit=False) as session:
                with session.begin():
                    return unit(session)

        try:
            return call_with_retry(once, self._policy, what=what)
        except RetriesExhausted as exc:
            raise _Unavailable(describe_error(exc.last), exc.tries) from exc.last

    def _read(self, what: str, unit: Callable[[Session], T]) -> T:
        try:
            result, _tries = self._run(unit, write=False, what=f"Reading {what}")
        except _Unavailable as exc:
            log.error("Session log: could not read %s: %s", what, exc.reason)
            raise DatabaseUnavailableError(
                f"Could not read {what} from the session log ({exc.reason}). Try again in a moment."
            ) from exc
        except SQLAlchemyError as exc:
            log.exception("Session log: reading %s failed", what)
            raise DatabaseUnavailableError(
                f"Could not read {what} from the session log ({describe_error(exc)})."
            ) from exc
        return result

    def _write(
        self, what: str, unit: Callable[[Session], Any], *, attempt_id: str | None = None, keep: bool = True
    ) -> LogStatus:
        try:
            _result, tries = self._run(unit, write=True, what=f"Saving {what.lower()}")
        except _Rejected as exc:
            log.warning("Session log: %s", exc)
            return LogStatus(ok=False, message=str(exc), attempt_id=attempt_id, tries=1, pending=self.pending_writes)
        except _Unavailable as exc:
            return self._failed(what, exc.reason, unit if keep else None, attempt_id, exc.tries)
        # Anything else is a bug or data the database refused: it must not reach the answer.
        except Exception as exc:  # noqa: BLE001 - reported below, never swallowed
            log.exception("Session log: saving %s failed unexpectedly", what.lower())
            return self._failed(what, describe_error(exc), None, attempt_id, 1)
        if self._problem:
            log.info("Session log: writing works again.")
        self._problem = ""
        self._replay()
        return LogStatus(ok=True, attempt_id=attempt_id, tries=tries, pending=self.pending_writes)

    def _failed(
        self,
        what: str,
        reason: str,
        unit: Callable[[Session], Any] | None,
        attempt_id: str | None,
        tries: int,
    ) -> LogStatus:
        pending = self._keep(what, unit) if unit is not None else self.pending_writes
        kept = " It is kept in memory and will be saved when the database works again." if unit is not None else ""
        message = f"{what} was not saved to the session log ({reason}).{kept}"
        log.error("Session log at %s: %s", self.url, message)
        self._problem = message
        return LogStatus(ok=False, message=message, attempt_id=attempt_id, tries=tries, pending=pending)

    def _refuse(self, what: str, exc: BaseException, attempt_id: str | None = None) -> LogStatus:
        """A write with malformed input: reported (it is a bug in the caller), never kept."""
        message = f"{what} was not saved to the session log: {exc}"
        log.error("Session log: %s", message)
        return LogStatus(ok=False, message=message, attempt_id=attempt_id, pending=self.pending_writes)

    def _keep(self, what: str, unit: Callable[[Session], Any]) -> int:
        with self._backlog_lock:
            if self._max_pending == 0:
                self._dropped_writes += 1
                return 0
            if len(self._backlog) >= self._max_pending:
                dropped = self._backlog.popleft()
                self._dropped_writes += 1
                log.error("Session log: too many writes waiting; %s is lost.", dropped.what.lower())
            self._backlog.append(_Pending(what, unit))
            return len(self._backlog)

    def _replay(self) -> None:
        """Save waiting writes in order, stopping at the first that still fails.

        Replaying after newer writes is safe: every unit is idempotent and they commute
        (inserts are INSERT-if-absent, a finish or a solution replaces its own rows with the
        same final values), so the order in which they land does not change the result.
        """
        if not self._backlog or not self._replay_lock.acquire(blocking=False):
            return  # nothing waits, or another thread is already replaying
        try:
            while True:
                with self._backlog_lock:
                    if not self._backlog:
                        self._problem = ""  # everything kept has been saved
                        return
                    item = self._backlog[0]
                try:
                    self._run(item.unit, write=True, what=f"Saving {item.what.lower()} (kept in memory)")
                except _Unavailable as exc:
                    log.warning("Session log: %d write(s) still waiting (%s).", len(self._backlog), exc.reason)
                    return
                # A write that failed for any other reason will never succeed: drop it, loudly.
                except Exception as exc:  # noqa: BLE001 - reported below, never swallowed
                    log.error("Session log: %s (kept in memory) cannot be saved and is dropped: %s", item.what, exc)
                    self._dropped_writes += 1
                with self._backlog_lock:
                    if self._backlog and self._backlog[0] is item:
                        self._backlog.popleft()
                log.info("Session log: saved %s that had been kept in memory.", item.what.lower())
        finally:
            self._replay_lock.release()

    def _check_database(self) -> None:
        """Make sure the schema is there and the database file is still the one we opened."""
        if not self._ready:
            self._prepare()
        if self._file is None:
            return
        try:
            identity = _file_identity(self._file)
        except FileNotFoundError:
            # Pooled connections would go on writing into the deleted file: drop them.
            self.engine.dispose()
            raise _Unavailable(
                f"the database file {self._file} has vanished (deleted, moved, or its disk "
                "unmounted); restore it, or restart the app to start a new, empty log"
            ) from None
        except OSError as exc:
            raise _Unavailable(f"the database file {self._file} cannot be reached: {exc}") from None
        if identity != self._file_id:
            with self._prepare_lock:
                if identity != self._file_id:
                    log.warning("Session log: %s was replaced by another file; reconnecting.", self._file)
                    self.engine.dispose()
                    self._ready = False
                    self._prepare(allow_create=False)

    def _prepare(self, allow_create: bool | None = None) -> None:
        """Create the file and its folder if allowed, and apply missing migrations."""
        with self._prepare_lock:
            if self._ready:
                return
            if self._file is not None and not self._file.exists():
                # Only a database that was never there is created: one that vanished is reported.
                if allow_create is None:
                    allow_create = self._create and self._file_id is None
                if not allow_create:
                    raise _Unavailable(f"the database file {self._file} does not exist")
                _create_sqlite_file(self._file)
            migrate(self._writer, self._migrations)
            if self._file is not None:
                self._file_id = _file_identity(self._file)
            self._ready = True

    def _start_row(self, attempt_id: str, start: AttemptStart) -> dict[str, Any]:
        if not isinstance(start, AttemptStart):
            raise InvalidInputError(f"expected an AttemptStart, got {type(start).__name__}")
        if not isinstance(start.problem, str) or not start.problem.strip():
            raise InvalidInputError("the problem is empty")
        params = dict(start.params or {})
        try:
            json.dumps(params, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"the sampling parameters are not plain JSON values ({exc})") from None
        return {
            "id": attempt_id,
            "session_key": session_key(start.session_id),
            "started_at": utcnow(),
            "finished_at": None,
            "status": "running",
            "owner": self._owner,
            "problem": start.problem,
            "model_id": _required_text("model_id", start.model_id),
            "precision": _required_text("precision", start.precision, 16),
            "device": _required_text("device", start.device or "", 32, allow_empty=True),
            "backend": _choice("backend", start.backend, BACKENDS),
            "server_url": _server_url(start.server_url),
            "params": params,
            "n_samples": clean_int(params.get("n")),
            "temperature": clean_float(params.get("temperature")),
            "top_p": clean_float(params.get("top_p")),
            "max_new_tokens": clean_int(params.get("max_new_tokens")),
            "seed": clean_int(params.get("seed")),
        }


# ----------------------------------------------------------------------------- helpers


def _engine_url(url: URL, file: Path | None) -> URL:
    """The URL the engine connects with.

    A plain SQLite file URL becomes `file:PATH?mode=rw` so that SQLite never silently creates
    a new empty database where the log vanished; the store creates the file itself, once.
    """
    if file is None or url.query or os.name != "posix":
        return url
    return url.set(database=f"file:{quote(str(file))}?mode=rw", query={"uri": "true"})


def _create_sqlite_file(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode=rwc", uri=True)
        try:
            connection.execute("PRAGMA journal_mode = WAL")  # writes the header: the file exists
        finally:
            connection.close()
    except (OSError, sqlite3.Error) as exc:
        raise _Unavailable(f"cannot create the database file {path}: {exc}") from None
    log.info("Session log: created %s", path)


def _file_identity(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _touch_session(session: Session, key: str, now: datetime) -> None:
    _insert_ignore(session, BrowserSession, {"key": key, "created_at": now, "last_seen_at": now})
    session.execute(update(BrowserSession).where(BrowserSession.key == key).values(last_seen_at=now))


def _insert_ignore(session: Session, model: type[Any], values: Mapping[str, Any]) -> None:
    """INSERT a row unless its primary key exists (writes are replayed, so they must be idempotent)."""
    make_insert = _INSERT_IGNORING.get(session.get_bind().dialect.name)
    if make_insert is not None:
        session.execute(make_insert(model).values(**values).on_conflict_do_nothing())
        return
    key_column = model.__mapper__.primary_key[0]
    if session.scalar(select(key_column).where(key_column == values[key_column.key])) is None:
        session.execute(insert(model).values(**values))


def _ensure_attempt(session: Session, attempt_id: str, opened: _OpenAttempt | None) -> None:
    """Make sure the attempt's row exists, writing it from memory if its start was not saved."""
    if session.scalar(select(Attempt.id).where(Attempt.id == attempt_id)) is not None:
        return
    if opened is None:
        raise _Rejected(f"There is no attempt {attempt_id!r} in the session log to add this to.")
    _touch_session(session, opened.session_key, opened.started_at)
    session.execute(insert(Attempt).values(**opened.row))


def _put_samples(session: Session, attempt_id: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    indices = [row["sample_index"] for row in rows]
    session.execute(delete(Sample).where(Sample.attempt_id == attempt_id, Sample.sample_index.in_(indices)))
    session.execute(insert(Sample), rows)


def _check_unique_indices(rows: list[dict[str, Any]]) -> None:
    indices = [row["sample_index"] for row in rows]
    if len(set(indices)) != len(indices):
        raise InvalidInputError(f"two solutions share an index: {sorted(indices)}")


def _required_text(name: str, value: object, max_len: int | None = None, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidInputError(f"{name} must be non-empty text; got {value!r}")
    if max_len is not None and len(value) > max_len:
        raise InvalidInputError(f"{name} must be at most {max_len} characters; got {value!r}")
    return value


def _choice(name: str, value: object, choices: Sequence[str], *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if value not in choices:
        raise InvalidInputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _optional_index(name: str, value: int | None) -> int | None:
    index = clean_int(value)
    if index is not None and index < 0:
        raise InvalidInputError(f"{name} must be a whole number >= 0; got {value!r}")
    return index


# The scheme of a URL, when it has one ("http://", "https://", ...).
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _server_url(value: str | None) -> str | None:
    """An OpenAI-compatible server's URL as logged: any text, but never with credentials.

    The URL is stored and exported, so user information (`user:password@`, or a token as
    `token@`) in its authority part is refused. The message does not repeat the URL: it
    would put the secret in the log file instead.
    """
    url = clean_text(value)
    if url is None:
        return None
    scheme = _URL_SCHEME.match(url)
    rest = url[scheme.end():] if scheme else url.removeprefix("//")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        raise InvalidInputError(
            "server_url holds credentials (user:password@host); log the server's URL without "
            "them and give its key some other way"
        )
    return url


def _outcome_values(outcome: AttemptOutcome) -> dict[str, Any]:
    if not isinstance(outcome, AttemptOutcome):
        raise InvalidInputError(f"expected an AttemptOutcome, got {type(outcome).__name__}")
    timings = outcome.timings or AttemptTimings()
    if outcome.all_agree is not None and not isinstance(outcome.all_agree, bool):
        raise InvalidInputError(f"all_agree must be True, False or None; got {outcome.all_agree!r}")
    return {
        "status": _choice("status", outcome.status, FINISHED_STATUSES),
        "finished_at": utcnow(),
        "queued_s": clean_float(timings.queued_s),
        "ttft_s": clean_float(timings.ttft_s),
        "total_s": clean_float(timings.total_s),
        "prompt_tokens": clean_int(timings.prompt_tokens),
        "generated_tokens": clean_int(timings.generated_tokens),
        "tokens_per_s": clean_float(timings.tokens_per_s),
        "greedy_answer": clean_text(outcome.greedy_answer),
        "maj_answer": clean_text(outcome.maj_answer),
        "maj_count": clean_int(outcome.maj_count),
        "maj_n": clean_int(outcome.n),
        "rm_answer": clean_text(outcome.rm_answer),
        "rm_score": clean_float(outcome.rm_score),
        "rm_label": _choice("rm_label", outcome.rm_label, RANK_LABELS, optional=True),
        "rm_index": _optional_index("rm_index", outcome.rm_index),
        "scorer": clean_text(outcome.scorer),
        "weighted_answer": clean_text(outcome.weighted_answer),
        "agreement": clean_text(outcome.agreement),
        "all_agree": outcome.all_agree,
        "error": clean_text(outcome.error),
    }


def _sample_row(attempt_id: str, sample: SampleRecord) -> dict[str, Any]:
    if not isinstance(sample, SampleRecord):
        raise InvalidInputError(f"expected a SampleRecord, got {type(sample).__name__}")
    index = clean_int(sample.index)
    if index is None or index < 0:
        raise InvalidInputError(f"a solution's index must be a whole number >= 0; got {sample.index!r}")
    if not isinstance(sample.text, str):
        raise InvalidInputError(f"a solution's text must be text; got {type(sample.text).__name__}")
    step_rewards = None
    if sample.step_rewards is not None:
        step_rewards = [clean_float(value) for value in sample.step_rewards]
    finish_reason = clean_text(sample.finish_reason)
    if finish_reason is not None:
        _required_text("finish_reason", finish_reason, 16)
    return {
        "attempt_id": attempt_id,
        "sample_index": index,
        "kind": _choice("kind", sample.kind, SAMPLE_KINDS),
        "text": sample.text,
        "answer": clean_text(sample.answer),
        "cluster": clean_int(sample.cluster),
        "reward": clean_float(sample.reward),
        "step_rewards": step_rewards,
        "tokens": clean_int(sample.tokens),
        "finish_reason": finish_reason,
        "mean_logprob": clean_float(sample.mean_logprob),
        "weight": clean_float(sample.weight),
    }


def _feedback_row(
    attempt_id: str, feedback: FeedbackInput, *, author: str, session_key: str | None
) -> dict[str, Any]:
    if not isinstance(feedback, FeedbackInput):
        raise InvalidInputError(f"expected a FeedbackInput, got {type(feedback).__name__}")
    if not isinstance(attempt_id, str):
        raise InvalidInputError("the attempt id must be text")
    verdict = _choice("verdict", feedback.verdict, VERDICTS, optional=True)
    correct = clean_text(feedback.correct_answer)
    comment = clean_text(feedback.comment)
    if verdict is None and correct is None and comment is None:
        raise InvalidInputError("give a verdict (right or wrong), the correct answer, or a comment")
    target = _choice("target", feedback.target, FEEDBACK_TARGETS)
    sample_index = clean_int(feedback.sample_index)
    if (target == "sample") != (sample_index is not None):
        raise InvalidInputError("a sample_index is needed for target 'sample', and only for it")
    return {
        "id": uuid.uuid4().hex,
        "attempt_id": attempt_id,
        "session_key": session_key,
        "created_at": utcnow(),
        "author": author,
        "verdict": verdict,
        "correct_answer": correct,
        "comment": comment,
        "target": target,
        "sample_index": sample_index,
    }
