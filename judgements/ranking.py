"""Ranking of sampled solutions without torch: RM@N, the reward-weighted vote, agreement.

`RewardScorer` is the protocol every scorer follows (the fallback `ConfidenceScorer` is here;
the checkpoint scorers are in `model.reward`, which needs torch). `rank_solutions` turns one
run's `Score`s into a `Ranking` (plain data, defined here). The rules: README, "How answers
are judged", and `docs/reward.md`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from judgements.solution import Solution

CONFIDENCE_NAME = "policy log-probability"


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


@runtime_checkable
class RewardScorer(Protocol):
    """Scores solutions to one problem. `label` is "reward" or "confidence"."""

    name: str
    label: str

    def score(self, problem: str, solutions: Sequence[Solution]) -> list[Score]: ...


class ConfidenceScorer:
    """The fallback: the policy's mean token log-probability. Confidence, not a reward.

    A solution without a log-probability (no token generated) gets -inf and never wins.
    """

    kind = "logprob"
    name = CONFIDENCE_NAME
    label = "confidence"
    precision: str | None = None
    device: str | None = None
    memory_bytes = 0

    def score(self, problem: str, solutions: Sequence[Solution]) -> list[Score]:
        return [
            Score(total=s.mean_logprob if s.mean_logprob is not None else float("-inf")) for s in solutions
        ]


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def softmax_weights(totals: Sequence[float]) -> list[float]:
    """exp(r - max r) / sum over the finite totals; non-finite ones weigh 0."""
    finite = [t for t in totals if _finite(t)]
    if not finite:
        return [0.0] * len(totals)
    top = max(finite)
    raw = [math.exp(t - top) if _finite(t) else 0.0 for t in totals]
    norm = math.fsum(raw)
    return [r / norm for r in raw]


def probability_weights(totals: Sequence[float]) -> list[float]:
    """Totals that are already probabilities (PRM), clamped to [0, 1]; non-finite weigh 0."""
    return [min(max(t, 0.0), 1.0) if _finite(t) else 0.0 for t in totals]


def exp_weights(totals: Sequence[float]) -> list[float]:
    """exp(mean log-prob): the geometric-mean token probability; non-finite weigh 0."""
    return [math.exp(min(t, 0.0)) if _finite(t) else 0.0 for t in totals]


WEIGHTINGS: Mapping[str, Callable[[Sequence[float]], list[float]]] = {
    "softmax": softmax_weights,
    "probability": probability_weights,
    "exp": exp_weights,
}


def infer_weighting(label: str, scores: Sequence[Score]) -> str:
    """`exp` for confidence; `probability` when every score has steps (a PRM); else `softmax`."""
    if label == "confidence":
        return "exp"
    if scores and all(s.steps is not None for s in scores):
        return "probability"
    return "softmax"


def rank_by_reward(totals: Sequence[float]) -> int | None:
    """Index of the highest finite total; ties to the lowest index; None if none is finite."""
    best: int | None = None
    for i, total in enumerate(totals):
        if _finite(total) and (best is None or total > totals[best]):
            best = i
    return best


def weighted_vote(clusters: Sequence[Any], weights: Sequence[float]) -> tuple[int | None, tuple[float, ...]]:
    """(winning cluster, per-cluster weight sums). Near-ties go to the earlier cluster."""
    sums = tuple(math.fsum(weights[m] for m in c.members) for c in clusters)
    if not sums:
        return None, sums
    top = max(sums)
    tolerance = 1e-9 * max(1.0, abs(top))
    return next(i for i, s in enumerate(sums) if s >= top - tolerance), sums


def rank_solutions(
    samples: Sequence[Solution],
    vote: Any,
    scores: Sequence[Score],
    *,
    scorer_name: str,
    label: str,
    greedy_answer: str | None = None,
    weighting: str | None = None,
    same_answer: Callable[[str, str], bool] | None = None,
) -> Ranking:
    """Rank the N samples: RM@N, the weighted vote over `vote.clusters`, and agreement.

    `vote` is the Maj@N vote over these samples (cluster members index `samples`). `weighting`
    defaults to `infer_weighting(label, scores)`. The greedy answer is placed in the first
    cluster whose answer it is equivalent to (`same_answer`, default
    `judgements.answers.equivalent`), so all the flags compare clusters and stay consistent.
    """
    if len(scores) != len(samples):
        raise ValueError(f"{len(scores)} scores for {len(samples)} samples; score every sample once.")
    weighting = weighting or infer_weighting(label, scores)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"Unknown weighting {weighting!r}; known: {', '.join(WEIGHTINGS)}.")
    clusters = tuple(vote.clusters) if vote is not None else ()
    totals = [s.total for s in scores]
    weights = WEIGHTINGS[weighting](totals)
    cluster_of = {m: c for c, cluster in enumerate(clusters) for m in cluster.members}

    rm_index = rank_by_reward(totals)
    rm_cluster = cluster_of.get(rm_index) if rm_index is not None else None
    if rm_cluster is not None:
        rm_answer: str | None = clusters[rm_cluster].answer
    else:
        rm_answer = samples[rm_index].answer if rm_index is not None else None
    weighted_cluster, sums = weighted_vote(clusters, weights)

    greedy_cluster = _greedy_cluster(greedy_answer, clusters, same_answer)
    agreement = _agreement(
        label,
        greedy=_pick(greedy_answer, greedy_cluster, "greedy"),
        majority=0 if clusters else None,
        rm=rm_cluster if rm_cluster is not None else _pick(rm_answer, None, "rm"),
        weighted=weighted_cluster,
        weighted_answer=clusters[weighted_cluster].answer if weighted_cluster is not None else None,
    )
    return Ranking(
        scorer_name=scorer_name,
        label=label,
        rm_index=rm_index,
        rm_answer=rm_answer,
        rm_score=totals[rm_index] if rm_index is not None else None,
        rm_cluster=rm_cluster,
        weighted_answer=clusters[weighted_cluster].answer if weighted_cluster is not None else None,
        weighted_cluster=weighted_cluster,
        weighted_scores=sums,
        weights=tuple(weights),
        weighting=weighting,
        agreement=agreement,
    )


def _greedy_cluster(
    greedy_answer: str | None, clusters: Sequence[Any], same_answer: Callable[[str, str], bool] | None
) -> int | None:
    if greedy_answer is None or not clusters:
        return None
    if same_answer is None:
        from judgements.answers import equivalent as same_answer
    return next((c for c, cluster in enumerate(clusters) if same_answer(greedy_answer, cluster.answer)), None)


def _pick(answer: str | None, cluster: int | None, who: str) -> int | str | None:
    """A pick's identity: its cluster, a token of its own when its answer is in no cluster,
    or None when it has no answer."""
    if cluster is not None:
        return cluster
    return None if answer is None else f"outside:{who}"


def _agreement(
    label: str,
    *,
    greedy: int | str | None,
    majority: int | None,
    rm: int | str | None,
    weighted: int | None,
    weighted_answer: str | None,
) -> Agreement:
    """Flags and a one-line summary; picks are compared by identity (see `_pick`)."""

    def same(a: int | str | None, b: int | str | None) -> bool | None:
        return None if a is None or b is None else a == b

    picks = [("greedy", greedy), ("majority", majority), (f"{label} pick", rm)]
    present = [(name, key) for name, key in picks if key is not None]
    groups: dict[int | str, list[str]] = {}
    for name, key in present:
        groups.setdefault(key, []).append(name)
    names = [name for name, _ in present]
    if not present:
        parts = ["no answer to compare"]
    elif len(present) == 1:
        parts = [f"only the {names[0]} has an answer"]
    elif len(groups) == 1:
        parts = [f"{_join(names)} agree"]
    elif len(groups) == len(present):
        parts = [f"{_join(names)} {'all ' if len(names) > 2 else ''}differ"]
    else:
        agreeing = next(g for g in groups.values() if len(g) > 1)
        (odd,) = [g[0] for g in groups.values() if len(g) == 1]
        parts = [f"{_join(agreeing)} agree; {odd} differs"]
    parts += [f"no {name} answer" for name, key in picks if key is None and present]
    if weighted is not None and majority is not None and weighted != majority:
        parts.append(f"the {label}-weighted vote favours {weighted_answer}")
    return Agreement(
        greedy_majority=same(greedy, majority),
        greedy_rm=same(greedy, rm),
        majority_rm=same(majority, rm),
        majority_weighted=same(majority, weighted),
        rm_weighted=same(rm, weighted),
        summary="; ".join(parts),
    )


def _join(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"

