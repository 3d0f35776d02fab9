"""The "Check my work" tab and the `/check_work` API: a student's solution, a verdict per step,
the earliest wrong step highlighted with its reason, and hints instead of answers.

The judgement is the core's (`judgements.work_check`, through `model.checkwork` and
`model.hints`); this module lays out the tab, wires it, and draws what comes back. Every piece
of student or model text reaches the page through `ui.mathtext.math_markdown` (formulas typeset,
everything else literal), and every reason through `escape_text`.

A check yields twice: the step checker's verdicts at once, then every judge's once the model's
samples are drawn. The samples are kept per page (`gr.State`) for the same problem, so hints and
a second check reuse them. Stop cancels the draw; the checker's verdicts stay. Each check, and
each hint with it, is logged for the session (`ui.check_work_log`); the student's path on the
samples' reasoning map is drawn only when the student asked for the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from judgements.work_check import WorkCheck, check_work
from judgements.work_judges import CHECKER, JudgeReport
from model.checkwork import run_check
from model.hints import give_hint
from model.params import SamplingParams
from ui.check_work_log import log_hint, log_result
from ui.mathtext import LATEX_DELIMITERS, escape_text, math_markdown
from ui.reasoning import map_svg
from ui.resources import AppResources, RunsInFlight
from ui.sessions import session_of
from ui.work_views import hints_markdown, steps_view

log = logging.getLogger(__name__)

CHECK_SAMPLES = 4
"""The fewest samples a check draws (when the page's default asks for any)."""

CSS = """
.work-step { border-left: 4px solid #cbd5e1; padding: .3rem .7rem; margin: .35rem 0; border-radius: 4px; }
.work-step.right { border-left-color: #16a34a; }
.work-step.unsure { border-left-color: #a3a3a3; }
.work-step.wrong { border-left-color: #f97316; }
.work-step.first-wrong { border-left-color: #b91c1c; background: #fef2f2; }
.work-head { font-size: .85rem; font-weight: 600; }
.work-step.first-wrong .work-head, .work-step.first-wrong .work-reason { color: #b91c1c; }
.work-reason { font-size: .85rem; margin: .1rem 0; }
.work-message.good { color: #15803d; font-weight: 600; }
.work-message.bad { color: #b91c1c; font-weight: 600; }
.hint { border-left: 4px solid #2563eb; padding: .3rem .7rem; margin: .35rem 0; }
"""


@dataclass
class CheckWorkTab:
    problem: gr.Textbox
    solution: gr.Textbox
    reveal: gr.Checkbox
    check_btn: gr.Button
    stop_btn: gr.Button
    hint_btn: gr.Button
    status: gr.Markdown
    steps: gr.Markdown
    judges: gr.Markdown
    hints: gr.Markdown
    samples: gr.State  # {"problem": str, "samples": Samples} for this page
    given: gr.State  # {"problem": str, "hints": [str]}
    logged: gr.State  # {"problem": str, "id": str}: the check the next hints are logged with
    map: gr.HTML  # the student's path on the samples' reasoning map, when the answer may be shown


def check_work_tab() -> CheckWorkTab:
    """The tab's components (called inside `gr.Tabs`)."""
    with gr.Tab("Check my work", id="check-work"):
        gr.Markdown("Type a problem and **your own solution**, one step per line (or paragraphs separated by a "
                    "blank line). The app marks the first step that looks wrong and says why, without giving you "
                    "the answer. Stuck? Ask for a hint.")
        with gr.Row():
            with gr.Column():
                problem = gr.Textbox(label="Problem", lines=3, max_lines=12, elem_id="check-problem")
                solution = gr.Textbox(label="Your solution", lines=8, max_lines=30, elem_id="check-solution",
                                      placeholder="Step 1\nStep 2\n...  (LaTeX such as $14 \\times 12 = 168$ is welcome)")
                reveal = gr.Checkbox(False, label="Show the model's answer too", elem_id="check-reveal")
                with gr.Row():
                    check_btn = gr.Button("Check my work", variant="primary", elem_id="check-btn")
                    hint_btn = gr.Button("Hint", elem_id="check-hint-btn")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="check-stop-btn")
            with gr.Column():
                status = gr.Markdown(elem_id="check-status")
                steps = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="check-steps")
                hints = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="check-hints")
                judges = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="check-judges")
                drawn = gr.HTML(visible=False, container=True, padding=True, elem_id="check-map")
        # Inside the tab: a component left directly in `gr.Tabs` makes the browser draw the next
        # tab's button twice once it is opened.
        samples, given, logged = gr.State(None), gr.State(None), gr.State(None)
    return CheckWorkTab(problem, solution, reveal, check_btn, stop_btn, hint_btn, status, steps, judges, hints,
                        samples, given, logged, drawn)


# --------------------------------------------------------------------------------- drawing


def steps_markdown(check: WorkCheck) -> str:
    """Each step as typed (typeset), its verdict and reasons; the first wrong step highlighted."""
    return steps_view(check.steps, [v.to_dict() for v in check.verdicts], check.first_wrong_step)


def message_markdown(check: WorkCheck) -> str:
    """The first line the student reads, and the notices about the input."""
    kind = "bad" if check.first_wrong_step is not None else ("" if check.refused else "good")
    lines = [f"<div class='work-message {kind}'>{escape_text(check.message)}</div>"]
    lines += [f"<div class='banner'>{escape_text(n)}</div>" for n in check.notices]
    return "\n".join(lines)


def judges_markdown(check: WorkCheck) -> str:
    """What each judge saw, one line each."""
    if check.refused:
        return ""
    lines = ["**The judges**"]
    for judge in check.judges:
        said = escape_text(judge.said) if judge.used else f"not used: {escape_text(judge.said)}"
        answer = judge.details.get("answer")
        if answer:
            said += f" (their answer: {math_markdown(str(answer))})"
        lines.append(f"- *{escape_text(judge.name)}*: {said}")
    return "\n".join(lines)


def map_html(check: WorkCheck, reveal: bool) -> Any:
    """The student's path on the samples' map (drawn by `ui.reasoning.map_svg`), only when the
    student asked for the answer: the map's leaves show the samples' answers."""
    if not reveal or check.map is None:
        return gr.update(value="", visible=False)
    where = check.map.leaves_at
    caption = (f"Your steps and the model's solutions as one map: your path leaves all of theirs at step {where + 1}."
               if where is not None else "Your steps and the model's solutions as one map: your path stays on theirs.")
    return gr.update(value=f"<div class='work-map-caption'>{escape_text(caption)}</div>{map_svg(check.map.tree)}", visible=True)


def _outputs(check: WorkCheck, status: str, samples_state: Any, logged: Any = None, reveal: bool = False) -> list[Any]:
    return [status + "\n\n" + message_markdown(check), steps_markdown(check), judges_markdown(check), samples_state,
            gr.skip() if logged is None else logged, map_html(check, reveal)]


def _hints_for(given: Any, problem: str) -> list[str]:
    return list(given["hints"]) if isinstance(given, dict) and given.get("problem") == problem else []


# -------------------------------------------------------------------------------- handlers


def check_params(defaults: SamplingParams) -> SamplingParams | None:
    """The samples a check draws: the page's settings, at least `CHECK_SAMPLES` (none when N is 0)."""
    if defaults.n < 1:
        return None
    return replace(defaults, n=max(defaults.n, CHECK_SAMPLES), include_greedy=False)


def _samples_for(state: Any, problem: Any) -> Any:
    if isinstance(state, dict) and isinstance(problem, str) and state.get("problem") == problem.strip():
        return state.get("samples")
    return None


def run_check_work(app: AppResources, runs: RunsInFlight, defaults: SamplingParams, problem: Any, solution: Any,
                   reveal: Any, samples_state: Any, given: Any, browser: Any,
                   request: gr.Request | None) -> Iterator[list[Any]]:
    """The Check handler: the checker's verdicts at once, then every judge's; the check is logged."""
    session_id = session_of(browser, request)
    quick = check_work(problem, solution, judges=(CHECKER,), max_problem_chars=app.solver.max_problem_chars,
                       samples_note="drawing the model's solutions…")
    if quick.refused:
        log_result(app, session_id, problem, solution, quick.to_dict(), "refused")
        yield _outputs(quick, "", gr.skip())
        return
    samples = _samples_for(samples_state, problem)
    params = check_params(defaults)
    yield _outputs(quick, "Checking… the model is solving the problem itself." if samples is None and params else "Checking…",
                   gr.skip())
    cancel = runs.start(session_id)
    try:
        check, samples = run_check(app.solver, problem, solution, params, cancel=cancel, samples=samples,
                                   reveal=bool(reveal))
    finally:
        runs.finish(session_id, cancel)
    state = {"problem": check.problem, "samples": samples} if samples is not None else gr.skip()
    stopped = cancel.is_set()
    check_id = log_result(app, session_id, check.problem, solution, check.to_dict(), "stopped" if stopped else "checked",
                          tuple(_hints_for(given, check.problem)))
    yield _outputs(check, "Stopped." if stopped else "", state, {"problem": check.problem, "id": check_id}, bool(reveal))


def run_hint(app: AppResources, runs: RunsInFlight, defaults: SamplingParams, problem: Any, solution: Any,
             samples_state: Any, given: Any, logged: Any, browser: Any, request: gr.Request | None) -> list[Any]:
    """The Hint handler: the next, more specific hint for this problem (the count restarts with
    a new problem), logged with the problem's last check (or as a check of its own)."""
    if not isinstance(problem, str) or not problem.strip():
        return ["<div class='work-message'>Type the problem first: the problem box is empty.</div>", gr.skip(),
                gr.skip(), gr.skip(), gr.skip()]
    text = problem.strip()
    earlier = _hints_for(given, text)
    session_id = session_of(browser, request)
    cancel = runs.start(session_id)
    try:
        hint, samples = give_hint(app.solver, text, solution if isinstance(solution, str) else "", earlier,
                                  _samples_for(samples_state, problem), params=check_params(defaults),
                                  seed=len(earlier) * 7 + 1, cancel=cancel)
    finally:
        runs.finish(session_id, cancel)
    hints = [*earlier, hint.text]
    state = {"problem": text, "samples": samples} if samples is not None else gr.skip()
    if isinstance(logged, dict) and logged.get("problem") == text and logged.get("id"):
        log_hint(app, session_id, logged["id"], hint.text)
        now_logged: Any = gr.skip()
    else:  # no check of this problem yet: the hint is logged with the solution as it stands
        written = solution if isinstance(solution, str) and solution.strip() else "(no steps yet)"
        quick = check_work(text, written, judges=(CHECKER,), max_problem_chars=app.solver.max_problem_chars)
        now_logged = {"problem": text, "id": log_result(app, session_id, text, written, quick.to_dict(),
                                                        "refused" if quick.refused else "checked", tuple(hints))}
    return [hints_markdown(hints), {"problem": text, "hints": hints}, state, now_logged, hint.to_dict()]


def api_check(app: AppResources, defaults: SamplingParams, problem: Any, solution: Any,
              request: gr.Request | None = None) -> dict[str, Any]:
    """The `/check_work` endpoint's JSON (`WorkCheck.to_dict`): the answer never revealed; logged
    under the API client's session."""
    check, _ = run_check(app.solver, problem, solution, check_params(defaults))
    data = check.to_dict()
    log_result(app, session_of(None, request), problem, solution, data, "refused" if check.refused else "checked")
    return data


def _hold() -> Any:
    return gr.update(interactive=False)


def _free() -> Any:
    return gr.update(interactive=True)


def wire_check_work(app: AppResources, tab: CheckWorkTab, browser_id: gr.BrowserState, defaults: SamplingParams,
                    gpu: Any) -> None:
    """The tab's events and the `/check_work` API endpoint."""
    runs = RunsInFlight()  # this tab's own: a check never stops a solve

    @gpu
    def check(problem, solution, reveal, samples_state, given, browser, request: gr.Request):
        yield from run_check_work(app, runs, defaults, problem, solution, reveal, samples_state, given, browser, request)

    outputs = [tab.status, tab.steps, tab.judges, tab.samples, tab.logged, tab.map]
    # Hint is off while a check runs (a hint is a run of this session too, and would stop the
    # check's draw of the model's solutions), and on again however the check ends.
    held = tab.check_btn.click(_hold, None, [tab.hint_btn], queue=False, api_name=False, show_progress="hidden")
    checked = held.then(check, [tab.problem, tab.solution, tab.reveal, tab.samples, tab.given, browser_id], outputs,
                        api_name=False, trigger_mode="once", concurrency_id="solve",
                        concurrency_limit=app.config.max_queue + 1, show_progress="minimal")
    checked.then(_free, None, [tab.hint_btn], queue=False, api_name=False, show_progress="hidden")

    @gpu
    def hint(problem, solution, samples_state, given, logged, browser, request: gr.Request):
        return run_hint(app, runs, defaults, problem, solution, samples_state, given, logged, browser, request)[:4]

    tab.hint_btn.click(hint, [tab.problem, tab.solution, tab.samples, tab.given, tab.logged, browser_id],
                                 [tab.hints, tab.given, tab.samples, tab.logged], api_name=False, trigger_mode="once",
                                 concurrency_id="solve", show_progress="minimal")

    def stop(browser, request: gr.Request):
        return "Stopping…" if runs.stop(session_of(browser, request)) else "Nothing is running."

    # The cancel event ends the draw at once; the check then shows the checker's verdicts, "Stopped."
    tab.stop_btn.click(stop, [browser_id], [tab.status], api_name=False, concurrency_limit=None,
                       show_progress="hidden")

    @gpu
    def check_work_api(problem: str, solution: str, request: gr.Request) -> dict:
        """Check a student's solution: {steps, verdicts: [{step, verdict, reasons}], first_wrong_step, judges}."""
        return api_check(app, defaults, problem, solution, request)

    gr.api(check_work_api, api_name="check_work", concurrency_id="solve")


__all__ = ["CSS", "CheckWorkTab", "api_check", "check_params", "check_work_tab", "judges_markdown", "message_markdown",
           "run_check_work", "run_hint", "steps_markdown", "wire_check_work"]
