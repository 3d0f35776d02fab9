"""The Solve tab's handlers: read the settings, run the Solver, stream the page, log the attempt.

Stop sets the run's cancel event: the backend ends the run within one decoding step (a
server's streams are closed), the partial solutions stay on the page and the attempt is logged
as `cancelled`. Page updates are coalesced to a few per second (`ui.views.LiveRun`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import gradio as gr

from model.backends.protocol import BackendUnavailable
from model.params import SamplingParams
from model.errors import ConfigError, ModelError
from model.types import RunDone
from storage.records import sample_records
from ui import logbook, lognotes, pace
from ui.followups import solved_context
from ui.outputs import model_line, render_outputs
from ui.mathtext import escape_text
from ui.code_sandbox import tir_of
from ui.resources import AppResources
from ui.sessions import session_of
from ui.progress_log import ProgressLog
from ui.views import LiveRun

# The Solve event's outputs, in order: `ui.outputs.render_outputs`'s, then the ask box's context.
SOLVE_OUTPUTS = ("status", "solution", "final answer", "cards", "votes", "chart", "heatmap", "map words", "map",
                 "ask context")


def sampling_from_inputs(n: Any, temperature: Any, top_p: Any, max_new_tokens: Any, seed: Any,
                         tir: Any = False) -> SamplingParams:
    """Validated settings from the page (or an API client): `ConfigError` says what is wrong.
    `tir`: the reasoning switch (`ui.code_sandbox.tir_of`)."""

    def whole(name: str, value: Any) -> int:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a whole number.")
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
        raise ConfigError(f"{name} must be a whole number; got {value!r}.")

    def number(name: str, value: Any) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(str(value).strip())
        except ValueError:
            raise ConfigError(f"{name} must be a number; got {value!r}.") from None

    seed_value = None if seed is None or (isinstance(seed, str) and not seed.strip()) else whole("seed", seed)
    if isinstance(seed, float) and math.isnan(seed):
        seed_value = None
    return SamplingParams(
        n=whole("number of samples N", n),
        temperature=number("temperature", temperature),
        top_p=number("top-p", top_p),
        max_new_tokens=whole("max new tokens", max_new_tokens),
        seed=seed_value,
        include_greedy=True,
        tir=tir_of(tir),
    )


def run_solve(app: AppResources, problem_text: Any, n: Any, temperature: Any, top_p: Any, max_new_tokens: Any,
              seed: Any, browser: Any, request: gr.Request | None, *, reasoning: Any = None) -> Iterator[list[Any]]:
    """The Solve handler: prepare (the Solver validates), log the start, stream coalesced
    updates, log the end. `reasoning`: the switch, in words or with Python."""
    session_id = session_of(browser, request)
    try:
        params = sampling_from_inputs(n, temperature, top_p, max_new_tokens, seed, reasoning)
        run = app.solver.prepare(problem_text, params)
    except BackendUnavailable as exc:
        log_unreachable(app, session_id, problem_text, params, str(exc))
        yield refusal(app, str(exc))
        return
    except ModelError as exc:
        yield refusal(app, str(exc))
        return
    cancel = app.runs.start(session_id)  # a second solve from the same session replaces the first
    estimate = pace.run_estimate(app.solver, run)  # said before the run starts, from the measured speed
    line = model_line(app.solver.info) + (f" · {estimate}" if estimate else "")

    log_note = ""  # what the student reads when the log fails (the store logs why, for the operator)
    attempt_id = None
    if app.store is not None:
        app.store.ensure_session(session_id)
        started = app.store.start_attempt(logbook.attempt_start(session_id, run, app.solver.info))
        attempt_id = started.attempt_id
        log_note = lognotes.unsaved(started) or ""
    live = LiveRun(run.request.rows)
    progress = ProgressLog(app.store, attempt_id) if app.store is not None and attempt_id is not None else None
    step_rewards = getattr(app.solver.scorer, "kind", "") == "prm"
    finished = False
    try:
        # The last output is the ask box's context: none while solving, the solutions once done.
        yield [*render_outputs(line, live.snapshot(), live, plots=True, step_rewards=step_rewards), None]
        for event in app.solver.stream(run, cancel=cancel):
            live.apply(event)
            if progress is not None:
                progress.update(live, event)  # finished rows at once, the rest every few seconds
            if isinstance(event, RunDone):
                break
            if live.due():
                yield [*render_outputs(line, live.snapshot(), live, log_message=log_note, plots=False), gr.skip()]
        result = live.result
        if progress is not None:
            progress.close()
        if result is not None and app.store is not None and attempt_id is not None:
            done = app.store.finish_attempt(attempt_id, logbook.outcome_of(result),
                                           sample_records(result.solutions, result.analysis))
            log_note = log_note or lognotes.unsaved(done) or ""
        finished = True
        yield [*render_outputs(line, live.snapshot(), live, log_message=log_note, plots=True, ask_hint=True,
                               step_rewards=step_rewards), solved_context(attempt_id, result)]
    finally:
        cancel.set()
        app.runs.finish(session_id, cancel)
        if not finished and app.store is not None and attempt_id is not None:
            # The page went away (or Stop cancelled the event) before the result: keep what streamed.
            if progress is not None:
                progress.close()
            app.store.finish_attempt(attempt_id, logbook.cancelled_outcome(),
                                     sample_records(live.partial_solutions()))


def log_unreachable(app: AppResources, session_id: str, problem_text: Any, params: SamplingParams, reason: str) -> None:
    """A valid problem the model could not be reached for: logged as an `error` attempt."""
    if app.store is None or not isinstance(problem_text, str) or not problem_text.strip():
        return
    app.store.ensure_session(session_id)
    start = logbook.unreachable_start(session_id, problem_text.strip(), params, app.solver.info)
    started = app.store.start_attempt(start)
    if started.attempt_id is not None:
        app.store.finish_attempt(started.attempt_id, logbook.cancelled_outcome(error=reason), [])


def refusal(app: AppResources, message: str) -> list[Any]:
    """A solve that cannot start: one calm line in the status, every other output left as it was
    (an error raised here would mark each output with an error badge, earlier results too)."""
    status = f"{model_line(app.solver.info)}\n\n<div class='refusal'>{escape_text(message)}</div>"
    return [status, *[gr.skip()] * (len(SOLVE_OUTPUTS) - 1)]


CLICK_SOLVE_JS = "() => { const b = document.querySelector('#solve-btn'); if (b && !b.disabled) b.click(); }"
"""Shift+Enter in the problem box: a click on Solve, unless Solve is off while a run is on."""


def hold_solve() -> Any:
    """Solve off: this page's run is on its way."""
    return gr.update(interactive=False)


def free_solve() -> Any:
    """Solve on again: the run has ended, however it ended."""
    return gr.update(interactive=True)


STOP_NOTES = {"stopping": "Stopping…", "finished": "Nothing to stop: the run had already finished.",
              "idle": "Nothing is running."}


def stop(app: AppResources, browser: Any, status: Any, request: gr.Request | None) -> str:
    """The Stop handler: cancel this session's solve. The status line stays as it is (model,
    timings, seed) with a short note under it: stopping, or that the run had already finished."""
    shown = status.split("\n\n<span class='note stop-note'>")[0] if isinstance(status, str) else ""
    if app.runs.stop(session_of(browser, request)):
        note = STOP_NOTES["stopping"]
    else:
        note = STOP_NOTES["finished" if " · seed " in shown else "idle"]  # a run's status shows its seed
    return f"{shown}\n\n<span class='note stop-note'>{note}</span>" if shown.strip() else note


def backend_health_update(app: AppResources) -> Any:
    """The banner that says when the model server is not answering (checked on page load)."""
    problem = app.solver.backend.health()
    if problem is None:
        return gr.update(value="", visible=False)
    return gr.update(value=f"<div class='banner'><b>Model server.</b> {escape_text(problem)}</div>", visible=True)
