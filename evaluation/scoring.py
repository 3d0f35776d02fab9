"""Judging one problem's samples: Maj@N, the checked vote, RM@N, the weighted vote and pass@N
on nested prefixes.

Every N in `nested_sizes` sees the first N samples of the same run, ranked by the app's own
`majority_vote` and `rank_solutions`, so ties break exactly as on the page. The checked vote is
Maj@N among the samples in which the step checker found no wrong claim (Maj@N when none is
left), as the page shows it: the verdicts are the ones the Solver's analysis of the run holds
(`RunResult.analysis`), read, never checked again (`judgements.analysis.checked_vote_of`); a
run without an analysis has no checked vote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from judgements.analysis import RunAnalysis, SolutionAnalysis, checked_vote_of
from judgements.answers import equivalent, majority_vote
from model.errors import ConfigError
from judgements.ranking import Score, rank_solutions
from judgements.solution import Solution


def nested_sizes(max_n: int) -> list[int]:
    """1, 2, 4, ... below `max_n`, then `max_n` itself (so 6 gives 1, 2, 4, 6)."""
    if max_n < 1:
        raise ConfigError(f"N must be at least 1; got {max_n}.")
    sizes = []
    n = 1
    while n < max_n:
        sizes.append(n)
        n *= 2
    return sizes + [max_n]


class Judge:
    """Whether an answer is equivalent to one reference; each distinct answer is judged once."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        self._verdicts: dict[str, bool] = {}

    def __call__(self, answer: str | None) -> bool:
        if answer is None or not answer.strip():
            return False
        if answer not in self._verdicts:
            self._verdicts[answer] = equivalent(answer, self.reference)
        return self._verdicts[answer]


@dataclass(frozen=True)
class Pick:
    """The answer a method chose, and whether it is right (no answer is never right)."""

    answer: str | None
    correct: bool


NO_PICK = Pick(None, False)


@dataclass(frozen=True)
class AtN:
    """Every method's choice among the first `n` samples."""

    n: int
    majority: Pick
    rm: Pick
    weighted: Pick
    passed: bool
    checked: Pick = NO_PICK


def scores_of(samples: Sequence[Solution]) -> list[Score] | None:
    """The scores the Solver attached to the samples, or None when they were not scored."""
    if not samples or any(s.reward is None for s in samples):
        return None
    return [
        Score(total=s.reward, steps=tuple(s.step_rewards) if s.step_rewards is not None else None)  # type: ignore[arg-type]
        for s in samples
    ]


def evaluate_prefixes(
    samples: Sequence[Solution],
    scores: Sequence[Score] | None,
    sizes: Sequence[int],
    judge: Judge,
    *,
    scorer_name: str,
    label: str,
    greedy_answer: str | None = None,
    analysis: RunAnalysis | None = None,
) -> list[AtN]:
    """Maj@N, RM@N, the weighted vote, pass@N and the checked vote on the first N samples, for
    each N in `sizes`.

    `scores` (one per sample, or None when nothing was scored) are sliced with the samples, so
    each prefix is ranked exactly as the app would rank a run of that many samples. `analysis`
    is the run's (the checker's verdicts on each sample); without one, no checked vote.
    """
    answers = [s.answer for s in samples]
    verdicts = None
    if analysis is not None:  # a sample the analysis did not check holds no wrong claim it knows of
        verdicts = [analysis.of(s.index) or SolutionAnalysis(s.index) for s in samples]
    outcomes = []
    for n in sizes:
        head = list(samples[:n])
        vote = majority_vote(answers[:n])
        rm = weighted = NO_PICK
        if scores is not None and head:
            ranking = rank_solutions(
                head, vote, list(scores[:n]), scorer_name=scorer_name, label=label, greedy_answer=greedy_answer
            )
            rm = Pick(ranking.rm_answer, judge(ranking.rm_answer))
            weighted = Pick(ranking.weighted_answer, judge(ranking.weighted_answer))
        checked = NO_PICK
        if verdicts is not None and head:
            answer = checked_vote_of(head, verdicts[:n], vote).answer
            checked = Pick(answer, judge(answer))
        outcomes.append(
            AtN(
                n=n,
                majority=Pick(vote.answer, judge(vote.answer)),
                rm=rm,
                weighted=weighted,
                passed=any(judge(a) for a in answers[:n]),
                checked=checked,
            )
        )
    return outcomes


def method_names(score_label: str) -> tuple[str, str]:
    """Column names of the scorer's pick and of the weighted vote: never "reward" for confidence."""
    if score_label == "reward":
        return "RM@N", "reward-weighted"
    return "Conf@N", "confidence-weighted"
