"""The bridge between the Solver's results and the session log's records, both ways.

`storage/` knows nothing of the model layer and the model layer nothing of SQL. One solution
shape, `judgements.solution.Solution`, runs from the decoder to the page and the log: the log's
records are built from it and the run's analysis (`outcome_of` here for the attempt;
`storage.records.sample_records` for its solutions), the page's views from the `RunResult`
(`ui.views`) or from the stored attempt (`run_view_from_replay`, its RM pick, clusters and
weights restored by index), never from each other.
"""

from __future__ import annotations

from judgements.answers import Standing, shown_answer
from judgements.solution import Solution
from model.backends.protocol import BackendInfo
from model.params import SamplingParams
from model.solver import PreparedRun
from model.types import RunResult
from storage.records import AttemptDetail, AttemptOutcome, AttemptStart, AttemptTimings, analysis_values
from storage.review import Replay
from ui.views import RunView, VoteView, weight_shares


def attempt_start(session_id: str, run: PreparedRun, info: BackendInfo) -> AttemptStart:
    """The log's record of a solve as it starts: the budget and the seed it really uses."""
    return _start(session_id, run.problem, run.params, info, max_new_tokens=run.max_new_tokens, seed=run.seed)


def unreachable_start(session_id: str, problem: str, params: SamplingParams, info: BackendInfo) -> AttemptStart:
    """The start of a solve whose model could not be reached: the settings as asked."""
    return _start(session_id, problem, params, info, max_new_tokens=params.max_new_tokens, seed=params.seed)


def _start(
    session_id: str, problem: str, params: SamplingParams, info: BackendInfo, *, max_new_tokens: int, seed: int | None
) -> AttemptStart:
    """`params` as asked; `max_new_tokens` and `seed` as used (the budget asked is kept when clamped)."""
    values = {
        "n": params.n,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_new_tokens": max_new_tokens,
        "seed": seed,
        "include_greedy": params.include_greedy,
        "prompt_family": info.family,
    }
    if max_new_tokens != params.max_new_tokens:
        values["max_new_tokens_requested"] = params.max_new_tokens
    return AttemptStart(
        session_id=session_id,
        problem=problem,
        model_id=info.model,
        precision=info.precision,
        device=info.device[:32],
        params=values,
        backend=info.kind,
        server_url=info.server,
    )


def outcome_of(result: RunResult) -> AttemptOutcome:
    """How the run ended and what it concluded, as the log stores it: the vote, the ranking and
    the run's analysis, from the result itself."""
    status = "error" if result.error else ("cancelled" if result.cancelled else "done")
    t = result.timings
    verdict: dict[str, object] = {}
    if result.vote is not None:
        verdict.update(n=result.vote.total, maj_answer=result.vote.answer, maj_count=result.vote.count)
    ranking = result.ranking
    if ranking is not None:
        verdict.update(
            rm_answer=ranking.rm_answer,
            rm_score=ranking.rm_score,
            rm_label=ranking.label,
            rm_index=result.samples[ranking.rm_index].index if ranking.rm_index is not None else None,
            scorer=ranking.scorer_name,
            weighted_answer=ranking.weighted_answer,
            agreement=ranking.agreement.summary,
            all_agree=ranking.agreement.all_agree,
        )
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
        error=result.error,
        **verdict,  # type: ignore[arg-type]
        **analysis_values(result.analysis),
    )


def cancelled_outcome(error: str | None = None) -> AttemptOutcome:
    """For a solve whose page went away (or whose model could not be reached) before a result."""
    return AttemptOutcome(status="error" if error else "cancelled", error=error)


def run_view_from_replay(replay: Replay) -> RunView:
    """A stored attempt as the Solve tab showed it when it finished, with its logged analysis
    (its map measured against feedback's right answer), or "not checked" without one."""
    detail = replay.detail
    rows = {s.index: s.solution() for s in detail.samples}
    view = RunView(rows=rows, finished=True, cancelled=detail.status == "cancelled", error=detail.error)
    if any(s.cluster is not None for s in view.samples) or (view.samples and detail.maj_n is not None):
        view.vote = vote_view_from_detail(detail, view.samples, replay.standing, replay.first)  # none when the app stopped before the vote
    view.take_analysis(replay.analysis)  # with the checked vote's standing (`storage.review`)
    view.map, view.right_answer, view.reached = replay.map, replay.right_answer, replay.reached
    view.interrupted = detail.status == "interrupted"  # what was kept, the rest cut off where it stood
    view.not_checked = replay.analysis is None and detail.status not in ("running", "interrupted")
    return view


def vote_view_from_detail(detail: AttemptDetail, samples: list[Solution], standing: Standing | None,
                          first: int | None) -> VoteView:
    """The vote panel of a stored attempt: clusters, the RM pick and weights by sample index;
    `standing` and `first` as the replay read them (`storage.review.Replay`)."""
    clusters = sorted({s.cluster for s in samples if s.cluster is not None})
    answers = [s.answer for s in samples]
    members = {c: [i for i, s in enumerate(samples) if s.cluster == c] for c in clusters}
    rm_sample = next((s for s in samples if s.index == detail.rm_index), None) if detail.rm_index is not None else None
    weights = [s.weight for s in samples]
    shares = None
    if clusters and all(w is not None for w in weights):
        shares = weight_shares([sum(weights[i] for i in members[c]) for c in clusters])  # type: ignore[misc]
    return VoteView(
        n=detail.maj_n or len(samples),  # older attempts may lack the counts
        labels=[shown_answer(answers, members[c]) for c in clusters],  # each cluster's text, as the vote shows it
        counts=[len(members[c]) for c in clusters],
        no_answer=sum(1 for s in samples if s.cluster is None),
        maj_answer=detail.maj_answer,
        maj_count=detail.maj_count or 0,
        greedy_answer=detail.greedy_answer,
        rm_answer=detail.rm_answer,
        rm_score=detail.rm_score,
        rm_label=detail.rm_label,
        rm_index=rm_sample.index if rm_sample is not None else None,  # only when its sample is still there
        rm_cluster=clusters.index(rm_sample.cluster) if rm_sample is not None and rm_sample.cluster in clusters else None,
        scorer_name=detail.scorer,
        weighted_answer=detail.weighted_answer,
        weighted_shares=shares,
        agreement=detail.agreement,
        all_agree=detail.all_agree,
        standing=standing,
        first_sample=first,
    )
