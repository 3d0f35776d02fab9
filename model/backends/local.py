"""The `local` backend: in-process transformers decoding of one loaded model.

A run decodes the greedy row (0) and the N sampled rows (1..N) in ONE batch: the prompt is
prefilled once, its KV cache repeated for every row, and each step feeds one token per
unfinished row. Each row has its own incremental decoder, so every row streams its own text;
finished rows leave the batch, so the remaining ones run faster.

Runs are served one at a time from a FIFO queue by a single worker thread, so concurrent users
never mix outputs. Each run has a cancel event that the decode loop checks before every step.
With `inline=True` (ZeroGPU Spaces, where the GPU exists only inside the request's own call)
a run decodes in the caller's thread instead, behind a lock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from model.backend import (
    BackendError,
    BackendEvent,
    BackendInfo,
    BackendUnavailable,
    Decoding,
    GenerationRequest,
    RowFinished,
    TextDelta,
    Waiting,
)
from model.errors import OutOfMemoryError
from model.loading import LoadedModel
from model.repetition import RepetitionGuard
from model.streaming import IncrementalDecoder

log = logging.getLogger(__name__)

# The worker hands events to the consumer once per decoding step at most, and holds plain text
# deltas up to this long: fewer cross-thread wake-ups, less GIL contention with the decoder.
FLUSH_INTERVAL_S = 0.02
# Marks the end of one decoding step inside the backend (never reaches a consumer).
_STEP_END = object()


@dataclass
class _Row:
    """Decoding state of one row."""

    index: int
    greedy: bool
    decoder: IncrementalDecoder
    logprob_sum: float = 0.0
    tokens: int = 0
    finish: str | None = None

    def finished(self, detail: str | None = None) -> RowFinished:
        mean = self.logprob_sum / self.tokens if self.tokens else None
        return RowFinished(self.index, self.finish or "error", self.tokens, mean, detail)  # type: ignore[arg-type]


@dataclass
class _Job:
    request: GenerationRequest
    cancel: threading.Event
    events: "queue.Queue[list[Any] | None]" = field(default_factory=queue.Queue)
    done: bool = False


class LocalBackend:
    """Streams the rows of a run from one model loaded in this process."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        max_queue: int = 32,
        inline: bool = False,
        guard: RepetitionGuard | None = None,
    ) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.max_queue = max_queue
        self.inline = inline
        self.guard = guard or RepetitionGuard()
        info = loaded.info
        self._info = BackendInfo(
            kind="local",
            model=info.name,
            family=info.family,
            precision=info.precision,
            device=info.device,
            context_length=info.context_length,
            seeds=True,
            logprobs=True,
            parameters=info.parameters,
            memory_bytes=info.memory_bytes,
            source=info.source,
            fallback_reason=info.fallback_reason,
        )
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
            self._worker = threading.Thread(target=self._work, name="local-backend", daemon=True)
            self._worker.start()

    # ----------------------------------------------------------------- the protocol

    @property
    def info(self) -> BackendInfo:
        return self._info

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def ready(self) -> None:
        if self._closed:
            raise BackendUnavailable("The model is shut down.")

    def health(self) -> str | None:
        return "The model is shut down." if self._closed else None

    @property
    def queue_length(self) -> int:
        return self._waiting + (1 if self._running else 0)

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[BackendEvent]:
        job = _Job(request, cancel)
        if self.inline:
            return self._stream_inline(job)
        return self._stream_queued(job)

    def close(self) -> None:
        """Stop the worker after the queued runs."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)

    # ----------------------------------------------------------------- threading

    def _stream_queued(self, job: _Job) -> Iterator[BackendEvent]:
        with self._waiting_lock:
            if self._closed:
                raise BackendUnavailable("The model is shut down.")
            if self._waiting >= self.max_queue:
                raise BackendUnavailable(
                    f"The server is busy: {self._waiting} problems are already waiting. Try again in a minute."
                )
            ahead = self._waiting + (1 if self._running else 0)
            self._waiting += 1
        self._jobs.put(job)
        try:
            if ahead:
                yield Waiting(ahead=ahead)
            while True:
                batch = job.events.get()
                if batch is None:
                    return
                yield from batch
        finally:
            # The consumer stopped reading (Stop pressed, page closed, iterator dropped).
            if not job.done:
                job.cancel.set()

    def _stream_inline(self, job: _Job) -> Iterator[BackendEvent]:
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
        batch: list[Any] = []
        last_flush = 0.0
        sent_text = False
        urgent = False
        for event in self._run(job):
            if event is _STEP_END:
                now = time.perf_counter()
                if batch and (urgent or not sent_text or now - last_flush >= FLUSH_INTERVAL_S):
                    sent_text = sent_text or any(isinstance(e, TextDelta) for e in batch)
                    job.events.put(batch)
                    batch, last_flush, urgent = [], now, False
                continue
            batch.append(event)
            urgent = urgent or not isinstance(event, TextDelta)
        if batch:
            job.events.put(batch)

    # ----------------------------------------------------------------- one run

    def _run(self, job: _Job) -> Iterator[Any]:
        """Decode one job and yield its events; a failure ends the unfinished rows `error`."""
        request = job.request
        tokenizer = self.loaded.tokenizer
        rows = [_Row(i, i == 0 and request.greedy, IncrementalDecoder(tokenizer)) for i in request.rows]
        if job.cancel.is_set():
            for row in rows:
                row.finish = "cancelled"
                yield row.finished()
            job.done = True
            return
        yield Decoding()
        error: BackendError | None = None
        try:
            yield from self._decode(job, rows)
        except OutOfMemoryError as exc:
            error = BackendError(str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure must still end every row
            log.exception("generation failed")
            error = BackendError(f"Generation failed: {type(exc).__name__}: {exc}")
        if error is not None:
            for row in rows:
                if row.finish is None:
                    row.finish = "error"
                    yield row.finished(str(error))
        job.done = True

    def _decode(self, job: _Job, rows: list[_Row]) -> Iterator[Any]:
        import torch

        request = job.request
        device = self.device
        generator = torch.Generator(device=device)
        generator.manual_seed(request.seed)
        greedy_mask = torch.tensor([r.greedy for r in rows], device=device)
        try:
            cache, logits = self._prefill(list(request.prompt_ids), len(rows))
            active = list(range(len(rows)))  # batch position -> index into rows
            while active:
                if job.cancel.is_set():
                    for pos in active:
                        rows[pos].finish = "cancelled"
                        yield rows[pos].finished()
                    return
                all_greedy = all(rows[pos].greedy for pos in active)
                tokens, logprobs = choose_tokens(logits, greedy_mask, all_greedy, request, generator)
                token_list = tokens.tolist()
                logprob_list = logprobs.tolist()
                keep: list[int] = []
                for batch_pos, pos in enumerate(active):
                    row = rows[pos]
                    token = token_list[batch_pos]
                    if token in self._stop_ids:
                        row.finish = "stop"
                    else:
                        row.tokens += 1
                        row.logprob_sum += logprob_list[batch_pos]
                        delta = row.decoder.push(token)
                        if delta:
                            yield TextDelta(row.index, delta)
                        if row.tokens >= request.max_new_tokens:
                            row.finish = "length"
                        elif row.tokens % self.guard.check_every == 0 and self.guard.looping(row.decoder.ids, row.decoder.text):
                            row.finish = "repetition"
                    if row.finish is None:
                        keep.append(batch_pos)
                    else:
                        tail = row.decoder.flush()
                        if tail:
                            yield TextDelta(row.index, tail)
                        yield row.finished()
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
                f"The GPU ran out of memory with {len(rows)} solutions of up to {request.max_new_tokens} tokens. "
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


def choose_tokens(
    logits: Any, greedy_mask: Any, all_greedy: bool, request: GenerationRequest, generator: Any
) -> tuple[Any, Any]:
    """Next token per row (argmax for greedy rows, temperature/top-p sampling otherwise) and its
    log-probability under the model's own distribution (temperature 1).

    `all_greedy` comes from the host so that no decision here waits on the GPU: the only
    device-to-host copy of a step is the caller's read of the chosen tokens.
    """
    import torch

    with torch.inference_mode():
        greedy = logits.argmax(dim=-1)
        if request.temperature == 0 or all_greedy:
            tokens = greedy
        else:
            probs = torch.softmax(logits / request.temperature, dim=-1)
            if request.top_p < 1.0:
                sorted_probs, order = probs.sort(dim=-1, descending=True)
                # Drop a token when the tokens before it already cover top_p; the first is always kept.
                drop = (sorted_probs.cumsum(dim=-1) - sorted_probs) >= request.top_p
                sorted_probs = sorted_probs.masked_fill(drop, 0.0)
                picked = torch.multinomial(sorted_probs, 1, generator=generator).squeeze(-1)
                sampled = order.gather(-1, picked[:, None]).squeeze(-1)
            else:
                sampled = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
            tokens = torch.where(greedy_mask, greedy, sampled)
        logprobs = logits.gather(-1, tokens[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    return tokens, logprobs


def cache_argument_name(model: Any) -> str:
    """`cache` in recent transformers, `past_key_values` before (renamed in 5.2x)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


__all__ = ["LocalBackend", "cache_argument_name", "choose_tokens"]
