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

Tool-integrated reasoning (`request.tir`, with a code runner handed in): the scheduler watches
each such row's text for ```` ```output ````; the row then pauses (it keeps its slot and cache,
takes no tokens; the other rows go on) and its cell goes to `model.tools.CodeBench`, whose
threads decode the row's text, run the cell and tokenize the output. The scheduler picks the
finished run up at its next cycle: it hands the call and the output text to the consumer, reads
the output into the row's cache (`SlotModel.extend`) and lets the row draw on. On the CPU the
row's whole sequence is read again (`tool_reread`), so that its numbers from there on are
exactly those of a run whose prompt held the same text; on CUDA only the output is read.
Cancelling ends a paused row at once; its cell, if still running, is left to the sandbox's timeout.

With `inline=True` (ZeroGPU Spaces, where the GPU exists only inside the request's own call)
the caller's thread drives the same scheduler for its run alone, behind a lock.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future
from typing import Any

from model import memory
from model.backends.local_run import FLUSH_INTERVAL_S, Run, drain, first_fit, prefill_groups, take
from model.backends.protocol import (
    BackendEvent,
    BackendInfo,
    BackendUnavailable,
    CodeRan,
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
from model.tools import CODE_STOP, CodeBench, CodeRunner, ToolError

log = logging.getLogger(__name__)

# Share of the memory free at start-up that the KV slots may take by default.
KV_MEMORY_SHARE = 0.6
FALLBACK_RAM = 8 * 1024**3  # where free RAM cannot be read
# Default cap on rows in flight: two full runs of the largest N.
DEFAULT_MAX_ROWS = 2 * (MAX_SAMPLES + 1)
# While every row in the batch waits for its code, the scheduler looks at the cancel events this often.
IDLE_POLL_S = 0.02
# Characters of a tool-integrated row's text the scheduler keeps to find the stop in.
TAIL_CHARS = 2 * len(CODE_STOP)


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
        tools: CodeRunner | None = None,
        tool_reread: bool | None = None,
    ) -> None:
        """`tools` runs tool-integrated rows' code (`sandbox.Sandbox`; without one, runs that ask
        for `tir` are refused); `tool_reread` reads a paused row's whole sequence again after its
        output (default: on the CPU, where numbers are kept bit for bit; see the module notes)."""
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
        self.tools = CodeBench(tools) if tools is not None else None
        self.tool_reread = not self.slots.cuda if tool_reread is None else tool_reread
        self._text_tokenizer = loaded.tokenizer.backend_tokenizer
        self._pieces: dict[int, str] = {}
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
            tools=self.tools is not None,
        )
        self._lock = threading.Condition()
        self._waiting: list[Run] = []
        self._active: list[Run] = []
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
        if request.tir and self.tools is None:
            raise BackendUnavailable("Reasoning with Python is off here: no sandbox runs the model's code.")
        run = Run(request, cancel, self._stop_ids)
        if self.inline:
            return self._consume(run, self._drive_inline(run))
        self._submit(run)
        return self._consume(run, drain(run.events))

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
        if getattr(self, "tools", None) is not None:
            self.tools.close()

    # ----------------------------------------------------------------- consumer side

    def _consume(self, run: Run, batches: Iterator[list[tuple]]) -> Iterator[BackendEvent]:
        """Turn a run's tokens into text deltas and row ends (in the consumer's thread)."""
        tokenizer = self.loaded.tokenizer
        budget = run.request.max_new_tokens
        decoders = {row: IncrementalDecoder(tokenizer) for row in run.rows}
        sums = {row: 0.0 for row in run.rows}
        counts = {row: 0 for row in run.rows}
        done: set[int] = set()

        def flushed(row: int) -> Iterator[BackendEvent]:
            tail = decoders[row].flush()
            if tail:
                yield TextDelta(row, tail)

        def finished(row: int, reason: str, detail: str | None = None) -> Iterator[BackendEvent]:
            yield from flushed(row)
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
                    elif kind == "tool":
                        _, row, call, suffix = item
                        if row not in done:
                            yield from flushed(row)
                            yield CodeRan(row, call)
                            yield TextDelta(row, suffix)
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

    def _run_code(self, run: Run, row: int) -> None:
        """Send a paused row's cell to the code bench (its text is decoded there, off this thread)."""
        ids = list(run.history[row])
        text_of = functools.partial(self._text_tokenizer.decode, ids, skip_special_tokens=True)
        future = self.tools.submit(run.rounds[row], text_of)  # type: ignore[union-attr]
        future.add_done_callback(functools.partial(self._tool_done, run, row))

    def _tool_done(self, run: Run, row: int, future: Future[Any]) -> None:
        """A paused row's cell ran (on the code bench's thread): its output, tokenized here,
        waits for the scheduler. A failed sandbox ends the row `error`."""
        try:
            call, suffix = future.result()
            done: tuple[list[int], Any, str] | str = (self._text_tokenizer.encode(suffix, add_special_tokens=False).ids,
                                                      call, suffix)
        except CancelledError:
            return  # the backend is closing
        except ToolError as exc:
            done = str(exc)
        with self._lock:
            run.resumes[row] = done
            self._lock.notify_all()

    def _kill(self, run: Run, row: int) -> None:
        with self._lock:
            run.killed.add(row)
            self._lock.notify_all()

    # ----------------------------------------------------------------- scheduler side

    def _submit(self, run: Run) -> None:
        with self._lock:
            if self._closed:
                raise BackendUnavailable("The model is shut down.")
            if len(self._waiting) >= self.max_queue:
                raise BackendUnavailable(
                    f"The server is busy: {len(self._waiting)} problems are already waiting. Try again in a minute."
                )
            self._waiting.append(run)
            self._lock.notify_all()

    def _drive_inline(self, run: Run) -> Iterator[list[tuple]]:
        """ZeroGPU: the caller's thread runs the scheduler for its own run."""
        with self._inline_lock:
            with self._lock:
                self._waiting.append(run)
            while not run.ended:
                self._cycle()
                yield from take(run.events)
                with self._lock:
                    if not self._waiting and not self._busy():
                        self._lock.wait(IDLE_POLL_S)  # its rows wait for their code
            yield from take(run.events)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._closed and not self._waiting and not self._busy():
                    # Every row in flight waits for its code (or none is in flight).
                    self._lock.wait(IDLE_POLL_S if self._active else None)
                if self._closed:
                    break
            self._cycle()
        for run in self._waiting + self._active:
            self._end_all(run, "cancelled")

    def _busy(self) -> bool:
        """Whether a run in flight needs the scheduler now (called with the lock held)."""
        return any(run.wants_scheduler() for run in self._active)

    def _cycle(self) -> None:
        """Admit the runs that fit, read the tool output that came in, then decode one step for
        every row in flight."""
        with self._lock:
            admitted = self._admit_fitting()
            waiting = list(self._waiting)
            resumes = [(run, row, ids) for run in self._active for row, ids in run.resumes.items()]
            for run in self._active:
                run.resumes.clear()
        for group in prefill_groups(admitted):
            self._prefill(group)
        for run, row, ids in resumes:
            self._resume(run, row, ids)
        for position, run in enumerate(waiting, 1):
            if run.reported_ahead != position:
                run.reported_ahead = position
                run.send(("waiting", position), urgent=True)
                run.flush()
        if self._active:
            self._step()

    def _admit_fitting(self) -> list[Run]:
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
        start = first_fit(self._active, count, self.slots.slots)
        if start is None:
            self._compact()
            start = first_fit(self._active, count, self.slots.slots)
        return start

    def _compact(self) -> None:
        """Move the runs down so the used slots are 0..k-1 (fewer rows per step, no holes)."""
        cursor = 0
        for run in sorted(self._active, key=lambda r: r.start):
            if run.start != cursor:
                self.slots.move(run.start, cursor, run.size, run.length)
                run.start = cursor
            cursor += run.size

    def _prefill(self, runs: list[Run], *, announce: bool = True) -> None:
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
            run.begin(len(run.request.prompt_ids), [s.greedy for s in settings])
            self._take_tokens(run, tokens, logprobs)
            run.flush()

    def _resume(self, run: Run, row: int, done: tuple[list[int], Any, str] | str) -> None:
        """Hand a paused row's code run to its consumer, read the output into the row's cache and
        draw its next token (see the module notes); the row ends `length` when the output leaves
        no room, `error` when the sandbox failed."""
        if row not in run.order or run.cancel.is_set():
            return  # ended meanwhile; a cancelled run ends at the next step
        position = run.order.index(row)
        if not run.paused[position]:
            return
        request = run.request
        run.paused[position] = False
        if isinstance(done, str):
            run.send(("end", row, "error", done), urgent=True)
            run.flush()
            return
        ids, call, suffix = done
        run.send(("tool", row, call, suffix), urgent=True)
        history = run.history[row]
        # The token that completed the stop was drawn but not yet read into the cache.
        tokens, at = ([*request.prompt_ids, *history, *ids], 0) if self.tool_reread else ([history[-1], *ids], run.lengths[position])
        history.extend(ids)
        run.extra[row] = run.extra.get(row, 0) + len(ids)
        length = at + len(tokens)
        if run.counts[position] + run.extra[row] >= request.max_new_tokens or length >= self.slots.max_len:
            run.send(("end", row, "length", None), urgent=True)
            run.flush()
            return
        settings = row_settings([row], request.seed, request.temperature, request.top_p)[0]
        try:
            token, logprob = self.slots.extend(run.start + position, tokens, at, settings, run.counts[position])
        except Exception as exc:  # noqa: BLE001 - the row ends `error`, the others go on
            log.exception("reading a tool's output failed")
            run.send(("end", row, "error", _failure(exc, 1, request.max_new_tokens)), urgent=True)
            run.flush()
            return
        run.lengths[position] = length
        run.live[position] = True
        self._take(run, position, token, logprob)
        run.flush()

    def _step(self) -> None:
        with self._lock:
            runs = list(self._active)
            for run in runs:
                run.drop_killed()
        for run in runs:
            if run.cancel.is_set():
                self._finish_rows(run, "cancelled")
        self._shrink()
        with self._lock:
            runs = list(self._active)
        if not any(any(r.live) for r in runs):
            return  # nothing decodes: every row waits for its code
        self.steps_done += 1
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
            run.lengths = [length + live for length, live in zip(run.lengths, run.live)]
            self._take_tokens(run, tokens[run.start : run.start + run.size], logprobs[run.start : run.start + run.size])
            run.flush()
        self._shrink()

    def _take_tokens(self, run: Run, tokens: list[int], logprobs: list[float]) -> None:
        """Hand a step's tokens to the run's decoding rows."""
        for position, live in enumerate(run.live):
            if live:
                self._take(run, position, tokens[position], logprobs[position])

    def _take(self, run: Run, position: int, token: int, logprob: float) -> None:
        """One row's new token: the row ends on a stop token or at the budget, and a
        tool-integrated row pauses when its text reaches the code stop."""
        row = run.order[position]
        if token in run.stop_ids:
            run.live[position] = False
            run.send(("end", row, "stop", None), urgent=True)
            return
        run.counts[position] += 1
        run.send(("token", row, token, logprob))
        tir = run.request.tir
        if tir:
            run.history[row].append(token)
            run.tails[row] = (run.tails.get(row, "") + self._piece(token))[-TAIL_CHARS:]
        if run.counts[position] + run.extra.get(row, 0) >= run.request.max_new_tokens:
            run.live[position] = False
            run.send(("end", row, "length", None), urgent=True)
        elif tir and CODE_STOP in run.tails[row]:
            run.tails[row] = ""
            run.live[position] = False
            run.urgent = True
            if run.rounds[row].exhausted:  # no run left: the solution ends at its stop
                run.send(("end", row, "stop", None), urgent=True)
                return
            run.paused[position] = True
            self._run_code(run, row)

    def _piece(self, token: int) -> str:
        """A token's text alone (cached): enough to find the ASCII stop in a row's tail."""
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self._text_tokenizer.decode([token], skip_special_tokens=False)
        return piece

    def _finish_rows(self, run: Run, reason: str, detail: str | None = None) -> None:
        for position, row in enumerate(run.order):
            if run.live[position] or run.paused[position]:
                run.live[position] = run.paused[position] = False
                run.send(("end", row, reason, detail), urgent=True)
        run.flush()

    def _shrink(self) -> None:
        """Runs with no live row end. When that lets a step compute fewer rows, finished rows
        also leave the batch: each run's live rows move down over its finished ones and the runs
        move down over the freed slots (moving costs a copy of their keys and values, so it is
        done only when it pays)."""
        with self._lock:
            for run in [r for r in self._active if not r.holds()]:
                self._active.remove(run)
                run.end()
            if not self._active:
                return
            live_rows = sum(sum(r.live) + sum(r.paused) for r in self._active)
            end = max(r.start + r.size for r in self._active)
            if self.slots.batch_rows(live_rows) >= self.slots.batch_rows(end):
                return
            for run in self._active:
                keep = [p for p in range(len(run.order)) if run.live[p] or run.paused[p]]
                if len(keep) == len(run.order):
                    continue
                for target, source in enumerate(keep):
                    if target != source:
                        self.slots.move(run.start + source, run.start + target, 1, run.length)
                run.keep(keep)
            self._compact()

    def _end_all(self, run: Run, reason: str, detail: str | None = None) -> None:
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


def _failure(exc: Exception, rows: int, budget: int) -> str:
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        torch.cuda.empty_cache()
        return (f"The GPU ran out of memory with {rows} solutions of up to {budget} tokens. "
                "Ask for fewer samples or fewer tokens.")
    return f"Generation failed: {type(exc).__name__}: {exc}"


def _log_capture(done: int, total: int) -> None:
    if done == total or done % 8 == 0:
        log.info("CUDA graphs: captured %d of %d decode steps", done, total)


__all__ = ["FLUSH_INTERVAL_S", "LocalBackend", "default_max_rows"]
