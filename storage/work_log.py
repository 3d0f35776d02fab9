"""Checked work in the session log: "Check my work" checks, written and read back (table
`work_checks`, revision 0006).

A check belongs to the browser session that made it, as an attempt does: `log_check` writes it
(through the store's retrying writer; a failed write is kept and replayed), `add_hint` appends
a hint to one of the session's own checks, `session_checks`/`get_check` read only the session's
own, and the teacher functions (`teacher_checks`, `teacher_get_check`, `wrong_step_counts`,
`export_checks`) read every session's only behind a `TeacherAccess`. Text is stored as typed,
never as HTML. The verdicts and judges are the JSON `judgements.work_check.WorkCheck.to_dict`
writes; nothing here judges.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.errors import InvalidInputError
from storage.models import WorkCheckRow, utcnow
from storage.records import LogStatus
from storage.session_keys import session_key
from storage.store import Store
from storage.teacher_auth import TeacherAccess

MAX_TEXT = 40_000
"""Problem and solution text are cut to this many characters (the check refuses longer ones)."""

MAX_HINTS = 50
"""Hints kept per check."""

STATUSES = ("checked", "stopped", "refused")


@dataclass(frozen=True)
class CheckLog:
    """One check as logged: the problem and solution as typed and the check's JSON
    (`WorkCheck.to_dict`: steps, verdicts, first_wrong_step, judges, message, notices, refused)."""

    problem: str
    solution: str
    result: dict[str, Any]
    status: str = "checked"
    model_id: str | None = None
    hints: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckedWork:
    """A logged check, as read back."""

    id: str
    created_at: datetime
    status: str
    problem: str
    solution: str
    steps: list[str]
    verdicts: list[dict[str, Any]]
    first_wrong_step: int | None
    judges: list[dict[str, Any]]
    notices: list[str]
    hints: list[str] = field(default_factory=list)
    message: str | None = None
    model_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["kind"] = "checked work"
        return data


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"the {what} must be text")
    return value.replace("\x00", "")[:MAX_TEXT]


def check_row(key: str, log: CheckLog) -> dict[str, Any]:
    """The row a check is written as; `InvalidInputError` for input that is not a check."""
    if log.status not in STATUSES:
        raise InvalidInputError(f"unknown check status {log.status!r}")
    result = log.result if isinstance(log.result, dict) else {}
    first = result.get("first_wrong_step")
    row = {
        "id": uuid.uuid4().hex,
        "session_key": key,
        "created_at": utcnow(),
        "status": log.status,
        "problem": _text(log.problem, "problem"),
        "solution": _text(log.solution, "solution"),
        "steps": [str(s)[:MAX_TEXT] for s in result.get("steps") or []],
        "verdicts": list(result.get("verdicts") or []),
        "first_wrong_step": first if isinstance(first, int) else None,
        "judges": list(result.get("judges") or []),
        "notices": [str(n) for n in result.get("notices") or []],
        "hints": [str(h) for h in log.hints][:MAX_HINTS],
        "message": str(result.get("message") or "") or None,
        "model_id": log.model_id,
    }
    json.dumps(row, default=str)  # JSON-able, or TypeError now rather than in the database
    return row


def _insert(session: Session, row: dict[str, Any]) -> None:
    if session.get(WorkCheckRow, row["id"]) is None:  # a replayed write finds its own row
        session.add(WorkCheckRow(**row))


def log_check(store: Store, session_id: str, log: CheckLog) -> LogStatus:
    """Log a check for the session; the status's `attempt_id` is the check's id."""
    try:
        key = session_key(session_id)
        row = check_row(key, log)
    except (InvalidInputError, TypeError, ValueError) as exc:
        return store._refuse("This check", exc)
    store.ensure_session(session_id)
    return store._write("This check", partial(_insert, row=row), attempt_id=row["id"])


def _append_hint(session: Session, key: str, check_id: str, hint: str) -> None:
    row = session.get(WorkCheckRow, check_id)
    if row is None or row.session_key != key:
        return  # not the session's own: nothing written, nothing said
    hints = [*(row.hints or []), hint][:MAX_HINTS]
    session.execute(update(WorkCheckRow).where(WorkCheckRow.id == check_id).values(hints=hints))


def add_hint(store: Store, session_id: str, check_id: str, hint: str) -> LogStatus:
    """Append a hint given to one of the session's own checks."""
    try:
        key = session_key(session_id)
        text = _text(hint, "hint")
        if not isinstance(check_id, str):
            raise InvalidInputError("the check id must be text")
    except (InvalidInputError, TypeError, ValueError) as exc:
        return store._refuse("This hint", exc)
    return store._write("This hint", partial(_append_hint, key=key, check_id=check_id, hint=text), attempt_id=check_id)


def _of(row: WorkCheckRow) -> CheckedWork:
    return CheckedWork(row.id, row.created_at, row.status, row.problem, row.solution, list(row.steps or []),
                       list(row.verdicts or []), row.first_wrong_step, list(row.judges or []), list(row.notices or []),
                       list(row.hints or []), row.message, row.model_id)


def _rows(session: Session, key: str | None, text: str | None, limit: int) -> list[CheckedWork]:
    statement = select(WorkCheckRow)
    if key is not None:
        statement = statement.where(WorkCheckRow.session_key == key)
    if text:
        statement = statement.where(func.lower(WorkCheckRow.problem).contains(text.lower(), autoescape=True))
    statement = statement.order_by(WorkCheckRow.created_at.desc(), WorkCheckRow.id).limit(max(1, min(limit, 1000)))
    return [_of(r) for r in session.scalars(statement)]


def _one(session: Session, key: str | None, check_id: str) -> CheckedWork | None:
    row = session.get(WorkCheckRow, check_id)
    if row is None or (key is not None and row.session_key != key):
        return None
    return _of(row)


def session_checks(store: Store, session_id: str, *, limit: int = 50) -> list[CheckedWork]:
    """The session's own checks, newest first."""
    return store._read("your checked work", partial(_rows, key=session_key(session_id), text=None, limit=limit))


def get_check(store: Store, session_id: str, check_id: str) -> CheckedWork | None:
    """One of the session's own checks; None for another session's or none."""
    if not isinstance(check_id, str):
        return None
    return store._read("this check", partial(_one, key=session_key(session_id), check_id=check_id.strip()))


def teacher_checks(store: Store, access: TeacherAccess, *, text: str | None = None, limit: int = 200) -> list[CheckedWork]:
    """Every session's checks (problem containing `text`), newest first: a teacher's only."""
    store._teacher.check(access)
    return store._read("the class's checked work", partial(_rows, key=None, text=text or None, limit=limit))


def teacher_get_check(store: Store, access: TeacherAccess, check_id: str) -> CheckedWork | None:
    store._teacher.check(access)
    return store._read("this check", partial(_one, key=None, check_id=str(check_id).strip()))


def wrong_step_counts(checks: list[CheckedWork]) -> dict[str, Counter[int]]:
    """Per problem, how many checks first went wrong at each step (1-based)."""
    counts: dict[str, Counter[int]] = {}
    for check in checks:
        if check.status == "checked" and check.first_wrong_step is not None:
            counts.setdefault(check.problem, Counter())[check.first_wrong_step + 1] += 1
    return counts


def export_checks(checks: list[CheckedWork]) -> str:
    """Checks as JSONL, one per line."""
    return "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in checks)


__all__ = [
    "CheckLog", "CheckedWork", "add_hint", "check_row", "export_checks", "get_check", "log_check", "session_checks",
    "teacher_checks", "teacher_get_check", "wrong_step_counts",
]
