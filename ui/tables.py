"""The History and Teacher lists: their columns, their widths, and one row per attempt.

Fitted to the page (a 1,400 px window shows every column, headers unbroken): each column has
a width, the problem takes what is left and wraps, the attempt id (the last column: a click on
a row reads it, `ui.history.row_id`) breaks anywhere (`assets/style.css`). The Teacher list also
names the session (the first characters of its opaque key) and the feedback given. Only
drawing: the attempts come from the log as they are.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

HISTORY_HEADERS = ["started (UTC)", "problem", "greedy", "Maj@N", "RM@N", "status", "id"]
HISTORY_WIDTHS = ["13%", "41%", "8%", "9%", "8%", "8%", "13%"]
TEACHER_HEADERS = ["started (UTC)", "session", "problem", "greedy", "Maj@N", "RM@N", "feedback", "status", "id"]
TEACHER_WIDTHS = ["12%", "7%", "26%", "7%", "8%", "7%", "13%", "8%", "12%"]
PROBLEM_CHARS = 90
"""Characters of the problem a row shows (the whole problem is in the trace)."""
SESSION_CHARS = 8
"""Characters of the session key a Teacher row shows: enough to tell a class's sessions apart."""
FEEDBACK_CHARS = 60


def attempt_table(headers: list[str], widths: list[str], elem_id: str) -> gr.Dataframe:
    """A list of attempts, fitted to the page."""
    return gr.Dataframe(headers=headers, column_widths=widths, interactive=False, wrap=True, elem_id=elem_id,
                        elem_classes=["attempt-table"])


def _problem(text: str) -> str:
    problem = text.replace("\n", " ")
    return problem[:PROBLEM_CHARS] + ("…" if len(problem) > PROBLEM_CHARS else "")


def _majority(a: Any) -> str:
    return f"{a.maj_answer} ({a.maj_count}/{a.maj_n})" if a.maj_answer is not None else ""


def feedback_cell(feedback: Any) -> str:
    """The feedback given on an attempt, in a few words: each verdict (or "comment"), with the
    correct answer given; the newest last."""
    said = []
    for f in feedback:
        words = f.verdict or ("corrected" if f.correct_answer else "comment")
        if f.correct_answer:
            words += f" → {f.correct_answer}"
        if f.author == "teacher":
            words += " (teacher)"
        said.append(words)
    text = "; ".join(said)
    return text if len(text) <= FEEDBACK_CHARS else text[: FEEDBACK_CHARS - 1] + "…"


def history_rows(items: list[Any]) -> list[list[Any]]:
    """One row per attempt, in `HISTORY_HEADERS` order."""
    return [[a.started_at.strftime("%Y-%m-%d %H:%M"), _problem(a.problem), a.greedy_answer or "", _majority(a),
             a.rm_answer or "", a.status, a.id] for a in items]


def teacher_rows(items: list[Any]) -> list[list[Any]]:
    """One row per attempt, in `TEACHER_HEADERS` order."""
    return [[a.started_at.strftime("%Y-%m-%d %H:%M"), a.session[:SESSION_CHARS], _problem(a.problem),
             a.greedy_answer or "", _majority(a), a.rm_answer or "", feedback_cell(a.feedback), a.status, a.id]
            for a in items]


__all__ = ["HISTORY_HEADERS", "HISTORY_WIDTHS", "TEACHER_HEADERS", "TEACHER_WIDTHS", "attempt_table", "feedback_cell", "history_rows", "teacher_rows"]
