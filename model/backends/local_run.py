"""One run inside the local backend (`model.backends.local`): its slots, what its rows have done,
and the line of token batches from the scheduler thread to the run's consumer.

Per slot of the run, in slot order (start, start + 1, ...), parallel lists say which row sits
there and what it is doing: decoding (`live`), waiting for its code to run (`paused`, tool-
integrated reasoning: it keeps its slot and its cache but takes no tokens), or finished
(neither). `lengths` counts the positions of each slot's cache the row has filled (its next
token goes at that position). Finished rows leave at the end of a step when that pays, and the
rest move down, so a run keeps `size` slots.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from judgements.solution import ToolCall
from model.backends.protocol import GenerationRequest
from model.tools import CodeRounds

# The scheduler hands a run's tokens to its consumer at most this often (and whenever a row
# ends or pauses): fewer cross-thread wake-ups, less contention for the interpreter with the
# decode loop.
FLUSH_INTERVAL_S = 0.02
# Prompt tokens read in one forward when several runs are admitted at once (the activations of
# a forward grow with it).
PREFILL_TOKENS = 8192


@dataclass
class Run:
    """One run inside the backend: its request, its slots and what its rows have done."""

    request: GenerationRequest
    cancel: threading.Event
    stop_ids: frozenset[int]
    events: queue.Queue[list[tuple] | None] = field(default_factory=queue.Queue)
    start: int = -1  # first slot, once admitted
    order: list[int] = field(default_factory=list)
    live: list[bool] = field(default_factory=list)
    paused: list[bool] = field(default_factory=list)
    greedy: list[bool] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # tokens the row's model drew (= its random stream's step)
    lengths: list[int] = field(default_factory=list)
    killed: set[int] = field(default_factory=set)  # rows the consumer stopped (guard, code limit, failed tool)
    # Tool-integrated rows, by row: their code runs, the tokens after the prompt (drawn and tool
    # output), the end of the text (where the stop is looked for), tool-output tokens (they use
    # the budget), and finished code runs waiting for the scheduler (set from the code bench's
    # threads under the backend's lock: (output ids, call, output text), or a failure's words).
    rounds: dict[int, CodeRounds] = field(default_factory=dict)
    history: dict[int, list[int]] = field(default_factory=dict)
    tails: dict[int, str] = field(default_factory=dict)
    extra: dict[int, int] = field(default_factory=dict)
    resumes: dict[int, tuple[list[int], ToolCall, str] | str] = field(default_factory=dict)
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
        """Slots the run holds: all its rows when admitted, its unfinished rows after each step."""
        return len(self.order) if self.order else len(self.rows)

    @property
    def length(self) -> int:
        """Positions filled in its longest slot (what a step's attention and a move must cover)."""
        return max(self.lengths, default=0)

    def begin(self, prompt_length: int, greedy: list[bool]) -> None:
        """Its rows after the prompt is read: every one decoding, each with its first token drawn."""
        self.order = list(self.rows)
        self.greedy = greedy
        self.live = [True] * len(self.rows)
        self.paused = [False] * len(self.rows)
        self.counts = [0] * len(self.rows)
        self.lengths = [prompt_length] * len(self.rows)
        if self.request.tir:
            self.history = {row: [] for row in self.rows}
            self.rounds = {row: CodeRounds() for row in self.rows}

    def keep(self, positions: list[int]) -> None:
        """Only the slots at `positions` stay, in that order (the others' rows have finished)."""
        for name in ("order", "live", "paused", "greedy", "counts", "lengths"):
            values = getattr(self, name)
            setattr(self, name, [values[p] for p in positions])

    def holds(self) -> bool:
        """Some row still decodes or waits for its code."""
        return any(self.live) or any(self.paused)

    def drop_killed(self) -> None:
        for position, row in enumerate(self.order):
            if row in self.killed:
                self.live[position] = self.paused[position] = False

    def wants_scheduler(self) -> bool:
        """Whether the scheduler has something to do for this run now."""
        return (any(self.live) or bool(self.resumes) or self.cancel.is_set()
                or any(row in self.killed and paused for row, paused in zip(self.order, self.paused)))

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


def prefill_groups(runs: list[Run]) -> list[list[Run]]:
    """Runs admitted together, in groups whose prompts are read in one forward (at most
    PREFILL_TOKENS prompt tokens each, or one longer prompt alone)."""
    groups: list[list[Run]] = []
    tokens = 0
    for run in runs:
        length = len(run.request.prompt_ids)
        if not groups or tokens + length > PREFILL_TOKENS:
            groups.append([])
            tokens = 0
        groups[-1].append(run)
        tokens += length
    return groups


def first_fit(runs: list[Run], count: int, capacity: int) -> int | None:
    cursor = 0
    for run in sorted(runs, key=lambda r: r.start):
        if run.start - cursor >= count:
            return cursor
        cursor = max(cursor, run.start + run.size)
    return cursor if capacity - cursor >= count else None


def drain(events: queue.Queue[list[tuple] | None]) -> Iterator[list[tuple]]:
    while True:
        batch = events.get()
        if batch is None:
            return
        yield batch


def take(events: queue.Queue[list[tuple] | None]) -> Iterator[list[tuple]]:
    while True:
        try:
            batch = events.get_nowait()
        except queue.Empty:
            return
        if batch is not None:
            yield batch


__all__ = ["FLUSH_INTERVAL_S", "PREFILL_TOKENS", "Run", "drain", "first_fit", "prefill_groups", "take"]
