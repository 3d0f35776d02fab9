"""What a run gives back, and the text the model is shown, following Qwen2.5-Math's executor.

Qwen's `python_executor.py` (QwenLM/Qwen2.5-Math, evaluation/) shows the model the program's
stdout, stripped; when the cell's last line is a bare expression, `str()` of its value; on an
exception the last line of the traceback ("NameError: name 'x' is not defined"); "Done" when a
cell succeeded and printed nothing; and cuts anything over 400 characters to its first 200 and
last 200 joined by "...". Here the same, with two differences stated in docs/sandbox.md: a final
expression's value is added after what the cell printed (Qwen drops those prints), and a value
of None is shown only when nothing was printed.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import Enum
from typing import Any

MODEL_OUTPUT_CHARS = 400  # Qwen's `truncate(s, max_length=400)`


class SandboxError(RuntimeError):
    """The sandbox itself failed (could not start, lost its process, layer missing): not the code's fault."""


class Limit(str, Enum):
    """Which limit stopped a run."""

    TIMEOUT = "timeout"  # wall clock, enforced by the zygote
    CPU = "cpu"  # RLIMIT_CPU
    MEMORY = "memory"  # RLIMIT_AS: MemoryError
    OUTPUT = "output"  # stdout past the cap
    FILE_SIZE = "file_size"  # RLIMIT_FSIZE: "File too large"


@dataclass(frozen=True)
class RunResult:
    """One run of a cell. `output` is exactly what goes between ```output and ``` for the model."""

    output: str
    ok: bool
    error: str | None = None  # last line of the traceback, or the limit's line
    limit: Limit | None = None
    elapsed_s: float = 0.0  # from `run` being called to the result, in the app
    stdout: str = ""  # what the new cell printed, up to the cap (for the UI; the model sees `output`)


def truncate(text: str, max_length: int = MODEL_OUTPUT_CHARS) -> str:
    """Qwen's truncation: over `max_length` characters, keep the first and last halves around '...'."""
    half = max_length // 2
    if len(text) > max_length:
        return text[:half] + "..." + text[-half:]
    return text


def _failed(error: str, elapsed_s: float, limit: Limit | None = None, stdout: str = "") -> RunResult:
    return RunResult(output=truncate(error.strip()), ok=False, error=error, limit=limit, elapsed_s=elapsed_s, stdout=stdout)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def from_child(report: dict[str, Any] | None, status: dict[str, Any], elapsed_s: float, timeout_s: float, cpu_limit_s: int) -> RunResult:
    """Combine the child's report (None if it died first) and the zygote's exit status."""
    if status.get("spawn_error"):
        raise SandboxError(f"the sandbox could not start a run: {status['spawn_error']}")
    if status.get("timed_out"):
        return _failed(f"TimeoutError: timed out after {timeout_s:g} seconds", elapsed_s, Limit.TIMEOUT)
    if report is None:
        return _died(status, elapsed_s, cpu_limit_s)
    if report.get("refused"):
        raise SandboxError(str(report["refused"]))
    stdout = str(report.get("stdout", ""))
    if report.get("error"):
        limit = Limit(report["limit"]) if report.get("limit") else None
        return _failed(str(report["error"]), elapsed_s, limit, stdout)
    text = stdout
    value = report.get("value")
    if value is not None:
        text = text + ("\n" if text and not text.endswith("\n") else "") + str(value)
    shown = truncate(text.strip()) or "Done"
    return RunResult(output=shown, ok=True, elapsed_s=elapsed_s, stdout=stdout)


def _died(status: dict[str, Any], elapsed_s: float, cpu_limit_s: int) -> RunResult:
    """A child that ended without reporting: CPU limit, a forbidden call of another ABI, a crash."""
    code = int(status.get("exit", 0))
    if code < 0:
        sig = -code
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and float(status.get("cpu_s", 0.0)) >= cpu_limit_s):
            return _failed(f"TimeoutError: used more than {cpu_limit_s} seconds of CPU time", elapsed_s, Limit.CPU)
        if sig == signal.SIGSYS:
            return _failed("PermissionError: a forbidden system call stopped the code", elapsed_s)
        return _failed(f"RuntimeError: the code crashed ({_signal_name(sig)})", elapsed_s)
    return _failed(f"SystemExit: the code ended its process (status {code}) before finishing", elapsed_s)
