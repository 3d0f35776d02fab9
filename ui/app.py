"""The Gradio app: Solve, History and (with a password) Teacher tabs, wired to the Solver and log.

`build_app(config)` opens the app's resources (`ui.resources`: the Solver, whose backend is the
model in this process, or the bundled one, saying why, or an OpenAI-compatible server, with
its reward scorer, and the session log), lays out the page (`ui.layout`), wires each event to
its handler (`ui.solve`, `ui.history`) and returns the `gr.Blocks`; `launch(demo, config)`
serves it.

Decisions worth knowing:
- Queueing: the backend queues runs (the local one decodes one run at a time, a server its
  own way), up to `--max-queue`, and the page says how many are ahead. Each browser session
  has at most one solve in flight (the Solve event ignores clicks while its own run is
  pending), so one heavy user cannot starve the others.
- Sessions: `ui.sessions`; Stop and coalesced page updates: `ui.solve`.
- On ZeroGPU Spaces the GPU exists only inside `spaces.GPU` calls: the run decodes inline.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from model.speed import real_size_on_cpu
from settings import AppConfig, default_sampling
from storage.session_keys import browser_key
from ui import check_work, check_work_log, classview, followups, history, lognotes, pace, solve, solve_api, teacher_gate
from ui.layout import (
    HistoryTab,
    TeacherTab,
    header,
    history_tab,
    load_examples,
    solve_tab,
    teacher_tab,
)
from ui.outputs import model_line
from ui.render import cluster_css
from ui.resources import AppResources, open_resources, zero_gpu
from ui.sessions import SESSION_STORAGE_KEY, new_browser_id, session_of

CSS_PATH = Path(__file__).resolve().parent.parent / "assets" / "style.css"

log = logging.getLogger(__name__)


def build_app(config: AppConfig, resources: AppResources | None = None) -> gr.Blocks:
    """The whole page. `resources` may be given (tests); otherwise they are opened here."""
    app = resources or open_resources(config)
    info = app.solver.info
    defaults = default_sampling(config, info.family, on_gpu=info.kind == "server" or info.device.startswith("cuda"),
                                slow_cpu=real_size_on_cpu(info))
    gpu = _gpu_decorator()

    secret, key_note = browser_key(app.config.db_url, app.config.browser_secret)
    if key_note:  # the operator's to fix; the page says only what it means for History
        log.warning("History will not survive a restart: %s. Set MATHAPP_BROWSER_SECRET to keep it.", key_note)
    store_note = lognotes.start_note(app, key_trouble=key_note is not None)

    with gr.Blocks(title="Qwen2-Math Studio", fill_width=False) as demo:
        # A stable key: with a new one per start, no browser could read its id after a restart.
        browser_id = gr.BrowserState(None, storage_key=SESSION_STORAGE_KEY, secret=secret)
        had_stored_id = gr.Checkbox(False, visible=False)
        backend_banner = header(info, app.scorer_note, store_note, pace_note=pace.slow_hardware_note(app.solver, defaults))
        with gr.Tabs():
            page = solve_tab(info, defaults, load_examples(), model_line(info), app.code)
            history_page = history_tab()
            work_page = check_work.check_work_tab()
            teacher_page = teacher_tab() if app.store is not None and app.store.teacher_enabled else None
            work_class = check_work_log.teacher_section() if teacher_page is not None else None

        @gpu
        def run(problem_text, n, temperature, top_p, max_new_tokens, seed, browser, reasoning,
                request: gr.Request) -> Iterator[list[Any]]:
            yield from solve.run_solve(app, problem_text, n, temperature, top_p, max_new_tokens, seed, browser, request,
                                       reasoning=reasoning)

        solve_inputs = [page.problem, *page.settings, browser_id, page.reasoning]
        # Handlers start at once and wait in the backend's queue (which reports it); the
        # Gradio limit only bounds how many wait there.
        solve_limits = {"trigger_mode": "once", "concurrency_limit": app.config.max_queue + 1,
                        "concurrency_id": "solve", "show_progress": "minimal"}
        # Solve is off while this page's run is pending or streaming, and on again however it
        # ends (done, stopped, refused, failed; a reloaded page starts with it on): a click is
        # never dropped unseen. Shift+Enter in the problem box clicks it, so it obeys the same.
        held = page.solve_btn.click(solve.hold_solve, None, [page.solve_btn], queue=False, api_name=False,
                                    show_progress="hidden")
        solved = [held.then(run, solve_inputs, page.outputs, api_name="solve", **solve_limits)]
        solved[0].then(solve.free_solve, None, [page.solve_btn], queue=False, api_name=False, show_progress="hidden")
        page.problem.submit(None, None, None, js=solve.CLICK_SOLVE_JS, api_name=False)

        def stop(browser, status, request: gr.Request) -> str:
            return solve.stop(app, browser, status, request)

        page.stop_btn.click(stop, [browser_id, page.status], [page.status], api_name="stop", concurrency_limit=None,
                            show_progress="hidden")

        @gpu
        def run_json(problem: str, n: int, temperature: float, top_p: float, max_new_tokens: int,
                     seed: int | None = None, request: gr.Request = None) -> dict:
            return solve_api.solve_json(app, problem, n, temperature, top_p, max_new_tokens, seed, request)

        # For scripts: the same run and log as Solve, one JSON object back (`ui.solve_api`).
        gr.api(run_json, api_name="solve_json", concurrency_limit=solve_limits["concurrency_limit"], concurrency_id="solve")

        followups.wire_follow_up_box(app, page.ask, browser_id, gpu, api=True)
        followups.wire_follow_up_box(app, history_page.ask, browser_id, gpu, api=False,
                                     opens=[(history_page.open_btn.click, history_page.attempt),
                                            (history_page.attempt.submit, history_page.attempt)])
        show_history = wire_history(app, history_page, browser_id)
        for event in solved:  # History is current after each solve
            event.then(show_history, [history_page.page, browser_id], [history_page.table, history_page.info],
                       api_name=False, show_progress="hidden")
        if teacher_page is not None:
            wire_teacher(app, teacher_page)
        check_work.wire_check_work(app, work_page, browser_id, defaults, gpu)
        check_work_log.wire_history(app, history_page.checked, browser_id)
        if work_class is not None and teacher_page is not None:
            check_work_log.wire_teacher(app, work_class, teacher_page.access)

        def start_session(current, had_stored):
            return new_browser_id(current), history.lost_id_notice(current, had_stored)

        # The browser says whether it held an id at all, so an id it can no longer read (a key
        # changed) is told apart from a first visit.
        demo.load(start_session, [browser_id, had_stored_id], [browser_id, history_page.notice], api_name=False,
                  queue=False, js=f"(current, had) => [current, localStorage.getItem({SESSION_STORAGE_KEY!r}) !== null]")

        def check_backend():
            return solve.backend_health_update(app)

        demo.load(check_backend, None, [backend_banner], api_name="backend_health", queue=False)
    demo.resources = app  # type: ignore[attr-defined]  # tests and launch() reach the Solver through it
    return demo


def wire_history(app: AppResources, tab: HistoryTab, browser_id: gr.BrowserState) -> Any:
    """The History tab's events, each on the caller's own session; returns the table loader."""

    def show_history(page, browser, request: gr.Request):
        return history.history_page(app, session_of(browser, request), page)

    tab.refresh_btn.click(show_history, [tab.page, browser_id], [tab.table, tab.info], api_name="history")
    tab.page.submit(show_history, [tab.page, browser_id], [tab.table, tab.info], api_name=False)
    tab.tab.select(show_history, [tab.page, browser_id], [tab.table, tab.info], api_name=False)

    tab.table.select(history.row_id, [tab.table], [tab.attempt], api_name=False)

    def open_attempt(attempt_id, browser, request: gr.Request):
        return history.replay(app, session_of(browser, request), attempt_id)

    tab.open_btn.click(open_attempt, [tab.attempt, browser_id], tab.replay_outputs, api_name="open_attempt")
    tab.attempt.submit(open_attempt, [tab.attempt, browser_id], tab.replay_outputs, api_name=False)

    def give_feedback(attempt_id, verdict, target, correct, comment, browser, request: gr.Request):
        return history.save_feedback(app, session_of(browser, request), attempt_id, verdict, target, correct, comment)

    tab.feedback_btn.click(give_feedback, [tab.attempt, *tab.feedback, browser_id], [tab.feedback_msg], api_name="feedback")

    def make_transcript(attempt_id, browser, request: gr.Request):
        return history.transcript_file(app, session_of(browser, request), attempt_id)

    tab.transcript_btn.click(make_transcript, [tab.attempt, browser_id], [tab.download], api_name="transcript")

    def export_mine(fmt, browser, request: gr.Request):
        return history.export_file(app, fmt, session_id=session_of(browser, request))

    tab.export_btn.click(export_mine, [tab.export_fmt, browser_id], [tab.download], api_name="export_history")
    return show_history


def wire_teacher(app: AppResources, tab: TeacherTab) -> None:
    """The Teacher tab's events, each behind the token that logging in put in `tab.access`."""

    async def login(text, request: gr.Request):
        return await teacher_gate.teacher_login(app, text, request)

    # No concurrency limit: a guesser's attempts wait asleep (`ui.teacher_gate`), not in the queue.
    tab.login_btn.click(login, [tab.password], [tab.access, tab.login_msg], api_name="teacher_login", concurrency_limit=None)
    tab.password.submit(login, [tab.password], [tab.access, tab.login_msg], api_name=False, concurrency_limit=None)

    def search(token, page, *filters):  # from, to, text, agreement, model, feedback, follow-ups, wrong step, checked
        return history.teacher_page(app, token, page, *filters)

    tab.search_btn.click(search, [tab.access, tab.page, *tab.filters], [tab.table, tab.info], api_name="teacher_search")
    tab.table.select(history.row_id, [tab.table], [tab.attempt], api_name=False)

    def open_trace(token, attempt_id):
        return history.teacher_replay(app, token, attempt_id)

    tab.open_btn.click(open_trace, [tab.access, tab.attempt], tab.trace_outputs, api_name="teacher_open")

    def same_problem(token, attempt_id):
        return classview.class_view(app, token, attempt_id)

    if tab.class_view is not None:
        tab.open_btn.click(same_problem, [tab.access, tab.attempt], tab.class_view, api_name="teacher_class")
    followups.wire_teacher_conversations(app, [tab.open_btn.click], tab.access, tab.attempt, tab.follow_ups)

    def export(token, fmt, *filters):
        return history.teacher_export(app, token, fmt, *filters)

    tab.export_btn.click(export, [tab.access, tab.export_fmt, *tab.filters], [tab.download], api_name="teacher_export")


def _gpu_decorator():
    """`spaces.GPU` on ZeroGPU hardware, a no-op elsewhere."""
    if not zero_gpu():
        return lambda fn: fn
    import spaces  # available on Spaces

    return spaces.GPU(duration=180)


def launch(demo: gr.Blocks, config: AppConfig, **kwargs: Any) -> Any:
    """Serve the app (queue sized by the config; CSS from assets/)."""
    css = (CSS_PATH.read_text(encoding="utf-8") if CSS_PATH.exists() else "") + "\n" + cluster_css() + check_work.CSS
    demo.queue(max_size=config.max_queue * 4, default_concurrency_limit=4)
    host = config.host
    if os.environ.get("SPACE_ID") and host == "127.0.0.1":
        host = "0.0.0.0"  # a Space routes to the container's port from outside
    return demo.launch(
        server_name=host,
        server_port=config.port,
        share=config.share,
        css=css,
        max_threads=max(40, config.max_queue + 16),
        footer_links=["api"],
        **kwargs,
    )
