"""Tool-integrated reasoning (TIR) in the model layer: a row's code runs, whichever backend
decodes it.

The round, as Qwen2.5-Math's toolkit plays it: the model writes a ```` ```python ```` cell and
stops at ```` ```output ```` (`CODE_STOP`); the cell runs, after the row's earlier cells that ran
without error (so their variables exist; their output is not shown again); the output, already
cut as Qwen cuts it by the runner, is appended as the output block's body and closing fence
(`output_suffix`), and the row goes on in the same assistant turn. After `MAX_CODE_CALLS` runs
the output is followed by "Reach max function call limit." and the model finishes without
more runs: a further stop ends the row.

The runner is anything with `run(cells, *, timeout_s) -> result` whose result has `output`,
`ok` and `elapsed_s` (`sandbox.Sandbox`; this package never imports it: the app hands one in).
`CodeBench` runs cells on a small executor of its own, never on a decode thread; a runner that
fails (the sandbox itself, not the code) raises `ToolError` from the future.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from judgements.solution import ToolCall
from judgements.tool_text import OUTPUT_FENCE, last_program
from model.errors import GenerationError

log = logging.getLogger(__name__)

CODE_STOP = OUTPUT_FENCE
MAX_CODE_CALLS = 4
LIMIT_NOTE = "\nReach max function call limit."
# Code runs at once per backend; more wait in line (8 runs of 5 s already fill 2 cores).
CODE_WORKERS = 4


class CodeRunner(Protocol):
    """Runs model-written cells somewhere safe (`sandbox.Sandbox`)."""

    def run(self, cells: Sequence[str], *, timeout_s: float | None = None) -> Any:
        """Earlier cells silently, then the last; the result has `output` (what the model is
        shown), `ok` (ran without error) and `elapsed_s`."""
        ...


class ToolError(GenerationError):
    """The code runner itself failed (not the model's code): the row cannot go on."""


@dataclass
class CodeRounds:
    """One row's code runs so far."""

    calls: list[ToolCall] = field(default_factory=list)
    ok_cells: list[str] = field(default_factory=list)

    @property
    def exhausted(self) -> bool:
        """No run is left: a further stop ends the row."""
        return len(self.calls) >= MAX_CODE_CALLS

    def record(self, code: str, result: Any) -> ToolCall:
        call = ToolCall(code=code, output=str(result.output), ok=bool(result.ok), elapsed_s=float(result.elapsed_s))
        self.calls.append(call)
        if call.ok:
            self.ok_cells.append(code)
        return call


def output_suffix(text: str, output: str, *, last: bool) -> str:
    """What follows a row's text that just stopped at ```` ```output ````: the output, the closing
    fence, and after the last allowed run Qwen's "Reach max function call limit." The text
    before it reads `...```output\\n{output}\\n```\\n` whatever piece of the stop the model's
    last token carried (a token may end in the newline already)."""
    after = text[text.rfind(CODE_STOP) + len(CODE_STOP):] if CODE_STOP in text else ""
    lead = "" if after.endswith("\n") else "\n"
    return f"{lead}{output}\n```\n" + (LIMIT_NOTE if last else "")


class CodeBench:
    """Runs the rows' cells through `runner`, off the decode threads, `workers` at a time, each
    for at most `timeout_s` (None: the runner's own limit, the sandbox policy's)."""

    def __init__(self, runner: CodeRunner, *, timeout_s: float | None = None, workers: int = CODE_WORKERS) -> None:
        self.runner = runner
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tir-code")

    def submit(self, rounds: CodeRounds, text_of: Callable[[], str]) -> Future[tuple[ToolCall, str]]:
        """Run the cell at the end of the row's text, `text_of()` (called on the bench's thread),
        after the row's earlier good cells; the future gives the call and the text to append."""
        return self._pool.submit(self._run, rounds, text_of)

    def _run(self, rounds: CodeRounds, text_of: Callable[[], str]) -> tuple[ToolCall, str]:
        text = text_of()
        code = last_program(text)
        cells = [*rounds.ok_cells, code]
        try:
            result = self.runner.run(cells, timeout_s=self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - the sandbox's own failure, said to the row
            log.exception("the code runner failed")
            raise ToolError(f"The code sandbox failed: {type(exc).__name__}: {exc}") from exc
        call = rounds.record(code, result)
        return call, output_suffix(text, call.output, last=rounds.exhausted)

    def close(self) -> None:
        """Stop taking runs; runs in flight are abandoned (the sandbox ends them at their timeout)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["CODE_STOP", "CodeBench", "CodeRounds", "CodeRunner", "LIMIT_NOTE", "MAX_CODE_CALLS",
           "ToolError", "output_suffix"]
