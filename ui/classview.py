"""Teacher, across the class: one problem's runs by every student, side by side.

After the Teacher opens a trace, this section shows what the core worked out from the log
(`storage.review.teacher_class`: the other attempts at exactly the same problem, newest first,
counted and mapped by `judgements.classwork`):

- the answers the runs reached (each run's Maj@N, or its greedy answer without samples) and
  how many solutions gave each, the answers clustered across the class as in a vote;
- the recurring wrong answers: those other than the right one that more than one run reached;
- one reasoning map over their solutions (`ui.reasoning`), whose splits say at which step each
  wrong path leaves the right one.

The right answer is the one feedback gave (a teacher's first, the newest first), else the
majority of all the solutions. This module only draws: everything from the log is model or
student text, and reaches the page through `ui.render` only.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from judgements.classwork import ClassWork
from storage import review
from storage.errors import StorageError
from ui.reasoning import Panel, reasoning_panel
from ui.mathtext import escape_text, inline_math
from ui.resources import AppResources

HEADING = "### Same problem across the class"
MAP_HEADING = "#### Where the wrong paths leave the right one"


def _answers_table(work: ClassWork) -> str:
    lines = ["| answer | solutions | runs it appears in | runs that concluded it |", "|---|---:|---:|---:|"]
    for row in work.rows[:12]:
        chip = f"<span class='chip c{row.cluster}'></span>" if row.cluster < 10 else "<span class='chip cnone'></span>"
        mark = " ✓ right" if row.right else ""
        lines.append(f"| {chip} {inline_math(row.answer)}{mark} | {row.solutions} | {row.in_runs} | {row.concluded} |")
    if len(work.rows) > 12:
        lines.append(f"| {len(work.rows) - 12} more answers | {sum(r.solutions for r in work.rows[12:])} | | |")
    if work.unanswered:
        lines.append(f"| no answer | {work.unanswered} | | |")
    return "\n".join(lines)


def class_markdown(work: ClassWork, panel: Panel | None) -> str:
    """The section's words: the runs, the answers, the recurring wrong ones, the map's splits."""
    runs = work.runs
    read = f"The newest {runs} of {work.total}" if work.total > runs else f"{runs}"
    parts = [HEADING, (f"{read} run{'s' if runs != 1 else ''} of this problem, from {work.sessions} "
             f"session{'s' if work.sessions != 1 else ''}, with {work.solutions} finished solutions.")]
    if not work.solutions:
        parts.append("None of them has a finished solution yet.")
        return "\n\n".join(parts)
    if work.right_answer is None:
        right = "No solution has an answer, and no feedback says which one is right."
    elif work.right_from == "feedback":
        right = f"Right answer (from feedback): {inline_math(work.right_answer)}."
        if not any(r.right for r in work.rows):
            right += " No solution reached it."
    else:
        right = f"No feedback gives the right answer: the majority of all solutions, {inline_math(work.right_answer)}, is taken as right."
    parts += [right, _answers_table(work)]
    recurring = [r for r in work.rows if not r.right and r.in_runs >= 2]
    if recurring:
        said = ", ".join(f"{inline_math(r.answer)} (in {r.in_runs} runs, {r.solutions} solutions)" for r in recurring[:6])
        parts.append(f"**Recurring wrong answers:** {said}.")
    else:
        parts.append("No wrong answer recurs across runs.")
    if panel is not None:
        parts.append(panel.markdown)
    return "\n\n".join(parts)


def class_panel(work: ClassWork) -> tuple[str, str | None]:
    """The section's words and its map's SVG (None without solutions)."""
    panel = None
    if work.map is not None:
        owners = work.owners

        def row_name(index: int) -> str:
            attempt, own = owners[index]
            return f"{escape_text(attempt[:8])} {'greedy' if own == 0 else f'#{own}'}"

        right = work.right_answer if work.right_from == "feedback" else None
        panel = reasoning_panel(work.map, right_answer=right, reached=work.map_reached, heading=MAP_HEADING,
                                row_name=row_name, who="every run's, named by attempt id and row")
        if work.drawn < work.solutions:
            panel.markdown = panel.markdown.replace(
                MAP_HEADING, f"{MAP_HEADING}\n\nThe map draws {work.drawn} of the {work.solutions} solutions "
                "(each run's first ones, newest runs first).", 1)
    return class_markdown(work, panel), panel.svg if panel is not None else None


def class_view(app: AppResources, token: Any, attempt_id: Any) -> list[Any]:
    """The Teacher's "Same problem across the class" section for an opened trace."""
    # A trace that cannot open says why in its own header (`ui.history.refused_trace`); this
    # section only steps aside, rather than raise a second message over the same click.
    hidden = [gr.update(value="", visible=False), gr.update(value="", visible=False)]
    if app.store is None or not isinstance(attempt_id, str) or not attempt_id.strip():
        return hidden
    try:
        work = review.teacher_class(app.store, token, attempt_id.strip())
    except StorageError:
        return hidden
    if work is None:
        return hidden
    words, svg = class_panel(work)
    return [gr.update(value=words, visible=True),
            gr.update(value=svg or "", visible=svg is not None)]


__all__ = ["class_markdown", "class_panel", "class_view"]
