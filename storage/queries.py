"""Every read of the session log: scoped to a `Scope`, filtered, paged, turned into records.

The scope's condition is part of every statement; what a person typed is always a bound parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import ColumnElement, Select, and_, exists, func, select, true
from sqlalchemy.orm import Session, selectinload

from judgements.solution import ToolCall
from storage.models import Attempt, Feedback, FollowUpTurn, Sample
from storage.records import (
    ATTEMPT_STATUSES,
    FEEDBACK_FILTERS,
    AttemptDetail,
    AttemptQuery,
    AttemptSummary,
    FeedbackView,
    Page,
    SampleRecord,
    TurnRecord,
)

MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Scope:
    """Whose attempts a query may see. Build with `Scope.of_session` or `Scope.everyone`."""

    session_key: str | None
    all_sessions: bool = False

    def __post_init__(self) -> None:
        # Guard against a None key silently meaning "everyone".
        if self.all_sessions == (self.session_key is not None):
            raise ValueError("a scope is either one session's key or all sessions, not both or neither")

    @classmethod
    def of_session(cls, session_key: str) -> Scope:
        """One browser session's own attempts."""
        return cls(session_key=session_key)

    @classmethod
    def everyone(cls) -> Scope:
        """Every session's attempts: only for an authorised teacher or the operator."""
        return cls(session_key=None, all_sessions=True)

    def condition(self) -> ColumnElement[bool]:
        """The WHERE clause that keeps a query inside the scope."""
        if self.all_sessions:
            return true()
        return Attempt.session_key == self.session_key


def _escape_like(text: str) -> str:
    """`text` as a LIKE pattern that matches itself literally (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _start_of(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.combine(value, time.min, tzinfo=timezone.utc)


def validate_query(query: AttemptQuery) -> None:
    """Raise ValueError with a readable message on a filter the store cannot apply."""
    if query.feedback is not None and query.feedback not in FEEDBACK_FILTERS:
        raise ValueError(f"feedback filter must be one of {', '.join(FEEDBACK_FILTERS)}; got {query.feedback!r}")
    if query.status is not None and query.status not in ATTEMPT_STATUSES:
        raise ValueError(f"status must be one of {', '.join(ATTEMPT_STATUSES)}; got {query.status!r}")
    if query.problem is not None and not isinstance(query.problem, str):
        raise ValueError(f"problem must be the problem's text; got {query.problem!r}")
    for name in ("all_agree", "has_follow_ups", "has_wrong_step", "checked_agrees"):
        value = getattr(query, name)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{name} must be True, False or None; got {value!r}")
    for name in ("date_from", "date_to"):
        value = getattr(query, name)
        if value is not None and not isinstance(value, (date, datetime)):
            raise ValueError(f"{name} must be a date or a datetime; got {value!r}")


def filters(scope: Scope, query: AttemptQuery | None) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a scoped, filtered attempt query."""
    conditions = [scope.condition()]
    if query is None:
        return conditions
    validate_query(query)
    if query.date_from is not None:
        conditions.append(Attempt.started_at >= _start_of(query.date_from))
    if query.date_to is not None:
        if isinstance(query.date_to, datetime):
            conditions.append(Attempt.started_at <= _start_of(query.date_to))
        else:  # a whole day: up to the next midnight
            conditions.append(Attempt.started_at < _start_of(query.date_to + timedelta(days=1)))
    if query.text:
        conditions.append(Attempt.problem.ilike(f"%{_escape_like(query.text)}%", escape="\\"))
    if query.problem is not None:
        conditions.append(Attempt.problem == query.problem)
    if query.all_agree is not None:
        conditions.append(Attempt.all_agree.is_(query.all_agree))
    if query.model_id:
        conditions.append(Attempt.model_id == query.model_id)
    if query.status:
        conditions.append(Attempt.status == query.status)
    if query.feedback:
        conditions.append(_FEEDBACK_FILTERS[query.feedback]())
    if query.has_follow_ups is not None:
        asked = exists().where(FollowUpTurn.attempt_id == Attempt.id)
        conditions.append(asked if query.has_follow_ups else ~asked)
    if query.has_wrong_step is not None:
        conditions.append(Attempt.has_wrong_step.is_(query.has_wrong_step))
    if query.checked_agrees is not None:
        conditions.append(Attempt.checked_agrees.is_(query.checked_agrees))
    return conditions


def _has_feedback(*extra: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(Feedback.attempt_id == Attempt.id, *extra)


_FEEDBACK_FILTERS = {
    "any": lambda: _has_feedback(),
    "none": lambda: ~_has_feedback(),
    "right": lambda: _has_feedback(Feedback.verdict == "right"),
    "wrong": lambda: _has_feedback(Feedback.verdict == "wrong"),
    "corrected": lambda: _has_feedback(Feedback.correct_answer.is_not(None)),
}


def _newest_first(statement: Select) -> Select:
    # id breaks ties between attempts started in the same microsecond, so pages never overlap.
    return statement.order_by(Attempt.started_at.desc(), Attempt.id.desc())


def page_of_attempts(
    session: Session, scope: Scope, query: AttemptQuery | None, page: int, page_size: int
) -> Page[AttemptSummary]:
    """One page of attempts in scope, newest first."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValueError(f"page counts from 1; got {page!r}")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}; got {page_size!r}")
    where = and_(*filters(scope, query))
    total = session.scalar(select(func.count()).select_from(Attempt).where(where)) or 0
    rows = session.scalars(  # with each row's feedback, which a list shows too
        _newest_first(select(Attempt).where(where)).offset((page - 1) * page_size).limit(page_size)
        .options(selectinload(Attempt.feedback))
    )
    return Page(items=[summary_of(row) for row in rows], page=page, page_size=page_size, total=total)


# Everything an `AttemptDetail` holds beyond the attempt's own row, loaded in a few queries.
_DETAIL_LOADS = (selectinload(Attempt.samples), selectinload(Attempt.feedback), selectinload(Attempt.turns))


def load_detail(session: Session, scope: Scope, attempt_id: str) -> AttemptDetail | None:
    """One attempt in scope with its samples, feedback and follow-up turns, or None (absent or not in scope)."""
    statement = select(Attempt).where(Attempt.id == attempt_id, scope.condition()).options(*_DETAIL_LOADS)
    row = session.scalars(statement).first()
    return detail_of(row) if row is not None else None


def iter_details(
    session: Session, scope: Scope, query: AttemptQuery | None, batch: int = 200
) -> Iterator[AttemptDetail]:
    """Every attempt in scope matching the query, newest first, with samples, feedback and turns."""
    statement = (
        _newest_first(select(Attempt).where(*filters(scope, query)))
        .options(*_DETAIL_LOADS)
        .execution_options(yield_per=batch)
    )
    for row in session.scalars(statement):
        yield detail_of(row)


def summary_of(row: Attempt) -> AttemptSummary:
    """An attempt row as a plain record."""
    return AttemptSummary(
        id=row.id,
        session=row.session_key,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=row.status,
        problem=row.problem,
        model_id=row.model_id,
        precision=row.precision,
        device=row.device,
        backend=row.backend,
        server_url=row.server_url,
        params=dict(row.params or {}),
        n_samples=row.n_samples,
        temperature=row.temperature,
        top_p=row.top_p,
        max_new_tokens=row.max_new_tokens,
        seed=row.seed,
        queued_s=row.queued_s,
        ttft_s=row.ttft_s,
        total_s=row.total_s,
        prompt_tokens=row.prompt_tokens,
        generated_tokens=row.generated_tokens,
        tokens_per_s=row.tokens_per_s,
        greedy_answer=row.greedy_answer,
        maj_answer=row.maj_answer,
        maj_count=row.maj_count,
        maj_n=row.maj_n,
        rm_answer=row.rm_answer,
        rm_score=row.rm_score,
        rm_label=row.rm_label,
        rm_index=row.rm_index,
        scorer=row.scorer,
        weighted_answer=row.weighted_answer,
        agreement=row.agreement,
        all_agree=row.all_agree,
        error=row.error,
        checked_answer=row.checked_answer,
        checked_count=row.checked_count,
        checked_kept=list(row.checked_kept) if row.checked_kept is not None else None,
        checked_fell_back=row.checked_fell_back,
        checked_agrees=row.checked_agrees,
        has_wrong_step=row.has_wrong_step,
        vote_standings=dict(row.vote_standings) if isinstance(row.vote_standings, dict) else None,
        feedback=tuple(_feedback_of(f) for f in sorted(row.feedback, key=lambda f: (f.created_at, f.id))),
    )


def detail_of(row: Attempt) -> AttemptDetail:
    """An attempt row with its loaded samples, feedback and turns as a plain record."""
    summary = summary_of(row)
    return AttemptDetail(
        **summary.__dict__,
        reasoning_map=dict(row.reasoning_map) if row.reasoning_map is not None else None,
        samples=tuple(_sample_of(s) for s in sorted(row.samples, key=lambda s: s.sample_index)),
        turns=tuple(_turn_of(t) for t in sorted(row.turns, key=lambda t: (t.sample_index, t.turn_index))),
    )


def _sample_of(row: Sample) -> SampleRecord:
    return SampleRecord(
        index=row.sample_index,
        kind=row.kind,
        text=row.text,
        tokens=row.tokens,
        finish_reason=row.finish_reason,
        mean_logprob=row.mean_logprob,
        answer=row.answer,
        cluster=row.cluster,
        reward=row.reward,
        step_rewards=list(row.step_rewards) if row.step_rewards is not None else None,
        weight=row.weight,
        claims=tuple(row.claims) if row.claims is not None else None,
        wrong_steps=row.wrong_steps,
        tool_calls=tuple(call for call in map(ToolCall.from_dict, row.tool_calls or ()) if call is not None),
    )


def _feedback_of(row: Feedback) -> FeedbackView:
    return FeedbackView(
        id=row.id,
        created_at=row.created_at,
        author=row.author,
        verdict=row.verdict,
        correct_answer=row.correct_answer,
        comment=row.comment,
        target=row.target,
        sample_index=row.sample_index,
    )


def _turn_of(row: FollowUpTurn) -> TurnRecord:
    return TurnRecord(
        id=row.id,
        sample_index=row.sample_index,
        turn_index=row.turn_index,
        role=row.role,
        text=row.text,
        started_at=row.started_at,
        finished_at=row.finished_at,
        finish_reason=row.finish_reason,
        tokens=row.tokens,
        model_id=row.model_id,
    )
