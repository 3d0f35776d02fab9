"""The page's components, tab by tab, with no behaviour: `ui.app` wires them to the handlers.

Each builder is called inside the `gr.Blocks` (and `gr.Tabs`) context and returns its
components in a small dataclass, so the wiring names what it connects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from model.backends.protocol import BackendInfo
from model.params import MAX_SAMPLES, SamplingParams
from ui.code_sandbox import REASONING_CHOICES, CodeOffer, reasoning_choice
from ui import check_work_log
from ui.followup_layout import FollowUpBox, follow_up_box, follow_up_trace
from ui.history import CHECKED_CHOICES, WRONG_STEP_CHOICES
from ui.tables import HISTORY_HEADERS, HISTORY_WIDTHS, TEACHER_HEADERS, TEACHER_WIDTHS, attempt_table
from ui.outputs import reasoning_components, trace_panel, vote_plot_component
from ui.mathtext import LATEX_DELIMITERS, escape_text
from ui.views import status_markdown

ASSETS = Path(__file__).resolve().parent.parent / "assets"
EXAMPLES_PATH = ASSETS / "examples.json"


def load_examples() -> list[str]:
    """The example problems from assets/examples.json (none if it is missing or broken)."""
    try:
        data = json.loads(EXAMPLES_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [item["problem"] for item in data if isinstance(item, dict) and isinstance(item.get("problem"), str)]


def header(info: BackendInfo, scorer_note: str | None, store_note: str | None, pace_note: str | None = None) -> gr.Markdown:
    """Title, introduction and the start-up banners; returns the (hidden) model-server banner."""
    gr.Markdown("# Qwen2-Math Studio\nType a math problem: the model reasons step by step while you watch, "
                "then samples alternative solutions and shows what the majority and the reward model pick.",
                elem_id="intro")
    banners = []
    if info.fallback_reason:
        banners.append(f"<b>Offline model.</b> {escape_text(info.fallback_reason)} Its answers are those of a "
                       "tiny demonstration model trained on simple arithmetic word problems, not of Qwen2-Math.")
    if scorer_note:
        banners.append(f"<b>Ranking.</b> {escape_text(scorer_note)}")
    if store_note:
        banners.append(f"<b>Saving.</b> {escape_text(store_note)}")
    if pace_note:
        banners.append(f"<b>Slow hardware.</b> {escape_text(pace_note)}")
    gr.Markdown("\n\n".join(f"<div class='banner'>{b}</div>" for b in banners), visible=bool(banners), elem_id="banners")
    return gr.Markdown(visible=False, elem_id="backend-health")


@dataclass
class SolveTab:
    problem: gr.Textbox
    solve_btn: gr.Button
    stop_btn: gr.Button
    settings: list[Any]  # N, temperature, top-p, max new tokens, seed
    status: gr.Markdown
    outputs: list[Any]  # in `ui.outputs.render_outputs` order, then the ask box's context (`ui.followups`)
    ask: FollowUpBox | None = None  # "Ask about this solution", under the sampled solutions
    reasoning: gr.Radio | None = None  # in words / with Python


def solve_tab(info: BackendInfo, defaults: SamplingParams, examples: list[str], model_line: str,
              code: CodeOffer | None = None) -> SolveTab:
    """The problem box, Solve/Stop, the reasoning switch (off, with the reason, where `code` is
    not offered), the settings, and the live result panel."""
    offered = code is not None and code.offered
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
                reasoning_in = gr.Radio(list(REASONING_CHOICES), value=reasoning_choice(defaults.tir and offered),
                                        label="Reasoning", interactive=offered, elem_id="reasoning-mode",
                                        info=code.note if code is not None else None)
            with gr.Column(scale=2), gr.Accordion("Settings", open=False):
                n_in = gr.Slider(0, MAX_SAMPLES, value=defaults.n, step=1, label="N sampled solutions (0 = greedy only)")
                temp_in = gr.Slider(0.0, 2.0, value=defaults.temperature, step=0.05, label="temperature")
                top_p_in = gr.Slider(0.05, 1.0, value=defaults.top_p, step=0.05, label="top-p")
                max_in = gr.Slider(16, min(4096, info.context_length), value=min(defaults.max_new_tokens, info.context_length),
                                   step=16, label="max new tokens per solution")
                # A text box: a Number box turns "empty" into 0, which would pin every run's seed.
                seed_in = gr.Textbox(value="" if defaults.seed is None else str(defaults.seed), max_lines=1,
                                     label="seed (empty = random; the seed used is shown and logged)",
                                     placeholder="random", elem_id="seed")
        if examples:
            gr.Examples(examples=[[e] for e in examples], inputs=[problem], label="Examples", examples_per_page=12)
        status = gr.Markdown(status_markdown(model_line, None), elem_id="status")
        with gr.Row():
            with gr.Column(scale=3):
                gr.Markdown("### Solution")
                main = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="solution", min_height=80)
                answer = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="final-answer")
            with gr.Column(scale=2):
                votes = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="votes")
                chart = vote_plot_component(elem_id="vote-chart")
                heatmap = gr.Plot(label="Step rewards", show_label=False, visible=False, elem_id="step-heatmap", format="png")
        reasoning = reasoning_components("solve")  # under the vote, once the run is over
        gr.Markdown("### Sampled solutions")
        cards = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id="cards")
        ask = follow_up_box("solve")
    return SolveTab(problem, solve_btn, stop_btn, [n_in, temp_in, top_p_in, max_in, seed_in], status,
                    [status, main, answer, cards, votes, chart, heatmap, *reasoning, ask.context], ask=ask,
                    reasoning=reasoning_in)


@dataclass
class HistoryTab:
    tab: gr.Tab
    notice: gr.Markdown  # why an earlier History cannot be shown, when that happens
    page: gr.Number
    refresh_btn: gr.Button
    info: gr.Markdown
    table: gr.Dataframe
    attempt: gr.Textbox
    open_btn: gr.Button
    replay_outputs: list[Any]  # `ui.outputs.trace_panel`
    feedback: list[Any]  # verdict, about, correct answer, comment
    feedback_btn: gr.Button
    feedback_msg: gr.Markdown
    transcript_btn: gr.Button
    export_fmt: gr.Radio
    export_btn: gr.Button
    download: gr.File
    ask: FollowUpBox | None = None  # "Ask about this solution", under the replay
    checked: Any = None  # "Checked work": the session's own checks (`ui.check_work_log`)


def history_tab() -> HistoryTab:
    """This browser's own attempts: table, replay, feedback, transcript and export."""
    with gr.Tab("History", id="history") as tab:
        gr.Markdown("Your own problems in this browser, newest first. Open one to see its solutions again, "
                    "tell us whether the answer was right, or download it as a printable page.")
        notice = gr.Markdown(elem_id="history-notice")
        with gr.Row():
            page_in = gr.Number(value=1, precision=0, label="page", minimum=1, scale=0, min_width=100)
            refresh_btn = gr.Button("Refresh", scale=0)
            history_info = gr.Markdown()
        history_table = attempt_table(HISTORY_HEADERS, HISTORY_WIDTHS, "history-table")
        with gr.Row():
            attempt_in = gr.Textbox(label="attempt id", scale=3, elem_id="attempt-id")
            open_btn = gr.Button("Open", scale=1)
        replay_outputs = trace_panel("history")
        ask = follow_up_box("history")
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
        checked = check_work_log.history_section()
    return HistoryTab(tab, notice, page_in, refresh_btn, history_info, history_table, attempt_in, open_btn, replay_outputs,
                      [verdict_in, target_in, correct_in, comment_in], feedback_btn, feedback_msg,
                      transcript_btn, export_fmt, export_btn, download, ask=ask, checked=checked)


@dataclass
class TeacherTab:
    access: gr.State  # the token `teacher_login` returned
    password: gr.Textbox
    login_btn: gr.Button
    login_msg: gr.Markdown
    filters: list[Any]  # from, to, problem text, agreement, model, feedback, follow-ups, wrong step, checked vote
    page: gr.Number
    search_btn: gr.Button
    info: gr.Markdown
    table: gr.Dataframe
    attempt: gr.Textbox
    open_btn: gr.Button
    trace_outputs: list[Any]  # `ui.outputs.trace_panel`
    export_fmt: gr.Radio
    export_btn: gr.Button
    download: gr.File
    follow_ups: gr.Markdown | None = None  # the opened attempt's follow-up questions
    class_view: list[Any] | None = None  # "Same problem across the class": words, map (`ui.classview`)


def teacher_tab() -> TeacherTab:
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
            t_asked = gr.Dropdown(["any", "with follow-ups", "without"], value="any", label="follow-up questions", scale=1)
            t_wrong = gr.Dropdown(["any", *WRONG_STEP_CHOICES], value="any", label="step checker", scale=1)
            t_checked = gr.Dropdown(["any", *CHECKED_CHOICES], value="any", label="checked vote", scale=1)
            t_page = gr.Number(value=1, precision=0, minimum=1, label="page", scale=0, min_width=90)
        search_btn = gr.Button("Search")
        t_info = gr.Markdown()
        t_table = attempt_table(TEACHER_HEADERS, TEACHER_WIDTHS, "teacher-table")
        with gr.Row():
            t_attempt = gr.Textbox(label="attempt id", scale=3)
            t_open = gr.Button("Open trace", scale=1)
        trace_outputs = trace_panel("teacher")
        follow_ups = follow_up_trace("teacher")
        class_view = reasoning_components("teacher-class")  # filled when a trace opens
        with gr.Row():
            t_fmt = gr.Radio(["jsonl", "csv"], value="jsonl", label="export format")
            t_export = gr.Button("Export these results")
        t_download = gr.File(label="download")
    return TeacherTab(access, password, login_btn, login_msg, [t_from, t_to, t_text, t_agree, t_model, t_feedback, t_asked, t_wrong, t_checked],
                      t_page, search_btn, t_info, t_table, t_attempt, t_open, trace_outputs, t_fmt, t_export, t_download,
                      follow_ups=follow_ups, class_view=class_view)
