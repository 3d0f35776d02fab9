"""Follow-up turns in the session log: a student's questions about one solution and the answers.

Rows are validated here (`question_row`, `answer_row`; a bad one raises `InvalidInputError`)
and written by two units of work that follow `storage.writes`' rules, so that a failed write
can be kept and replayed: each inserts its row once, by id, whatever the order they land in.

Privacy: both units first look for the attempt inside the writer's `Scope` (its own session).
An attempt of another session and an attempt that does not exist get the same refusal,
`NO_SUCH_ATTEMPT`, so a stranger learns nothing, not even that the attempt exists.

Positions: a question takes the next even `turn_index` of its solution's conversation (2k),
its answer 2k + 1, so a question asked from a second tab before the first answer is saved
still leaves that answer its place.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from storage.errors import InvalidInputError, WriteRejected
from storage.models import Attempt, FollowUpTurn, Sample, utcnow
from storage.queries import Scope
from storage.records import MAX_TURN_CHARS, FollowUpAnswer, clean_int, clean_text

NO_SUCH_ATTEMPT = "There is no such attempt in this history, so the conversation was not saved."

# Why an answer stopped, as the model layer says it.
ANSWER_REASONS: tuple[str, ...] = ("stop", "length", "repetition", "cancelled", "error")


# ------------------------------------------------------------------------------ rows


def question_row(attempt_id: str, sample_index: int, text: str) -> dict[str, Any]:
    """A student's question about solution `sample_index` (its position is set when written)."""
    now = utcnow()
    return {
        "id": uuid.uuid4().hex,
        "attempt_id": _attempt_id(attempt_id),
        "sample_index": _sample_index(sample_index),
        "turn_index": None,
        "role": "student",
        "text": _turn_text("the question", text, allow_empty=False),
        "started_at": now,
        "finished_at": now,
        "finish_reason": None,
        "tokens": None,
        "model_id": None,
    }


def answer_row(attempt_id: str, answer: FollowUpAnswer) -> dict[str, Any]:
    """The model's answer (its solution and position are its question's, set when written)."""
    if not isinstance(answer, FollowUpAnswer):
        raise InvalidInputError(f"expected a FollowUpAnswer, got {type(answer).__name__}")
    if answer.finish_reason not in ANSWER_REASONS:
        raise InvalidInputError(f"finish_reason must be one of {', '.join(ANSWER_REASONS)}; got {answer.finish_reason!r}")
    tokens = clean_int(answer.tokens)
    if tokens is not None and tokens < 0:
        raise InvalidInputError(f"tokens must be a whole number >= 0; got {answer.tokens!r}")
    started = answer.started_at
    if started is not None and not isinstance(started, datetime):
        raise InvalidInputError(f"started_at must be a datetime; got {started!r}")
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return {
        "id": uuid.uuid4().hex,
        "attempt_id": _attempt_id(attempt_id),
        "sample_index": None,
        "turn_index": None,
        "role": "assistant",
        # An answer cancelled before its first token is empty, and is kept as such.
        "text": _turn_text("the answer", answer.text, allow_empty=True),
        "started_at": started,
        "finished_at": utcnow(),
        "finish_reason": answer.finish_reason,
        "tokens": tokens,
        "model_id": clean_text(answer.model_id),
    }


def _attempt_id(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInputError("the attempt id must be non-empty text")
    return value


def _sample_index(value: object) -> int:
    index = clean_int(value)  # type: ignore[arg-type]
    if index is None or index < 0:
        raise InvalidInputError(f"which solution the question is about must be a whole number >= 0; got {value!r}")
    return index


def _turn_text(name: str, value: object, *, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be text; got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise InvalidInputError(f"{name} is empty")
    if len(value) > MAX_TURN_CHARS:
        raise InvalidInputError(f"{name} is {len(value):,} characters long; the log takes at most {MAX_TURN_CHARS:,}")
    if "\x00" in value:  # PostgreSQL cannot store it, and it is never text a person typed
        raise InvalidInputError(f"{name} contains a NUL character")
    return value


# ------------------------------------------------------------------------------ writes


def insert_question(session: Session, scope: Scope, row: dict[str, Any]) -> None:
    """Write a question about a solution of an attempt in `scope`; refuse any other attempt."""
    _owned_attempt(session, scope, row["attempt_id"])
    if _exists(session, row["id"]):
        return
    found = session.scalar(
        select(Sample.id).where(Sample.attempt_id == row["attempt_id"], Sample.sample_index == row["sample_index"])
    )
    if found is None:
        raise WriteRejected(
            f"This attempt has no solution #{row['sample_index']} to ask about, so the question was not saved."
        )
    last = session.scalar(
        select(func.max(FollowUpTurn.turn_index)).where(
            FollowUpTurn.attempt_id == row["attempt_id"], FollowUpTurn.sample_index == row["sample_index"]
        )
    )
    position = 0 if last is None else last + 1 + (last + 1) % 2  # the next even index
    session.execute(insert(FollowUpTurn).values(**{**row, "turn_index": position}))


def insert_answer(
    session: Session, scope: Scope, question_id: str, question: dict[str, Any] | None, row: dict[str, Any]
) -> None:
    """Write the answer to question `question_id` of an attempt in `scope`.

    `question` is the question's row when this process still holds it: written first if its
    own write has not landed yet (the same row, by id, so never twice).
    """
    _owned_attempt(session, scope, row["attempt_id"])
    if _exists(session, row["id"]):
        return
    if question is not None and question["attempt_id"] == row["attempt_id"]:
        insert_question(session, scope, question)
    asked = session.scalars(
        select(FollowUpTurn).where(
            FollowUpTurn.id == question_id,
            FollowUpTurn.attempt_id == row["attempt_id"],
            FollowUpTurn.role == "student",
        )
    ).first()
    if asked is None:
        raise WriteRejected("The question this answers is not in the session log, so the answer was not saved.")
    position = asked.turn_index + 1
    taken = session.scalar(
        select(FollowUpTurn.id).where(
            FollowUpTurn.attempt_id == asked.attempt_id,
            FollowUpTurn.sample_index == asked.sample_index,
            FollowUpTurn.turn_index == position,
        )
    )
    if taken is not None:
        raise WriteRejected("This question already has an answer in the session log; the new one was not saved.")
    values = {**row, "sample_index": asked.sample_index, "turn_index": position}
    if values["started_at"] is None:
        values["started_at"] = asked.started_at
    session.execute(insert(FollowUpTurn).values(**values))


def _owned_attempt(session: Session, scope: Scope, attempt_id: str) -> None:
    """Refuse, with the same words whatever the reason, unless the attempt is in `scope`.

    Locks the attempt's row where the database can (PostgreSQL), so two questions asked at
    once take their positions one after the other (SQLite writers are serialised anyway).
    """
    statement = select(Attempt.id).where(Attempt.id == attempt_id, scope.condition()).with_for_update()
    if session.scalar(statement) is None:
        raise WriteRejected(NO_SUCH_ATTEMPT)


def _exists(session: Session, turn_id: str) -> bool:
    return session.scalar(select(FollowUpTurn.id).where(FollowUpTurn.id == turn_id)) is not None
