"""A finished run as one plain JSON object, for scripts (`/solve_json`) and anyone else who
wants the result as data rather than as a page.

`run_json(result, model=..., attempt_id=...)` reads what the Solver computed once (the
solutions, the vote, the ranking, the analysis' checked vote) and computes nothing again. Its
shape:

    problem, model, seed, max_new_tokens, attempt_id (None when the log did not take it),
    status ("done" | "cancelled" | "failed"), failure (why a run failed, else None), notes,
    solutions: [{index, kind ("greedy" | "sampled"), text, answer, cluster, reward,
                 finish_reason, tokens, mean_logprob}]     greedy first, then samples 1..N
    votes: {
      majority:    {answer, count, n, tied, clusters: [{answer, count, members}]} | None
      checked:     {answer, count, kept, total, fell_back, agrees} | None
      reward_pick: {answer, index, score, label ("reward" | "confidence"), scorer} | None
      weighted:    {answer, cluster, weighting} | None
      agreement:   the picks' agreement in words | None
    }
    timings: {queued_s, time_to_first_token_s, total_s, prompt_tokens, generated_tokens, tokens_per_s}

Indices are the solutions' own (0 greedy, 1..N samples): `members`, `kept` and the reward
pick's `index` name entries of `solutions`. A cluster is a position in `majority.clusters`
(None: no answer). Numbers that JSON cannot hold (a confidence of -inf) become None.
"""

from __future__ import annotations

import math
from typing import Any

from judgements.solution import Solution
from model.types import RunResult


def _number(value: float | None) -> float | None:
    """A finite float, else None (JSON has no infinity)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def solution_json(solution: Solution) -> dict[str, Any]:
    """One solution's text, answer, cluster, reward and how it ended."""
    return {
        "index": solution.index,
        "kind": solution.kind,
        "text": solution.text,
        "answer": solution.answer,
        "cluster": solution.cluster,
        "reward": _number(solution.reward),
        "finish_reason": solution.finish_reason,
        "tokens": solution.tokens,
        "mean_logprob": _number(solution.mean_logprob),
    }


def votes_json(result: RunResult) -> dict[str, Any]:
    """Maj@N, the checked vote, the reward (or confidence) pick and the weighted vote."""
    samples = result.samples
    vote, ranking = result.vote, result.ranking
    majority = None
    if vote is not None:
        clusters = [{"answer": c.answer, "count": c.count, "members": [samples[m].index for m in c.members]}
                    for c in vote.clusters]
        majority = {"answer": vote.answer, "count": vote.count, "n": vote.total, "tied": vote.tied, "clusters": clusters}
    checked = result.analysis.checked if result.analysis is not None else None
    reward_pick = weighted = agreement = None
    if ranking is not None:
        if ranking.rm_index is not None:
            reward_pick = {"answer": ranking.rm_answer, "index": samples[ranking.rm_index].index,
                           "score": _number(ranking.rm_score), "label": ranking.label, "scorer": ranking.scorer_name}
        if ranking.weighted_answer is not None:
            weighted = {"answer": ranking.weighted_answer, "cluster": ranking.weighted_cluster,
                        "weighting": ranking.weighting}
        agreement = ranking.summary
    return {
        "majority": majority,
        "checked": checked.to_dict() if checked is not None else None,
        "reward_pick": reward_pick,
        "weighted": weighted,
        "agreement": agreement,
    }


def run_json(result: RunResult, *, model: str, attempt_id: str | None) -> dict[str, Any]:
    """The whole run as plain data (see the module docstring for the shape)."""
    t = result.timings
    return {
        "problem": result.problem,
        "model": model,
        "seed": result.seed,
        "max_new_tokens": result.max_new_tokens,
        "attempt_id": attempt_id,
        "status": "failed" if result.error else "cancelled" if result.cancelled else "done",
        "failure": result.error,
        "notes": list(result.notes),
        "solutions": [solution_json(s) for s in result.solutions],
        "votes": votes_json(result),
        "timings": {
            "queued_s": _number(t.queued_s),
            "time_to_first_token_s": _number(t.time_to_first_token_s),
            "total_s": _number(t.total_s),
            "prompt_tokens": t.prompt_tokens,
            "generated_tokens": t.generated_tokens,
            "tokens_per_s": _number(t.tokens_per_s),
        },
    }


__all__ = ["run_json", "solution_json", "votes_json"]
