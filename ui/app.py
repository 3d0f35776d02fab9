"""The Gradio app: Solve, History and (with a password) Teacher tabs, wired to the Solver and log.

`build_app(config)` opens the Solver (its backend: the model in this process, or the bundled
one, saying why, or an OpenAI-compatible server) with its reward scorer, and the session log,
and returns the `gr.Blocks`; `launch(demo, config)` serves it.

Decisions worth knowing:
- Queueing: the backend queues runs (the local one decodes one run at a time, a server its
  own way), up to `--max-queue`, and the page says how many are ahead. Each browser session
  has at most one solve in flight (the Solve event ignores clicks while its own run is
  pending), so one heavy user cannot starve the others.
- Stop sets the run's cancel event: the backend ends the run within one decoding step (a
  server's streams are closed), the partial solutions stay on the page and the attempt is
  logged as `cancelled`.
- Page updates are coalesced to a few per second (`ui.views.LiveRun`).
- Sessions: a random id kept in the browser's local storage (`gr.BrowserState`) ties a
  person's history together across reloads; API clients without one are keyed by their
  Gradio session.
- On ZeroGPU Spaces the GPU exists only inside `spaces.GPU` calls: the run decodes inline.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from model.backend import BackendUnavailable
from model.config import MAX_SAMPLES, AppConfig, SamplingParams, default_sampling
from model.errors import ConfigError, ModelError
from model.solver import Solver, open_solver
from model.types import RunDone
from storage.errors import StorageError, TeacherAccessError
from storage.records import AttemptQuery, FeedbackInput
from storage.store import Store
from ui import logbook
from ui.plots import VOTE_COLUMNS, step_heatmap, vote_bars
from ui.render import LATEX_DELIMITERS, cluster_css, escape_text
from ui.transcript import transcript_html
from ui.views import (
    LiveRun,
    RunView,
    cards_markdown,
    chart_data,
    final_answer_markdown,
    heatmap_rows,
    main_solution_markdown,
    status_markdown,
    vote_markdown,
)

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "assets"
CSS_PATH = ASSETS / "style.css"
EXAMPLES_PATH = ASSETS / "examples.json"
HISTORY_PAGE_SIZE = 20
TEACHER_PAGE_SIZE = 50
SESSION_STORAGE_KEY = "qwen2_math_studio_session"


@dataclass
class Services:
    """What the handlers share: the Solver, the log, the defaults, the runs in flight."""

    config: AppConfig
    solver: Solver
    store: Store | None
    defaults: SamplingParams
    scorer_note: str | None = None
    store_note: str | None = None
    running: dict[str, threading.Event] = field(default_factory=dict)
    running_lock: threading.Lock = field(default_factory=threading.Lock)
    files: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mathapp-")))

    @property
    def model_line(self) -> str:
        info = self.solver.info
        line = f"**{escape_text(info.model)}** · {escape_text(info.describe().split(' · ', 1)[1])}"
        if info.kind == "server":
            line += f" · {escape_text(server_capabilities(info))}"
        return line


def zero_gpu() -> bool:
    """True on a Hugging Face ZeroGPU Space."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")


def server_capabilities(info: Any) -> str:
    """What a server honours, in words: seeds, log-probabilities."""
    seeds = "seeds reproduce samples" if info.seeds else "seeds not guaranteed to reproduce samples"
    logprobs = "log-probabilities" if info.logprobs else "no log-probabilities (no confidence ranking)"
    return f"{seeds}; {logprobs}"


def start_services(config: AppConfig) -> Services:
    """Open the Solver (backend and reward scorer) and the log."""
    solver, scorer_note = open_solver(config, inline=zero_gpu())
    info = solver.info
    store: Store | None
    store_note = None
    try:
        store = Store.open(config.db_url, teacher_password=config.teacher_password)
        health = store.health()
        if not health.ok:
            store_note = health.message
    except StorageError as exc:
        log.error("session log unavailable: %s", exc)
        store, store_note = None, f"The session log is off: {exc}"
    defaults = default_sampling(config, info.family, on_gpu=info.kind == "server" or info.device.startswith("cuda"))
    return Services(config, solver, store, defaults, scorer_note, store_note)


def load_examples() -> list[str]:
    import json

    try:
        data = json.loads(EXAMPLES_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [item["problem"] for item in data if isinstance(item, dict) and isinstance(item.get("problem"), str)]


# --------------------------------------------------------------------------- sessions


def session_of(browser_id: object, request: gr.Request | None) -> str:
    """The session a request belongs to: the browser's stored id, else its Gradio session."""
    if isinstance(browser_id, str) and 16 <= len(browser_id) <= 128 and browser_id.isascii() and browser_id.replace("-", "").replace("_", "").isalnum():
        return browser_id
    hashed = request.session_hash if request is not None and request.session_hash else secrets.token_hex(16)
    return "gr-" + hashlib.sha256(str(hashed).encode()).hexdigest()[:40]


def new_browser_id(current: object) -> str:
    """On page load: keep a valid stored id, else make one."""
    if isinstance(current, str) and 16 <= len(current) <= 128:
        return current
    return secrets.token_urlsafe(24)


# --------------------------------------------------------------------------- settings


def sampling_from_inputs(n: Any, temperature: Any, top_p: Any, max_new_tokens: Any, seed: Any) -> SamplingParams:
    """Validated settings from the page (or an API client): `ConfigError` says what is wrong."""

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
    )


# --------------------------------------------------------------------------- rendering


def render_outputs(services: Services, view: RunView, live: LiveRun | None, *, log_message: str = "", plots: bool) -> list[Any]:
    """Values for the Solve/History outputs: status, solution, answer, cards, votes, chart, heatmap."""
    status = status_markdown(services.model_line, live, log_message=log_message) if live is not None else ""
    chart: Any = gr.skip()
    heatmap: Any = gr.skip()
    if plots:
        chart = vote_plot(view)
        rows = heatmap_rows(view)
        heatmap = gr.update(value=step_heatmap(rows), visible=True) if rows else gr.update(value=None, visible=False)
    return [
        status,
        main_solution_markdown(view),
        final_answer_markdown(view),
        cards_markdown(view),
        vote_markdown(view),
        chart,
        heatmap,
    ]


def vote_plot_component(**kwargs: Any) -> gr.BarPlot:
    """The votes-per-answer bars, drawn by the browser (see `ui.plots`)."""
    return gr.BarPlot(x="answer", y="votes", color="cluster", tooltip=["answer", "votes", "weighted share"],
                      x_title="answer", y_title="votes", label="Votes per answer", show_label=False,
                      color_title="answer cluster", y_lim=[0, None], height=260, **kwargs)


def vote_plot(view: RunView) -> Any:
    """The bar plot's new value for a finished view (None before the vote)."""
    if not view.vote or not view.vote.n:
        return None
    import pandas as pd

    rows, colours, title = vote_bars(**chart_data(view.vote))
    return gr.BarPlot(value=pd.DataFrame(rows, columns=list(VOTE_COLUMNS)), color_map=colours, title=title,
                      sort=[row[0] for row in rows], x_label_angle=-20 if len(rows) > 5 else 0)


def history_rows(items: list[Any]) -> list[list[Any]]:
    rows = []
    for a in items:
        problem = a.problem.replace("\n", " ")
        rows.append([
            a.started_at.strftime("%Y-%m-%d %H:%M"),
            problem[:90] + ("…" if len(problem) > 90 else ""),
            a.greedy_answer or "",
            f"{a.maj_answer} ({a.maj_count}/{a.maj_n})" if a.maj_answer is not None else "",
            a.rm_answer or "",
            a.status,
            a.id,
        ])
    return rows


HISTORY_HEADERS = ["started (UTC)", "problem", "greedy", "Maj@N", "RM@N", "status", "id"]


def parse_day(text: str | None, name: str) -> date | None:
    if text is None or not str(text).strip():
        return None
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise gr.Error(f"{name} must be a date written YYYY-MM-DD; got {str(text)[:40]!r}.") from None


# --------------------------------------------------------------------------- the app


def build_app(config: AppConfig, services: Services | None = None) -> gr.Blocks:
    """The whole page. `services` may be given (tests); otherwise they are started here."""
    services = services or start_services(config)
    info = services.solver.info
    defaults = services.defaults
    examples = load_examples()
    gpu = _gpu_decorator()

    with gr.Blocks(title="Qwen2-Math Studio", fill_width=False) as demo:
        browser_id = gr.BrowserState(None, storage_key=SESSION_STORAGE_KEY)
        gr.Markdown("# Qwen2-Math Studio\nType a math problem: the model reasons step by step while you watch, "
                    "then samples alternative solutions and shows what the majority and the reward model pick.",
                    elem_id="intro")
        banners = []
        if info.fallback_reason:
            banners.append(f"<b>Offline model.</b> {escape_text(info.fallback_reason)} Its answers are those of a "
                           "tiny demonstration model trained on simple arithmetic word problems, not of Qwen2-Math.")
        if services.scorer_note:
            banners.append(f"<b>Ranking.</b> {escape_text(services.scorer_note)}")
        if services.store_note:
            banners.append(f"<b>Session log.</b> {escape_text(services.store_note)}")
        gr.Markdown("\n\n".join(f"<div class='banner'>{b}</div>" for b in banners), visible=bool(banners), elem_id="banners")
        backend_banner = gr.Markdown(visible=False, elem_id="backend-health")

        with gr.Tabs():
            with gr.Tab("Solve", id="solve"):
                with gr.Row():
                    with gr.Column(scale=3):
                        problem = gr.Textbox(
                            label="Problem", lines=4, max_lines=20, elem_id="problem",
                            placeholder="e.g. Solve for x: 2x + 3 = 11. LaTeX such as $\\frac{1}{2}$ is welcome.",
                        )
                        with gr.Row():
                            solve_btn = gr.Button("Solve", variant="primary", elem_id="solve-btn")
                            stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn")
                    with gr.Column(scale=2):
                        with gr.Accordion("Settings", open=False):
                            n_in = gr.Slider(0, MAX_SAMPLES, value=defaults.n, step=1, label="N sampled solutions (0 = greedy only)")
                            temp_in = gr.Slider(0.0, 2.0, value=defaults.temperature, step=0.05, label="temperature")
                            top_p_in = gr.Slider(0.05, 1.0, value=defaults.top_p, step=0.05, label="top-p")
                            max_in = gr.Slider(16, min(4096, info.context_length), value=min(defaults.max_new_tokens, info.context_length),
                                               step=16, label="max new tokens per solution")
                            seed_in = gr.Number(value=defaults.seed, precision=0, label="seed (empty = random, recorded)")
                if examples:
                    gr.Examples(examples=[[e] for e in examples], inputs=[problem], label="Examples", examples_per_page=12)
                status = gr.Markdown(status_markdown(services.model_line, None), elem_id="status")
                with gr.Row():
                    with gr.Column(scale=3):
                        gr.Markdown("### Solution")
                        main = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="solution", min_height=80)
                        answer = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="final-answer")
                    with gr.Column(scale=2):
                        votes = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="votes")
                        chart = vote_plot_component(elem_id="vote-chart")
                        heatmap = gr.Plot(label="Step rewards", show_label=False, visible=False, elem_id="step-heatmap", format="png")
                gr.Markdown("### Sampled solutions")
                cards = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="cards")

            solve_outputs = [status, main, answer, cards, votes, chart, heatmap]

            @gpu
            def solve(problem_text, n, temperature, top_p, max_new_tokens, seed, browser, request: gr.Request) -> Iterator[list[Any]]:
                yield from run_solve(services, problem_text, n, temperature, top_p, max_new_tokens, seed, browser, request)

            solve_inputs = [problem, n_in, temp_in, top_p_in, max_in, seed_in, browser_id]
            # Handlers start at once and wait in the backend's queue (which reports it); the
            # Gradio limit only bounds how many wait there.
            solve_limits = dict(trigger_mode="once", concurrency_limit=services.config.max_queue + 1,
                                concurrency_id="solve", show_progress="minimal")
            solve_btn.click(solve, solve_inputs, solve_outputs, api_name="solve", **solve_limits)
            problem.submit(solve, solve_inputs, solve_outputs, api_name=False, **solve_limits)

            def stop(browser, request: gr.Request) -> str:
                stopped = stop_session(services, session_of(browser, request))
                return "Stopping…" if stopped else "Nothing is running."

            stop_btn.click(stop, [browser_id], [status], api_name="stop", concurrency_limit=None, show_progress="hidden")

            with gr.Tab("History", id="history"):
                gr.Markdown("Your own problems in this browser, newest first. Open one to see its solutions again, "
                            "tell us whether the answer was right, or download it as a printable page.")
                with gr.Row():
                    page_in = gr.Number(value=1, precision=0, label="page", minimum=1, scale=0, min_width=100)
                    refresh_btn = gr.Button("Refresh", scale=0)
                    history_info = gr.Markdown()
                history_table = gr.Dataframe(headers=HISTORY_HEADERS, interactive=False, wrap=True, elem_id="history-table")
                with gr.Row():
                    attempt_in = gr.Textbox(label="attempt id", scale=3, elem_id="attempt-id")
                    open_btn = gr.Button("Open", scale=1)
                replay_outputs = trace_panel("history")
                with gr.Accordion("Was the answer right?", open=True):
                    with gr.Row():
                        verdict_in = gr.Radio(["right", "wrong"], label="verdict")
                        target_in = gr.Dropdown(["attempt", "greedy", "majority", "reward", "weighted"], value="attempt", label="about")
                        correct_in = gr.Textbox(label="correct answer (optional)")
                    comment_in = gr.Textbox(label="comment (optional)", lines=2)
                    feedback_btn = gr.Button("Save feedback")
                    feedback_msg = gr.Markdown()
                with gr.Row():
                    transcript_btn = gr.Button("Make printable transcript (HTML)")
                    export_fmt = gr.Radio(["jsonl", "csv"], value="jsonl", label="export my history as")
                    export_btn = gr.Button("Export my history")
                download = gr.File(label="download", elem_id="download")

            def show_history(page, browser, request: gr.Request):
                return history_page(services, session_of(browser, request), page)

            refresh_btn.click(show_history, [page_in, browser_id], [history_table, history_info], api_name="history")
            page_in.submit(show_history, [page_in, browser_id], [history_table, history_info], api_name=False)

            history_table.select(_row_id, [history_table], [attempt_in], api_name=False)

            def open_attempt(attempt_id, browser, request: gr.Request):
                return replay(services, session_of(browser, request), attempt_id)

            open_btn.click(open_attempt, [attempt_in, browser_id], replay_outputs, api_name="open_attempt")
            attempt_in.submit(open_attempt, [attempt_in, browser_id], replay_outputs, api_name=False)

            def give_feedback(attempt_id, verdict, target, correct, comment, browser, request: gr.Request):
                return save_feedback(services, session_of(browser, request), attempt_id, verdict, target, correct, comment)

            feedback_btn.click(give_feedback, [attempt_in, verdict_in, target_in, correct_in, comment_in, browser_id],
                               [feedback_msg], api_name="feedback")

            def make_transcript(attempt_id, browser, request: gr.Request):
                return transcript_file(services, session_of(browser, request), attempt_id)

            transcript_btn.click(make_transcript, [attempt_in, browser_id], [download], api_name="transcript")

            def export_mine(fmt, browser, request: gr.Request):
                return export_file(services, fmt, session_id=session_of(browser, request))

            export_btn.click(export_mine, [export_fmt, browser_id], [download], api_name="export_history")

            if services.store is not None and services.store.teacher_enabled:
                build_teacher_tab(services)

        demo.load(new_browser_id, [browser_id], [browser_id], api_name=False, queue=False)

        def check_backend():
            return backend_health_update(services)

        demo.load(check_backend, None, [backend_banner], api_name="backend_health", queue=False)
    demo.services = services  # type: ignore[attr-defined]  # tests and launch() reach the Solver through it
    return demo


def trace_panel(prefix: str) -> list[Any]:
    """A stored attempt's problem, solution, answer, cards, votes, chart and heatmap (History
    and Teacher tabs); returns the components in `_replay_outputs` order."""
    problem = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id=f"{prefix}-problem")
    with gr.Row():
        with gr.Column(scale=3):
            main = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id=f"{prefix}-solution")
            answer = gr.Markdown(latex_delimiters=LATEX_DELIMITERS)
        with gr.Column(scale=2):
            votes = gr.Markdown(latex_delimiters=LATEX_DELIMITERS)
            chart = vote_plot_component()
            heatmap = gr.Plot(label="Step rewards", show_label=False, visible=False, format="png")
    cards = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id=f"{prefix}-cards")
    return [problem, main, answer, cards, votes, chart, heatmap]


def build_teacher_tab(services: Services) -> None:
    """All sessions' attempts behind the operator's password: filters, traces, export."""
    with gr.Tab("Teacher", id="teacher"):
        access = gr.State(None)
        with gr.Row():
            password = gr.Textbox(label="teacher password", type="password", scale=3)
            login_btn = gr.Button("Log in", scale=1)
        login_msg = gr.Markdown()
        with gr.Row():
            t_from = gr.Textbox(label="from (YYYY-MM-DD)", scale=1)
            t_to = gr.Textbox(label="to (YYYY-MM-DD)", scale=1)
            t_text = gr.Textbox(label="problem contains", scale=2)
            t_agree = gr.Dropdown(["any", "agree", "disagree"], value="any", label="greedy / Maj / RM", scale=1)
            t_model = gr.Textbox(label="model", scale=1)
            t_feedback = gr.Dropdown(["any", "none", "right", "wrong", "corrected"], value="any", label="feedback", scale=1)
            t_page = gr.Number(value=1, precision=0, minimum=1, label="page", scale=0, min_width=90)
        search_btn = gr.Button("Search")
        t_info = gr.Markdown()
        t_table = gr.Dataframe(headers=HISTORY_HEADERS, interactive=False, wrap=True)
        with gr.Row():
            t_attempt = gr.Textbox(label="attempt id", scale=3)
            t_open = gr.Button("Open trace", scale=1)
        trace_outputs = trace_panel("teacher")
        with gr.Row():
            t_fmt = gr.Radio(["jsonl", "csv"], value="jsonl", label="export format")
            t_export = gr.Button("Export these results")
        t_download = gr.File(label="download")

        def login(text):
            try:
                token = services.store.teacher_login(text or "")
            except TeacherAccessError as exc:
                return None, f"<span class='error'>{escape_text(str(exc))}</span>"
            return token, "Logged in."

        login_btn.click(login, [password], [access, login_msg], api_name="teacher_login")
        password.submit(login, [password], [access, login_msg], api_name=False)
        filters = [t_from, t_to, t_text, t_agree, t_model, t_feedback]

        def search(token, page, date_from, date_to, text, agreement, model, feedback):
            return teacher_page(services, token, page, date_from, date_to, text, agreement, model, feedback)

        search_btn.click(search, [access, t_page, *filters], [t_table, t_info], api_name="teacher_search")
        t_table.select(_row_id, [t_table], [t_attempt], api_name=False)

        def open_trace(token, attempt_id):
            return teacher_replay(services, token, attempt_id)

        t_open.click(open_trace, [access, t_attempt], trace_outputs, api_name="teacher_open")

        def export(token, fmt, date_from, date_to, text, agreement, model, feedback):
            query = _teacher_query(date_from, date_to, text, agreement, model, feedback)
            return export_file(services, fmt, access=token, query=query, require_teacher=True)

        t_export.click(export, [access, t_fmt, *filters], [t_download], api_name="teacher_export")


def _row_id(table: Any, evt: gr.SelectData) -> Any:
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    try:
        return str(table.iloc[row, -1]) if hasattr(table, "iloc") else str(table[row][-1])
    except (IndexError, KeyError, TypeError):
        return gr.skip()


# --------------------------------------------------------------------------- handlers


def run_solve(services: Services, problem_text: Any, n: Any, temperature: Any, top_p: Any, max_new_tokens: Any,
              seed: Any, browser: Any, request: gr.Request | None) -> Iterator[list[Any]]:
    """The Solve handler: prepare (the Solver validates), log the start, stream coalesced
    updates, log the end."""
    session_id = session_of(browser, request)
    try:
        params = sampling_from_inputs(n, temperature, top_p, max_new_tokens, seed)
        run = services.solver.prepare(problem_text, params)
    except BackendUnavailable as exc:
        log_unreachable(services, session_id, problem_text, params, str(exc))
        raise gr.Error(str(exc), print_exception=False) from None
    except ModelError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    cancel = threading.Event()
    with services.running_lock:
        previous = services.running.get(session_id)
        if previous is not None:
            previous.set()  # a second solve from the same session replaces the first
        services.running[session_id] = cancel

    log_messages: list[str] = []
    attempt_id = None
    if services.store is not None:
        services.store.ensure_session(session_id)
        started = services.store.start_attempt(logbook.attempt_start(session_id, run, services.solver.info))
        attempt_id = started.attempt_id
        if not started.ok:
            log_messages.append(started.message)
    live = LiveRun(run.request.rows)
    finished = False
    try:
        yield render_outputs(services, live.snapshot(), live, plots=True)
        for event in services.solver.stream(run, cancel=cancel):
            live.apply(event)
            if isinstance(event, RunDone):
                break
            if live.due():
                yield render_outputs(services, live.snapshot(), live, log_message=" ".join(log_messages), plots=False)
        result = live.result
        if result is not None and services.store is not None and attempt_id is not None:
            done = services.store.finish_attempt(attempt_id, logbook.outcome_of(result), logbook.sample_records(result.solutions))
            if not done.ok:
                log_messages.append(done.message)
        finished = True
        yield render_outputs(services, live.snapshot(), live, log_message=" ".join(log_messages), plots=True)
    finally:
        cancel.set()
        with services.running_lock:
            if services.running.get(session_id) is cancel:
                del services.running[session_id]
        if not finished and services.store is not None and attempt_id is not None:
            # The page went away (or Stop cancelled the event) before the result: keep what streamed.
            services.store.finish_attempt(attempt_id, logbook.cancelled_outcome(),
                                          logbook.sample_records(live.partial_solutions()))


def log_unreachable(services: Services, session_id: str, problem_text: Any, params: SamplingParams, reason: str) -> None:
    """A valid problem the model could not be reached for: logged as an `error` attempt."""
    if services.store is None or not isinstance(problem_text, str) or not problem_text.strip():
        return
    services.store.ensure_session(session_id)
    start = logbook.unreachable_start(session_id, problem_text.strip(), params, services.solver.info)
    started = services.store.start_attempt(start)
    if started.attempt_id is not None:
        services.store.finish_attempt(started.attempt_id, logbook.cancelled_outcome(error=reason), [])


def backend_health_update(services: Services) -> Any:
    """The banner that says when the model server is not answering (checked on page load)."""
    problem = services.solver.backend.health()
    if problem is None:
        return gr.update(value="", visible=False)
    return gr.update(value=f"<div class='banner'><b>Model server.</b> {escape_text(problem)}</div>", visible=True)


def stop_session(services: Services, session_id: str) -> bool:
    with services.running_lock:
        cancel = services.running.get(session_id)
    if cancel is None:
        return False
    cancel.set()
    return True


def history_page(services: Services, session_id: str, page: Any) -> tuple[Any, str]:
    if services.store is None:
        return [], "The session log is off, so there is no history."
    try:
        number = max(1, int(page or 1))
    except (TypeError, ValueError):
        number = 1
    try:
        result = services.store.history(session_id, page=number, page_size=HISTORY_PAGE_SIZE)
    except StorageError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    rows = history_rows(result.items)
    return rows, f"{result.total} attempt{'s' if result.total != 1 else ''} · page {result.page} of {result.pages}"


def _replay_outputs(services: Services, detail: Any) -> list[Any]:
    if detail is None:
        raise gr.Error("No such attempt in your history.", print_exception=False)
    view = logbook.run_view_from_detail(detail)
    outputs = render_outputs(services, view, None, plots=True)
    header = f"**Problem** ({detail.started_at.strftime('%Y-%m-%d %H:%M UTC')}, {escape_text(detail.model_id)}, {detail.status})\n\n" \
             f"<div class='problem'>\n\n{escape_text(detail.problem)}\n\n</div>"
    return [header] + outputs[1:]


def replay(services: Services, session_id: str, attempt_id: Any) -> list[Any]:
    if services.store is None:
        raise gr.Error("The session log is off.", print_exception=False)
    if not isinstance(attempt_id, str) or not attempt_id.strip():
        raise gr.Error("Pick an attempt from the table (or paste its id) first.", print_exception=False)
    try:
        detail = services.store.get_attempt(attempt_id.strip(), session_id=session_id)
    except StorageError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    return _replay_outputs(services, detail)


def save_feedback(services: Services, session_id: str, attempt_id: Any, verdict: Any, target: Any, correct: Any, comment: Any) -> str:
    if services.store is None:
        return "The session log is off; feedback cannot be saved."
    if not isinstance(attempt_id, str) or not attempt_id.strip():
        return "Open an attempt first."
    correct_text = correct.strip() if isinstance(correct, str) and correct.strip() else None
    comment_text = comment.strip() if isinstance(comment, str) and comment.strip() else None
    if verdict not in ("right", "wrong", None) or (verdict is None and not correct_text and not comment_text):
        return "Choose right or wrong, or give the correct answer or a comment."
    if (correct_text and len(correct_text) > 1000) or (comment_text and len(comment_text) > 5000):
        return "That is too long: keep the answer under 1,000 and the comment under 5,000 characters."
    try:
        status = services.store.add_feedback(
            attempt_id.strip(), session_id=session_id,
            feedback=FeedbackInput(verdict=verdict, correct_answer=correct_text, comment=comment_text,
                                   target=target if target in ("attempt", "greedy", "majority", "reward", "weighted") else "attempt"),
        )
    except StorageError as exc:
        return f"<span class='error'>{escape_text(str(exc))}</span>"
    return "Thank you: feedback saved." if status.ok else f"<span class='error'>{escape_text(status.message)}</span>"


DOWNLOAD_TTL_S = 3600


def prune_downloads(folder: Path) -> None:
    """Delete transcripts and exports older than an hour (Gradio has copied them by then)."""
    cutoff = time.time() - DOWNLOAD_TTL_S
    for path in folder.glob("*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue  # another handler removed it first


def transcript_file(services: Services, session_id: str, attempt_id: Any) -> str:
    if services.store is None:
        raise gr.Error("The session log is off.", print_exception=False)
    if not isinstance(attempt_id, str) or not attempt_id.strip():
        raise gr.Error("Open an attempt first.", print_exception=False)
    detail = services.store.get_attempt(attempt_id.strip(), session_id=session_id)
    if detail is None:
        raise gr.Error("No such attempt in your history.", print_exception=False)
    prune_downloads(services.files)
    path = services.files / f"transcript-{detail.id[:12]}-{secrets.token_hex(3)}.html"
    path.write_text(transcript_html(detail), encoding="utf-8")
    return str(path)


def _teacher_query(date_from: Any, date_to: Any, text: Any, agree: Any, model: Any, feedback: Any) -> AttemptQuery:
    return AttemptQuery(
        date_from=parse_day(date_from, "from"),
        date_to=parse_day(date_to, "to"),
        text=text.strip()[:500] if isinstance(text, str) and text.strip() else None,
        all_agree={"agree": True, "disagree": False}.get(agree) if isinstance(agree, str) else None,
        model_id=model.strip() if isinstance(model, str) and model.strip() else None,
        feedback=feedback if feedback in ("none", "right", "wrong", "corrected") else None,
    )


def teacher_page(services: Services, token: Any, page: Any, *filters: Any) -> tuple[Any, str]:
    try:
        number = max(1, int(page or 1))
    except (TypeError, ValueError):
        number = 1
    try:
        result = services.store.teacher_search(token, _teacher_query(*filters), page=number, page_size=TEACHER_PAGE_SIZE)
    except TeacherAccessError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    except StorageError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    return history_rows(result.items), f"{result.total} attempts · page {result.page} of {result.pages}"


def teacher_replay(services: Services, token: Any, attempt_id: Any) -> list[Any]:
    if not isinstance(attempt_id, str) or not attempt_id.strip():
        raise gr.Error("Pick an attempt first.", print_exception=False)
    try:
        detail = services.store.teacher_get_attempt(token, attempt_id.strip())
    except StorageError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    return _replay_outputs(services, detail)


def export_file(services: Services, fmt: Any, *, session_id: str | None = None, access: Any = None,
                query: AttemptQuery | None = None, require_teacher: bool = False) -> str:
    if services.store is None:
        raise gr.Error("The session log is off.", print_exception=False)
    if fmt not in ("jsonl", "csv"):
        raise gr.Error("Choose jsonl or csv.", print_exception=False)
    prune_downloads(services.files)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = services.files / f"{'class' if require_teacher else 'my'}-attempts-{stamp}-{secrets.token_hex(3)}.{fmt}"
    try:
        if require_teacher:
            services.store.teacher_export(access, fmt, query=query, out=path)
        else:
            services.store.export_session(session_id, fmt, out=path)  # type: ignore[arg-type]
    except StorageError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    return str(path)


def _gpu_decorator():
    """`spaces.GPU` on ZeroGPU hardware, a no-op elsewhere."""
    if not zero_gpu():
        return lambda fn: fn
    import spaces  # available on Spaces

    return spaces.GPU(duration=180)


def launch(demo: gr.Blocks, config: AppConfig, **kwargs: Any) -> Any:
    """Serve the app (queue sized by the config; CSS from assets/)."""
    css = (CSS_PATH.read_text(encoding="utf-8") if CSS_PATH.exists() else "") + "\n" + cluster_css()
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
