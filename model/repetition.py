"""Detects a solution that has fallen into a loop, so generation can stop it early.

Small models repeat themselves: "The answer is \\boxed{5}. The answer is \\boxed{5}. ..." or
the same sentence over and over until the token budget runs out. Two signals:
- the last tokens are periodic: a block of `p` tokens repeated back to back, covering at
  least `max(min_span, min_repeats * p)` tokens;
- the same `\\boxed{...}` content closes three times.
Both are cheap enough to run every few tokens on every row of a 64-row batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from judgements.latex import brace_pairs

BOXED = "\\boxed{"


@dataclass(frozen=True)
class RepetitionGuard:
    """Parameters of loop detection. A guard is stateless and shared by all rows."""

    max_period: int = 256  # longest repeated block considered, in tokens
    min_repeats: int = 3  # a block must occur this many times in a row
    min_span: int = 64  # ... and the repeated region must be at least this long (digits repeat legitimately)
    same_boxed: int = 3  # identical \boxed{} contents that count as a loop
    check_every: int = 8  # tokens between checks of one row

    def tokens_loop(self, ids: list[int]) -> bool:
        """True if the tail of `ids` is one block repeated back to back."""
        n = len(ids)
        if n < self.min_span:
            return False
        window = np.asarray(ids[-min(n, self.max_period * self.min_repeats + self.min_span) :])
        last = window[-1]
        # Candidate periods: distances back to an earlier copy of the last token.
        candidates = np.nonzero(window[:-1][::-1] == last)[0] + 1
        for period in candidates:
            if period > self.max_period:
                break
            span = max(self.min_span, self.min_repeats * int(period))
            if span > len(window):
                break
            tail = window[-span:]
            if np.array_equal(tail[period:], tail[:-period]):
                return True
        return False

    def boxed_loop(self, text: str) -> bool:
        """True if the last `same_boxed` boxed answers are identical."""
        if text.count(BOXED) < self.same_boxed:
            return False
        contents = boxed_contents(text)
        tail = contents[-self.same_boxed :]
        return len(tail) == self.same_boxed and len(set(tail)) == 1

    def looping(self, ids: list[int], text: str) -> bool:
        return self.tokens_loop(ids) or self.boxed_loop(text)


def boxed_contents(text: str) -> list[str]:
    """Contents of every closed `\\boxed{...}` in `text`, braces balanced, in order."""
    pairs = brace_pairs(text)
    found: list[str] = []
    start = text.find(BOXED)
    while start != -1:
        close = pairs.get(start + len(BOXED) - 1)
        if close is None:
            break
        found.append(text[start + len(BOXED) : close].strip())
        start = text.find(BOXED, close)
    return found
