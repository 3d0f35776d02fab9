"""The solver engine: one object per loaded model, shared by every request.

A run decodes the greedy solution (row 0) and N sampled solutions (rows 1..N) in ONE batch:
the prompt is prefilled once, its KV cache repeated for every row, and each step feeds one
token per unfinished row. Each row has its own incremental decoder, so every row streams its
own text; finished rows leave the batch, so the remaining ones run faster.

Requests are serialized: a single worker thread takes runs from a FIFO queue, so concurrent
users never mix outputs and the GPU holds one batch at a time. Each run has a cancel event;
the decode loop checks it before every step, so a Stop (or a client that goes away) ends the
run within one decoding step and frees the worker for the next request. With `inline=True`
(ZeroGPU Spaces, where the GPU exists only inside the request's own call) the run decodes in
the caller's thread instead, behind a lock.

Phases: `prepare` (validate, build the prompt, clamp the budget) -> `prefill` ->
`decode_step` x T -> `finish` (answers, vote, reward ranking).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

from model.config import SamplingParams
from model.errors import (
    GenerationError,
    InvalidProblemError,
    OutOfMemoryError,
    PromptTooLongError,
)
from model.loading import LoadedModel
from model.prompts import build_prompt
from model.repetition import RepetitionGuard
from model.streaming import IncrementalDecoder
from model.types import (
    GREEDY_ROW,
    Delta,
    Queued,
    RowDone,
    RunDone,
    RunResult,
    Solution,
    Started,
    StreamEvent,
    Timings,
)

log = logging.getLogger(__name__)

# A solution needs at least this many tokens of room in the context to be worth starting.
MIN_ANSWER_TOKENS = 32
# The worker hands events to the consumer once per decoding step at most, and holds plain text
# deltas up to this long: fewer cross-thread wake-ups, less GIL contention with the decoder.
FLUSH_INTERVAL_S = 0.02
# Marks the end of one decoding step inside the engine (never reaches a consumer).
_STEP_END = object()


def validate_problem(text: object, max_chars: int) -> str:
    """The problem as the model will see it, or `InvalidProblemError` saying what is wrong."""
    if not isinstance(text, str):
        raise InvalidProblemError("The problem must be text.")
    cleaned = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not cleaned:
        raise InvalidProblemError("Type a math problem first: the problem box is empty.")
    if len(cleaned) > max_chars:
        raise InvalidProblemError(
            f"The problem is {len(cleaned):,} characters long; the limit is {max_chars:,}. Shorten it."
        )
    controls = sum(1 for ch in cleaned if (ord(ch) < 32 and ch not in "\n\t") or ch == "\ufffd")
    if "\x00" in cleaned or controls > max(3, len(cleaned) // 100):
        raise InvalidProblemError(
            "The problem contains binary data or control characters, not text. Paste the problem as plain text."
        )
    return cleaned


@dataclass
class _Row:
    """Decoding state of one row."""

    index: int
    greedy: bool
    decoder: IncrementalDecoder
    logprob_sum: float = 0.0
    tokens: int = 0
    first_token_at: float | None = None
    done_at: float | None = None
    finish: str | None = None

    def solution(self) -> Solution:
        mean = self.logprob_sum / self.tokens if self.tokens else None
        return Solution(
            index=self.index,
            kind="greedy" if self.greedy else "sampled",
            text=self.decoder.text,
            token_count=self.tokens,
            finish_reason=self.finish or "error",  # type: ignore[arg-type]
            mean_logprob=mean,
        )


@dataclass
class _Job:
    problem: str
    prompt_ids: list[int]
    params: SamplingParams
    max_new_tokens: int
    seed: int
    cancel: threading.Event
    submitted_at: float
    events: "queue.Queue[list[StreamEvent] | None]" = field(default_factory=queue.Queue)
    done: bool = False


class Engine:
    """Streams greedy and sampled solutions from one loaded model.

    `scorer` (a `model.reward.RewardScorer`) ranks the samples when a run finishes; without
    one, the result has a vote but no ranking.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        scorer: Any | None = None,
        max_problem_chars: int = 4000,
        max_queue: int = 32,
        inline: bool = False,
        guard: RepetitionGuard | None = None,
    ) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.info = loaded.info
        self.scorer = scorer
        self.max_problem_chars = max_problem_chars
        self.max_queue = max_queue
        self.inline = inline
        self.guard = guard or RepetitionGuard()
        self._stop_ids = frozenset(loaded.stop_ids)
        self._cache_kwarg = cache_argument_name(self.model)
        self._jobs: "queue.Queue[_Job | None]" = queue.Queue()
        self._waiting = 0  # runs in the queue, not yet started
        self._running = False
        self._waiting_lock = threading.Lock()
        self._inline_lock = threading.Lock()
        self._closed = False
        self._worker: threading.Thread | None = None
        if not inline:
            self._worker = threading.Thread(target=self._work, name="engine-worker", daemon=True)
            self._worker.start()

    # ----------------------------------------------------------------- public API

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def context_length(self) -> int:
        return self.info.context_length

    def prepare(self, problem: str, params: SamplingParams) -> tuple[str, list[int], int]:
        """Validate and tokenize; raise before any GPU work if the run cannot fit.

        Returns (problem, prompt ids, max new tokens after clamping to the context).
        """
        problem = validate_problem(problem, self.max_problem_chars)
        prompt_ids = build_prompt(self.tokenizer, problem, self.info.family)
        room = self.context_length - len(prompt_ids)
        if room < MIN_ANSWER_TOKENS:
            raise PromptTooLongError(
                f"The problem takes {len(prompt_ids):,} tokens with the prompt, leaving {max(room, 0)} of the "
                f"model's {self.context_length:,}-token context for the solution (at least {MIN_ANSWER_TOKENS} "
                "needed). Shorten the problem."
            )
        return problem, prompt_ids, min(params.max_new_tokens, room)

    def stream(
        self, problem: str, params: SamplingParams, *, cancel: threading.Event | None = None
    ) -> Iterator[StreamEvent]:
        """Run greedy (row 0, if `params.include_greedy`) and `params.n` samples in one batch.

        Yields `Queued` (if others are ahead), `Started`, then `Delta`s and `RowDone`s as rows
        produce text and finish, and always ends with one `RunDone`. Raises `InvalidProblemError`
        / `PromptTooLongError` before queueing. Closing the iterator cancels the run.
        """
        problem, prompt_ids, max_new = self.prepare(problem, params)
        seed = params.seed if params.seed is not None else secrets.randbelow(2**31)
        job = _Job(problem, prompt_ids, params, max_new, seed, cancel or threading.Event(), time.perf_counter())
        if self.inline:
            yield from self._stream_inline(job)
            return
        yield from self._stream_queued(job)

    def stream_greedy(self, problem: str, params: SamplingParams, **kwargs: Any) -> Iterator[StreamEvent]:
        """Only the greedy solution (row 0)."""
        return self.stream(problem, replace(params, n=0, include_greedy=True), **kwargs)

    def stream_samples(self, problem: str, params: SamplingParams, **kwargs: Any) -> Iterator[StreamEvent]:
        """Only the N sampled solutions (rows 1..N)."""
        return self.stream(problem, replace(params, include_greedy=False), **kwargs)

    def solve(self, problem: str, params: SamplingParams, **kwargs: Any) -> RunResult:
        """Run to completion and return the result (no streaming)."""
        for event in self.stream(problem, params, **kwargs):
            if isinstance(event, RunDone):
                return event.result
        raise GenerationError("The run ended without a result.")  # pragma: no cover - stream always ends with RunDone

    def close(self) -> None:
        """Stop the worker after the queued runs."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)

    @property
    def queue_length(self) -> int:
        """Runs waiting or running now."""
        return self._waiting + (1 if self._running else 0)

    # ----------------------------------------------------------------- threading

    def _stream_queued(self, job: _Job) -> Iterator[StreamEvent]:
        with self._waiting_lock:
            if self._closed:
                raise GenerationError("The engine is shut down.")
            if self._waiting >= self.max_queue:
                raise GenerationError(
                    f"The server is busy: {self._waiting} problems are already waiting. Try again in a minute."
                )
            ahead = self._waiting + (1 if self._running else 0)
            self._waiting += 1
        self._jobs.put(job)
        try:
            if ahead:
                yield Queued(ahead=ahead)
            while True:
                batch = job.events.get()
                if batch is None:
                    return
                for event in batch:
                    yield event
                    if isinstance(event, RunDone):
                        return
        finally:
            # The consumer stopped reading (Stop pressed, page closed, iterator dropped).
            if not job.done:
                job.cancel.set()

    def _stream_inline(self, job: _Job) -> Iterator[StreamEvent]:
        with self._inline_lock:
            try:
                for event in self._run(job):
                    if event is not _STEP_END:
                        yield event
            finally:
                if not job.done:
                    job.cancel.set()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._waiting_lock:
                self._waiting -= 1
                self._running = True
            try:
                self._pump(job)
            finally:
                with self._waiting_lock:
                    self._running = False
                job.done = True
                job.events.put(None)

    def _pump(self, job: _Job) -> None:
        """Move a run's events to its consumer in batches (see FLUSH_INTERVAL_S)."""
        batch: list[StreamEvent] = []
        last_flush = 0.0
        sent_text = False
        urgent = False
        for event in self._run(job):
            if event is _STEP_END:
                now = time.perf_counter()
                if batch and (urgent or not sent_text or now - last_flush >= FLUSH_INTERVAL_S):
                    sent_text = sent_text or any(isinstance(e, Delta) for e in batch)
                    job.events.put(batch)
                    batch, last_flush, urgent = [], now, False
                continue
            batch.append(event)
            urgent = urgent or not isinstance(event, Delta)
        if batch:
            job.events.put(batch)

    # ----------------------------------------------------------------- one run

    def _run(self, job: _Job) -> Iterator[StreamEvent]:
        """Decode one job and yield its events, ending with `RunDone` whatever happens."""
        started = time.perf_counter()
        queued_s = started - job.submitted_at
        params = job.params
        rows: list[_Row] = []
        if params.include_greedy:
            rows.append(_Row(GREEDY_ROW, True, IncrementalDecoder(self.tokenizer)))
        rows += [_Row(i, False, IncrementalDecoder(self.tokenizer)) for i in range(1, params.n + 1)]
        error: str | None = None
        if job.cancel.is_set():
            for row in rows:
                row.finish = "cancelled"
        else:
            yield Started(prompt_tokens=len(job.prompt_ids), rows=tuple(r.index for r in rows), seed=job.seed)
            try:
                yield from self._decode(job, rows, started)
            except OutOfMemoryError as exc:
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - any failure must still end the run with a result
                log.exception("generation failed")
                error = f"Generation failed: {type(exc).__name__}: {exc}"
            if error:
                for row in rows:
                    if row.finish is None:
                        row.finish = "error"
                        row.done_at = time.perf_counter()
        ended = time.perf_counter()
        result = self._finish(job, rows, started, ended, queued_s, error)
        job.done = True
        yield RunDone(result)

    def _decode(self, job: _Job, rows: list[_Row], started: float) -> Iterator[StreamEvent]:
        import torch

        params = job.params
        device = self.device
        generator = torch.Generator(device=device)
        generator.manual_seed(job.seed)
        greedy_mask = torch.tensor([r.greedy for r in rows], device=device)
        try:
            cache, logits = self._prefill(job.prompt_ids, len(rows))
            active = list(range(len(rows)))  # batch position -> index into rows
            while active:
                if job.cancel.is_set():
                    now = time.perf_counter()
                    for pos in active:
                        rows[pos].finish, rows[pos].done_at = "cancelled", now
                        yield RowDone(rows[pos].solution())
                    return
                all_greedy = all(rows[pos].greedy for pos in active)
                tokens, logprobs = self._choose(logits, greedy_mask, all_greedy, params, generator)
                token_list = tokens.tolist()
                logprob_list = logprobs.tolist()
                now = time.perf_counter()
                keep: list[int] = []
                for batch_pos, pos in enumerate(active):
                    row = rows[pos]
                    token = token_list[batch_pos]
                    if row.first_token_at is None:
                        row.first_token_at = now
                    if token in self._stop_ids:
                        row.finish = "stop"
                    else:
                        row.tokens += 1
                        row.logprob_sum += logprob_list[batch_pos]
                        delta = row.decoder.push(token)
                        if delta:
                            yield Delta(row.index, delta)
                        if row.tokens >= job.max_new_tokens:
                            row.finish = "length"
                        elif row.tokens % self.guard.check_every == 0 and self.guard.looping(row.decoder.ids, row.decoder.text):
                            row.finish = "repetition"
                    if row.finish is None:
                        keep.append(batch_pos)
                    else:
                        tail = row.decoder.flush()
                        if tail:
                            yield Delta(row.index, tail)
                        row.done_at = now
                        yield RowDone(row.solution())
                yield _STEP_END
                if not keep:
                    return
                if len(keep) < len(active):
                    index = torch.tensor(keep, device=device)
                    cache.batch_select_indices(index)
                    tokens = tokens[index]
                    greedy_mask = greedy_mask[index]
                    active = [active[i] for i in keep]
                logits = self._decode_step(cache, tokens)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            raise OutOfMemoryError(
                f"The GPU ran out of memory with {len(rows)} solutions of up to {job.max_new_tokens} tokens. "
                "Ask for fewer samples or fewer tokens."
            ) from None

    def _prefill(self, prompt_ids: list[int], rows: int) -> tuple[Any, Any]:
        """Run the prompt once and repeat its KV cache for every row. Logits: [rows, vocab] fp32."""
        import torch
        from transformers import DynamicCache

        with torch.inference_mode():
            input_ids = torch.tensor([prompt_ids], device=self.device)
            cache = DynamicCache()
            out = self.model(input_ids=input_ids, use_cache=True, logits_to_keep=1, **{self._cache_kwarg: cache})
            logits = out.logits[:, -1, :].float()
            if rows > 1:
                cache.batch_repeat_interleave(rows)
                logits = logits.expand(rows, -1)
        return cache, logits

    def _decode_step(self, cache: Any, tokens: Any) -> Any:
        """Feed one token per active row; return next-token logits [rows, vocab] fp32."""
        import torch

        with torch.inference_mode():
            out = self.model(input_ids=tokens[:, None], use_cache=True, **{self._cache_kwarg: cache})
            return out.logits[:, -1, :].float()

    @staticmethod
    def _choose(
        logits: Any, greedy_mask: Any, all_greedy: bool, params: SamplingParams, generator: Any
    ) -> tuple[Any, Any]:
        """Next token per row (argmax for greedy rows, temperature/top-p sampling otherwise)
        and its log-probability under the model's own distribution (temperature 1).

        `all_greedy` comes from the host so that no decision here waits on the GPU: the only
        device-to-host copy of a step is the caller's read of the chosen tokens.
        """
        import torch

        with torch.inference_mode():
            greedy = logits.argmax(dim=-1)
            if params.temperature == 0 or all_greedy:
                tokens = greedy
            else:
                probs = torch.softmax(logits / params.temperature, dim=-1)
                if params.top_p < 1.0:
                    sorted_probs, order = probs.sort(dim=-1, descending=True)
                    # Drop a token when the tokens before it already cover top_p; the first is always kept.
                    drop = (sorted_probs.cumsum(dim=-1) - sorted_probs) >= params.top_p
                    sorted_probs = sorted_probs.masked_fill(drop, 0.0)
                    picked = torch.multinomial(sorted_probs, 1, generator=generator).squeeze(-1)
                    sampled = order.gather(-1, picked[:, None]).squeeze(-1)
                else:
                    sampled = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
                tokens = torch.where(greedy_mask, greedy, sampled)
            logprobs = logits.gather(-1, tokens[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)
        return tokens, logprobs

    # ----------------------------------------------------------------- results

    def _finish(
        self, job: _Job, rows: list[_Row], started: float, ended: float, queued_s: float, error: str | None
    ) -> RunResult:
        """Assemble the result: answers per solution, the vote and the reward ranking."""
        from model.answers import extract_answer, majority_vote

        solutions = [row.solution() for row in rows]
        for solution in solutions:
            # A stopped or failed row is unfinished thought: its "last number" is no answer.
            finished = solution.finish_reason in ("stop", "length", "repetition")
            solution.answer = extract_answer(solution.text) if finished and solution.text else None
        greedy = next((s for s in solutions if s.kind == "greedy"), None)
        samples = [s for s in solutions if s.kind == "sampled"]
        timings = self._timings(job, rows, started, ended, queued_s)
        result = RunResult(
            problem=job.problem,
            seed=job.seed,
            greedy=greedy,
            samples=samples,
            timings=timings,
            cancelled=any(r.finish == "cancelled" for r in rows),
            error=error,
        )
        if samples:
            result.vote = majority_vote([s.answer for s in samples])
            for cluster_id, cluster in enumerate(result.vote.clusters):
                for member in cluster.members:
                    samples[member].cluster = cluster_id
            if not result.cancelled and error is None:
                self._rank(result)
        return result

    def _rank(self, result: RunResult) -> None:
        """Score the samples and rank them; a failing scorer leaves a note, not an error."""
        if self.scorer is None:
            return
        from model.reward import rank_solutions

        try:
            scores = self.scorer.score(result.problem, result.samples)
        except Exception as exc:  # noqa: BLE001 - a reward model failure must not lose the answer
            log.exception("reward scoring failed")
            result.notes.append(f"Reward scoring failed ({type(exc).__name__}: {exc}); no RM@N for this run.")
            return
        for sample, score in zip(result.samples, scores):
            sample.reward = score.total
            sample.step_rewards = list(score.steps) if score.steps is not None else None
        result.ranking = rank_solutions(
            result.samples,
            result.vote,
            scores,
            scorer_name=self.scorer.name,
            label=self.scorer.label,
            greedy_answer=result.greedy.answer if result.greedy else None,
        )

    @staticmethod
    def _timings(job: _Job, rows: list[_Row], started: float, ended: float, queued_s: float) -> Timings:
        generated = sum(r.tokens for r in rows)
        firsts = [r.first_token_at for r in rows if r.first_token_at is not None]
        ttft = (min(firsts) - started) if firsts else None
        total = max(ended - started, 1e-9)
        per_stream = [
            r.tokens / max(r.done_at - started, 1e-9) for r in rows if r.done_at is not None and r.tokens
        ]
        return Timings(
            queued_s=queued_s,
            time_to_first_token_s=ttft,
            total_s=total,
            prompt_tokens=len(job.prompt_ids),
            generated_tokens=generated,
            tokens_per_s=generated / total,
            tokens_per_s_per_stream=sum(per_stream) / len(per_stream) if per_stream else 0.0,
        )


def cache_argument_name(model: Any) -> str:
    """`cache` in recent transformers, `past_key_values` before (renamed in 5.2x)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


__all__ = ["Engine", "cache_argument_name", "validate_problem", "MIN_ANSWER_TOKENS"]
