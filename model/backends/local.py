"""The `local` backend: the model loaded in this process, one batch shared by every user.

One scheduler thread owns the model. A run (a greedy row and N samples) that arrives while
others decode joins the batch at the next step: its prompt is prefilled once (runs admitted
together are read in one forward) and copied to its rows, and its rows decode beside everyone
else's (`model.backends.slots`) until each finishes; the run's slots free up when all its rows
are done. Each run keeps its own cancel event, token budget, repetition guard and seed (per-row
randomness, `model.backends.sampling`). The rows in flight are capped (`max_batch_rows`, by
default from the memory free at start-up); runs beyond the cap wait in a FIFO line and hear
their place in it.

The scheduler only chooses tokens. Turning them into text (the incremental detokeniser) and
the repetition guard run in the consumer's own thread, off the decode path: a row the guard
stops is cut exactly at the check that fired, as if it had been checked on the decode thread,
so its text does not depend on timing.

With `inline=True` (ZeroGPU Spaces, where the GPU exists only inside the request's own call)
the caller's thread drives the same scheduler for its run alone, behind a lock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from model import memory
from model.backends.protocol import (
    BackendEvent,
    BackendInfo,
    BackendUnavailable,
    Decoding,
    GenerationRequest,
    RowFinished,
    TextDelta,
    Waiting,
)
from model.backends.slots import SlotModel, row_settings
from model.params import MAX_SAMPLES
from model.loading import LoadedModel
from model.repetition import RepetitionGuard
from model.streaming import IncrementalDecoder

log = logging.getLogger(__name__)

# The scheduler hands a run's tokens to its consumer at most this often (and whenever a row
# ends): fewer cross-thread wake-ups, less contention for the interpreter with the decode loop.
FLUSH_INTERVAL_S = 0.02
# Share of the memory free at start-up that the KV slots may take by default.
KV_MEMORY_SHARE = 0.6
FALLBACK_RAM = 8 * 1024**3  # where free RAM cannot be read
# Prompt tokens read in one forward when several runs are admitted at once (the activations of
# a forward grow with it).
PREFILL_TOKENS = 8192
# Default cap on rows in flight: two full runs of the largest N.
DEFAULT_MAX_ROWS = 2 * (MAX_SAMPLES + 1)


@dataclass
class _Run:
    """One run inside the backend: its request, its slots and what its rows have done."""

    request: GenerationRequest
    cancel: threading.Event
    stop_ids: frozenset[int]
    events: queue.Queue[list[tuple] | None] = field(default_factory=queue.Queue)
    start: int = -1  # first slot, once admitted
    length: int = 0  # positions filled in each of its slots
    # Per slot of the run, in slot order (start, start + 1, ...): which row sits there, whether it
    # still decodes, whether it takes the argmax, how many tokens it has made. Finished rows
    # leave at the end of each step and the rest move down, so the run keeps `size` slots.
    order: list[int] = field(default_factory=list)
    live: list[bool] = field(default_factory=list)
    greedy: list[bool] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    killed: set[int] = field(default_factory=set)  # rows the consumer's guard stopped
    pending: list[tuple] = field(default_factory=list)
    flushed_at: float = 0.0
    urgent: bool = False
    reported_ahead: int | None = None
    ended: bool = False

    @property
    def rows(self) -> tuple[int, ...]:
        return self.request.rows

    @property
    def size(self) -> int:
        """Slots the run holds: all its rows when admitted, its live rows after each step."""
        return len(self.order) if self.order else len(self.rows)

    def send(self, item: tuple, *, urgent: bool = False) -> None:
        self.pending.append(item)
        self.urgent = self.urgent or urgent

    def flush(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self.pending and (force or self.urgent or now - self.flushed_at >= FLUSH_INTERVAL_S):
            self.events.put(self.pending)
            self.pending, self.flushed_at, self.urgent = [], now, False

    def end(self) -> None:
        self.flush(force=True)
        self.ended = True
        self.events.put(None)


class LocalBackend:
    """Streams the rows of many runs from one model loaded in this process, in one batch."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        max_queue: int = 32,
        max_batch_rows: int | None = None,
        inline: bool = False,
        graphs: bool = True,
        guard: RepetitionGuard | None = None,
    ) -> None:
        self.loaded = loaded
        self.max_queue = max_queue
        self.inline = inline
        self.guard = guard or RepetitionGuard()
        info = loaded.info
        self._stop_ids = frozenset(loaded.stop_ids)
        self.max_rows = max_batch_rows or default_max_rows(loaded)
        self.slots = SlotModel(loaded.model, slots=self.max_rows, max_len=info.context_length, graphs=graphs and not inline)
        self.slots.warm_up()
        self.slots.capture(progress=_log_capture)
        notes = (self.slots.graph_note,) if self.slots.graph_note else ()
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
            notes=notes,
        )
        self._lock = threading.Condition()
        self._waiting: list[_Run] = []
        self._active: list[_Run] = []
        self._closed = False
        self.steps_done = 0  # decode steps taken (read by tests and benches)
        self._inline_lock = threading.Lock()
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
    def model(self) -> Any:
        return self.loaded.model

    def ready(self) -> None:
        if self._closed:
            raise BackendUnavailable("The model is shut down.")

    def health(self) -> str | None:
        return "The model is shut down." if self._closed else None

    @property
    def queue_length(self) -> int:
        with self._lock:
            return len(self._waiting) + len(self._active)

    @property
    def rows_in_flight(self) -> int:
        with self._lock:
            return sum(r.size for r in self._active)

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[BackendEvent]:
        if len(request.rows) > self.max_rows:
            raise BackendUnavailable(
                f"This run needs {len(request.rows)} rows but the batch holds {self.max_rows} "
                "(--max-batch-rows). Ask for fewer samples."
            )
        run = _Run(request, cancel, self._stop_ids)
        if self.inline:
            return self._consume(run, self._drive_inline(run))
        self._submit(run)
        return self._consume(run, _drain(run.events))

    def close(self) -> None:
        """Stop the scheduler; runs still in flight end `cancelled`."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        # Let the scheduler finish its step: a thread killed inside a torch op at interpreter
        # exit aborts the process ("terminate called without an active exception").
        worker = getattr(self, "_worker", None)
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=10)

    # ----------------------------------------------------------------- consumer side

    def _consume(self, run: _Run, batches: Iterator[list[tuple]]) -> Iterator[BackendEvent]:
        """Turn a run's tokens into text deltas and row ends (in the consumer's thread)."""
        tokenizer = self.loaded.tokenizer
        budget = run.request.max_new_tokens
        decoders = {row: IncrementalDecoder(tokenizer) for row in run.rows}
        sums = {row: 0.0 for row in run.rows}
        counts = {row: 0 for row in run.rows}
        done: set[int] = set()

        def finished(row: int, reason: str, detail: str | None = None) -> Iterator[BackendEvent]:
            tail = decoders[row].flush()
            if tail:
                yield TextDelta(row, tail)
            done.add(row)
            mean = sums[row] / counts[row] if counts[row] else None
            yield RowFinished(row, reason, counts[row], mean, detail)  # type: ignore[arg-type]

        try:
            for batch in batches:
                for item in batch:
                    kind = item[0]
                    if kind == "token":
                        _, row, token, logprob = item
                        if row in done:
                            continue  # cut by the guard; the scheduler had not heard yet
                        counts[row] += 1
                        sums[row] += logprob
                        delta = decoders[row].push(token)
                        if delta:
                            yield TextDelta(row, delta)
                        if counts[row] < budget and counts[row] % self.guard.check_every == 0 and self.guard.looping(
                            decoders[row].ids, decoders[row].text
                        ):
                            self._kill(run, row)
                            yield from finished(row, "repetition")
                    elif kind == "end":
                        _, row, reason, detail = item
                        if row not in done:
                            yield from finished(row, reason, detail)
                    elif kind == "waiting":
                        yield Waiting(item[1])
                    elif kind == "started":
                        yield Decoding()
        finally:
            if len(done) < len(run.rows):
                run.cancel.set()  # the consumer went away (Stop, page closed): free the rows

    def _kill(self, run: _Run, row: int) -> None:
        with self._lock:
            run.killed.add(row)

    # ----------------------------------------------------------------- scheduler side

    def _submit(self, run: _Run) -> None:
        with self._lock:
            if self._closed:
                raise BackendUnavailable("The model is shut down.")
            if len(self._waiting) >= self.max_queue:
                raise BackendUnavailable(
                    f"The server is busy: {len(self._waiting)} problems are already waiting. Try again in a minute."
                )
            self._waiting.append(run)
            self._lock.notify_all()

    def _drive_inline(self, run: _Run) -> Iterator[list[tuple]]:
        """ZeroGPU: the caller's thread runs the scheduler for its own run."""
        with self._inline_lock:
            with self._lock:
                self._waiting.append(run)
            while not run.ended:
                self._cycle()
                yield from _take(run.events)
            yield from _take(run.events)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._closed and not self._waiting and not self._active:
                    self._lock.wait()
                if self._closed:
                    break
            self._cycle()
        for run in self._waiting + self._active:
            self._end_all(run, "cancelled")

    def _cycle(self) -> None:
        """Admit the runs that fit, then decode one step for every row in flight."""
        with self._lock:
            admitted = self._admit_fitting()
            waiting = list(self._waiting)
        for group in _prefill_groups(admitted):
            self._prefill(group)
        for position, run in enumerate(waiting, 1):
            if run.reported_ahead != position:
                run.reported_ahead = position
                run.send(("waiting", position), urgent=True)
                run.flush()
        if self._active:
            self._step()

    def _admit_fitting(self) -> list[_Run]:
        """FIFO: take waiting runs while their rows fit (called with the lock held)."""
        for run in [r for r in self._waiting if r.cancel.is_set()]:
            self._waiting.remove(run)
            self._end_all(run, "cancelled")
        admitted = []
        while self._waiting:
            run = self._waiting[0]
            start = self._find_slots(len(run.rows))
            if start is None:
                break
            self._waiting.pop(0)
            run.start = start
            self._active.append(run)
            self._active.sort(key=lambda r: r.start)
            admitted.append(run)
        return admitted

    def _find_slots(self, count: int) -> int | None:
        """First free range of `count` slots, compacting the runs when only holes are left."""
        used = sum(r.size for r in self._active)
        if count > self.slots.slots - used or used + count > self.max_rows:
            return None
        start = _first_fit(self._active, count, self.slots.slots)
        if start is None:
            self._compact()
            start = _first_fit(self._active, count, self.slots.slots)
        return start

    def _compact(self) -> None:
        """Move the runs down so the used slots are 0..k-1 (fewer rows per step, no holes)."""
        cursor = 0
        for run in sorted(self._active, key=lambda r: r.start):
            if run.start != cursor:
                self.slots.move(run.start, cursor, run.size, run.length)
                run.start = cursor
            cursor += run.size

    def _prefill(self, runs: list[_Run], *, announce: bool = True) -> None:
        """Read the prompts of runs admitted together in one forward and hand out their first
        tokens. If that fails, each is read alone, so that one run's failure ends only that run
        (each run hears "started" once)."""
        plan = []
        for run in runs:
            request = run.request
            if announce:
                run.send(("started",), urgent=True)
            plan.append((request.prompt_ids, run.start, row_settings(run.rows, request.seed, request.temperature, request.top_p)))
        try:
            firsts = self.slots.prefill_many(plan)
        except Exception as exc:  # the runs end `error`, the others go on
            if len(runs) > 1:
                for run in runs:
                    self._prefill([run], announce=False)
                return
            log.exception("prefill failed")
            [run] = runs
            with self._lock:
                self._active.remove(run)
            self._end_all(run, "error", _failure(exc, len(run.rows), run.request.max_new_tokens))
            return
        for run, (_, _, settings), (tokens, logprobs) in zip(runs, plan, firsts):
            run.length = len(run.request.prompt_ids)
            run.order = list(run.rows)
            run.greedy = [s.greedy for s in settings]
            run.live = [True] * len(run.rows)
            run.counts = [0] * len(run.rows)
            self._take_tokens(run, tokens, logprobs)
            run.flush()

    def _step(self) -> None:
        self.steps_done += 1
        with self._lock:
            runs = list(self._active)
            for run in runs:
                for position, row in enumerate(run.order):
                    if run.live[position] and (row in run.killed):
                        run.live[position] = False
        for run in runs:
            if run.cancel.is_set():
                self._finish_rows(run, "cancelled")
        self._shrink()
        with self._lock:
            runs = list(self._active)
        if not runs:
            return
        groups = [(r.start, r.size, r.length + 1) for r in runs]
        sampling = any(live and not greedy for r in runs for live, greedy in zip(r.live, r.greedy))
        rows = self.slots.batch_rows(max(r.start + r.size for r in runs), sampling)
        try:
            tokens, logprobs = self.slots.step(rows, groups, sampling)
        except Exception as exc:  # every run in the batch ends `error`
            log.exception("decode step failed")
            detail = _failure(exc, sum(r.size for r in runs), max(r.request.max_new_tokens for r in runs))
            for run in runs:
                self._finish_rows(run, "error", detail)
            self.slots.reset()
            self._shrink()
            return
        for run in runs:
            run.length += 1
            self._take_tokens(run, tokens[run.start : run.start + run.size], logprobs[run.start : run.start + run.size])
            run.flush()
        self._shrink()

    def _take_tokens(self, run: _Run, tokens: list[int], logprobs: list[float]) -> None:
        """Hand a step's tokens to the run; end rows on a stop token or at the budget."""
        budget = run.request.max_new_tokens
        for position, row in enumerate(run.order):
            if not run.live[position]:
                continue
            token = tokens[position]
            if token in run.stop_ids:
                run.live[position] = False
                run.send(("end", row, "stop", None), urgent=True)
                continue
            run.counts[position] += 1
            run.send(("token", row, token, logprobs[position]))
            if run.counts[position] >= budget:
                run.live[position] = False
                run.send(("end", row, "length", None), urgent=True)

    def _finish_rows(self, run: _Run, reason: str, detail: str | None = None) -> None:
        for position, row in enumerate(run.order):
            if run.live[position]:
                run.live[position] = False
                run.send(("end", row, reason, detail), urgent=True)
        run.flush()

    def _shrink(self) -> None:
        """Runs with no live row end. When that lets a step compute fewer rows, finished rows
        also leave the batch: each run's live rows move down over its finished ones and the runs
        move down over the freed slots (moving costs a copy of their keys and values, so it is
        done only when it pays)."""
        with self._lock:
            for run in [r for r in self._active if not any(r.live)]:
                self._active.remove(run)
                run.end()
            if not self._active:
                return
            live_rows = sum(sum(r.live) for r in self._active)
            end = max(r.start + r.size for r in self._active)
            if self.slots.batch_rows(live_rows) >= self.slots.batch_rows(end):
                return
            for run in self._active:
                keep = [position for position, live in enumerate(run.live) if live]
                if len(keep) == len(run.order):
                    continue
                for target, source in enumerate(keep):
                    if target != source:
                        self.slots.move(run.start + source, run.start + target, 1, run.length)
                run.order = [run.order[p] for p in keep]
                run.greedy = [run.greedy[p] for p in keep]
                run.counts = [run.counts[p] for p in keep]
                run.live = [True] * len(keep)
            self._compact()

    def _end_all(self, run: _Run, reason: str, detail: str | None = None) -> None:
        for row in run.rows:
            run.send(("end", row, reason, detail), urgent=True)
        run.end()


def default_max_rows(loaded: LoadedModel) -> int:
    """Rows in flight by default: what the free memory holds at full context, at most
    DEFAULT_MAX_ROWS, at least one run of the largest N (fewer only if memory says so)."""
    import torch

    model = loaded.model
    config = model.config
    dtype_bytes = torch.finfo(model.model.embed_tokens.weight.dtype).bits // 8
    per_row = SlotModel.bytes_per_row(config, loaded.info.context_length, dtype_bytes)
    device = next(model.parameters()).device
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
    else:
        free = memory.free_bytes("cpu") or FALLBACK_RAM
    rows = int(free * KV_MEMORY_SHARE // per_row)
    return max(1, min(DEFAULT_MAX_ROWS, rows))


def _prefill_groups(runs: list[_Run]) -> list[list[_Run]]:
    """Runs admitted together, in groups whose prompts are read in one forward (at most
    PREFILL_TOKENS prompt tokens each, or one longer prompt alone)."""
    groups: list[list[_Run]] = []
    tokens = 0
    for run in runs:
        length = len(run.request.prompt_ids)
        if not groups or tokens + length > PREFILL_TOKENS:
            groups.append([])
            tokens = 0
        groups[-1].append(run)
        tokens += length
    return groups


def _first_fit(runs: list[_Run], count: int, capacity: int) -> int | None:
    cursor = 0
    for run in sorted(runs, key=lambda r: r.start):
        if run.start - cursor >= count:
            return cursor
        cursor = max(cursor, run.start + run.size)
    return cursor if capacity - cursor >= count else None


def _failure(exc: Exception, rows: int, budget: int) -> str:
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        torch.cuda.empty_cache()
        return (f"The GPU ran out of memory with {rows} solutions of up to {budget} tokens. "
                "Ask for fewer samples or fewer tokens.")
    return f"Generation failed: {type(exc).__name__}: {exc}"


def _drain(events: queue.Queue[list[tuple] | None]) -> Iterator[list[tuple]]:
    while True:
        batch = events.get()
        if batch is None:
            return
        yield batch


def _take(events: queue.Queue[list[tuple] | None]) -> Iterator[list[tuple]]:
    while True:
        try:
            batch = events.get_nowait()
        except queue.Empty:
            return
        if batch is not None:
            yield batch


def _log_capture(done: int, total: int) -> None:
    if done == total or done % 8 == 0:
        log.info("CUDA graphs: captured %d of %d decode steps", done, total)


__all__ = ["FLUSH_INTERVAL_S", "LocalBackend", "default_max_rows"]
