"""What the page says about speed: how long a run may take, said before it starts, and, for a
real-size model on a CPU, that solves take minutes and where speed is to be had.

The numbers are the Solver's (`model.speed`: measured on finished runs, or a rough prior from
the model's size before any); this module only puts them in words.
"""

from __future__ import annotations

from model.backends.protocol import BackendInfo, format_parameters
from model.params import SamplingParams
from model.solver import PreparedRun, Solver
from model.speed import SpeedEstimate, on_cpu, real_size_on_cpu

SHOW_FROM_S = 10.0
"""A run estimated to take less than this is not announced (unless the hardware is slow)."""


def duration_words(seconds: float) -> str:
    """About 20 s, about 4 min, about 1.5 h."""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def speed_words(tokens_per_s: float) -> str:
    """~3, ~2.5, ~0.5, ~420 (tokens per second: whole from 10 up, else two significant figures)."""
    if tokens_per_s >= 10:
        return f"~{round(tokens_per_s):,}"
    return f"~{tokens_per_s:.1g}" if tokens_per_s < 1 else f"~{tokens_per_s:.2g}"


def where(info: BackendInfo) -> str:
    if info.kind == "server":
        return "on the model server"
    return "on this CPU" if on_cpu(info) else "on this GPU"


def run_estimate(solver: Solver, run: PreparedRun) -> str | None:
    """Said in the status line as a run starts: "up to about 4 min at ~3 tok/s on this CPU";
    None when nothing is known, or the run will be short on hardware that is not slow."""
    rows = len(run.request.rows)
    estimate = solver.speed.estimate(rows)
    if estimate is None:
        return None
    seconds = estimate.seconds(rows * run.max_new_tokens)  # every row at its whole budget: an upper bound
    if seconds < SHOW_FROM_S and not real_size_on_cpu(solver.info):
        return None
    source = "measured" if estimate.measured else "a rough guess from the model's size"
    return (f"up to {duration_words(seconds)} at {speed_words(estimate.tokens_per_s)} tok/s "
            f"{where(solver.info)} ({source})")


def slow_hardware_note(solver: Solver, defaults: SamplingParams) -> str | None:
    """The banner for a real-size model on a CPU: how slow, the smaller defaults, where to go."""
    info = solver.info
    if not real_size_on_cpu(info):
        return None
    rows = defaults.n + (1 if defaults.include_greedy else 0)
    estimate: SpeedEstimate | None = solver.speed.estimate(rows)
    pace = f" at roughly {speed_words(estimate.tokens_per_s)} tokens a second" if estimate is not None else ""
    return (f"{info.model} ({format_parameters(info.parameters or 0)} parameters) runs on this machine's CPU{pace}, "
            f"so a solve takes minutes. The page starts with {defaults.n} sampled solutions of up to "
            f"{defaults.max_new_tokens} tokens, and says before each run how long it may take. For real speed, "
            "run the app on a GPU, or point it at a model server with --server-url (vLLM, SGLang, llama.cpp, ...).")


__all__ = ["duration_words", "run_estimate", "slow_hardware_note", "speed_words"]
