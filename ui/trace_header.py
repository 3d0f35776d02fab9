"""The head of a reopened attempt (History replay, Teacher trace): the problem, when, with which
model and seed, how the run ended in words (an attempt the app stopped during says so, and what
was kept), and every piece of feedback given on it (who, verdict, about what, the correct
answer, the comment).

Only drawing: the attempt and its feedback come from the log as they are. The problem, the
correct answer and the comment are people's text: through `math_markdown`, `inline_math` and
`escape_text`, never HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ui.mathtext import escape_text, inline_math, math_markdown

TARGETS = {"attempt": "the attempt", "greedy": "the greedy answer", "majority": "the majority answer",
           "reward": "the reward pick", "weighted": "the weighted vote"}
"""What a piece of feedback is about, in words."""


def interrupted_note(detail: Any) -> str:
    """For an attempt the app stopped during (status `interrupted`): what was kept of it."""
    rows = list(detail.samples)
    done = sum(1 for s in rows if s.finish_reason is not None)
    kept = (f"{done} of {len(rows)} solutions had finished; the others are kept as far as they had been written"
            if rows else "no solution had been written yet")
    return (f"<div class='warn interrupted'>Interrupted: the app stopped during this run. What it had written is "
            f"kept below: {kept}.</div>")


def feedback_line(feedback: Any) -> str:
    """One piece of feedback: who and when, the verdict and what it is about, the correct answer, the comment."""
    about = TARGETS.get(feedback.target, f"sample #{feedback.sample_index}" if feedback.sample_index is not None
                        else escape_text(str(feedback.target)))
    parts = [f"{escape_text(feedback.author)}, {feedback.created_at.strftime('%Y-%m-%d %H:%M')}"]
    if feedback.verdict:
        parts.append(f"<b>{escape_text(feedback.verdict)}</b> (about {about})")
    else:
        parts.append(f"about {about}")
    if feedback.correct_answer:
        parts.append(f"correct answer {inline_math(feedback.correct_answer)}")
    if feedback.comment:
        parts.append(f"“{escape_text(feedback.comment)}”")
    return f"<div class='feedback-line verdict-{escape_text(feedback.verdict or 'none')}'>{' · '.join(parts)}</div>"


def feedback_markdown(feedback: Sequence[Any]) -> str:
    """The feedback given on an attempt, oldest first ("" when there is none)."""
    if not feedback:
        return ""
    return "**Feedback**\n\n" + "\n".join(feedback_line(f) for f in feedback)


def trace_header(detail: Any) -> str:
    """The head of a reopened attempt (`storage.records.AttemptDetail`)."""
    seed = f", seed {detail.seed}" if detail.seed is not None else ""
    when = detail.started_at.strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"**Problem** ({when}, {escape_text(detail.model_id)}, {escape_text(detail.status)}{seed})",
             f"<div class='problem'>\n\n{math_markdown(detail.problem)}\n\n</div>"]
    if detail.status == "interrupted":
        parts.append(interrupted_note(detail))
    if feedback := feedback_markdown(detail.feedback):
        parts.append(feedback)
    return "\n\n".join(parts)


__all__ = ["TARGETS", "feedback_line", "feedback_markdown", "interrupted_note", "trace_header"]
