"""The log read back with its judgements: a replayed attempt, and one problem across the class.

What the History and Teacher tabs draw, ready: they call these and compute nothing.

- `replay` / `teacher_replay`: one attempt with its analysis as logged (`AttemptDetail.analysis`:
  every claim's verdict, the checked vote, the reasoning map, how clear each vote's win is;
  None for an attempt logged before the app kept it: "not checked"). A standing an older log
  did not keep is read back here from the samples' logged clusters, never in `ui/`. When feedback gave the right answer, the map's splits are
  measured against it (`judgements.analysis.remeasure`: from the stored nodes, no step read
  again), the one re-measurement a person's feedback calls for.
- `teacher_class`: the newest `MAX_CLASS_ATTEMPTS` attempts at exactly the opened attempt's
  problem, counted and mapped together (`judgements.classwork.class_work`).

The right answer is the one feedback gave (`feedback_answer`: a correct answer someone wrote,
or the answer a "right" verdict was about; a teacher's before a student's, newest first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from judgements.analysis import RunAnalysis, logged_standing, remeasure, with_standings
from judgements.answers.vote import Standing
from judgements.classwork import ClassRun, ClassWork, class_work
from judgements.map_data import ReasoningMap
from storage.records import AttemptDetail, AttemptQuery

if TYPE_CHECKING:
    from storage.store import Store
    from storage.teacher_auth import TeacherAccess

MAX_CLASS_ATTEMPTS = 50
"""Attempts at one problem read for the class view (the newest)."""


@dataclass(frozen=True)
class Replay:
    """A stored attempt ready to draw: `analysis` as logged (None: not checked), `map` its
    reasoning map measured against `right_answer` (feedback's) when a sample reached it
    (`reached`), else against the majority."""

    detail: AttemptDetail
    analysis: RunAnalysis | None
    map: ReasoningMap | None
    right_answer: str | None
    reached: bool
    standing: Standing | None = None  # Maj@N's: a tie, no majority (None without samples)
    first: int | None = None  # its winner's first sample (`Solution.index`)


def feedback_answer(details: Sequence[AttemptDetail]) -> str | None:
    """The answer feedback marked right on any of the attempts: a correct answer someone gave,
    or the answer a verdict of "right" was about; a teacher's before a student's, newest first."""
    found: list[tuple[bool, Any, str]] = []
    for detail in details:
        about = {"attempt": detail.maj_answer or detail.greedy_answer, "majority": detail.maj_answer,
                 "greedy": detail.greedy_answer, "reward": detail.rm_answer, "weighted": detail.weighted_answer}
        for item in detail.feedback:
            answer = item.correct_answer or (about.get(item.target) if item.verdict == "right" else None)
            if answer and answer.strip():
                found.append((item.author == "teacher", item.created_at, answer.strip()))
    return max(found, key=lambda f: (f[0], f[1]))[2] if found else None


def replay_of(detail: AttemptDetail) -> Replay:
    """A stored attempt with its analysis, its map measured against feedback's right answer."""
    samples = [s.solution() for s in detail.samples if s.kind == "sampled"]
    analysis = with_standings(detail.analysis, samples) if detail.analysis is not None else None
    right = feedback_answer([detail])
    tree, reached = (analysis.map if analysis is not None else None), False
    if tree is not None and right:
        tree, reached = remeasure(tree, samples, right)
    standing, first = None, None
    if analysis is not None:
        standing, first = analysis.standing, analysis.first
    elif samples:  # logged before the app kept an analysis: its vote's standing from the clusters
        standing, first = logged_standing(samples)
    return Replay(detail, analysis, tree, right, reached, standing, first)


def replay(store: Store, attempt_id: str, *, session_id: str) -> Replay | None:
    """One of the session's own attempts, ready to draw; None if not its own."""
    detail = store.get_attempt(attempt_id, session_id=session_id)
    return replay_of(detail) if detail is not None else None


def teacher_replay(store: Store, access: TeacherAccess, attempt_id: str) -> Replay | None:
    """Any attempt, ready to draw (raises `TeacherAccessError` without access); None if none."""
    detail = store.teacher_get_attempt(access, attempt_id)
    return replay_of(detail) if detail is not None else None


def class_run(detail: AttemptDetail) -> ClassRun:
    """An attempt as one run of its problem across the class."""
    concluded = detail.maj_answer if detail.maj_answer is not None else detail.greedy_answer
    return ClassRun(detail.id, detail.session, tuple(s.solution() for s in detail.samples), concluded, detail.analysis)


def teacher_class(store: Store, access: TeacherAccess, attempt_id: str) -> ClassWork | None:
    """The newest attempts at the opened attempt's problem (the whole text, exactly), counted
    and mapped together; None when there is no attempt with that id."""
    opened = store.teacher_get_attempt(access, attempt_id)
    if opened is None:
        return None
    page = store.teacher_search(access, AttemptQuery(problem=opened.problem), page=1, page_size=MAX_CLASS_ATTEMPTS)
    found = [opened if item.id == opened.id else store.teacher_get_attempt(access, item.id) for item in page.items]
    details = [d for d in found if d is not None]
    return class_work([class_run(d) for d in details], page.total, feedback_answer(details))


__all__ = [
    "MAX_CLASS_ATTEMPTS",
    "Replay",
    "class_run",
    "feedback_answer",
    "replay",
    "replay_of",
    "teacher_class",
    "teacher_replay",
]
