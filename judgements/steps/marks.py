"""The sentence a page shows beside a checked claim: what was read, and what it should be.

`mark_text(claim)` says, in plain words with the written LaTeX kept as LaTeX (inside `\\(...\\)`
so that the page typesets it): for a wrong claim "read as 14 × 12; that is 168, not 158"; for a
claim that would be wrong under a reading the checker is not sure of, the same and why it is not
marked; for a right one what it was read as; for one not checked, why.
"""

from __future__ import annotations

import re
from typing import Protocol


class Marked(Protocol):
    """What a sentence is made of: a checked claim's fields (`judgements.steps.checker.Claim`)."""

    text: str
    written: str
    right: str | None
    status: str
    relation: str
    reason: str
    read_as: str


_TEX = re.compile(r"[\\^_{}]")


def _tex(piece: str) -> str:
    """A written piece as the page should show it: LaTeX in `\\(...\\)`, plain text as is."""
    piece = " ".join(piece.split())
    return f"\\({piece}\\)" if _TEX.search(piece) else piece


def mark_text(claim: Marked) -> str:
    """The sentence for one claim (see the module docstring)."""
    read = f"read as {claim.read_as}" if claim.read_as else f"read as {_tex(claim.text)}"
    if claim.status == "wrong":
        return f"{read}; that is {claim.right}, not {_tex(claim.written)}"
    if claim.status == "right":
        return f"{read} {claim.relation} {_tex(claim.written)}: right"
    if claim.right is not None:
        why = claim.reason.removeprefix("not marked: ")
        return f"{read}, that would be {claim.right}, not {_tex(claim.written)}; not marked, as {why}"
    return f"not checked: {claim.reason}" if claim.reason else "not checked"


__all__ = ["Marked", "mark_text"]
