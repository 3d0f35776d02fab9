"""Plain data in and out of the session log: the records the app builds and the store returns.

No SQL, torch or gradio here. One solution shape: `SampleRecord.of` builds a stored solution
from a `judgements.solution.Solution` (its fields, name for name, then the step checker's
claims from the run's analysis) and `SampleRecord.solution()` gives the `Solution` back; the
run's analysis travels as plain JSON values (`analysis_values` writes them,
`AttemptDetail.analysis` reads them back as a `judgements.analysis.RunAnalysis`). Written
records store empty optional text and non-finite numbers as NULL (docs/storage.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from judgements.analysis import CheckedVote, RunAnalysis, SolutionAnalysis
from judgements.answers.vote import Standing
from judgements.map_data import ReasoningMap
from judgements.solution import Solution, ToolCall

if TYPE_CHECKING:
    from typing_extensions import Self

AttemptStatus = Literal["running", "done", "cancelled", "error", "interrupted"]
ATTEMPT_STATUSES: tuple[str, ...] = ("running", "done", "cancelled", "error", "interrupted")
# What a finished attempt may be: `running` is set by start_attempt, `interrupted` only by
# the store itself (a process that stopped before the attempt finished).
FINISHED_STATUSES: tuple[str, ...] = ("done", "cancelled", "error")

SampleKind = Literal["greedy", "sampled"]
SAMPLE_KINDS: tuple[str, ...] = ("greedy", "sampled")

RankLabel = Literal["reward", "confidence"]
RANK_LABELS: tuple[str, ...] = ("reward", "confidence")

# Where the text was generated: in this process (`local`) or by an OpenAI-compatible server.
Backend = Literal["local", "server"]
BACKENDS: tuple[str, ...] = ("local", "server")

Verdict = Literal["right", "wrong"]
VERDICTS: tuple[str, ...] = ("right", "wrong")

# Which answer a piece of feedback is about; `attempt` = the attempt as a whole.
FEEDBACK_TARGETS: tuple[str, ...] = ("attempt", "greedy", "majority", "reward", "weighted", "sample")
FEEDBACK_FILTERS: tuple[str, ...] = ("any", "none", "right", "wrong", "corrected")

# Who wrote a turn of a follow-up conversation: the student asking, or the model answering.
TurnRole = Literal["student", "assistant"]
TURN_ROLES: tuple[str, ...] = ("student", "assistant")
# Longest question or answer text the log takes (the app refuses long questions well before).
MAX_TURN_CHARS = 100_000

T = TypeVar("T")


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class AttemptStart:
    """What is known when a solve begins.

    `params` holds the sampling parameters as plain JSON values; the keys `n`, `temperature`,
    `top_p`, `max_new_tokens` and `seed` are also stored in their own columns (for filters),
    the whole mapping in a JSON column (so a new parameter needs no migration).

    `backend` says where the text is generated: `local` (in this process) or `server` (an
    OpenAI-compatible server at `server_url`). The URL is logged and exported, so it must not
    hold credentials: one with user information (`user:password@host`, `token@host`) is
    refused; give a server's key some other way.
    """

    session_id: str
    problem: str
    model_id: str
    precision: str
    device: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    backend: str = "local"
    server_url: str | None = None


@dataclass(frozen=True)
class SampleRecord:
    """One solution of an attempt, stored or read back: the greedy one or one of the N samples.

    The fields are `model.types.Solution`'s, name for name and in its order. `index` is the
    row of the run (0 = greedy when it was asked for, 1..N the samples); `kind` is `greedy` or
    `sampled`; `tokens` how many tokens it generated; `finish_reason` why it stopped (`stop`,
    `length`, `repetition`, `cancelled`, `error`); `mean_logprob` the mean token
    log-probability of the text under the policy model; `answer` the extracted final answer;
    `cluster` the answer cluster it voted for (None: no answer); `reward` its score from the
    ranking, `step_rewards` a process reward model's per-step scores, and `weight` its weight
    in the reward-weighted vote; `tool_calls` its code runs when it reasoned with Python. Read
    back, `step_rewards` and `tool_calls` are lists. Then the step checker's:
    `claims`, every claim in it as a plain dict (`judgements.claims`; None: not checked) and
    `wrong_steps`, how many of its steps hold a wrong one.
    """

    index: int
    kind: str
    text: str = ""
    tokens: int | None = None
    finish_reason: str | None = None
    mean_logprob: float | None = None
    answer: str | None = None
    cluster: int | None = None
    reward: float | None = None
    step_rewards: Sequence[float] | None = None
    weight: float | None = None
    tool_calls: Sequence[ToolCall] = ()
    claims: Sequence[Mapping[str, Any]] | None = None
    wrong_steps: int | None = None

    @classmethod
    def of(cls, solution: Solution, check: SolutionAnalysis | None = None) -> Self:
        """A solution as the log stores it, with the checker's verdicts on it when it was checked."""
        stored = {f.name for f in fields(cls)}  # a test keeps them Solution's, name for name
        values = {f.name: getattr(solution, f.name) for f in fields(Solution) if f.name in stored}
        if check is not None:
            values["claims"] = tuple(check.claim_dicts())
            values["wrong_steps"] = len(check.wrong_steps)
        return cls(**values)

    def solution(self) -> Solution:
        """The stored solution as the run had it."""
        values = {f.name: getattr(self, f.name) for f in fields(Solution) if hasattr(self, f.name)}
        values["tokens"] = values["tokens"] or 0
        values["step_rewards"] = list(values["step_rewards"]) if values["step_rewards"] else None
        values["tool_calls"] = list(values["tool_calls"])
        return Solution(**values)


def sample_records(solutions: Sequence[Solution], analysis: RunAnalysis | None = None) -> list[SampleRecord]:
    """The log's records of a run's solutions, each with its verdicts from `analysis`."""
    return [SampleRecord.of(s, analysis.of(s.index) if analysis is not None else None) for s in solutions]


def standings_dict(analysis: RunAnalysis) -> dict[str, Any] | None:
    """How clear the run's votes' wins were, as logged: `{"majority": ..., "checked": ...}`, each
    `Standing.to_dict` with `first_sample` (None where the run had no such vote)."""

    def one(standing: Standing | None, first: int | None) -> dict[str, Any] | None:
        return {**standing.to_dict(), "first_sample": first} if standing is not None else None

    checked = analysis.checked
    found = {"majority": one(analysis.standing, analysis.first),
             "checked": one(checked.standing, checked.first) if checked is not None else None}
    return found if any(found.values()) else None


def _standing_of(data: Any) -> tuple[Standing | None, int | None]:
    """A standing `standings_dict` wrote, and its first sample; (None, None) for anything else."""
    standing = Standing.from_dict(data)
    first = data.get("first_sample") if isinstance(data, dict) else None
    return standing, first if standing is not None and isinstance(first, int) else None


def analysis_values(analysis: RunAnalysis | None) -> dict[str, Any]:
    """The attempt's share of a run's analysis, as `AttemptOutcome` fields (none without one)."""
    if analysis is None:
        return {}
    checked = analysis.checked
    values: dict[str, Any] = {
        "has_wrong_step": analysis.has_wrong_step,
        "reasoning_map": analysis.map.to_dict() if analysis.map is not None else None,
        "vote_standings": standings_dict(analysis),
    }
    if checked is not None:
        values.update(checked_answer=checked.answer, checked_count=checked.count, checked_kept=tuple(checked.kept),
                      checked_fell_back=checked.fell_back, checked_agrees=checked.agrees)
    return values


@dataclass(frozen=True)
class AttemptTimings:
    """Wall-clock figures of one run: seconds, token counts, tokens per second."""

    queued_s: float | None = None
    ttft_s: float | None = None
    total_s: float | None = None
    prompt_tokens: int | None = None
    generated_tokens: int | None = None
    tokens_per_s: float | None = None


@dataclass(frozen=True)
class AttemptOutcome:
    """How a solve ended and what it concluded.

    `maj_answer` won `maj_count` of the `n` sampled votes (Maj@N); `rm_answer` is the answer
    of the single best-ranked sample (RM@N), `rm_index` that sample's `index` (so a reopened
    attempt finds the pick by index, not by matching a float) and `rm_score` its score;
    `rm_label` says what kind of score it is: `reward` (a reward model) or `confidence` (the
    policy's own log-probability, which is not a reward), and `scorer` names what ranked the
    samples ("bundled reward model", "policy log-probability", ...). `agreement` is the text
    the UI shows ("all agree", "greedy differs", ...); `all_agree` the yes/no behind it, used
    by the teacher view's filter. The run's analysis (`analysis_values`): the checked vote
    (`checked_answer` won `checked_count` votes among the samples `checked_kept`, by index,
    with no wrong claim; `checked_fell_back` when it is Maj@N of all; `checked_agrees` whether
    it is Maj@N's answer), `has_wrong_step`, the `reasoning_map` (its dict form) and the
    `vote_standings` (`standings_dict`: how clear Maj@N's and the checked vote's wins were).
    """

    status: str
    timings: AttemptTimings | None = None
    greedy_answer: str | None = None
    maj_answer: str | None = None
    maj_count: int | None = None
    n: int | None = None
    rm_answer: str | None = None
    rm_score: float | None = None
    rm_label: str | None = None
    rm_index: int | None = None
    scorer: str | None = None
    weighted_answer: str | None = None
    agreement: str | None = None
    all_agree: bool | None = None
    error: str | None = None
    checked_answer: str | None = None
    checked_count: int | None = None
    checked_kept: Sequence[int] | None = None
    checked_fell_back: bool | None = None
    checked_agrees: bool | None = None
    has_wrong_step: bool | None = None
    reasoning_map: Mapping[str, Any] | None = None
    vote_standings: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class FeedbackInput:
    """A person's judgement of an attempt: right or wrong, the correct answer, a comment.

    At least one of `verdict`, `correct_answer` and `comment` must be given. `target` names
    the answer judged (`attempt`, `greedy`, `majority`, `reward`, `weighted`, or `sample` with
    `sample_index`).
    """

    verdict: str | None = None
    correct_answer: str | None = None
    comment: str | None = None
    target: str = "attempt"
    sample_index: int | None = None


@dataclass(frozen=True)
class FollowUpAnswer:
    """The model's answer to a follow-up question, as it finished.

    `finish_reason` is the answer row's (`stop`, `length`, `repetition`, `cancelled`,
    `error`), `tokens` how many it generated, `started_at` when it started (an aware or UTC
    datetime; default: when the question was logged), `model_id` the model that answered.
    """

    text: str
    finish_reason: str
    tokens: int | None = None
    started_at: datetime | None = None
    model_id: str | None = None


@dataclass(frozen=True)
class AttemptQuery:
    """Filters over attempts; every field left None filters nothing.

    `date_from`/`date_to` are inclusive. A `date` means the whole UTC day (date_to=May 1
    includes all of May 1); a naive `datetime` is taken as UTC. `text` is a case-insensitive
    substring of the problem (ASCII case folding on SQLite). `feedback` is one of `any`,
    `none`, `right`, `wrong`, `corrected` (someone gave the correct answer).
    `has_follow_ups`: True keeps the attempts someone asked follow-up questions about, False
    those nobody did. `problem` is the whole problem text, exactly (the attempts of one problem
    across the class). `has_wrong_step`: True keeps the attempts in which the step checker found
    a wrong step, False those checked without one (attempts never checked match neither).
    `checked_agrees`: True keeps the attempts whose checked vote is Maj@N's answer, False those
    where it differs.
    """

    date_from: date | datetime | None = None
    date_to: date | datetime | None = None
    text: str | None = None
    all_agree: bool | None = None
    model_id: str | None = None
    feedback: str | None = None
    status: str | None = None
    has_follow_ups: bool | None = None
    problem: str | None = None
    has_wrong_step: bool | None = None
    checked_agrees: bool | None = None


# ---------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class LogStatus:
    """The result of one write to the session log, for the UI to show when not `ok`.

    `message` is empty when all went well and otherwise says, for a person, what was not
    saved and why. `pending` counts writes held in memory to be retried once the database
    works again; `tries` counts database round trips this write needed.
    """

    ok: bool
    message: str = ""
    attempt_id: str | None = None
    tries: int = 0
    pending: int = 0
    # The id of the follow-up turn written (`Store.add_question` / `add_answer`), even on failure.
    turn_id: str | None = None


@dataclass(frozen=True)
class FeedbackView:
    """One stored piece of feedback; `author` is `student` (the session) or `teacher`."""

    id: str
    created_at: datetime
    author: str
    verdict: str | None
    correct_answer: str | None
    comment: str | None
    target: str
    sample_index: int | None


@dataclass(frozen=True)
class TurnRecord:
    """One stored turn of a follow-up conversation about solution `sample_index` of an attempt.

    `role` is `student` (a question, at an even `turn_index`) or `assistant` (its answer, at
    the next odd one). A question has `started_at` = `finished_at` = when it was asked and no
    `finish_reason`, `tokens` or `model_id`; an answer has all of them.
    """

    id: str
    sample_index: int
    turn_index: int
    role: str
    text: str
    started_at: datetime
    finished_at: datetime | None
    finish_reason: str | None
    tokens: int | None
    model_id: str | None


@dataclass(frozen=True)
class AttemptSummary:
    """One attempt without its samples: a row of a history or teacher list.

    `session` is the opaque key of the browser session (a hash of its id, never the id
    itself, so that a log or an export cannot be used to read someone's history). `backend`,
    `server_url`, `rm_index` and `scorer` are None for attempts logged before they were
    recorded (migration 0003); the checked vote and `has_wrong_step` for attempts logged
    before 0005 (not checked).
    """

    id: str
    session: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    problem: str
    model_id: str
    precision: str
    device: str
    backend: str | None
    server_url: str | None
    params: dict[str, Any]
    n_samples: int | None
    temperature: float | None
    top_p: float | None
    max_new_tokens: int | None
    seed: int | None
    queued_s: float | None
    ttft_s: float | None
    total_s: float | None
    prompt_tokens: int | None
    generated_tokens: int | None
    tokens_per_s: float | None
    greedy_answer: str | None
    maj_answer: str | None
    maj_count: int | None
    maj_n: int | None
    rm_answer: str | None
    rm_score: float | None
    rm_label: str | None
    rm_index: int | None
    scorer: str | None
    weighted_answer: str | None
    agreement: str | None
    all_agree: bool | None
    error: str | None
    checked_answer: str | None = None
    checked_count: int | None = None
    checked_kept: list[int] | None = None
    checked_fell_back: bool | None = None
    checked_agrees: bool | None = None
    has_wrong_step: bool | None = None
    vote_standings: dict[str, Any] | None = None  # 0008: how clear each vote's win was
    # Its feedback, oldest first: a list row carries it too (the Teacher list shows it).
    feedback: tuple[FeedbackView, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (datetimes as ISO 8601 strings with their UTC offset)."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class AttemptDetail(AttemptSummary):
    """One attempt with all its samples (by index), its feedback (oldest first), its
    follow-up turns (by solution, then in conversation order) and its reasoning map as logged
    (the dict form; None: not checked, or no map)."""

    reasoning_map: dict[str, Any] | None = None
    samples: tuple[SampleRecord, ...] = ()
    turns: tuple[TurnRecord, ...] = ()

    @property
    def analysis(self) -> RunAnalysis | None:
        """The run's analysis as logged, read back; None for an attempt logged before the app
        kept it (or whose run ended before its solutions were checked)."""
        if self.has_wrong_step is None:
            return None
        standings = self.vote_standings if isinstance(self.vote_standings, dict) else {}
        checked = None
        if self.checked_count is not None:
            checked = CheckedVote(self.checked_answer, self.checked_count, tuple(self.checked_kept or ()),
                                  self.maj_n or sum(1 for s in self.samples if s.kind == "sampled"),
                                  bool(self.checked_fell_back), self.checked_agrees,
                                  *_standing_of(standings.get("checked")))
        return RunAnalysis(
            tuple(SolutionAnalysis.from_claims(s.index, s.claims) for s in self.samples if s.claims is not None),
            checked,
            ReasoningMap.from_dict(self.reasoning_map) if self.reasoning_map else None,
            *_standing_of(standings.get("majority")),
        )

    @property
    def summary(self) -> AttemptSummary:
        """The same attempt without samples, feedback and turns."""
        values = {k: v for k, v in self.__dict__.items() if k not in DETAIL_ONLY}
        return AttemptSummary(**values)

    def turns_about(self, sample_index: int) -> tuple[TurnRecord, ...]:
        """The follow-up conversation about one solution, in order (empty when none)."""
        return tuple(t for t in self.turns if t.sample_index == sample_index)

    def exchanges(self, sample_index: int) -> list[tuple[str, str]]:
        """The (question, answer) pairs asked about one solution, oldest first: what the model
        is shown as the earlier conversation. A question without an answer (the app stopped,
        the answer was empty or never saved) is left out."""
        turns = self.turns_about(sample_index)
        answers = {t.turn_index: t.text for t in turns if t.role == "assistant"}
        return [
            (t.text, answers[t.turn_index + 1])
            for t in turns
            if t.role == "student" and answers.get(t.turn_index + 1)
        ]


# The fields an `AttemptDetail` has beyond its summary's.
DETAIL_ONLY: tuple[str, ...] = ("reasoning_map", "samples", "feedback", "turns")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, newest first; `page` counts from 1."""

    items: list[T]
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages the whole list has (at least 1, so "page 1 of 1" reads right)."""
        return max(1, -(-self.total // self.page_size))


# ----------------------------------------------------------------------- normalisation


def clean_text(value: str | None) -> str | None:
    """An optional text field as stored: empty means none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value if value != "" else None


def clean_float(value: float | None) -> float | None:
    """An optional number as stored: non-finite values mean none."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    number = float(value)
    return number if math.isfinite(number) else None


def clean_int(value: int | None) -> int | None:
    """An optional whole number as stored."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        # numpy integers and the like: accept anything that is exactly an int
        if hasattr(value, "__index__"):
            return int(value.__index__())
        raise TypeError(f"expected a whole number, got {type(value).__name__}")
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
