"""The session log: one `Store` per app, shared by every request thread.

Writes never raise at the caller: each returns a `LogStatus`, and a failed one is kept in
memory and saved later. Reads raise `StorageError`s, scoped to one browser session or behind
the teacher password. docs/storage.md states the guarantees in full.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from storage.backlog import Backlog, PendingWrite
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
    LogUnavailable,
    StorageConfigError,
    WriteRejected,
)
from storage.file_identity import FileVanished, SqliteFile, engine_url
from storage.formats import check_format, write_export
from storage.login_throttle import GuessThrottle
from storage.migrations import MIGRATIONS, Migration, migrate
from storage.models import utcnow
from storage.owner import current_owner, is_orphan
from storage.queries import (
    Scope,
    iter_details,
    load_detail,
    page_of_attempts,
    validate_query,
)
from storage.records import (
    AttemptDetail,
    AttemptOutcome,
    AttemptQuery,
    AttemptStart,
    AttemptSummary,
    FeedbackInput,
    FollowUpAnswer,
    LogStatus,
    Page,
    SampleRecord,
)
from storage.session_keys import session_key
from storage.teacher_auth import TeacherAccess, TeacherAuth
from storage.turns import answer_row, insert_answer, insert_question, question_row
from storage.validation import feedback_row, outcome_values, sample_rows, start_row
from storage.writes import (
    OpenAttempt,
    insert_attempt,
    insert_feedback,
    interrupt,
    interrupt_orphans,
    save_outcome,
    save_samples,
    touch_session,
)

if TYPE_CHECKING:
    from typing_extensions import Self

log = logging.getLogger("storage")

T = TypeVar("T")

# Questions held in memory until their answer is logged (so an answer can write its question
# if the question's own write has not landed); the oldest are forgotten beyond this many.
MAX_OPEN_QUESTIONS = 1000


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
        path = sqlite_file(url) if url.get_backend_name() == "sqlite" else None
        self._file = SqliteFile(path) if path is not None else None
        self.engine: Engine = build_engine(
            engine_url(url, self._file), busy_timeout_s=busy_timeout_s, pool_timeout_s=policy.budget_s
        )
        self._writer = write_engine(self.engine)
        # SQLite takes one writer at a time; this process's writers queue here, handed over at
        # once, instead of in SQLite's busy handler, which sleeps in steps of up to 100 ms (8
        # solves starting together waited on it). Bounded by the busy timeout, after which a
        # writer goes on to SQLite's own wait as before.
        self._sqlite_writers = threading.Lock() if path is not None else None
        self._busy_timeout_s = busy_timeout_s
        self._policy = policy
        self._stale_after = timedelta(seconds=stale_after_s)
        self._create = create
        self._migrations = tuple(migrations)
        self._owner = current_owner().token()
        self._ready = False
        self._prepare_lock = threading.RLock()
        self._open: dict[str, OpenAttempt] = {}
        self._open_lock = threading.Lock()
        self._questions: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()  # id -> (session key, row)
        self._backlog = Backlog(max_pending)
        self._health_note = ""  # why the log is not working, for health(); "" while it works
        self._teacher = TeacherAuth(teacher_password, timedelta(seconds=teacher_ttl_s))

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
        except Exception as exc:  # logged and reported by health()
            reason = exc.reason if isinstance(exc, LogUnavailable) else describe_error(exc)
            message = f"The session log at {store.url} cannot be used: {reason}."
            if strict:
                store.engine.dispose()
                raise DatabaseUnavailableError(message) from exc
            # The database's own trouble is told in words; a traceback only for what nobody expected.
            log.error("%s Solving goes on without it; each write will try again.", message,
                      exc_info=None if isinstance(exc, LogUnavailable) else exc)
            store._health_note = message
        return store

    def recover_interrupted(self) -> int:
        """Mark `interrupted` the running attempts whose process is gone; return how many.

        Runs at start-up; an app may call it again later. Attempts this store is running are
        never touched, nor those of live processes (see `storage.owner`).
        """
        now = utcnow()
        with self._open_lock:
            mine = set(self._open)

        def orphan(attempt_id: str, owner: str | None, started_at: datetime) -> bool:
            return attempt_id not in mine and is_orphan(owner, started_at, now, self._stale_after)

        unit = partial(interrupt_orphans, is_orphan=orphan, now=now)
        try:
            count, _tries = self._run(unit, write=True, what="Marking interrupted attempts")
        except LogUnavailable as exc:
            raise DatabaseUnavailableError(
                f"Could not mark interrupted attempts in the session log ({exc.reason})."
            ) from exc
        return count

    def close(self) -> None:
        """Mark this process's unfinished attempts `interrupted`, save what is pending, let go.

        Writes that still cannot be saved are reported (logged at ERROR) as lost.
        """
        with self._open_lock:
            mine = list(self._open)
            self._open.clear()
        if mine:
            unit = partial(interrupt, attempt_ids=mine, now=utcnow())
            self._write("Marking unfinished attempts interrupted", unit, keep=False)
        self._replay()
        lost = len(self._backlog)
        if lost:
            log.error("Session log: %d write(s) could not be saved before closing and are lost.", lost)
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------- health

    def health(self) -> LogStatus:
        """Whether the log is working: `ok` when the last write succeeded and none is pending."""
        pending = len(self._backlog)
        parts = [self._health_note] if self._health_note else []
        if pending:
            parts.append(f"{pending} write(s) are waiting in memory to be saved.")
        if self._backlog.dropped:
            parts.append(f"{self._backlog.dropped} write(s) were lost because too many were waiting.")
        return LogStatus(ok=not parts, message=" ".join(parts), pending=pending)

    @property
    def pending_writes(self) -> int:
        """How many failed writes wait in memory to be saved."""
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
        return self._write("The session", partial(touch_session, key=key, now=utcnow()), keep=False)

    def start_attempt(self, start: AttemptStart) -> LogStatus:
        """Log a solve as `running`; the returned status carries its `attempt_id` even on failure.

        Pass that id to `add_samples` / `finish_attempt`. If this write fails, finishing the
        attempt writes the whole row, so nothing is lost as long as one of them gets through.
        """
        attempt_id = uuid.uuid4().hex
        try:
            row = start_row(attempt_id, start, self._owner)
        except (InvalidInputError, TypeError, ValueError) as exc:
            return self._refuse("This attempt", exc, attempt_id)
        opened = OpenAttempt(attempt_id, row["session_key"], row["started_at"], row)
        with self._open_lock:
            self._open[attempt_id] = opened
        return self._write("This attempt", partial(insert_attempt, opened=opened), attempt_id=attempt_id)

    def add_samples(self, attempt_id: str, samples: Iterable[SampleRecord]) -> LogStatus:
        """Log solutions of a running attempt as they stand (`storage.writes.save_samples`): a
        finished one replaces its row; an unfinished one (no `finish_reason`: the text so far)
        an unfinished row only, and a failed write of one is not kept (the next carries more)."""
        try:
            rows = sample_rows(attempt_id, samples)
        except (InvalidInputError, TypeError, ValueError) as exc:
            return self._refuse("These solutions", exc, attempt_id)
        with self._open_lock:
            opened = self._open.get(attempt_id)
        unit = partial(save_samples, attempt_id=attempt_id, opened=opened, rows=rows)
        final = all(row["finish_reason"] is not None for row in rows)
        return self._write("These solutions", unit, attempt_id=attempt_id, keep=final)

    def finish_attempt(
        self, attempt_id: str, outcome: AttemptOutcome, samples: Iterable[SampleRecord] = ()
    ) -> LogStatus:
        """Log how an attempt ended (`done`, `cancelled` or `error`) with its solutions."""
        try:
            values = outcome_values(outcome)
            rows = sample_rows(attempt_id, samples)
        except (InvalidInputError, TypeError, ValueError) as exc:
            return self._refuse("The result of this attempt", exc, attempt_id)
        with self._open_lock:
            opened = self._open.pop(attempt_id, None)
        unit = partial(save_outcome, attempt_id=attempt_id, opened=opened, values=values, rows=rows)
        return self._write("The result of this attempt", unit, attempt_id=attempt_id)

    def add_feedback(self, attempt_id: str, *, session_id: str, feedback: FeedbackInput) -> LogStatus:
        """A student's feedback on one of their own session's attempts."""
        try:
            key = session_key(session_id)
            row = feedback_row(attempt_id, feedback, author="student", session_key=key)
        except (InvalidInputError, TypeError, ValueError) as exc:
            return self._refuse("Your feedback", exc, attempt_id)
        unit = partial(insert_feedback, scope=Scope.of_session(key), row=row)
        return self._write("The feedback", unit, attempt_id=attempt_id)

    def teacher_add_feedback(self, access: TeacherAccess, attempt_id: str, feedback: FeedbackInput) -> LogStatus:
        """A teacher's feedback on any attempt (raises `TeacherAccessError` without access)."""
        self._teacher.check(access)
        try:
            row = feedback_row(attempt_id, feedback, author="teacher", session_key=None)
        except (InvalidInputError, TypeError, ValueError) as exc:
            return self._refuse("The feedback", exc, attempt_id)
        unit = partial(insert_feedback, scope=Scope.everyone(), row=row)
        return self._write("The feedback", unit, attempt_id=attempt_id)

    def add_question(self, attempt_id: str, *, session_id: str, sample_index: int, text: str) -> LogStatus:
        """Log a student's follow-up question about solution `sample_index` (0 = greedy, 1..N
        the samples) of one of their own session's attempts; `turn_id` names it for `add_answer`.

        Another session's attempt and one that does not exist are refused alike, nothing
        written (`storage.turns.NO_SUCH_ATTEMPT`). Text is stored as typed, never as HTML.
        """
        try:
            key = session_key(session_id)
            row = question_row(attempt_id, sample_index, text)
        except (InvalidInputError, TypeError, ValueError) as exc:
            return self._refuse("Your question", exc, attempt_id if isinstance(attempt_id, str) else None)
        with self._open_lock:
            self._questions[row["id"]] = (key, row)
            while len(self._questions) > MAX_OPEN_QUESTIONS:
                self._questions.popitem(last=False)
        self._replay()  # the attempt's own writes first, when some wait in memory
        unit = partial(insert_question, scope=Scope.of_session(key), row=row)
        return replace(self._write("Your question", unit, attempt_id=attempt_id), turn_id=row["id"])

    def add_answer(self, attempt_id: str, question_id: str, *, session_id: str, answer: FollowUpAnswer) -> LogStatus:
        """Log the model's answer to question `question_id` (a `turn_id` from `add_question`),
        with the same refusal as `add_question` for any attempt not the session's own."""
        try:
            key = session_key(session_id)
            row = answer_row(attempt_id, answer)
            if not isinstance(question_id, str):
                raise InvalidInputError("the question id must be text")
        except (InvalidInputError, TypeError, ValueError) as exc:
            return self._refuse("The answer", exc, attempt_id if isinstance(attempt_id, str) else None)
        with self._open_lock:
            held = self._questions.get(question_id)
            question = self._questions.pop(question_id)[1] if held is not None and held[0] == key else None
        unit = partial(insert_answer, scope=Scope.of_session(key), question_id=question_id, question=question, row=row)
        return replace(self._write("The answer", unit, attempt_id=attempt_id), turn_id=row["id"])

    # --------------------------------------------------------------------------- reads

    def history(
        self, session_id: str, page: int = 1, page_size: int = 20, query: AttemptQuery | None = None
    ) -> Page[AttemptSummary]:
        """One browser session's own attempts, newest first, one page (pages count from 1)."""
        scope = Scope.of_session(session_key(session_id))
        return self._read("your history", partial(page_of_attempts, scope=scope, query=query, page=page, page_size=page_size))

    def get_attempt(self, attempt_id: str, *, session_id: str) -> AttemptDetail | None:
        """One of the session's own attempts with its samples, feedback and follow-up turns;
        None if not its own."""
        scope = Scope.of_session(session_key(session_id))
        if not isinstance(attempt_id, str):
            return None
        return self._read("this attempt", partial(load_detail, scope=scope, attempt_id=attempt_id))

    def export_session(
        self, session_id: str, fmt: str, *, query: AttemptQuery | None = None, out: str | Path | None = None
    ) -> str:
        """A session's own attempts as JSONL or CSV: the text, or the path written when `out` is given."""
        return self._export(Scope.of_session(session_key(session_id)), fmt, query, out)

    def operator_export(
        self,
        fmt: str,
        *,
        session_id: str | None = None,
        query: AttemptQuery | None = None,
        out: str | Path | None = None,
    ) -> str:
        """Every session's attempts (or one session's) as JSONL or CSV, without the teacher password.

        For the operator's command line (`python -m storage.export`), who holds the database
        anyway; the app's pages use `export_session` and `teacher_export`.
        """
        scope = Scope.of_session(session_key(session_id)) if session_id else Scope.everyone()
        return self._export(scope, fmt, query, out)

    # ---------------------------------------------------------------------- teacher view

    @property
    def teacher_enabled(self) -> bool:
        """Whether the operator set a teacher password (without one there is no teacher view)."""
        return self._teacher.enabled

    def teacher_login(self, password: str, address: str = "") -> TeacherAccess:
        """Check the teacher password (`TeacherAccessError` if wrong), counting wrong ones per
        client `address`; a server first waits `teacher_throttle.reserve(address)` seconds."""
        return self._teacher.login(password, address)

    @property
    def teacher_throttle(self) -> GuessThrottle:
        """The per-address waits before a teacher password is checked (`storage.login_throttle`)."""
        return self._teacher.throttle

    def teacher_search(
        self, access: TeacherAccess, query: AttemptQuery | None = None, page: int = 1, page_size: int = 50
    ) -> Page[AttemptSummary]:
        """Every session's attempts matching `query`, newest first, one page."""
        self._teacher.check(access)
        unit = partial(page_of_attempts, scope=Scope.everyone(), query=query, page=page, page_size=page_size)
        return self._read("the class's attempts", unit)

    def teacher_get_attempt(self, access: TeacherAccess, attempt_id: str) -> AttemptDetail | None:
        """Any attempt with its samples, feedback and follow-up turns; None if there is none with that id."""
        self._teacher.check(access)
        return self._read("this attempt", partial(load_detail, scope=Scope.everyone(), attempt_id=str(attempt_id)))

    def teacher_export(
        self,
        access: TeacherAccess,
        fmt: str,
        *,
        query: AttemptQuery | None = None,
        out: str | Path | None = None,
    ) -> str:
        """Every session's attempts matching `query` as JSONL or CSV (text, or the path written)."""
        self._teacher.check(access)
        return self._export(Scope.everyone(), fmt, query, out)

    # -------------------------------------------------------------------------- machinery

    def _export(self, scope: Scope, fmt: str, query: AttemptQuery | None, out: str | Path | None) -> str:
        """Write the attempts in scope to `out` (atomically) or return them as text."""
        check_format(fmt)
        if query is not None:
            validate_query(query)
        return self._read("the export", lambda session: write_export(iter_details(session, scope, query), fmt, out))

    def _run(self, unit: Callable[[Session], T], *, write: bool, what: str) -> tuple[T, int]:
        """Run one unit of work in its own short session and transaction, retrying per policy."""

        def once() -> T:
            self._check_database()
            queued = write and self._sqlite_writers is not None
            turn = queued and self._sqlite_writers.acquire(timeout=self._busy_timeout_s)
            try:
                with Session(self._writer if write else self.engine, expire_on_commit=False) as session, session.begin():
                    return unit(session)
            finally:
                if turn:
                    self._sqlite_writers.release()

        try:
            return call_with_retry(once, self._policy, what=what)
        except RetriesExhausted as exc:
            raise LogUnavailable(describe_error(exc.last), exc.tries) from exc.last

    def _read(self, what: str, unit: Callable[[Session], T]) -> T:
        try:
            result, _tries = self._run(unit, write=False, what=f"Reading {what}")
        except LogUnavailable as exc:
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
        except WriteRejected as exc:
            log.warning("Session log: %s", exc)
            return LogStatus(ok=False, message=str(exc), attempt_id=attempt_id, tries=1, pending=self.pending_writes)
        except LogUnavailable as exc:
            return self._failed(what, exc.reason, unit if keep else None, attempt_id, exc.tries)
        # Anything else is a bug or data the database refused: it must not reach the answer.
        except Exception as exc:  # reported below, never swallowed
            log.exception("Session log: saving %s failed unexpectedly", what.lower())
            return self._failed(what, describe_error(exc), None, attempt_id, 1)
        if self._health_note:
            log.info("Session log: writing works again.")
        self._health_note = ""
        self._replay()
        return LogStatus(ok=True, attempt_id=attempt_id, tries=tries, pending=self.pending_writes)

    def _failed(
        self, what: str, reason: str, unit: Callable[[Session], Any] | None, attempt_id: str | None, tries: int
    ) -> LogStatus:
        pending = self._backlog.keep(what, unit) if unit is not None else self.pending_writes
        kept = " It is kept in memory and will be saved when the database works again." if unit is not None else ""
        message = f"{what} was not saved to the session log ({reason}).{kept}"
        log.error("Session log at %s: %s", self.url, message)
        self._health_note = message
        return LogStatus(ok=False, message=message, attempt_id=attempt_id, tries=tries, pending=pending)

    def _refuse(self, what: str, exc: BaseException, attempt_id: str | None = None) -> LogStatus:
        """A write with malformed input: reported (it is a bug in the caller), never kept."""
        message = f"{what} was not saved to the session log: {exc}"
        log.error("Session log: %s", message)
        return LogStatus(ok=False, message=message, attempt_id=attempt_id, pending=self.pending_writes)

    def _replay(self) -> None:
        """Save the writes kept in memory; once all are saved, the log is healthy again."""
        if self._backlog.replay(self._save_kept):
            self._health_note = ""

    def _save_kept(self, item: PendingWrite) -> None:
        self._run(item.unit, write=True, what=f"Saving {item.what.lower()} (kept in memory)")

    def _check_database(self) -> None:
        """Make sure the schema is there and the database file is still the one we opened."""
        if not self._ready:
            self._prepare()
        if self._file is None:
            return
        try:
            identity = self._file.current()
        except FileVanished:
            self.engine.dispose()  # pooled connections would go on writing into the deleted file
            raise
        if identity != self._file.identity:
            with self._prepare_lock:
                if identity != self._file.identity:
                    log.warning("Session log: %s was replaced by another file; reconnecting.", self._file.path)
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
                    allow_create = self._create and self._file.identity is None
                if not allow_create:
                    raise LogUnavailable(f"the database file {self._file.path} does not exist")
                self._file.create()
            migrate(self._writer, self._migrations)
            if self._file is not None:
                self._file.remember()
            self._ready = True
