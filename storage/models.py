"""The session log's tables as SQLAlchemy 2 typed models, as they stand after the last migration.

Used to read and write, never to create tables (the Alembic revisions in storage/alembic/ do;
a test checks they agree). Alembic's `--autogenerate` compares against them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Lengths of the keys: a uuid4 in hex, a sha256 in hex.
ID_LENGTH = 32
SESSION_KEY_LENGTH = 64


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime that goes in as any aware (or naive = UTC) value and comes out aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        # SQLite has no time zones: store naive UTC so that text comparison orders correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of the session log's tables."""


class BrowserSession(Base):
    """A browser session: who may read which attempts. `key` = sha256 of the session id."""

    __tablename__ = "sessions"

    key: Mapped[str] = mapped_column(String(SESSION_KEY_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Attempt(Base):
    """One solve of one problem: its settings, its status, its timings and its conclusions."""

    __tablename__ = "attempts"
    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'done', 'cancelled', 'error', 'interrupted')",
            name="ck_attempts_status",
        ),
        Index("ix_attempts_session_started", "session_key", "started_at"),
        Index("ix_attempts_started", "started_at"),
        Index("ix_attempts_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    session_key: Mapped[str] = mapped_column(
        String(SESSION_KEY_LENGTH), ForeignKey("sessions.key", ondelete="CASCADE")
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    # host/pid/process-start of the process running it; see storage.owner.
    owner: Mapped[str | None] = mapped_column(Text)
    problem: Mapped[str] = mapped_column(Text)
    model_id: Mapped[str] = mapped_column(Text)
    precision: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(32))
    # `local` or `server`; the server's URL (never with credentials). NULL before 0003.
    backend: Mapped[str | None] = mapped_column(String(16))
    server_url: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    n_samples: Mapped[int | None] = mapped_column(Integer)
    temperature: Mapped[float | None] = mapped_column(Double)
    top_p: Mapped[float | None] = mapped_column(Double)
    max_new_tokens: Mapped[int | None] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    queued_s: Mapped[float | None] = mapped_column(Double)
    ttft_s: Mapped[float | None] = mapped_column(Double)
    total_s: Mapped[float | None] = mapped_column(Double)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    generated_tokens: Mapped[int | None] = mapped_column(Integer)
    tokens_per_s: Mapped[float | None] = mapped_column(Double)
    greedy_answer: Mapped[str | None] = mapped_column(Text)
    maj_answer: Mapped[str | None] = mapped_column(Text)
    maj_count: Mapped[int | None] = mapped_column(Integer)
    maj_n: Mapped[int | None] = mapped_column(Integer)
    rm_answer: Mapped[str | None] = mapped_column(Text)
    rm_score: Mapped[float | None] = mapped_column(Double)
    rm_label: Mapped[str | None] = mapped_column(String(16))
    # The RM@N pick's `sample_index`, and the name of what ranked the samples.
    rm_index: Mapped[int | None] = mapped_column(Integer)
    scorer: Mapped[str | None] = mapped_column(Text)
    weighted_answer: Mapped[str | None] = mapped_column(Text)
    agreement: Mapped[str | None] = mapped_column(Text)
    all_agree: Mapped[bool | None] = mapped_column(Boolean(create_constraint=False))
    error: Mapped[str | None] = mapped_column(Text)
    # The run's analysis (0005): the checked vote (Maj@N among the samples with no wrong claim,
    # `checked_kept` their sample indices), whether any solution holds a wrong step, the
    # reasoning map (`judgements.map_data.ReasoningMap.to_dict`). NULL: logged before, not checked.
    checked_answer: Mapped[str | None] = mapped_column(Text)
    checked_count: Mapped[int | None] = mapped_column(Integer)
    checked_kept: Mapped[list[int] | None] = mapped_column(JSON)
    checked_fell_back: Mapped[bool | None] = mapped_column(Boolean(create_constraint=False))
    checked_agrees: Mapped[bool | None] = mapped_column(Boolean(create_constraint=False))
    has_wrong_step: Mapped[bool | None] = mapped_column(Boolean(create_constraint=False))
    reasoning_map: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # How clear each vote's win was (0008): {"majority": ..., "checked": ...}, NULL before.
    vote_standings: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    samples: Mapped[list[Sample]] = relationship(
        back_populates="attempt", order_by="Sample.sample_index", passive_deletes=True
    )
    feedback: Mapped[list[Feedback]] = relationship(
        back_populates="attempt", order_by="Feedback.created_at", passive_deletes=True
    )
    turns: Mapped[list[FollowUpTurn]] = relationship(
        back_populates="attempt",
        order_by="[FollowUpTurn.sample_index, FollowUpTurn.turn_index]",
        passive_deletes=True,
    )


class Sample(Base):
    """One solution of an attempt: row `sample_index` of the run (0 = greedy when asked for)."""

    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("attempt_id", "sample_index", name="uq_samples_attempt_index"),
        CheckConstraint("kind IN ('greedy', 'sampled')", name="ck_samples_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    attempt_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("attempts.id", ondelete="CASCADE")
    )
    sample_index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    cluster: Mapped[int | None] = mapped_column(Integer)
    reward: Mapped[float | None] = mapped_column(Double)
    step_rewards: Mapped[list[float] | None] = mapped_column(JSON)
    tokens: Mapped[int | None] = mapped_column(Integer)
    finish_reason: Mapped[str | None] = mapped_column(String(16))
    mean_logprob: Mapped[float | None] = mapped_column(Double)
    # Its weight in the reward-weighted vote.
    weight: Mapped[float | None] = mapped_column(Double)
    # The step checker's claims (`judgements.claims` dict form) and how many steps hold a
    # wrong one (0005); NULL: not checked.
    claims: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    wrong_steps: Mapped[int | None] = mapped_column(Integer)
    # Its code runs when it reasoned with Python (`ToolCall.to_dict` each, 0007); NULL: none.
    tool_calls: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)

    attempt: Mapped[Attempt] = relationship(back_populates="samples")


class Feedback(Base):
    """A person's judgement of an attempt, from its own session (`student`) or a `teacher`."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("verdict IS NULL OR verdict IN ('right', 'wrong')", name="ck_feedback_verdict"),
        CheckConstraint("author IN ('student', 'teacher')", name="ck_feedback_author"),
        Index("ix_feedback_attempt", "attempt_id"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    attempt_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("attempts.id", ondelete="CASCADE")
    )
    session_key: Mapped[str | None] = mapped_column(
        String(SESSION_KEY_LENGTH), ForeignKey("sessions.key", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    author: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str | None] = mapped_column(String(16))
    correct_answer: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str] = mapped_column(String(16))
    sample_index: Mapped[int | None] = mapped_column(Integer)

    attempt: Mapped[Attempt] = relationship(back_populates="feedback")


class FollowUpTurn(Base):
    """One turn of a follow-up conversation about one solution (`sample_index`) of an attempt.

    A student's question sits at an even `turn_index` (2k), its answer at 2k + 1; the
    conversation is the attempt's own session's (only it may add turns, see storage.turns).
    `started_at`/`finished_at`: when a question was asked (both the same), or when an answer
    started and ended; `finish_reason` and `tokens` are an answer's; `model_id` the model that
    answered (History may ask long after the solve, with another model loaded).
    """

    __tablename__ = "follow_up_turns"
    __table_args__ = (
        UniqueConstraint("attempt_id", "sample_index", "turn_index", name="uq_follow_up_turns_position"),
        CheckConstraint("role IN ('student', 'assistant')", name="ck_follow_up_turns_role"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    attempt_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("attempts.id", ondelete="CASCADE")
    )
    sample_index: Mapped[int] = mapped_column(Integer)
    turn_index: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finish_reason: Mapped[str | None] = mapped_column(String(16))
    tokens: Mapped[int | None] = mapped_column(Integer)
    model_id: Mapped[str | None] = mapped_column(Text)

    attempt: Mapped[Attempt] = relationship(back_populates="turns")


class WorkCheckRow(Base):
    """One "Check my work" check (0006): a student's own solution as typed, its steps as split,
    a verdict per step, the earliest wrong step, the judges used, notices and the hints given.
    A session's own, like its attempts (`storage.work_log` reads and writes it)."""

    __tablename__ = "work_checks"
    __table_args__ = (
        CheckConstraint("status IN ('checked', 'stopped', 'refused')", name="ck_work_checks_status"),
        Index("ix_work_checks_session_created", "session_key", "created_at"),
        Index("ix_work_checks_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    session_key: Mapped[str] = mapped_column(
        String(SESSION_KEY_LENGTH), ForeignKey("sessions.key", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    problem: Mapped[str] = mapped_column(Text)
    solution: Mapped[str] = mapped_column(Text)
    steps: Mapped[list[str]] = mapped_column(JSON)
    verdicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    first_wrong_step: Mapped[int | None] = mapped_column(Integer)
    judges: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    notices: Mapped[list[str]] = mapped_column(JSON)
    hints: Mapped[list[str]] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    model_id: Mapped[str | None] = mapped_column(Text)
