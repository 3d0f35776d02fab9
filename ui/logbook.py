"""The bridge between the Solver's results and the session log's records, both ways.

`storage/` knows nothing of the model layer and the model layer nothing of SQL. A solution is a
`model.types.Solution` on the page and a `storage.records.SampleRecord` in the log, with the
same fields under the same names, so each way is a plain copy. A reopened attempt becomes the
same `RunView` the Solve tab showed, its RM pick, clusters and weights restored by index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields

from judgements.answers import shown_answer
from model.backends.protocol import BackendInfo
from model.params import SamplingParams
from model.solver import PreparedRun
from model.types import RunResult
from judgements.solution import Solution
from storage.records import (
    AttemptDetail,
    AttemptOutcome,
    AttemptStart,
    AttemptTimings,
    SampleRecord,
)
from ui.views import RunView, VoteView, vote_view_from_result, weight_shares

SOLUTION_FIELDS = tuple(f.name for f in fields(Solution))
# The vote panel's fields (`VoteView`) under the names the log gives them (`AttemptOutcome`; read
# back, `AttemptDetail` names `n` `maj_n`). The same table writes a run's verdict and reopens it.
LOGGED_VOTE_FIELDS = {
    "n": "n",
    "maj_answer": "maj_answer",
    "maj_count": "maj_count",
    "rm_answer": "rm_answer",
    "rm_score": "rm_score",
    "rm_label": "rm_label",
    "rm_index": "rm_index",
    "scorer_name": "scorer",
    "weighted_answer": "weighted_answer",
    "agreement": "agreement",
    "all_agree": "all_agree",
}


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


def sample_records(solutions: Sequence[Solution]) -> list[SampleRecord]:
    return [SampleRecord(**asdict(s)) for s in solutions]


def solution_of(record: SampleRecord) -> Solution:
    values = {name: getattr(record, name) for name in SOLUTION_FIELDS}
    values["tokens"] = values["tokens"] or 0
    values["step_rewards"] = list(values["step_rewards"]) if values["step_rewards"] else None
    return Solution(**values)


def outcome_of(result: RunResult) -> AttemptOutcome:
    """How the run ended and what it concluded, as the log stores it: the vote panel's numbers."""
    status = "error" if result.error else ("cancelled" if result.cancelled else "done")
    t = result.timings
    view = vote_view_from_result(result)
    verdict = {} if view is None else {logged: getattr(view, shown) for shown, logged in LOGGED_VOTE_FIELDS.items()}
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
        **verdict,
    )


def cancelled_outcome(error: str | None = None) -> AttemptOutcome:
    """For a solve whose page went away (or whose model could not be reached) before a result."""
    return AttemptOutcome(status="error" if error else "cancelled", error=error)


def run_view_from_detail(detail: AttemptDetail) -> RunView:
    """A stored attempt as the Solve tab showed it when it finished."""
    rows = {s.index: solution_of(s) for s in detail.samples}
    view = RunView(rows=rows, finished=True, cancelled=detail.status == "cancelled", error=detail.error)
    if view.samples:
        view.vote = stored_vote(detail, view.samples)
    return view


def stored_vote(detail: AttemptDetail, samples: list[Solution]) -> VoteView:
    """The vote panel of a stored attempt: clusters, the RM pick and weights by sample index."""
    clusters = sorted({s.cluster for s in samples if s.cluster is not None})
    answers = [s.answer for s in samples]
    members = {c: [i for i, s in enumerate(samples) if s.cluster == c] for c in clusters}
    rm_sample = next((s for s in samples if s.index == detail.rm_index), None) if detail.rm_index is not None else None
    weights = [s.weight for s in samples]
    shares = None
    if clusters and all(w is not None for w in weights):
        shares = weight_shares([sum(weights[i] for i in members[c]) for c in clusters])  # type: ignore[misc]
    # Older attempts may lack the counts; the RM pick only when its sample is still there.
    restored = {
        "n": detail.maj_n or len(samples),
        "maj_count": detail.maj_count or 0,
        "rm_index": rm_sample.index if rm_sample is not None else None,
    }
    copied = {shown: getattr(detail, logged) for shown, logged in LOGGED_VOTE_FIELDS.items() if shown not in restored}
    return VoteView(
        labels=[shown_answer(answers, members[c]) for c in clusters],
        counts=[len(members[c]) for c in clusters],
        no_answer=sum(1 for s in samples if s.cluster is None),
        greedy_answer=detail.greedy_answer,
        rm_cluster=clusters.index(rm_sample.cluster) if rm_sample is not None and rm_sample.cluster in clusters else None,
        weighted_shares=shares,
        **restored,
        **copied,
    )
