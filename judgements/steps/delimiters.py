"""Where a step's text is mathematics, and which `$` signs are money (for `judgements.steps.tokens`).

Real solutions write `$` for two things: a math delimiter (`$14 \\times 12 = 168$`) and a
currency sign (`20% of $100,000 = 0.20 \\times $100,000 = $20,000`). A `$` is read as a
delimiter only when it pairs by Pandoc's rule: an opening `$` has a non-space character right
after it, its closing `$` has a non-space character right before it and no digit right after
it. Every other `$` is money. `\\$` is always money.

Delimiters nest as LaTeX nests them: `\\[ ... \\]`, `\\( ... \\)`, `$$ ... $$` and the math
environments (`align*`, `cases`, ...) open math mode; a `$` inside math mode (as in
`\\[$454-35$ = 421\\]`) changes nothing, and `\\end{cases}` inside `\\[ ... \\]` does not leave
math. `math_map(text)` gives, for every delimiter and every `$`, what it is (`Mark`), and for
any position whether it is inside math (`MathMap.inside`).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_ENV = re.compile(r"\\(begin|end)\s*\{([A-Za-z]+\*?)\}")
MATH_ENVIRONMENTS = frozenset(
    {
        "align", "align*", "aligned", "equation", "equation*", "gather", "gather*", "gathered",
        "eqnarray", "eqnarray*", "multline", "multline*", "flalign", "flalign*", "alignat", "alignat*",
        "split", "cases", "dcases", "array", "matrix", "pmatrix", "bmatrix", "vmatrix", "Vmatrix",
        "Bmatrix", "smallmatrix", "displaymath", "math",
    }
)

# What a mark is: the start or end of math, a `$` that is money, or one that changes nothing.
OPEN, CLOSE, MONEY, NESTED = "open", "close", "money", "nested"


@dataclass(frozen=True)
class MathMap:
    """The math spans of a text, `[start, end)` each, in order; `marks` the role of each
    delimiter and `$`, by index."""

    spans: tuple[tuple[int, int], ...]
    marks: dict[int, str]

    def inside(self, i: int) -> bool:
        """Whether position `i` lies inside math (delimiters themselves count as inside)."""
        k = bisect.bisect_right(self.spans, (i, float("inf"))) - 1
        return k >= 0 and self.spans[k][0] <= i < self.spans[k][1]


def _can_open(text: str, i: int, width: int) -> bool:
    after = text[i + width:i + width + 1]
    return after != "" and not after.isspace()


def _can_close(text: str, j: int, width: int) -> bool:
    before = text[j - 1:j] if j > 0 else ""
    after = text[j + width:j + width + 1]
    return before != "" and not before.isspace() and not after.isdigit()


def _closing_dollar(text: str, i: int, width: int) -> int | None:
    """Where the `$` (or `$$`) opened at `i` closes by Pandoc's rule, or None (it is money)."""
    j = i + width
    while True:
        j = text.find("$", j)
        if j < 0:
            return None
        if j > 0 and text[j - 1] == "\\":  # `\$` inside: money, keep looking
            j += 1
            continue
        if width == 2:
            return j if text.startswith("$$", j) else None
        if text.startswith("$$", j):
            return None
        if re.search(r"\n\s*\n", text[i:j]):  # math does not run across a paragraph
            return None
        return j if _can_close(text, j, 1) else None


def math_map(text: str) -> MathMap:
    """The math spans and the role of every delimiter and `$` in `text` (see the module doc)."""
    spans: list[tuple[int, int]] = []
    marks: dict[int, str] = {}
    stack: list[tuple[str, int]] = []  # (closer, where the span opened)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            nxt = text[i + 1:i + 2]
            if nxt in ("(", "["):
                if not stack:
                    marks[i] = OPEN
                stack.append(("\\)" if nxt == "(" else "\\]", i))
                i += 2
                continue
            if nxt in (")", "]"):
                i = _close(text, i, "\\" + nxt, stack, spans, marks)
                continue
            if nxt == "$":
                marks[i] = MONEY
                i += 2
                continue
            env = _ENV.match(text, i)
            if env and env.group(2) in MATH_ENVIRONMENTS:
                if env.group(1) == "begin":
                    if not stack:
                        marks[i] = OPEN
                    stack.append((f"\\end{{{env.group(2)}}}", i))
                else:
                    _close(text, i, f"\\end{{{env.group(2)}}}", stack, spans, marks)
                i = env.end()
                continue
            i += 2
            continue
        if c == "$":
            width = 2 if text.startswith("$$", i) else 1
            if stack:
                if stack[-1][0] == "$" and width == 2:  # `$a$$b$`: a close, then an open
                    width = 1
                if stack[-1][0] == "$" * width:
                    i = _close(text, i, "$" * width, stack, spans, marks)
                else:
                    marks[i] = NESTED
                    i += width
                continue
            end = _closing_dollar(text, i, width) if _can_open(text, i, width) or width == 2 else None
            if end is None:
                marks[i] = MONEY
                i += 1
                continue
            marks[i] = OPEN
            stack.append(("$" * width, i))
            i += width
            continue
        i += 1
    if stack:  # never closed: math to the end (a display still streaming, or cut off)
        spans.append((stack[0][1], n))
    return MathMap(tuple(spans), marks)


def _close(text: str, i: int, closer: str, stack: list[tuple[str, int]], spans: list, marks: dict) -> int:
    """Close the innermost span that `closer` ends (a stray closer is skipped); the new index."""
    width = len(closer) if not closer.startswith("\\end") else len(_ENV.match(text, i).group())  # type: ignore[union-attr]
    for depth in range(len(stack) - 1, -1, -1):
        if stack[depth][0] == closer:
            start = stack[depth][1]
            del stack[depth:]
            if not stack:
                marks[i] = CLOSE
                spans.append((start, i + width))
            return i + width
    if closer.startswith("$"):
        marks[i] = NESTED
    return i + width


__all__ = ["CLOSE", "MATH_ENVIRONMENTS", "MONEY", "NESTED", "OPEN", "MathMap", "math_map"]
