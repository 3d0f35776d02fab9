"""A hint must not give the answer away: find a known answer in a hint's text, and cut it out.

`leaks(text, answers)` is True when the hint states any of `answers` (the answers the model's
sampled solutions reached): as the hint's extracted answer (`judgements.answers.extract_answer`:
a box, "the answer is ...", the last number), as any number or formula it writes, or as the
right side of any `=` in it, each compared with `equivalent`. It errs on the side of cutting:
a hint that says "multiply by 2" when an answer is 2 is cut too.

`scrub_hint(text, answers)` keeps the sentences that do not leak (None when too little is left,
so the caller draws another hint or falls back to `fallback_hint`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from judgements.answers import equivalent, extract_answer
from judgements.work_judges import numbers_in

MIN_HINT_CHARS = 20
"""A scrubbed hint shorter than this says nothing: draw another."""

MAX_HINT_CHARS = 600
"""A hint is cut to this many characters (at a sentence end when it can be)."""

_FORMULA = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]|\$\$(.+?)\$\$|\$([^$]+?)\$", re.S)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_RIGHT_SIDE = re.compile(r"=\s*([^=,;:\n]+)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")

FALLBACK_HINTS = (
    "Read the problem again: write down what it gives you and what it asks for, then find one quantity you can "
    "work out from the given numbers alone.",
    "Take the next sentence of the problem on its own: which quantity does it change, and which operation "
    "(add, subtract, multiply, divide) does that change need?",
    "Write the next calculation as an expression with the numbers you already have, then evaluate it slowly and "
    "check it by estimating.",
)
"""Hints that cannot leak an answer, one per level, for when every drawn hint did."""


def candidates(text: str) -> list[str]:
    """Everything in `text` that could state an answer."""
    found = [extract_answer(text) or ""]
    found += sorted(numbers_in(text))
    for match in _FORMULA.finditer(text):
        body = next(g for g in match.groups() if g is not None)
        found.append(body)
        found += [side.strip() for side in _RIGHT_SIDE.findall(body)]
    found += [side.strip() for side in _RIGHT_SIDE.findall(text)]
    return [c for c in dict.fromkeys(c.strip() for c in found) if c and len(c) <= 200]


def leaks(text: str, answers: Sequence[str | None]) -> bool:
    """Whether the hint states one of the answers (see the module docstring)."""
    known = [a for a in answers if a]
    if not known or not text.strip():
        return False
    numbers = numbers_in(text)
    if any(answer.strip().lstrip("-") in numbers for answer in known):
        return True  # a bare number answer written as such: no need to ask sympy
    return any(equivalent(c, a, timeout_s=0.5) for c in candidates(text) for a in known)


def scrub_hint(text: str, answers: Sequence[str | None]) -> str | None:
    """The hint without its leaking sentences and boxes, or None when too little is left."""
    text = (text or "").strip()[:MAX_HINT_CHARS * 2]
    kept = []
    for sentence in _SENTENCE.split(text):
        sentence = sentence.strip()
        if not sentence or _BOXED.search(sentence) or "answer is" in sentence.lower():
            continue
        if leaks(sentence, answers):
            continue
        kept.append(sentence)
    hint = " ".join(kept).strip()
    if len(hint) > MAX_HINT_CHARS:
        hint = hint[:MAX_HINT_CHARS].rsplit(" ", 1)[0] + " …"
    if len(hint) < MIN_HINT_CHARS or leaks(hint, answers):
        return None
    return hint


def fallback_hint(level: int) -> str:
    """A hint that states no answer, for level `level` (0-based; past the last, the last)."""
    return FALLBACK_HINTS[min(max(level, 0), len(FALLBACK_HINTS) - 1)]


__all__ = ["FALLBACK_HINTS", "MAX_HINT_CHARS", "MIN_HINT_CHARS", "candidates", "fallback_hint", "leaks", "scrub_hint"]
