"""The scripts' endpoint, `/solve_json(problem, n, temperature, top_p, max_new_tokens, seed)`:
the same run as Solve, logged the same way, answered with one JSON object instead of a page.

The object is `model.result_json.run_json`'s (the problem, the model, the seed, every
solution, the votes, the attempt id), plus `logged`: whether the log took the attempt. A run
that cannot start (bad settings, an empty problem, the model out of reach) answers
`{"error": "..."}` with the message a person would read on the page, never a traceback.

    from gradio_client import Client
    result = Client("http://127.0.0.1:7860/").predict(
        "What is 2+3?", 4, 1.0, 0.9, 512, None, api_name="/solve_json")
    result["votes"]["majority"]["answer"], result["attempt_id"]

An API client has no browser id: its attempts belong to its Gradio session (`ui.sessions`).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from model.backends.protocol import BackendUnavailable
from model.errors import ModelError
from model.result_json import run_json
from model.types import RunDone, RunResult
from storage.records import sample_records
from ui import logbook, lognotes
from ui.resources import AppResources
from ui.progress_log import ProgressLog
from ui.sessions import session_of
from ui.solve import log_unreachable, sampling_from_inputs
from ui.views import LiveRun


def solve_json(app: AppResources, problem: Any, n: Any, temperature: Any, top_p: Any, max_new_tokens: Any, seed: Any,
               request: gr.Request | None) -> dict[str, Any]:
    """Run one solve to the end and answer with its result as JSON (or `{"error": ...}`)."""
    session_id = session_of(None, request)
    params = None
    try:
        params = sampling_from_inputs(n, temperature, top_p, max_new_tokens, seed)
        run = app.solver.prepare(problem, params)
    except BackendUnavailable as exc:
        if params is not None:
            log_unreachable(app, session_id, problem, params, str(exc))
        return {"error": str(exc)}
    except ModelError as exc:
        return {"error": str(exc)}

    cancel = app.runs.start(session_id)  # as in Solve: one run per session, a new one replaces it
    attempt_id: str | None = None
    logged = app.store is not None
    if app.store is not None:
        app.store.ensure_session(session_id)
        started = app.store.start_attempt(logbook.attempt_start(session_id, run, app.solver.info))
        attempt_id, logged = started.attempt_id, started.ok
    result: RunResult | None = None
    live = LiveRun(run.request.rows)
    # As in Solve: each solution is saved the moment it finishes, the rest every few seconds.
    progress = ProgressLog(app.store, attempt_id) if app.store is not None and attempt_id is not None else None
    try:
        for event in app.solver.stream(run, cancel=cancel):
            live.apply(event)
            if progress is not None:
                progress.update(live, event)
            if isinstance(event, RunDone):
                result = event.result
                break
        if progress is not None:
            progress.close()
        if result is not None and app.store is not None and attempt_id is not None:
            done = app.store.finish_attempt(attempt_id, logbook.outcome_of(result),
                                           sample_records(result.solutions, result.analysis))
            logged = logged and done.ok
    finally:
        cancel.set()
        app.runs.finish(session_id, cancel)
        if result is None and app.store is not None and attempt_id is not None:  # the client went away
            if progress is not None:
                progress.close()
            app.store.finish_attempt(attempt_id, logbook.cancelled_outcome(), sample_records(live.partial_solutions()))
    answer = run_json(result, model=app.solver.info.model, attempt_id=attempt_id)
    answer["logged"] = logged
    if not logged:
        answer["notes"].append(lognotes.UNSAVED)  # the store logged why, for the operator
    return answer


__all__ = ["solve_json"]
