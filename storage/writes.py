"""The write statements of the session log, one function per unit of work.

A failed write is kept and replayed (`storage.backlog`), so every unit is idempotent and they
commute: inserts are INSERT-if-absent, and a finish or a solution replaces its own rows with
the same final values, so the order in which they land does not change the result. The text
of an unfinished solution (saved as a run streams) is the one write that is not final: it is
never kept for a replay, never replaces a finished row, and lands only while the attempt runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.errors import WriteRejected
from storage.models import Attempt, BrowserSession, Feedback, Sample
from storage.queries import Scope

INTERRUPTED_MESSAGE = "The app stopped before this attempt finished."

# INSERT ... ON CONFLICT DO NOTHING, by dialect; others check first (see _insert_ignore).
_INSERT_IGNORING = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True)
class OpenAttempt:
    """An attempt this process started and has not finished: enough to write its row again."""

    attempt_id: str
    session_key: str
    started_at: datetime
    row: dict[str, Any]


def touch_session(session: Session, key: str, now: datetime) -> None:
    """Record a browser session, or that it was seen again."""
    _insert_ignore(session, BrowserSession, {"key": key, "created_at": now, "last_seen_at": now})
    session.execute(update(BrowserSession).where(BrowserSession.key == key).values(last_seen_at=now))


def insert_attempt(session: Session, opened: OpenAttempt) -> None:
    """Write a starting attempt's row (and its session's)."""
    touch_session(session, opened.session_key, opened.started_at)
    _insert_ignore(session, Attempt, opened.row)


def save_samples(session: Session, attempt_id: str, opened: OpenAttempt | None, rows: list[dict[str, Any]]) -> None:
    """Write solutions of a running attempt as they stand: a finished one (with a finish reason)
    replaces its row, an unfinished one (the text so far) only a row that is unfinished too;
    nothing once the attempt has ended, so a late write never undoes its finish."""
    _ensure_attempt(session, attempt_id, opened)
    if session.scalar(select(Attempt.status).where(Attempt.id == attempt_id)) != "running":
        return
    unfinished = [row["sample_index"] for row in rows if row["finish_reason"] is None]
    if unfinished:
        finished = set(session.scalars(select(Sample.sample_index).where(
            Sample.attempt_id == attempt_id, Sample.sample_index.in_(unfinished), Sample.finish_reason.is_not(None))))
        rows = [row for row in rows if row["finish_reason"] is not None or row["sample_index"] not in finished]
    _put_samples(session, attempt_id, rows)


def save_outcome(
    session: Session,
    attempt_id: str,
    opened: OpenAttempt | None,
    values: Mapping[str, Any],
    rows: list[dict[str, Any]],
) -> None:
    """Write how an attempt ended, with its solutions."""
    _ensure_attempt(session, attempt_id, opened)
    session.execute(update(Attempt).where(Attempt.id == attempt_id).values(**values))
    _put_samples(session, attempt_id, rows)


def insert_feedback(session: Session, scope: Scope, row: dict[str, Any]) -> None:
    """Write feedback on an attempt in `scope`; refuse it for any other."""
    found = session.scalar(select(Attempt.id).where(Attempt.id == row["attempt_id"], scope.condition()))
    if found is None:
        raise WriteRejected("There is no such attempt in this history, so the feedback was not saved.")
    _insert_ignore(session, Feedback, row)


def interrupt_orphans(
    session: Session, is_orphan: Callable[[str, str | None, datetime], bool], now: datetime
) -> int:
    """Mark `interrupted` the running attempts for which `is_orphan(id, owner, started_at)`; return how many."""
    rows = session.execute(
        select(Attempt.id, Attempt.owner, Attempt.started_at).where(Attempt.status == "running")
    ).all()
    orphans = [attempt_id for attempt_id, owner, started_at in rows if is_orphan(attempt_id, owner, started_at)]
    if orphans:
        interrupt(session, orphans, now)
    return len(orphans)


def interrupt(session: Session, attempt_ids: list[str], now: datetime) -> None:
    """Mark `interrupted` those of these attempts that are still running."""
    session.execute(
        update(Attempt)
        .where(Attempt.id.in_(attempt_ids), Attempt.status == "running")
        .values(status="interrupted", finished_at=now, error=INTERRUPTED_MESSAGE)
    )


def _insert_ignore(session: Session, model: type[Any], values: Mapping[str, Any]) -> None:
    """INSERT a row unless its primary key exists."""
    make_insert = _INSERT_IGNORING.get(session.get_bind().dialect.name)
    if make_insert is not None:
        session.execute(make_insert(model).values(**values).on_conflict_do_nothing())
        return
    key_column = model.__mapper__.primary_key[0]
    if session.scalar(select(key_column).where(key_column == values[key_column.key])) is None:
        session.execute(insert(model).values(**values))


def _ensure_attempt(session: Session, attempt_id: str, opened: OpenAttempt | None) -> None:
    """Make sure the attempt's row exists, writing it from memory if its start was not saved."""
    if session.scalar(select(Attempt.id).where(Attempt.id == attempt_id)) is not None:
        return
    if opened is None:
        raise WriteRejected(f"There is no attempt {attempt_id!r} in the session log to add this to.")
    touch_session(session, opened.session_key, opened.started_at)
    session.execute(insert(Attempt).values(**opened.row))


def _put_samples(session: Session, attempt_id: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    indices = [row["sample_index"] for row in rows]
    session.execute(delete(Sample).where(Sample.attempt_id == attempt_id, Sample.sample_index.in_(indices)))
    session.execute(insert(Sample), rows)
