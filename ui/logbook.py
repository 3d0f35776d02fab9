"""The bridge between the model's results and the session log's records, both ways.

`storage/` knows nothing of the model layer and the model layer nothing of SQL; the UI turns a
`RunResult` into `AttemptOutcome` + `SampleRecord`s when a solve ends, and a stored
`AttemptDetail` back into a `RunView` when a person reopens it.
"""

from __future__ import annotations

import math
from typing import Sequence

from model.config import SamplingParams
from model.loading import ModelInfo
from model.types import RunResult, Solution
from storage.records import AttemptDetail, AttemptOutcome, AttemptStart, AttemptTimings, SampleRecord
from ui.views import RowView, RunView, VoteView


def attempt_start(session_id: str, problem: str, info: ModelInfo, params: SamplingParams) -> AttemptStart:
    return AttemptStart(
        session_id=session_id,
        problem=problem,
        model_id=info.name,
        precision=info.precision,
        device=info.device,
        params={
            "n": params.n,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_new_tokens": params.max_new_tokens,
            "seed": params.seed,
            "include_greedy": params.include_greedy,
            "prompt_family": info.family,
        },
    )


def sample_records(solutions: Sequence[Solution]) -> list[SampleRecord]:
    return [
        SampleRecord(
            index=s.index,
            kind=s.kind,
            text=s.text,
            answer=s.answer,
            cluster=s.cluster,
            reward=s.reward,
            step_rewards=s.step_rewards,
            tokens=s.token_count,
            finish_reason=s.finish_reason,
            mean_logprob=s.mean_logprob,
        )
        for s in solutions
    ]


def outcome_of(result: RunResult) -> AttemptOutcome:
    """How the run ended and what it concluded, as the log stores it."""
    status = "error" if result.error else ("cancelled" if result.cancelled else "done")
    t = result.timings
    vote, ranking = result.vote, result.ranking
    return AttemptOutcome(
        status=status,
        timings=AttemptTimings(
            queued_s=t.queued_s,
            ttft_s=t.time_to_first_token_s,
            total_s=t.total_s,
            prompt_tokens=t.prompt_tokens,
            generated_tokens=t.generated_tokens,
            tokens_per_s=t.tokens_per_s,
        ),
        greedy_answer=result.greedy.answer if result.greedy else None,
        maj_answer=vote.answer if vote else None,
        maj_count=vote.count if vote else None,
        n=vote.total if vote else None,
        rm_answer=ranking.rm_answer if ranking else None,
        rm_score=ranking.rm_score if ranking else None,
        rm_label=ranking.label if ranking else None,
        weighted_answer=ranking.weighted_answer if ranking else None,
        agreement=ranking.agreement.summary if ranking else None,
        all_agree=ranking.agreement.all_agree if ranking else None,
        error=result.error,
    )


def cancelled_outcome(error: str | None = None) -> AttemptOutcome:
    """For a solve whose page went away before the engine's result arrived."""
    return AttemptOutcome(status="error" if error else "cancelled", error=error)


def run_view_from_detail(detail: AttemptDetail) -> RunView:
    """A stored attempt as the Solve tab would have shown it when it finished."""
    rows = {
        s.index: RowView(
            index=s.index,
            kind=s.kind,
            text=s.text,
            finished=True,
            answer=s.answer,
            cluster=s.cluster,
            reward=s.reward,
            finish_reason=s.finish_reason,
            tokens=s.tokens or 0,
            step_rewards=list(s.step_rewards) if s.step_rewards else None,
            mean_logprob=s.mean_logprob,
        )
        for s in detail.samples
    }
    view = RunView(rows=rows, finished=True, cancelled=detail.status == "cancelled", error=detail.error)
    samples = view.samples
    if samples:
        view.vote = _stored_vote(detail, samples)
    return view


def _stored_vote(detail: AttemptDetail, samples: list[RowView]) -> VoteView:
    clusters = sorted({r.cluster for r in samples if r.cluster is not None})
    labels = [next(r.answer or "" for r in samples if r.cluster == c) for c in clusters]
    counts = [sum(1 for r in samples if r.cluster == c) for c in clusters]
    rm_row = None
    if detail.rm_label and detail.rm_score is not None:
        rm_row = next((r for r in samples if r.reward is not None and math.isclose(r.reward, detail.rm_score, rel_tol=1e-9, abs_tol=1e-12)), None)
    shares = _weighted_shares(samples, clusters, detail.rm_label)
    return VoteView(
        n=detail.maj_n or len(samples),
        labels=labels,
        counts=counts,
        no_answer=sum(1 for r in samples if r.cluster is None),
        maj_answer=detail.maj_answer,
        maj_count=detail.maj_count or 0,
        greedy_answer=detail.greedy_answer,
        rm_answer=detail.rm_answer,
        rm_score=detail.rm_score,
        rm_label=detail.rm_label,
        rm_index=rm_row.index if rm_row else None,
        rm_cluster=clusters.index(rm_row.cluster) if rm_row is not None and rm_row.cluster in clusters else None,
        scorer_name=None,
        weighted_answer=detail.weighted_answer,
        weighted_shares=shares,
        agreement=detail.agreement,
        all_agree=detail.all_agree,
    )


def _weighted_shares(samples: list[RowView], clusters: list[int], label: str | None) -> list[float] | None:
    """Per-cluster share of the weight, recomputed from the stored rewards as the ranking did."""
    if label is None or not clusters or any(r.reward is None for r in samples):
        return None
    from model.reward import WEIGHTINGS, Score, infer_weighting

    scores = [Score(total=float(r.reward)) for r in samples]  # type: ignore[arg-type]
    weights = WEIGHTINGS[infer_weighting(label, scores)]([s.total for s in scores])
    sums = [sum(w for w, r in zip(weights, samples) if r.cluster == c) for c in clusters]
    total = sum(sums)
    return [s / total for s in sums] if total > 0 else None
