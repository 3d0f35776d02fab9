"""The seam between the Solver and whatever generates text: the Backend protocol.

A backend takes one `GenerationRequest` (the prompt, built once by the Solver with the model's
chat template, and the sampling settings: a greedy row, N sampled rows, temperature, top-p,
the token budget, a seed) and a cancel event, and yields `BackendEvent`s: where the run waits,
when decoding starts, per-row text deltas and per-row finishes (reason, token count, mean
log-probability when it knows one). It says what it is through `info`. It knows nothing about
answers, votes or rewards; the Solver does all of that, whatever the backend.

Rows: row 0 is the greedy solution when `request.greedy`, rows 1..N the samples. With
`request.tir` every row may run code (`model.tools`): a row stops at ```` ```output ````, its
cell runs off the decode path while the other rows go on, and the row continues with the output
appended; each run is reported as a `CodeRan` after the text of its cell and before the
appended text (whose deltas belong to the row like any other).
Contract of `stream`:
- every row in `request.rows` gets exactly one `RowFinished`, after its last `TextDelta`;
- joining a row's deltas gives its whole text;
- setting `cancel` ends the unfinished rows with reason `cancelled` within about one step;
- closing the iterator early cancels the run;
- `BackendUnavailable` is raised before any row event when the run cannot start (queue full,
  server down, shut down); `BackendError` after rows started means the run broke: the rows
  not finished yet are lost from then on (the Solver keeps what streamed and ends them `error`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterator, Protocol, Union, runtime_checkable

from judgements.solution import GREEDY_ROW, FinishReason, ToolCall
from model.errors import GenerationError



class BackendError(GenerationError):
    """The backend failed during a run (a server that stopped answering, a malformed reply)."""


class BackendUnavailable(BackendError):
    """The backend cannot take a run now (queue full, server not answering, shut down)."""


@dataclass(frozen=True)
class GenerationRequest:
    """One run as a backend sees it: the prompt and the sampling settings, nothing else.

    `max_new_tokens` is already clamped to the context by the Solver; `seed` is always set
    (the Solver draws one when the person left it empty, so every run can be reproduced).
    `tir`: the rows reason with Python (the prompt asks for it; the backend runs the cells).
    """

    prompt_text: str
    prompt_ids: tuple[int, ...]
    greedy: bool
    n: int
    temperature: float
    top_p: float
    max_new_tokens: int
    seed: int
    tir: bool = False

    @property
    def rows(self) -> tuple[int, ...]:
        """The rows this run decodes: 0 (greedy, when asked for), then 1..N."""
        return ((GREEDY_ROW,) if self.greedy else ()) + tuple(range(1, self.n + 1))


@dataclass(frozen=True)
class Waiting:
    """The run waits for the backend behind `ahead` others."""

    ahead: int


@dataclass(frozen=True)
class Decoding:
    """The backend started on the run (its prompt is being read)."""


@dataclass(frozen=True)
class TextDelta:
    """New text for one row."""

    row: int
    text: str


@dataclass(frozen=True)
class CodeRan:
    """A row's cell ran (tool-integrated reasoning); the output follows in the row's text."""

    row: int
    call: ToolCall


@dataclass(frozen=True)
class RowFinished:
    """One row ended. `tokens` counts the generated tokens (stop token excluded);
    `mean_logprob` is their mean log-probability under the model, when the backend knows it;
    `detail` says why a row ended `error`."""

    row: int
    reason: FinishReason
    tokens: int
    mean_logprob: float | None = None
    detail: str | None = None


BackendEvent = Union[Waiting, Decoding, TextDelta, CodeRan, RowFinished]


@dataclass(frozen=True)
class BackendInfo:
    """What a backend is, for the status line, the log and the Solver.

    `kind` is `local` (in-process transformers) or `server` (an OpenAI-compatible server at
    `server`); `seeds` says whether the same seed gives the same samples there, `logprobs`
    whether rows finish with a mean log-probability (needed for confidence ranking).
    `parameters` and `memory_bytes` are None when the backend cannot know them (a server).
    `tools`: whether it can run a model's code (it was handed a sandbox), so runs may ask `tir`.
    """

    kind: str
    model: str
    family: str
    precision: str
    device: str
    context_length: int
    seeds: bool
    logprobs: bool
    parameters: int | None = None
    memory_bytes: int | None = None
    server: str | None = None
    source: str = "local"
    fallback_reason: str | None = None
    notes: tuple[str, ...] = ()
    tools: bool = False

    def describe(self) -> str:
        """One line: model, size, precision, device, memory (or the server)."""
        parts = [self.model]
        if self.parameters:
            parts.append(f"{format_parameters(self.parameters)} params")
        parts += [self.precision, self.device]
        if self.memory_bytes:
            gib = self.memory_bytes / 1024**3
            parts.append(f"{gib:.2f} GiB" if gib >= 0.1 else f"{self.memory_bytes / 1024**2:.1f} MiB")
        return " · ".join(parts)


def format_parameters(count: int) -> str:
    """1.54B, 0.9M, 400K."""
    if count >= 1e9:
        return f"{count / 1e9:.2f}B"
    if count >= 1e6:
        return f"{count / 1e6:.1f}M"
    return f"{count / 1e3:.0f}K"


@runtime_checkable
class Backend(Protocol):
    """Generates the rows of a run. See the module docstring for the contract of `stream`."""

    @property
    def info(self) -> BackendInfo: ...

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer, whose chat template builds the prompt."""
        ...

    def ready(self) -> None:
        """Return when a run can be sent; raise `BackendUnavailable` saying why not."""
        ...

    def health(self) -> str | None:
        """None when the backend can take runs, else a sentence for the top of the page."""
        ...

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[BackendEvent]: ...

    @property
    def queue_length(self) -> int:
        """Runs waiting or running now."""
        ...

    def close(self) -> None: ...


__all__ = [
    "Backend",
    "BackendError",
    "BackendEvent",
    "BackendInfo",
    "BackendUnavailable",
    "CodeRan",
    "Decoding",
    "GenerationRequest",
    "RowFinished",
    "TextDelta",
    "Waiting",
    "format_parameters",
]
