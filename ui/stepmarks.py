"""The step checker on the page: a finished solution's wrong claims under its card or under the
main solution ("⚠ step 3: 14 × 12 = 158, should be 168"), and the checked vote beside Maj@N.

`judgements.steps.checker.check_solution` is pure and bounded (under a millisecond for the bundled model's
solutions); a page is re-rendered several times a second while a run streams, so each text is
checked once and remembered (`solution_check`). Only finished solutions are checked: a half
written claim is not a slip. Claims are model text: they reach the page only through
`inline_math` (typeset when they are a closed formula, literal text otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from judgements.steps.checker import CheckedVote, Claim, SolutionCheck, check_solution, checked_vote
from judgements.solution import Solution
from ui.mathtext import inline_math

SHOWN_SLIPS = 3
"""Wrong claims listed under one solution; the rest are counted."""

_PERCENT = re.compile(r"(?<!\\)%")
_WORD = re.compile(r"(?<![\\A-Za-z{_^])([A-Za-z]{2,})")  # not a command, not a sub/superscript


def claim_math(text: str) -> str:
    """A claim as written (`14 \\times 12 = 158`, `20% of 50 = 12`) typeset inline: a bare `%`
    (a comment to KaTeX) is escaped and words are set as text; literal text if it can't be."""
    return inline_math(_WORD.sub(r"\\text{ \1 }", _PERCENT.sub(r"\\%", text)))


@lru_cache(maxsize=1024)
def solution_check(text: str) -> SolutionCheck:
    """`check_solution(text)`, remembered: the page asks again at every update."""
    return check_solution(text)


def slip_line(claim: Claim) -> str:
    """One wrong claim as a line of the page: its step, what it says, what it should say."""
    right = inline_math(claim.right) if claim.right else "something else"
    return f"<div class='slip'>⚠ step {claim.step + 1}: {claim_math(claim.text)} should be {right}</div>"


def slips_markdown(row: Solution) -> str:
    """The wrong claims of a finished solution, one line each (empty when none or unfinished)."""
    if not row.finished or not row.text:
        return ""
    wrong = solution_check(row.text).wrong
    if not wrong:
        return ""
    lines = [slip_line(claim) for claim in wrong[:SHOWN_SLIPS]]
    if len(wrong) > SHOWN_SLIPS:
        lines.append(f"<div class='slip'>and {len(wrong) - SHOWN_SLIPS} more wrong claims</div>")
    return "\n".join(lines)


def slip_badge(row: Solution) -> str:
    """A short mark for a card's summary line when its solution holds a wrong claim."""
    if not row.finished or not row.text:
        return ""
    steps = solution_check(row.text).wrong_steps
    if not steps:
        return ""
    return f"<span class='slip-mark'>⚠ {len(steps)} wrong step{'s' if len(steps) != 1 else ''}</span>"


def checked_vote_of(samples: Sequence[Solution]) -> CheckedVote | None:
    """The checked vote of finished samples (None while any is still writing, or with none)."""
    if not samples or not all(s.finished for s in samples):
        return None
    return checked_vote(samples, [solution_check(s.text) for s in samples])


__all__ = ["checked_vote_of", "claim_math", "slip_badge", "slip_line", "slips_markdown", "solution_check"]
