"""Plain data that flows out of the Solver: solutions, scores and rankings, stream events, runs.

Nothing here knows about torch, gradio or SQL. A `Solution` is the one shape of a solution
from the backend to the page to the log and back (`storage.records.SampleRecord` mirrors it
name for name). Rows of a run: row 0 is the greedy solution (when asked for), rows 1..N the samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from model.backend import FINISH_REASONS, GREEDY_ROW, FinishReason

if TYPE_CHECKING:
    from model.answers import Vote

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


@dataclass(frozen=True)
class Score:
    """A solution's score: `total` ranks it; `steps` are the PRM's per-step probabilities.

    `truncated` says the input did not fit the reward model's context (`docs/reward.md`).
    """

    total: float
    steps: tuple[float, ...] | None = None
    truncated: bool = False


@dataclass(frozen=True)
class Agreement:
    """Whether the picks agree. A flag is None when one of its two picks is missing."""

    greedy_majority: bool | None
    greedy_rm: bool | None
    majority_rm: bool | None
    majority_weighted: bool | None
    rm_weighted: bool | None
    summary: str

    @property
    def all_agree(self) -> bool:
        """Every pick that exists agrees with every other (and there are at least two)."""
        flags = [self.greedy_majority, self.greedy_rm, self.majority_rm, self.majority_weighted, self.rm_weighted]
        present = [f for f in flags if f is not None]
        return bool(present) and all(present)


@dataclass
class Ranking:
    """RM@N, the reward-weighted vote and their agreement with Maj@N and greedy.

    Indices (`rm_index`) are positions in the samples list; cluster numbers index
    `vote.clusters`; `weighted_scores` has one sum per cluster in that order; `weights` one
    weight per sample.
    """

    scorer_name: str
    label: str
    rm_index: int | None
    rm_answer: str | None
    rm_score: float | None
    rm_cluster: int | None
    weighted_answer: str | None
    weighted_cluster: int | None
    weighted_scores: tuple[float, ...]
    weights: tuple[float, ...]
    weighting: str
    agreement: Agreement

    @property
    def summary(self) -> str:
        return self.agreement.summary


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


StreamEvent = Queued | Started | Delta | RowDone | RunDone

__all__ = [
    "FINISH_REASONS",
    "GREEDY_ROW",
    "Agreement",
    "Delta",
    "FinishReason",
    "Queued",
    "Ranking",
    "RowDone",
    "RunDone",
    "RunResult",
    "Score",
    "Solution",
    "SolutionKind",
    "Started",
    "StreamEvent",
    "Timings",
    "kind_of_row",
]
