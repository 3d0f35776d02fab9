"""Checked work as the page draws it: a student's steps with their verdicts and reasons (the
first wrong step highlighted), and the hints given. From the JSON form that the `/check_work`
API returns and the log keeps, so a check and its replay look the same. Student and model text
only through `ui.mathtext.math_markdown`; reasons only through `escape_text`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ui.mathtext import escape_text, math_markdown

VERDICT_WORDS = {"right": "✓ right", "wrong": "✗ wrong", "unsure": "? unsure"}


def steps_view(steps: Sequence[str], verdicts: Sequence[dict[str, Any]], first_wrong: int | None) -> str:
    """`steps_markdown` from the JSON form the API returns and the log keeps."""
    parts = []
    for verdict in verdicts:
        at, word = verdict.get("step"), verdict.get("verdict")
        if not isinstance(at, int) or not 0 <= at < len(steps) or word not in VERDICT_WORDS:
            continue
        first = at == first_wrong
        classes = f"work-step {word}{' first-wrong' if first else ''}"
        head = f"Step {at + 1} · {VERDICT_WORDS[word]}" + (" · the first wrong step" if first else "")
        said = [str(r) for r in verdict.get("reasons") or []]
        shown = said if word != "right" or first else said[:1]
        reasons = "".join(f"<div class='work-reason'>{escape_text(r)}</div>" for r in shown)
        parts.append(f"<div class='{classes}' id='work-step-{at + 1}'><div class='work-head'>{head}</div>\n\n"
                     f"{math_markdown(str(steps[at]))}\n\n{reasons}</div>")
    return "\n\n".join(parts)


def hints_markdown(hints: list[str]) -> str:
    return "\n\n".join(f"<div class='hint'><b>Hint {i + 1}.</b>\n\n{math_markdown(h)}\n\n</div>" for i, h in enumerate(hints))



__all__ = ["VERDICT_WORDS", "hints_markdown", "steps_view"]
