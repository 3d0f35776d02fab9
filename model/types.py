"""Plain data that flows out of the Solver: stream events and the result of a run.

Nothing here knows about torch, gradio or SQL. The solutions themselves are
`judgements.solution.Solution`s (one shape from the backend to the page to the log); the
vote, ranking and analysis of a run are the judgements package's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from judgements.ranking import Ranking
from judgements.solution import Solution, ToolCall

if TYPE_CHECKING:
    from judgements.analysis import RunAnalysis, SolutionAnalysis
    from judgements.answers import Vote


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
    the context), `seed` the seed it used (drawn when none was given). `analysis`: the step
    checker's verdicts on every solution, the checked vote and the reasoning map, computed once
    (None for a follow-up answer, or when the check failed: a note says so)."""

    problem: str
    seed: int
    max_new_tokens: int
    greedy: Solution | None
    samples: list[Solution]
    timings: Timings
    vote: Vote | None = None
    ranking: Ranking | None = None
    analysis: RunAnalysis | None = None
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
class ToolRan:
    """A row's Python cell ran (reasoning with Python); its output follows as the row's next
    `Delta`, and the call is also in the row's `Solution.tool_calls`."""

    row: int
    call: ToolCall


@dataclass(frozen=True)
class RowDone:
    """One row finished (stop token, length, repetition, cancel, error), answer extracted."""

    solution: Solution


@dataclass(frozen=True)
class RowChecked:
    """The step checker's verdicts on one finished row, as soon as they exist (the same ones
    the run's `analysis` carries at the end)."""

    analysis: SolutionAnalysis


@dataclass(frozen=True)
class RunDone:
    """The last event of every run, cancelled and failed runs included; its result carries the
    run's analysis."""

    result: RunResult


StreamEvent = Queued | Started | Delta | ToolRan | RowDone | RowChecked | RunDone

__all__ = [
    "Delta",
    "Queued",
    "RowChecked",
    "RowDone",
    "RunDone",
    "RunResult",
    "Started",
    "StreamEvent",
    "Timings",
    "ToolRan",
]
