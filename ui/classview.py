"""Teacher, across the class: one problem's runs by every student, side by side.

After the Teacher opens a trace, this section reads the log for the other attempts at the same
problem (the whole text, exactly: `AttemptQuery(problem=...)`), newest first and at most
`MAX_CLASS_ATTEMPTS` of them, and shows:

- the answers the runs reached (each run's Maj@N, or its greedy answer without samples) and
  how many solutions gave each, the answers clustered as in a vote (`judgements.answers`);
- the recurring wrong answers: those other than the right one that more than one run reached;
- one reasoning map over their solutions (`ui.reasoning`), whose splits say at which step each
  wrong path leaves the right one.

The right answer is the one feedback gave (a teacher's first, the newest first), else the
majority of all the solutions. Everything from the log is model or student text: it reaches
the page through `ui.render` only.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from judgements.answers import Vote, equivalent, majority_vote
from judgements.solution import Solution
from storage.errors import StorageError
from storage.records import AttemptDetail, AttemptQuery
from ui import logbook, lognotes
from ui.reasoning import Panel, reasoning_panel
from ui.mathtext import escape_text, inline_math
from ui.resources import AppResources

MAX_CLASS_ATTEMPTS = 50
"""Attempts at one problem read for the class view (the newest)."""

MAX_MAP_SOLUTIONS = 96
"""Solutions drawn on the class's map: every run's first ones, newest runs first."""

HEADING = "### Same problem across the class"
MAP_HEADING = "#### Where the wrong paths leave the right one"


@dataclass(frozen=True)
class ClassRow:
    """One answer the class reached: its cluster, how many solutions gave it, in how many runs
    it appeared, how many runs concluded it, and whether it is the right one."""

    cluster: int
    answer: str
    solutions: int
    in_runs: int
    concluded: int
    right: bool


@dataclass
class ClassSummary:
    """The class's attempts at one problem, read and counted."""

    attempts: list[AttemptDetail]
    total: int  # attempts at this problem in the log (only the newest MAX_CLASS_ATTEMPTS are read)
    solutions: list[Solution]  # every finished solution, renumbered 0.., clustered across the class
    owners: list[tuple[int, int]]  # per solution: (position of its attempt, its index in that attempt)
    vote: Vote
    right_answer: str | None
    right_from: str  # "feedback" or "majority"
    rows: list[ClassRow]


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


def class_solutions(details: Sequence[AttemptDetail]) -> tuple[list[Solution], list[tuple[int, int]]]:
    """Every finished solution with text of the attempts, renumbered, with where it came from."""
    solutions: list[Solution] = []
    owners: list[tuple[int, int]] = []
    for position, detail in enumerate(details):
        for record in detail.samples:
            solution = logbook.solution_of(record)
            if not solution.finished or not solution.text.strip():
                continue
            owners.append((position, solution.index))
            solutions.append(dataclasses.replace(solution, index=len(solutions), kind="sampled", cluster=None))
    return solutions, owners


def summarize_class(details: Sequence[AttemptDetail], total: int) -> ClassSummary:
    """Count the class's answers: clusters over all solutions, runs per answer, the right one."""
    solutions, owners = class_solutions(details)
    vote = majority_vote([s.answer for s in solutions])
    for solution, cluster in zip(solutions, vote.assignments):
        solution.cluster = cluster
    right_answer = feedback_answer(details)
    right_from = "feedback" if right_answer else "majority"
    right_cluster = None
    if right_answer:
        right_cluster = next((i for i, c in enumerate(vote.clusters) if equivalent(c.answer, right_answer)), None)
    elif vote.clusters:
        right_answer, right_cluster = vote.clusters[0].answer, 0

    in_runs: Counter[int] = Counter()
    concluded: Counter[int] = Counter()
    for position, detail in enumerate(details):
        mine = [(index, s.cluster) for (owner, index), s in zip(owners, solutions) if owner == position]
        in_runs.update({c for _, c in mine if c is not None})
        concluded_cluster = _run_answer(detail, mine, solutions, owners, position)
        if concluded_cluster is not None:
            concluded[concluded_cluster] += 1
    rows = [
        ClassRow(i, c.answer, c.count, in_runs[i], concluded[i], i == right_cluster)
        for i, c in enumerate(vote.clusters)
    ]
    return ClassSummary(list(details), total, solutions, owners, vote, right_answer, right_from, rows)


def _run_answer(detail: AttemptDetail, mine: list[tuple[int, int | None]], solutions: list[Solution],
                owners: list[tuple[int, int]], position: int) -> int | None:
    """The cluster of the answer a run concluded (its Maj@N, else its greedy answer)."""
    wanted = detail.maj_answer if detail.maj_answer is not None else detail.greedy_answer
    if wanted is None:
        return None
    for (owner, _), solution in zip(owners, solutions):
        if owner == position and solution.answer == wanted and solution.cluster is not None:
            return solution.cluster
    counts = Counter(c for _, c in mine if c is not None)
    return counts.most_common(1)[0][0] if counts else None


def map_sample(summary: ClassSummary) -> list[Solution]:
    """The solutions drawn on the class's map: round by round, each run's next solution, newest
    runs first, up to MAX_MAP_SOLUTIONS."""
    by_run: dict[int, list[Solution]] = {}
    for (owner, _), solution in zip(summary.owners, summary.solutions):
        by_run.setdefault(owner, []).append(solution)
    chosen: list[Solution] = []
    depth = 0
    while len(chosen) < MAX_MAP_SOLUTIONS and any(depth < len(v) for v in by_run.values()):
        for owner in sorted(by_run):
            if depth < len(by_run[owner]) and len(chosen) < MAX_MAP_SOLUTIONS:
                chosen.append(by_run[owner][depth])
        depth += 1
    return sorted(chosen, key=lambda s: s.index)


def _answers_table(summary: ClassSummary) -> str:
    lines = ["| answer | solutions | runs it appears in | runs that concluded it |", "|---|---:|---:|---:|"]
    for row in summary.rows[:12]:
        chip = f"<span class='chip c{row.cluster}'></span>" if row.cluster < 10 else "<span class='chip cnone'></span>"
        mark = " ✓ right" if row.right else ""
        lines.append(f"| {chip} {inline_math(row.answer)}{mark} | {row.solutions} | {row.in_runs} | {row.concluded} |")
    unanswered = len(summary.solutions) - sum(r.solutions for r in summary.rows)
    if len(summary.rows) > 12:
        lines.append(f"| {len(summary.rows) - 12} more answers | {sum(r.solutions for r in summary.rows[12:])} | | |")
    if unanswered:
        lines.append(f"| no answer | {unanswered} | | |")
    return "\n".join(lines)


def class_markdown(summary: ClassSummary, panel: Panel | None) -> str:
    """The section's words: the runs, the answers, the recurring wrong ones, the map's splits."""
    runs = len(summary.attempts)
    sessions = len({d.session for d in summary.attempts})
    read = f"The newest {runs} of {summary.total}" if summary.total > runs else f"{runs}"
    parts = [HEADING, (f"{read} run{'s' if runs != 1 else ''} of this problem, from {sessions} "
             f"session{'s' if sessions != 1 else ''}, with {len(summary.solutions)} finished solutions.")]
    if not summary.solutions:
        parts.append("None of them has a finished solution yet.")
        return "\n\n".join(parts)
    if summary.right_answer is None:
        right = "No solution has an answer, and no feedback says which one is right."
    elif summary.right_from == "feedback":
        right = f"Right answer (from feedback): {inline_math(summary.right_answer)}."
        if not any(r.right for r in summary.rows):
            right += " No solution reached it."
    else:
        right = f"No feedback gives the right answer: the majority of all solutions, {inline_math(summary.right_answer)}, is taken as right."
    parts += [right, _answers_table(summary)]
    recurring = [r for r in summary.rows if not r.right and r.in_runs >= 2]
    if recurring:
        said = ", ".join(f"{inline_math(r.answer)} (in {r.in_runs} runs, {r.solutions} solutions)" for r in recurring[:6])
        parts.append(f"**Recurring wrong answers:** {said}.")
    else:
        parts.append("No wrong answer recurs across runs.")
    if panel is not None:
        parts.append(panel.markdown)
    return "\n\n".join(parts)


def class_panel(summary: ClassSummary) -> tuple[str, str | None]:
    """The section's words and its map's SVG (None without solutions)."""
    shown = map_sample(summary)
    panel = None
    if shown:
        owners = summary.owners
        details = summary.attempts

        def row_name(index: int) -> str:
            position, own = owners[index]
            return f"{escape_text(details[position].id[:8])} {'greedy' if own == 0 else f'#{own}'}"

        right = summary.right_answer if summary.right_from == "feedback" else None
        panel = reasoning_panel(None, shown, right_answer=right, heading=MAP_HEADING, row_name=row_name,
                                who="every run's, named by attempt id and row")
        if panel is not None and len(shown) < len(summary.solutions):
            panel.markdown = panel.markdown.replace(
                MAP_HEADING, f"{MAP_HEADING}\n\nThe map draws {len(shown)} of the {len(summary.solutions)} solutions "
                "(each run's first ones, newest runs first).", 1)
    return class_markdown(summary, panel), panel.svg if panel is not None else None


def read_class(app: AppResources, token: Any, attempt_id: str) -> tuple[list[AttemptDetail], int]:
    """The newest attempts at the opened attempt's problem, with their samples, and how many there are."""
    opened = app.store.teacher_get_attempt(token, attempt_id)
    if opened is None:
        raise gr.Error("No attempt with that id.", print_exception=False)
    page = app.store.teacher_search(token, AttemptQuery(problem=opened.problem), page=1, page_size=MAX_CLASS_ATTEMPTS)
    details = [opened if item.id == opened.id else app.store.teacher_get_attempt(token, item.id) for item in page.items]
    return [d for d in details if d is not None], page.total


def class_view(app: AppResources, token: Any, attempt_id: Any) -> list[Any]:
    """The Teacher's "Same problem across the class" section for an opened trace."""
    if app.store is None:
        raise gr.Error(lognotes.CLASS_LOG_UNAVAILABLE, print_exception=False)
    if not isinstance(attempt_id, str) or not attempt_id.strip():
        raise gr.Error("Pick an attempt first.", print_exception=False)
    try:
        details, total = read_class(app, token, attempt_id.strip())
    except StorageError as exc:
        raise gr.Error(lognotes.read_failure(app, exc, teacher=True), print_exception=False) from None
    words, svg = class_panel(summarize_class(details, total))
    return [gr.update(value=words, visible=True),
            gr.update(value=svg or "", visible=svg is not None)]


__all__ = [
    "ClassRow",
    "ClassSummary",
    "class_markdown",
    "class_panel",
    "class_solutions",
    "class_view",
    "feedback_answer",
    "map_sample",
    "summarize_class",
]
