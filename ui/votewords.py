"""How clear a vote's win was, in words: "no majority: 8 different answers", "tie between 10 and
12 (3 votes each), broken by the answer given first (#2)".

The facts come with the vote (`judgements.answers.Standing`: computed by the Solver's vote, or
read back from the logged clusters); this module only words them, for the Maj@N box and the
checked vote's box. Answers are model text: they reach the page only through `inline_math`.
"""

from __future__ import annotations

from collections.abc import Sequence

from judgements.answers import TIE_RULE, Standing
from ui.mathtext import inline_math


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def tie_words(standing: Standing, first_sample: int | None) -> str:
    """`tie between 10 and 12 (3 votes each), broken by the answer given first (#2)`."""
    at = f" (#{first_sample})" if first_sample is not None else ""
    return (f"tie between {_and([inline_math(a) for a in standing.tied])} ({standing.top} votes each), "
            f"broken by {TIE_RULE}{at}")


def scattered_words(standing: Standing, voters: int, answer: str | None, first_sample: int | None,
                    who: str = "samples") -> str:
    """No answer has two votes: how many different answers there were among how many voters
    (only one answer: whose it was)."""
    silent = voters - standing.answered
    without = f"; {silent} without an answer" if silent > 0 else ""
    if standing.answered == 1:
        whose = f"#{first_sample}, " if first_sample is not None else ""
        one = f"({whose}{inline_math(answer)})"
        return f"only one of the {voters} {who} gave an answer {one}" if voters > 1 else f"a single vote {one}"
    return f"{standing.distinct} different answers, one vote each{without}"


def majority_box(standing: Standing | None, answer: str | None, count: int, n: int,
                 first_sample: int | None) -> tuple[str, str]:
    """The Maj@N box's answer line and detail line."""
    if standing is None or standing.kind == "majority":
        return inline_math(answer), f"{count} of {n} votes"
    if standing.kind == "tie":
        return inline_math(answer), tie_words(standing, first_sample)
    if standing.kind == "no_majority":
        return "no majority", scattered_words(standing, n, answer, first_sample)
    return "no answer", f"none of the {n} samples gave an answer"


def checked_detail(standing: Standing | None, answer: str | None, kept: int, first_sample: int | None) -> str | None:
    """The checked vote's detail when its win is not a majority among the unflagged samples
    (None: say it as a count)."""
    if standing is None or standing.kind == "majority":
        return None
    if standing.kind == "tie":
        return f"among the {kept} unflagged samples: {tie_words(standing, first_sample)}"
    if standing.kind == "no_majority":
        if kept == 1:
            whose = f"#{first_sample}, " if first_sample is not None else ""
            return f"a single unflagged sample ({whose}{inline_math(answer)})"
        return f"among the {kept} unflagged samples: {scattered_words(standing, kept, answer, first_sample)}"
    return None


__all__ = ["checked_detail", "majority_box", "scattered_words", "tie_words"]
