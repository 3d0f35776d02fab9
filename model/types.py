"""Plain data that flows out of the model layer: solutions, stream events, run results.

Nothing here knows about torch, gradio or SQL; the UI renders these, the storage layer is fed
from them by the UI, the tests assert on them.

Rows of a run: row 0 is the greedy solution (when asked for), rows 1..N are the N samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Union

if TYPE_CHECKING:
    from model.answers import Vote
    from model.reward import Ranking

FinishReason = Literal["stop", "length", "repetition", "cancelled", "error"]
FINISH_REASONS: tuple[str, ...] = ("stop", "length", "repetition", "cancelled", "error")

GREEDY_ROW = 0


@dataclass
class Solution:
    """One finished solution: greedy (row 0) or sampled (rows 1..N)."""

    index: int
    kind: Literal["greedy", "sampled"]
    text: str
    token_count: int
    finish_reason: FinishReason
    mean_logprob: float | None = None
    answer: str | None = None
    cluster: int | None = None
    reward: float | None = None
    step_rewards: list[float] | None = None


@dataclass(frozen=True)
class Timings:
    """Wall-clock figures of one run, in seconds and tokens per second."""

    queued_s: float
    time_to_first_token_s: float | None
    total_s: float
    prompt_tokens: int
    generated_tokens: int
    tokens_per_s: float
    tokens_per_s_per_stream: float


@dataclass
class RunResult:
    """Everything one solve produced."""

    problem: str
    seed: int
    greedy: Solution | None
    samples: list[Solution]
    timings: Timings
    vote: Vote | None = None
    ranking: Ranking | None = None
    cancelled: bool = False
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def solutions(self) -> list[Solution]:
        """Greedy first (if any), then the samples in order."""
        return ([self.greedy] if self.greedy is not None else []) + list(self.samples)


@dataclass(frozen=True)
class Queued:
    """The request waits behind `ahead` others."""

    ahead: int


@dataclass(frozen=True)
class Started:
    """Decoding began: the prompt's length and how many rows stream."""

    prompt_tokens: int
    rows: tuple[int, ...]
    seed: int


@dataclass(frozen=True)
class Delta:
    """New text for one row. Joining a row's deltas gives its final text."""

    row: int
    text: str


@dataclass(frozen=True)
class RowDone:
    """One row finished (stop token, length, repetition, cancel)."""

    solution: Solution


@dataclass(frozen=True)
class RunDone:
    """The last event of every run, cancelled and failed runs included."""

    result: RunResult


StreamEvent = Union[Queued, Started, Delta, RowDone, RunDone]
