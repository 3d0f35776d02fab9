"""One solution, the shape it keeps from the decoder to the page and the log: `Solution`.

Rows of a run: row 0 is the greedy solution (when asked for), rows 1..N the samples. A row
ends for one of `FINISH_REASONS`. Nothing here knows about torch, gradio or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FinishReason = Literal["stop", "length", "repetition", "cancelled", "error"]
FINISH_REASONS: tuple[str, ...] = ("stop", "length", "repetition", "cancelled", "error")

GREEDY_ROW = 0

SolutionKind = Literal["greedy", "sampled"]


@dataclass
class Solution:
    """One solution: greedy (row 0) or sampled (rows 1..N).

    While the row streams, `finish_reason` is None and `text` grows; when it finishes the
    Solver sets the reason, the token count, the mean log-probability and the extracted
    answer; after the vote `cluster` (position in `Vote.clusters`, None: no answer); after the
    ranking `reward`, `step_rewards` (a process reward model's) and `weight` (the sample's
    weight in the reward-weighted vote).
    """

    index: int
    kind: SolutionKind
    text: str = ""
    tokens: int = 0
    finish_reason: FinishReason | None = None
    mean_logprob: float | None = None
    answer: str | None = None
    cluster: int | None = None
    reward: float | None = None
    step_rewards: list[float] | None = None
    weight: float | None = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None


def kind_of_row(row: int) -> SolutionKind:
    return "greedy" if row == GREEDY_ROW else "sampled"
