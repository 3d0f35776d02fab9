"""The Solver: one solve from problem text to ranked answers, over any backend.

It validates the problem once, builds the prompt once with the model's chat template, clamps
the token budget to the context once and draws the seed when none is given (`prepare`); then
it drives a backend (`model.backends.protocol`), turns the backend's rows into `Solution`s, extracts each
row's answer the moment the row finishes, votes over the samples (Maj@N) and ranks them with
the reward scorer (RM@N, the weighted vote) on an executor of its own, never on a decode
thread. On that executor too, the step checker reads each row as it finishes (`RowChecked`),
and once the run has ranked, `judgements.analysis.analyse_run` judges it once: every claim's
verdict, the checked vote, the reasoning map (`RunResult.analysis`). It yields the events that
the UI renders, the evaluation command counts and the session log stores (`model.types`),
ending every run with one `RunDone`.

Phases: `prepare` -> backend `stream` (rows) -> `finish_row` (+ `check_row`) x rows -> `vote`
-> `rank` -> `analyse`.

Follow-up questions about a solution (`prepare_follow_up` -> `stream_follow_up`) are runs of
their own: the conversation built by `model.conversation`, one greedy row with its own token
budget, through the same backend (same queue, same batch), streamed with the same events.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from judgements.analysis import SolutionAnalysis, analyse_run, check_row
from judgements.answers import extract_answer, majority_vote
from model.backends.protocol import (
    Backend,
    BackendError,
    BackendInfo,
    BackendUnavailable,
    CodeRan,
    Decoding,
    GenerationRequest,
    RowFinished,
    TextDelta,
    Waiting,
)
from model.params import SamplingParams
from model.conversation import ConversationPrompt, fit_conversation
from model.errors import (
    ConfigError,
    GenerationError,
    InvalidProblemError,
    InvalidQuestionError,
    PromptTooLongError,
)
from model.prompts import build_prompt, render_prompt
from judgements.ranking import RewardScorer, rank_solutions
from model.speed import DecodeSpeed
from model.types import Delta, Queued, RowChecked, RowDone, RunDone, RunResult, Started, StreamEvent, Timings, ToolRan
from judgements.solution import Solution, kind_of_row
from judgements.steps.checker import SolutionCheck

log = logging.getLogger(__name__)

# A solution needs at least this many tokens of room in the context to be worth starting.
MIN_ANSWER_TOKENS = 32
# The token budget of a follow-up answer, unless the caller gives one.
DEFAULT_FOLLOW_UP_TOKENS = 1024
# Finish reasons after which a row's text is a whole solution whose answer counts. A stopped
# or failed row is unfinished thought: its "last number" is no answer.
ANSWERED_REASONS = ("stop", "length", "repetition")


def validate_problem(text: object, max_chars: int) -> str:
    """The problem as the model will see it, or `InvalidProblemError` saying what is wrong."""
    return _plain_text(text, max_chars, "problem", "Type a math problem first: the problem box is empty.", InvalidProblemError)


def validate_question(text: object, max_chars: int) -> str:
    """A follow-up question as the model will see it, or `InvalidQuestionError` (a kind of
    `InvalidProblemError`) saying what is wrong: the same rules as a problem's."""
    return _plain_text(text, max_chars, "question", "Type a question first: the question box is empty.", InvalidQuestionError)


def _plain_text(text: object, max_chars: int, noun: str, empty: str, error: type[InvalidProblemError]) -> str:
    """Text a person typed, line ends normalised and trimmed; markup stays text (the UI escapes it)."""
    if not isinstance(text, str):
        raise error(f"The {noun} must be text.")
    cleaned = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not cleaned:
        raise error(empty)
    if len(cleaned) > max_chars:
        raise error(f"The {noun} is {len(cleaned):,} characters long; the limit is {max_chars:,}. Shorten it.")
    controls = sum(1 for ch in cleaned if (ord(ch) < 32 and ch not in "\n\t") or ch == "\ufffd")
    if "\x00" in cleaned or controls > max(3, len(cleaned) // 100):
        raise error(
            f"The {noun} contains binary data or control characters, not text. Paste the {noun} as plain text."
        )
    return cleaned


@dataclass(frozen=True)
class PreparedRun:
    """A validated solve, ready for a backend: the cleaned problem, the settings as asked, and
    the request the backend gets (prompt, budget clamped to the context, the seed used)."""

    problem: str
    params: SamplingParams
    request: GenerationRequest

    @property
    def seed(self) -> int:
        return self.request.seed

    @property
    def max_new_tokens(self) -> int:
        return self.request.max_new_tokens


@dataclass(frozen=True)
class PreparedFollowUp:
    """A validated follow-up question, ready for a backend: the cleaned question, the
    conversation as the model gets it (`prompt.notice` says what was left out) and the run,
    a greedy row with the follow-up's own budget."""

    question: str
    prompt: ConversationPrompt
    run: PreparedRun

    @property
    def request(self) -> GenerationRequest:
        return self.run.request

    @property
    def dropped_exchanges(self) -> int:
        return self.prompt.dropped_exchanges

    @property
    def notice(self) -> str | None:
        return self.prompt.notice


class Solver:
    """Streams, votes and ranks solves of one model through one backend.

    `scorer` (a `judgements.ranking.RewardScorer`) ranks the samples when a run finishes; without
    one, the result has a vote but no ranking.
    """

    def __init__(self, backend: Backend, *, scorer: RewardScorer | None = None, max_problem_chars: int = 4000) -> None:
        self.backend = backend
        self.scorer = scorer
        self.max_problem_chars = max_problem_chars
        # One thread: a reward model is one more model on the device, scored one run at a time;
        # the step checker's work queues here too, in order, off every decode thread.
        self._ranker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="solver-rank")
        self._speed: DecodeSpeed | None = None

    @property
    def info(self) -> BackendInfo:
        return self.backend.info

    @property
    def speed(self) -> DecodeSpeed:
        """The backend's decode speed: a prior until a run finishes, then what runs measured."""
        if self._speed is None:
            self._speed = DecodeSpeed.for_backend(self.info)
        return self._speed

    @property
    def queue_length(self) -> int:
        return self.backend.queue_length

    def close(self) -> None:
        self.backend.close()
        self._ranker.shutdown(wait=False, cancel_futures=True)

    # ----------------------------------------------------------------- phases

    def prepare(self, problem: object, params: SamplingParams) -> PreparedRun:
        """Validate, build the prompt and clamp the budget; raise before any model work.

        Raises `InvalidProblemError`, `PromptTooLongError`, `ConfigError` (reasoning with Python
        asked where no sandbox runs code), or `BackendUnavailable` when the backend cannot be
        reached to learn the model's tokenizer.
        """
        cleaned = validate_problem(problem, self.max_problem_chars)
        self.backend.ready()
        if params.tir and not self.info.tools:
            raise ConfigError("Reasoning with Python is not offered here (no sandbox runs the model's code); "
                              "switch it to 'in words'.")
        tokenizer = self.backend.tokenizer
        family = self.info.family
        prompt_ids = build_prompt(tokenizer, cleaned, family, tir=params.tir)
        context = self.info.context_length
        room = context - len(prompt_ids)
        if room < MIN_ANSWER_TOKENS:
            raise PromptTooLongError(
                f"The problem takes {len(prompt_ids):,} tokens with the prompt, leaving {max(room, 0)} of the "
                f"model's {context:,}-token context for the solution (at least {MIN_ANSWER_TOKENS} needed). "
                "Shorten the problem."
            )
        request = GenerationRequest(
            prompt_text=render_prompt(tokenizer, cleaned, family, tir=params.tir),
            prompt_ids=tuple(prompt_ids),
            greedy=params.include_greedy,
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_new_tokens=min(params.max_new_tokens, room),
            seed=params.seed if params.seed is not None else secrets.randbelow(2**31),
            tir=params.tir,
        )
        return PreparedRun(cleaned, params, request)

    def stream(
        self, run: PreparedRun | str, params: SamplingParams | None = None, *, cancel: threading.Event | None = None
    ) -> Iterator[StreamEvent]:
        """Yield `Queued`, `Started`, `Delta`s and `RowDone`s as the backend produces them, and
        always end with one `RunDone` (cancelled and failed runs included).

        `run` is a `PreparedRun`, or a problem to prepare with `params` (then validation errors
        are raised before anything is yielded). Closing the iterator cancels the run.
        """
        if not isinstance(run, PreparedRun):
            if params is None:
                raise TypeError("stream(problem, params): the sampling settings are missing")
            run = self.prepare(run, params)
        return self._stream(run, cancel or threading.Event())

    def solve(self, run: PreparedRun | str, params: SamplingParams | None = None, **kwargs: Any) -> RunResult:
        """Run to completion and return the result (no streaming)."""
        for event in self.stream(run, params, **kwargs):
            if isinstance(event, RunDone):
                return event.result
        raise GenerationError("The run ended without a result.")  # pragma: no cover - every run ends with RunDone

    # ------------------------------------------------------------ follow-ups

    def prepare_follow_up(
        self,
        problem: str,
        solution: str,
        question: object,
        earlier: Sequence[tuple[str, str]] = (),
        *,
        max_new_tokens: int = DEFAULT_FOLLOW_UP_TOKENS,
    ) -> PreparedFollowUp:
        """Validate a follow-up question about `solution` and build its conversation
        (`model.conversation`); raise before any model work.

        `problem` is the attempt's problem as solved, `solution` the text of the solution asked
        about, `earlier` the (question, answer) pairs asked about it before, oldest first.
        The prompt may use the context less `max_new_tokens` (at most half the context); the
        answer gets `max_new_tokens`, clamped to what the prompt leaves. Raises
        `InvalidQuestionError`, `PromptTooLongError`, `ConfigError` (a bad budget), or
        `BackendUnavailable`.
        """
        cleaned = validate_question(question, self.max_problem_chars)
        if not isinstance(problem, str) or not isinstance(solution, str):
            raise ConfigError("A follow-up needs the problem and the solution as text.")
        params = SamplingParams(n=0, temperature=0.0, top_p=1.0, max_new_tokens=max_new_tokens, seed=0)
        self.backend.ready()
        context = self.info.context_length
        reserve = min(max_new_tokens, context // 2)
        prompt = fit_conversation(
            self.backend.tokenizer, self.info.family, problem, solution, earlier, cleaned, context - reserve
        )
        request = GenerationRequest(
            prompt_text=prompt.text,
            prompt_ids=prompt.ids,
            greedy=True,
            n=0,
            temperature=0.0,
            top_p=1.0,
            max_new_tokens=min(max_new_tokens, context - len(prompt.ids)),
            seed=0,
        )
        return PreparedFollowUp(cleaned, prompt, PreparedRun(cleaned, params, request))

    def stream_follow_up(self, follow_up: PreparedFollowUp, *, cancel: threading.Event | None = None) -> Iterator[StreamEvent]:
        """Stream the answer to a prepared follow-up like a solve with only its greedy row:
        `Queued`, `Started`, `Delta`s and one `RowDone` for row 0, then `RunDone` whose
        `result.greedy` is the answer (no vote, no ranking). It waits in the same queue and
        shares the same batch as solves; `cancel` or closing the iterator stops it. An answer is
        not a solution: nothing checks its steps."""
        return self._stream(follow_up.run, cancel or threading.Event(), analyse=False)

    def follow_up(self, follow_up: PreparedFollowUp, **kwargs: Any) -> RunResult:
        """Answer a prepared follow-up to completion (no streaming); `result.greedy` is the answer."""
        for event in self.stream_follow_up(follow_up, **kwargs):
            if isinstance(event, RunDone):
                return event.result
        raise GenerationError("The follow-up ended without a result.")  # pragma: no cover - every run ends with RunDone

    # ----------------------------------------------------------------- one run

    def _stream(self, run: PreparedRun, cancel: threading.Event, *, analyse: bool = True) -> Iterator[StreamEvent]:
        request = run.request
        submitted = time.perf_counter()
        solutions = {row: Solution(row, kind_of_row(row)) for row in request.rows}
        parts: dict[int, list[str]] = {row: [] for row in request.rows}
        clock = _Clock(submitted)
        error: str | None = None
        events: Iterator[Any] | None = None
        checking: deque[tuple[int, Future[SolutionCheck]]] = deque()  # rows on the checker, in order
        checks: dict[int, SolutionCheck] = {}
        try:
            events = self.backend.stream(request, cancel)
            for event in events:
                if isinstance(event, TextDelta):
                    clock.token()
                    parts[event.row].append(event.text)
                    yield Delta(event.row, event.text)
                elif isinstance(event, CodeRan):
                    solutions[event.row].tool_calls.append(event.call)
                    yield ToolRan(event.row, event.call)
                elif isinstance(event, RowFinished):
                    solution = finish_row(solutions[event.row], "".join(parts[event.row]), event)
                    clock.row_done(event.row)
                    if event.reason == "error" and error is None:
                        error = event.detail or "Generation failed."
                    yield RowDone(solution)
                    if analyse:
                        checking.append((solution.index, self._ranker.submit(check_row, solution, run.problem)))
                elif isinstance(event, Decoding):
                    clock.start()
                    yield Started(len(request.prompt_ids), request.rows, request.seed, request.max_new_tokens)
                elif isinstance(event, Waiting):
                    yield Queued(event.ahead)
                while checking and checking[0][1].done():
                    checked = _take_check(checking, checks)
                    if checked is not None:
                        yield RowChecked(checked)
        except BackendUnavailable as exc:
            error = str(exc)
        except BackendError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - any failure still ends the run with a result
            log.exception("the backend failed")
            error = f"Generation failed: {type(exc).__name__}: {exc}"
        finally:
            # Also reached when the consumer closes this iterator (Stop, page gone): cancel the run.
            if not all(s.finished for s in solutions.values()):
                cancel.set()
            close = getattr(events, "close", None)
            if close is not None:
                close()
        for row, solution in solutions.items():
            if not solution.finished:
                reason = "error" if error else "cancelled"
                finish_row(solution, "".join(parts[row]), RowFinished(row, reason, 0))  # type: ignore[arg-type]
                yield RowDone(solution)
        while checking:
            _take_check(checking, checks)  # the rest: the run's analysis carries them
        yield RunDone(self._result(run, solutions, clock, error, checks if analyse else None))

    def _result(
        self, run: PreparedRun, solutions: dict[int, Solution], clock: "_Clock", error: str | None,
        checks: Mapping[int, SolutionCheck] | None,
    ) -> RunResult:
        """The run's result: voted, ranked, and (`checks` given, a solve) analysed."""
        ordered = [solutions[row] for row in run.request.rows]
        greedy = next((s for s in ordered if s.kind == "greedy"), None)
        samples = [s for s in ordered if s.kind == "sampled"]
        result = RunResult(
            problem=run.problem,
            seed=run.seed,
            max_new_tokens=run.max_new_tokens,
            greedy=greedy,
            samples=samples,
            timings=clock.timings(len(run.request.prompt_ids), ordered),
            cancelled=any(s.finish_reason == "cancelled" for s in ordered),
            error=error,
        )
        if error is None:  # the decode speed, for the next runs' estimates (cancelled runs decoded too)
            self.speed.record(len(ordered), result.timings.generated_tokens, result.timings.total_s)
        if samples:
            try:
                result.vote = vote(samples)
            except Exception as exc:  # noqa: BLE001 - a failing vote must not lose the solutions
                log.exception("the vote failed")
                result.notes.append(f"The vote failed ({type(exc).__name__}: {exc}); no Maj@N for this run.")
        ranks = result.vote is not None and not result.cancelled and error is None and self.scorer is not None
        if ranks or checks is not None:
            # Scoring runs a reward model, and the map reads the step rewards: on the ranking
            # thread, one after the other, never on a decode thread.
            self._ranker.submit(self._judge, result, ranks, checks).result()
        return result

    def _judge(self, result: RunResult, ranks: bool, checks: Mapping[int, SolutionCheck] | None) -> None:
        if ranks:
            rank(result, self.scorer)  # type: ignore[arg-type]
        if checks is not None:
            analyse(result, checks)


def open_solver(config: Any, *, inline: bool = False, tools: Any = None) -> tuple[Solver, str | None]:
    """The Solver a configuration describes: its backend (`model.backends`, `tools` running the
    model's code for reasoning with Python) and the reward scorer, with the reason when ranking
    fell back to confidence (else None).

    The reward model always runs in this process: with a server backend it goes on this
    machine's own device. `auto` with the bundled policy means the bundled reward model; with
    a real policy, a reward model made for it (`model.reward.made_for`), else confidence and a
    note that says how to add one.
    """
    from model.backends import open_backend
    from model.reward import load_scorer
    from model.reward.made_for import policy_of

    backend = open_backend(config, inline=inline, tools=tools)
    info = backend.info
    spec = "bundled" if config.reward_model == "auto" and info.source == "bundled" else config.reward_model
    local = info.kind == "local"
    try:
        scorer, note = load_scorer(
            spec,
            device=info.device.split(":")[0] if local else config.device,
            precision=info.precision if local else "auto",
            policy_family=info.family,
            policy=policy_of(info.source, info.family),
        )
    except BaseException:
        backend.close()
        raise
    return Solver(backend, scorer=scorer, max_problem_chars=config.max_problem_chars), note


def finish_row(solution: Solution, text: str, event: RowFinished) -> Solution:
    """Fill a finished row: its text, reason, tokens, log-probability and extracted answer."""
    solution.text = text
    solution.finish_reason = event.reason
    solution.tokens = event.tokens
    solution.mean_logprob = event.mean_logprob
    solution.answer = extract_answer(text) if event.reason in ANSWERED_REASONS and text else None
    return solution


def vote(samples: list[Solution]) -> Any:
    """Maj@N over the samples' answers; each sample learns its cluster."""
    result = majority_vote([s.answer for s in samples])
    for sample, cluster in zip(samples, result.assignments):
        sample.cluster = cluster
    return result


def analyse(result: RunResult, checks: Mapping[int, SolutionCheck]) -> None:
    """Judge the run once (`judgements.analysis`); a failing check leaves a note, not an error."""
    try:
        result.analysis = analyse_run(result.greedy, result.samples, result.vote, checks=checks, problem=result.problem)
    except Exception as exc:  # noqa: BLE001 - a checker failure must not lose the answer
        log.exception("the step check failed")
        result.notes.append(f"The step check failed ({type(exc).__name__}: {exc}); no marks, checked vote or map for this run.")


def _take_check(checking: deque[tuple[int, Future[SolutionCheck]]], checks: dict[int, SolutionCheck]) -> SolutionAnalysis | None:
    """The oldest row's check, kept in `checks` (None when it failed: the analysis tries again
    and says why)."""
    index, future = checking.popleft()
    try:
        check = future.result()
    except Exception:  # noqa: BLE001 - reported by `analyse` when it checks the row again
        log.exception("checking row %d failed", index)
        return None
    checks[index] = check
    return SolutionAnalysis.of(index, check)


def rank(result: RunResult, scorer: RewardScorer) -> None:
    """Score the samples and rank them; a failing scorer leaves a note, not an error."""
    try:
        scores = scorer.score(result.problem, result.samples)
    except Exception as exc:  # noqa: BLE001 - a reward model failure must not lose the answer
        log.exception("reward scoring failed")
        result.notes.append(f"Reward scoring failed ({type(exc).__name__}: {exc}); no RM@N for this run.")
        return
    result.ranking = rank_solutions(
        result.samples,
        result.vote,
        scores,
        scorer_name=scorer.name,
        label=scorer.label,
        greedy_answer=result.greedy.answer if result.greedy else None,
    )
    for sample, score, weight in zip(result.samples, scores, result.ranking.weights):
        sample.reward = score.total
        sample.step_rewards = list(score.steps) if score.steps is not None else None
        sample.weight = weight


class _Clock:
    """When the run was submitted, started, wrote its first token, and each row finished."""

    def __init__(self, submitted: float) -> None:
        self.submitted = submitted
        self.started: float | None = None
        self.first_token: float | None = None
        self.row_ends: dict[int, float] = {}

    def start(self) -> None:
        self.started = time.perf_counter()

    def token(self) -> None:
        if self.first_token is None:
            self.first_token = time.perf_counter()

    def row_done(self, row: int) -> None:
        self.row_ends[row] = time.perf_counter()

    def timings(self, prompt_tokens: int, solutions: list[Solution]) -> Timings:
        ended = time.perf_counter()
        started = self.started if self.started is not None else ended
        generated = sum(s.tokens for s in solutions)
        total = max(ended - started, 1e-9)
        per_stream = [
            s.tokens / max(self.row_ends[s.index] - started, 1e-9)
            for s in solutions
            if s.tokens and s.index in self.row_ends
        ]
        return Timings(
            queued_s=started - self.submitted,
            time_to_first_token_s=self.first_token - started if self.first_token is not None else None,
            total_s=total if self.started is not None else 0.0,
            prompt_tokens=prompt_tokens,
            generated_tokens=generated,
            tokens_per_s=generated / total if self.started is not None else 0.0,
            tokens_per_s_per_stream=sum(per_stream) / len(per_stream) if per_stream else 0.0,
        )


__all__ = [
    "DEFAULT_FOLLOW_UP_TOKENS",
    "MIN_ANSWER_TOKENS",
    "PreparedFollowUp",
    "PreparedRun",
    "Solver",
    "analyse",
    "finish_row",
    "open_solver",
    "rank",
    "validate_problem",
    "validate_question",
    "vote",
]
