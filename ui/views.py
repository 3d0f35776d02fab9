"""What the Solve and History tabs show, built from plain view data.

A live run (the Solver's events as they arrive) and a stored attempt (from the session log) are
both turned into the same `RunView` of `judgements.solution.Solution`s with the run's analysis
(the step checker's verdicts by row, the checked vote, the reasoning map), so streaming, the
finished page and a reopened attempt render with the same code: the main solution, the sample
cards, the Maj@N / RM@N panel, the status line and the charts. Nothing here judges: the
verdicts arrive with the run (`RowChecked`, `RunDone`) or from the log. Every piece of
untrusted text passes through `ui.render`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from model.types import Delta, Queued, RowChecked, RowDone, RunDone, RunResult, Started, StreamEvent, ToolRan
from judgements.solution import Solution, kind_of_row
from ui.mathtext import escape_text, inline_math, streaming_markdown
from ui.render import boxed_answer_markdown, cluster_colour, code_runs_text, tail
from ui.votewords import majority_box
from ui.stepmarks import NOT_KEPT, checked_vote_markdown, slip_badge, slips_markdown

if TYPE_CHECKING:
    from judgements.answers import Standing
    from judgements.analysis import CheckedVote, RunAnalysis, SolutionAnalysis
    from judgements.map_data import ReasoningMap

CARD_TAIL_CHARS = 480
QUEUE_SHOWN_S = 0.1
"""A wait in the queue the status line reports (shorter ones are not a wait)."""


@dataclass
class VoteView:
    """Maj@N, RM@N, the weighted vote and their agreement, ready to display."""

    n: int
    labels: list[str]
    counts: list[int]
    no_answer: int
    maj_answer: str | None
    maj_count: int
    greedy_answer: str | None = None
    rm_answer: str | None = None
    rm_score: float | None = None
    rm_label: str | None = None
    rm_index: int | None = None  # sample number (1..N)
    rm_cluster: int | None = None
    scorer_name: str | None = None
    weighted_answer: str | None = None
    weighted_shares: list[float] | None = None
    agreement: str | None = None
    all_agree: bool | None = None
    standing: Standing | None = None  # how clear Maj@N's win is (a tie, no majority), from the vote
    first_sample: int | None = None  # the sample number of the winner's first vote: a tie's tie-break


@dataclass
class RunView:
    """Everything a solve shows, live or replayed. `checks`: the step checker's verdicts by
    row, as they arrive; `checked` the checked vote and `map` the reasoning map, once the run's
    analysis is there (`map` measured against `right_answer` when feedback gave one a sample
    reached, `reached`); `not_checked` for an attempt logged before the log kept them."""

    rows: dict[int, Solution] = field(default_factory=dict)
    vote: VoteView | None = None
    status: str = ""
    finished: bool = False
    cancelled: bool = False
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    checks: dict[int, SolutionAnalysis] = field(default_factory=dict)
    checked: CheckedVote | None = None
    map: ReasoningMap | None = None
    right_answer: str | None = None
    reached: bool = False
    not_checked: bool = False
    interrupted: bool = False  # a logged attempt the app stopped during: its unfinished rows stay unfinished

    def take_analysis(self, analysis: RunAnalysis | None) -> None:
        """Show a run's analysis: the verdicts by row, the checked vote, the map."""
        if analysis is None:
            return
        self.checks.update({s.index: s for s in analysis.solutions})
        self.checked = analysis.checked
        self.map = analysis.map

    @property
    def greedy(self) -> Solution | None:
        row = self.rows.get(0)
        return row if row is not None and row.kind == "greedy" else None

    @property
    def samples(self) -> list[Solution]:
        return [self.rows[i] for i in sorted(self.rows) if self.rows[i].kind == "sampled"]


class LiveRun:
    """Accumulates the Solver's events for one solve and says when the page should update.

    Updates are coalesced: `due()` is true at most `rate` times a second, so 64 streaming samples
    cost a few page updates a second, not one per token or per finished row (a finished row
    shows at the next update, the last one at once: ranking may follow; the run's end always
    sends one).
    """

    def __init__(self, rows: Sequence[int], *, rate: float = 4.0) -> None:
        self.view = RunView(rows={r: Solution(r, kind_of_row(r)) for r in rows})
        self._parts: dict[int, list[str]] = {r: [] for r in rows}
        self.started_at = time.perf_counter()  # submitted: the queue's clock starts
        self.decoding_at: float | None = None  # decoding began (`Started`): the queue's clock stops
        self.first_token_at: float | None = None
        self.tokens_seen = 0
        self.queued_ahead: int | None = None
        self.seed: int | None = None  # the seed the run really uses, once it starts
        self.result: RunResult | None = None
        self._interval = 1.0 / rate
        self._last_emit = 0.0
        self._all_finished = False  # the last row just finished: update now

    def apply(self, event: StreamEvent) -> None:
        if isinstance(event, Delta):
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            self._parts.setdefault(event.row, []).append(event.text)
            self.tokens_seen += 1
        elif isinstance(event, ToolRan):
            self.view.rows[event.row].tool_calls.append(event.call)
        elif isinstance(event, RowDone):
            self._finish_row(event.solution)
        elif isinstance(event, RowChecked):
            self.view.checks[event.analysis.index] = event.analysis
        elif isinstance(event, Queued):
            self.queued_ahead = event.ahead
        elif isinstance(event, Started):
            self.queued_ahead = None
            self.decoding_at = time.perf_counter()
            self.seed = event.seed
            for row in event.rows:
                self.view.rows.setdefault(row, Solution(row, kind_of_row(row)))
                self._parts.setdefault(row, [])
        elif isinstance(event, RunDone):
            self.result = event.result
            for solution in event.result.solutions:
                self._finish_row(solution)
            self.view.vote = vote_view_from_result(event.result)
            self.view.take_analysis(event.result.analysis)
            self.view.finished = True
            self.view.cancelled = event.result.cancelled
            self.view.error = event.result.error
            self.view.notes = list(event.result.notes)

    def _finish_row(self, solution: Solution) -> None:
        self.view.rows[solution.index] = solution
        self._parts[solution.index] = [solution.text]
        self._all_finished = all(row.finished for row in self.view.rows.values())

    def text(self, row: int) -> str:
        parts = self._parts.get(row, [])
        if len(parts) > 1:
            self._parts[row] = parts = ["".join(parts)]
        return parts[0] if parts else ""

    def snapshot(self) -> RunView:
        """The view with the streamed text so far folded in."""
        for index, row in self.view.rows.items():
            if not row.finished:
                row.text = self.text(index)
        return self.view

    def due(self) -> bool:
        now = time.perf_counter()
        if self._all_finished or now - self._last_emit >= self._interval:
            self._last_emit = now
            self._all_finished = False
            return True
        return False

    def partial_solutions(self) -> list[Solution]:
        """What streamed so far, unfinished rows marked cancelled (for logging a stopped run)."""
        out = []
        for index in sorted(self.view.rows):
            row = self.view.rows[index]
            if row.finished:
                out.append(row)
            else:
                out.append(Solution(index, row.kind, self.text(index), finish_reason="cancelled",
                                    tool_calls=list(row.tool_calls)))
        return out


def weight_shares(weights: Sequence[float]) -> list[float] | None:
    """Each cluster's share of the total weight; None when there is no positive total."""
    total = sum(weights)
    return [w / total for w in weights] if total > 0 else None


def vote_view_from_result(result: RunResult) -> VoteView | None:
    """The vote panel of a finished run (None without a vote); the log stores the same numbers."""
    if result.vote is None:
        return None
    vote = result.vote
    ranking = result.ranking
    view = VoteView(
        n=vote.total,
        labels=[c.answer for c in vote.clusters],
        counts=[c.count for c in vote.clusters],
        no_answer=vote.total - sum(c.count for c in vote.clusters),
        maj_answer=vote.answer,
        maj_count=vote.count,
        greedy_answer=result.greedy.answer if result.greedy else None,
        standing=vote.standing,
        first_sample=result.samples[vote.standing.first].index if vote.standing.first is not None else None,
    )
    if ranking is not None:
        view.rm_answer = ranking.rm_answer
        view.rm_score = ranking.rm_score
        view.rm_label = ranking.label
        view.rm_index = result.samples[ranking.rm_index].index if ranking.rm_index is not None else None
        view.rm_cluster = ranking.rm_cluster
        view.scorer_name = ranking.scorer_name
        view.weighted_answer = ranking.weighted_answer
        view.weighted_shares = weight_shares(ranking.weighted_scores)
        view.agreement = ranking.agreement.summary
        view.all_agree = ranking.agreement.all_agree
    return view


# ------------------------------------------------------------------------ rendering


def _answer_math(answer: str | None) -> str:
    return inline_math(answer)


def _reward_text(value: float | None, label: str | None) -> str:
    if value is None or not math.isfinite(value):
        return ""
    if label == "confidence":
        return f"confidence {math.exp(value):.2f}"
    return f"reward {value:.3g}"


def main_solution_markdown(view: RunView) -> str:
    row = view.greedy
    if row is None:
        return ""
    if not row.text and not row.finished:
        return "<span class='held'>The app stopped before this solution began.</span>" if view.interrupted else \
            "<span class='held'>Thinking…</span>"
    slips = slips_markdown(row, view.checks.get(row.index))  # the step checker's finds, once it has them
    if view.not_checked and row.finished:
        slips = f"<div class='note'>{NOT_KEPT}</div>"
    runs = f"\n\n<div class='note code-runs'>{code_runs_text(row.tool_calls)}</div>" if row.tool_calls else ""
    return streaming_markdown(row.text, finished=row.finished) + runs + (f"\n\n{slips}" if slips else "")


def final_answer_markdown(view: RunView) -> str:
    row = view.greedy
    if row is not None and not row.finished and view.interrupted:
        return "<div class='final-answer none'>The app stopped before a final answer.</div>"
    if row is None or not row.finished:
        return ""
    note = ""
    if row.finish_reason == "length":
        note = "<div class='note'>The solution hit the token limit before it finished.</div>"
    elif row.finish_reason == "repetition":
        note = "<div class='note'>The model started repeating itself and was stopped.</div>"
    elif row.finish_reason == "cancelled":
        return "<div class='final-answer none'>Stopped before a final answer.</div>"
    return boxed_answer_markdown(row.answer) + note


def cards_markdown(view: RunView, reward_label: str | None = None, *, ask_hint: bool = False) -> str:
    """The N sample cards: colour of the answer cluster, answer, reward, finish reason;
    `ask_hint`: a finished card with text points to the ask box below (`ui.followups`)."""
    samples = view.samples
    if not samples:
        return ""
    label = reward_label or (view.vote.rm_label if view.vote else None)
    rm_index = view.vote.rm_index if view.vote else None
    parts = ["<div class='cards'>"]
    for row in samples:
        colour_class = f"c{row.cluster}" if row.cluster is not None and row.cluster < 10 else "cnone"
        bits = [f"<b>#{row.index}</b>"]
        if row.finished:
            bits.append(f"answer {_answer_math(row.answer)}")
            reward = _reward_text(row.reward, label)
            if reward:
                bits.append(reward)
            bits.append(f"{row.finish_reason} · {row.tokens} tok")
            if badge := slip_badge(row, view.checks.get(row.index), not_checked=view.not_checked):
                bits.append(badge)
            if rm_index == row.index:
                pick = "most confident" if label == "confidence" else "RM pick"
                bits.append(f"<span class='pick'>★ {pick}</span>")
            if ask_hint and row.text:
                bits.append(f"<span class='ask-hint'>ask about #{row.index} below</span>")
        else:
            bits.append("<span class='held'>cut off: the app stopped</span>" if view.interrupted else
                        "<span class='held'>writing…</span>")
        if row.tool_calls:
            bits.append(code_runs_text(row.tool_calls))
        summary = " · ".join(bits)
        body = streaming_markdown(row.text, finished=True) if row.finished else streaming_markdown(
            row.text if view.interrupted else tail(row.text, CARD_TAIL_CHARS), finished=False
        )
        if slips := slips_markdown(row, view.checks.get(row.index)):
            body = f"{slips}\n\n{body}"
        state = "" if row.finished or view.interrupted else " open"
        parts.append(
            f"<details class='card {colour_class}'{state}><summary><span class='chip {colour_class}'></span> "
            f"{summary}</summary>\n\n{body}\n\n</details>"
        )
    parts.append("</div>")
    return "\n".join(parts)


def vote_markdown(view: RunView) -> str:
    """Maj@N beside RM@N and the reward-weighted vote, with an agreement badge."""
    vote = view.vote
    if vote is None:
        done = sum(1 for r in view.samples if r.finished)
        if view.samples and view.interrupted:
            return (f"<div class='vote-wait'>No vote: the app stopped first, when {done} of {len(view.samples)} "
                    "samples had finished.</div>")
        if view.samples and not view.finished:
            return f"<div class='vote-wait'>Sampling… {done} of {len(view.samples)} solutions finished.</div>"
        return ""
    n = vote.n
    answer, detail = majority_box(vote.standing, vote.maj_answer, vote.maj_count, n, vote.first_sample)
    maj = (
        f"<div class='vote-box'><div class='vote-title'>Majority vote (Maj@{n})</div>"
        f"<div class='vote-answer'>{answer}</div>"
        f"<div class='vote-detail'>{detail}</div></div>"
    )
    if vote.rm_label == "reward":
        rm_title = f"Reward-model pick (RM@{n})"
        rm_detail = f"sample #{vote.rm_index}, reward {vote.rm_score:.3g} ({escape_text(vote.scorer_name or '')})" if vote.rm_index else "no sample could be scored"
    elif vote.rm_label == "confidence":
        rm_title = "Most confident sample (no reward model)"
        rm_detail = (
            f"sample #{vote.rm_index}, mean token probability {math.exp(vote.rm_score):.2f}: confidence, not a reward"
            if vote.rm_index and vote.rm_score is not None else "no sample could be ranked"
        )
    else:
        rm_title, rm_detail = f"Reward pick (RM@{n})", "not ranked (run stopped)"
    rm = (
        f"<div class='vote-box'><div class='vote-title'>{rm_title}</div>"
        f"<div class='vote-answer'>{_answer_math(vote.rm_answer)}</div>"
        f"<div class='vote-detail'>{rm_detail}</div></div>"
    )
    boxes = [maj, checked_box(view), rm]
    if vote.weighted_answer is not None and vote.weighted_shares:
        share = max(vote.weighted_shares)
        kind = "reward" if vote.rm_label == "reward" else "confidence"
        boxes.append(
            f"<div class='vote-box'><div class='vote-title'>{kind.capitalize()}-weighted vote</div>"
            f"<div class='vote-answer'>{_answer_math(vote.weighted_answer)}</div>"
            f"<div class='vote-detail'>{share:.0%} of the total {kind} weight</div></div>"
        )
    badge = ""
    if vote.agreement:
        css = "agree" if vote.all_agree else "disagree"
        mark = "✓" if vote.all_agree else "≠"
        badge = f"<div class='badge {css}'>{mark} {escape_text(vote.agreement)}</div>"
    elif vote.greedy_answer is not None:
        badge = f"<div class='badge'>greedy answer {_answer_math(vote.greedy_answer)}</div>"
    return f"<div class='votes'>{''.join(boxes)}</div>\n\n{badge}"


def checked_box(view: RunView) -> str:
    """The checked vote: Maj@N among the samples in which the step checker found no wrong claim."""
    return checked_vote_markdown(view.checked, len(view.samples), not_checked=view.not_checked)


def status_markdown(model_line: str, live: LiveRun | None, *, log_message: str = "") -> str:
    """Model, precision, device, memory; then queue, time to first token and speed."""
    parts = [model_line]
    if live is not None:
        view = live.view
        result = live.result
        parts += timing_parts(live)
        if live.seed is not None:
            parts.append(f"seed {live.seed}")
        if view.cancelled:
            parts.append("**stopped**")
        if view.error:
            parts.append(f"<span class='error'>{escape_text(view.error)}</span>")
        for note in view.notes:
            parts.append(f"<span class='warn'>{escape_text(note)}</span>")
    line = " · ".join(parts)
    if log_message:
        line += f"\n\n<div class='warn'>Session log: {escape_text(log_message)}</div>"
    return line


def timing_parts(live: LiveRun) -> list[str]:
    """The run's clock, three figures apart, live and at the end: the time it waited in the
    queue, the time from the start of decoding to the first token, and the decoding speed."""
    now = time.perf_counter()
    result = live.result
    if result is not None:
        t = result.timings
        parts = [f"queued {t.queued_s:.1f} s"] if t.queued_s >= QUEUE_SHOWN_S else []
        if t.time_to_first_token_s is not None:
            parts.append(f"first token {t.time_to_first_token_s:.2f} s")
        parts.append(f"{t.tokens_per_s:.1f} tok/s total")
        if len(result.solutions) > 1:
            parts.append(f"{t.tokens_per_s_per_stream:.1f} tok/s per stream")
        parts.append(f"{t.generated_tokens:,} tokens in {t.total_s:.1f} s")
        return parts
    if live.decoding_at is None:
        waited = now - live.started_at
        if live.queued_ahead:
            ahead = live.queued_ahead
            return [f"in the queue {waited:.0f} s: {ahead} solve{'s' if ahead != 1 else ''} ahead"]
        return ["starting…"]
    queued = live.decoding_at - live.started_at
    parts = [f"queued {queued:.1f} s"] if queued >= QUEUE_SHOWN_S else []
    if live.first_token_at is None:
        return parts + ["decoding, no token yet…"]
    parts.append(f"first token {live.first_token_at - live.decoding_at:.2f} s")
    parts.append(f"{live.tokens_seen / max(now - live.decoding_at, 1e-6):.1f} tok/s")
    return parts


def chart_data(vote: VoteView) -> dict[str, Any]:
    """Keyword arguments for `ui.plots.vote_bars`."""
    return {
        "labels": vote.labels,
        "counts": vote.counts,
        "no_answer": vote.no_answer,
        "total": vote.n,
        "rm_cluster": vote.rm_cluster,
        "weighted": vote.weighted_shares,
        "weight_label": "confidence" if vote.rm_label == "confidence" else "reward",
    }


def heatmap_rows(view: RunView) -> list[tuple[str, list[float]]]:
    """Step rewards of the RM pick and of the first sample of the majority cluster."""
    rows: list[tuple[str, list[float]]] = []
    vote = view.vote
    if vote is None:
        return rows
    by_index = {r.index: r for r in view.samples}
    if vote.rm_index in by_index and by_index[vote.rm_index].step_rewards:
        rows.append((f"#{vote.rm_index} (RM pick)", list(by_index[vote.rm_index].step_rewards)))
    majority = next((r for r in view.samples if r.cluster == 0 and r.step_rewards), None)
    if majority is not None and majority.index != vote.rm_index:
        rows.append((f"#{majority.index} (majority)", list(majority.step_rewards)))
    return rows


__all__ = [
    "LiveRun",
    "RunView",
    "VoteView",
    "cards_markdown",
    "chart_data",
    "cluster_colour",
    "final_answer_markdown",
    "heatmap_rows",
    "main_solution_markdown",
    "status_markdown",
    "vote_markdown",
    "vote_view_from_result",
    "weight_shares",
]
