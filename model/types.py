"""Plain data that flows out of the Solver: solutions, stream events, run results.

Nothing here knows about torch, gradio or SQL. A `Solution` is the one shape of a solution
from the backend to the page to the log and back: the Solver fills it as the row streams and
finishes, the UI renders it, the log stores the same fields (`storage.records.SampleRecord`
mirrors them name for name) and a reopened attempt is a `Solution` again.

Rows of a run: row 0 is the greedy solution (when asked for), rows 1..N are the N samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Union

from model.backend import FINISH_REASONS, GREEDY_ROW, FinishReason

if TYPE_CHECKING:
    from model.answers import Vote
    from model.ranking import Ranking

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
    """Everything one solve produced. `max_new_tokens` is the budget the run used (clamped to
    the context), `seed` the seed it used (drawn when none was given)."""

    problem: str
    seed: int
    max_new_tokens: int
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
    """Decoding began: the prompt's length, the rows that stream, the seed and budget used."""

    prompt_tokens: int
    rows: tuple[int, ...]
    seed: int
    max_new_tokens: int


@dataclass(frozen=True)
class Delta:
    """New text for one row. Joining a row's deltas gives its final text."""

    row: int
    text: str


@dataclass(frozen=True)
class RowDone:
    """One row finished (stop token, length, repetition, cancel, error), answer extracted."""

    solution: Solution


@dataclass(frozen=True)
class RunDone:
    """The last event of every run, cancelled and failed runs included."""

    result: RunResult


StreamEvent = Union[Queued, Started, Delta, RowDone, RunDone]

__all__ = [
    "FINISH_REASONS",
    "FinishReason",
    "GREEDY_ROW",
    "Solution",
    "SolutionKind",
    "kind_of_row",
    "Timings",
    "RunResult",
    "Queued",
    "Started",
    "Delta",
    "RowDone",
    "RunDone",
    "StreamEvent",
]
