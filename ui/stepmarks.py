"""The step checker's verdicts on the page: a finished solution's wrong claims under its card or
under the main solution ("⚠ step 3: 14 × 12 = 158 — read as 14 × 12; that is 168, not 158"),
the card's badge, and the checked vote beside Maj@N.

The verdicts come with the run (`judgements.analysis`, computed once by the Solver, read back
from the log on replay): this module only draws them. An attempt the log holds no verdicts
for (logged before it kept them) says "not checked". Claims are model text: they reach the page only through
`inline_math` (typeset when they are a closed formula, literal text otherwise).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ui.mathtext import inline_math, math_markdown
from ui.votewords import checked_detail, majority_box

if TYPE_CHECKING:
    from judgements.analysis import CheckedVote, Claim, SolutionAnalysis
    from judgements.solution import Solution

SHOWN_SLIPS = 3
"""Wrong claims listed under one solution; the rest are counted."""

_PERCENT = re.compile(r"(?<!\\)%")
_WORD = re.compile(r"(?<![\\A-Za-z{_^])([A-Za-z]{2,})")  # not a command, not a sub/superscript


def claim_math(text: str) -> str:
    """A claim as written (`14 \\times 12 = 158`, `20% of 50 = 12`) typeset inline: a bare `%`
    (a comment to KaTeX) is escaped and words are set as text; literal text if it can't be."""
    return inline_math(_WORD.sub(r"\\text{ \1 }", _PERCENT.sub(r"\\%", text)))


NOT_CHECKED = "<span class='slip-mark unchecked'>steps not checked</span>"
"""A card's mark when the log holds no step checker's verdicts for its attempt."""

NOT_KEPT = ("Steps not checked: the log holds no step checker's verdicts for this attempt (it was logged before "
            "the app kept them, or stopped before its solutions were checked).")
"""Said once for such an attempt, under its main solution and in its map's place."""


def mark_markdown(claim: Claim) -> str:
    """A claim as written, then the checker's sentence about it (`Claim.mark()`: what it read,
    the right value, what was written), every piece of it through the page's renderer."""
    return f"{claim_math(claim.text)} — {math_markdown(' '.join(claim.mark().split()))}"


def slip_line(claim: Claim) -> str:
    """One wrong claim as a line of the page: its step, what it says, what was read, what it
    should be."""
    return f"<div class='slip'>⚠ step {claim.step + 1}: {mark_markdown(claim)}</div>"


def slips_markdown(row: Solution, check: SolutionAnalysis | None) -> str:
    """The wrong claims of a finished solution, one line each (empty when none, unfinished, or
    not checked)."""
    if not row.finished or check is None:
        return ""
    wrong = check.wrong
    if not wrong:
        return ""
    lines = [slip_line(claim) for claim in wrong[:SHOWN_SLIPS]]
    if len(wrong) > SHOWN_SLIPS:
        lines.append(f"<div class='slip'>and {len(wrong) - SHOWN_SLIPS} more wrong claims</div>")
    return "\n".join(lines)


def slip_badge(row: Solution, check: SolutionAnalysis | None, *, not_checked: bool = False) -> str:
    """A short mark for a card's summary line when its solution holds a wrong claim (or, for an
    attempt logged before the verdicts were kept, that its steps were not checked)."""
    if not row.finished or not row.text:
        return ""
    if check is None:
        return NOT_CHECKED if not_checked else ""
    steps = check.wrong_steps
    if not steps:
        return ""
    return f"<span class='slip-mark'>⚠ {len(steps)} wrong step{'s' if len(steps) != 1 else ''}</span>"


def checked_vote_markdown(checked: CheckedVote | None, samples: int, *, not_checked: bool = False) -> str:
    """The checked vote's box: Maj@N among the samples in which the step checker found no wrong
    claim (empty before the run's analysis arrives; "not checked" for an old attempt)."""
    if checked is None:
        if not not_checked:
            return ""
        answer, detail = "not checked", "the log holds no step checker's verdicts for this attempt"
    else:
        kept = len(checked.kept)
        total = checked.total or samples
        standing = checked.standing  # a tie or no majority is said so (`ui.votewords`)
        if checked.fell_back:
            detail = (f"every sample has a wrong step: Maj@{total} of all" if not kept
                      else f"no answer among the {kept} unflagged samples: Maj@{total} of all")
            if standing is not None and standing.kind in ("tie", "no_majority"):
                detail += f", {majority_box(standing, checked.answer, checked.count, total, checked.first)[1]}"
        else:
            detail = (checked_detail(standing, checked.answer, kept, checked.first)
                      or f"{checked.count} of {kept} unflagged sample{'s' if kept != 1 else ''}")
        answer = "no majority" if standing is not None and standing.kind == "no_majority" else inline_math(checked.answer)
    return (
        f"<div class='vote-box checked-vote'><div class='vote-title'>Checked vote</div>"
        f"<div class='vote-answer'>{answer}</div>"
        f"<div class='vote-detail'>{detail}</div></div>"
    )


__all__ = ["NOT_CHECKED", "NOT_KEPT", "checked_vote_markdown", "claim_math", "mark_markdown", "slip_badge", "slip_line",
           "slips_markdown"]
