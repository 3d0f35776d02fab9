"""The result panel: its components and the values that fill them, in one order shared by the
Solve tab (live) and the History and Teacher tabs (replayed): status or problem, solution,
final answer, sample cards, votes, vote chart, step-reward heatmap, and the reasoning map
("Where the solutions part ways": words and map, `ui.reasoning`).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from model.backends.protocol import BackendInfo
from ui.plots import VOTE_COLUMNS, step_heatmap, vote_bars
from ui.reasoning import panel_updates
from ui.mathtext import LATEX_DELIMITERS, escape_text
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


def server_capabilities(info: Any) -> str:
    """What a server honours, in words: seeds, log-probabilities."""
    seeds = "seeds reproduce samples" if info.seeds else "seeds not guaranteed to reproduce samples"
    logprobs = "log-probabilities" if info.logprobs else "no log-probabilities (no confidence ranking)"
    return f"{seeds}; {logprobs}"


def model_line(info: BackendInfo) -> str:
    """The status line's first part: the model, how it runs, and what a server honours."""
    line = f"**{escape_text(info.model)}** · {escape_text(info.describe().split(' · ', 1)[1])}"
    if info.kind == "server":
        line += f" · {escape_text(server_capabilities(info))}"
    if info.tools:
        line += " · Python in a sandbox"
    return line


def vote_plot_component(**kwargs: Any) -> gr.BarPlot:
    """The votes-per-answer bars, drawn by the browser (see `ui.plots`)."""
    return gr.BarPlot(x="answer", y="votes", color="cluster", tooltip=["answer", "votes", "weighted share"],
                      x_title="answer", y_title="votes", label="Votes per answer", show_label=False,
                      color_title="answer cluster", y_lim=[0, None], height=260, **kwargs)


def trace_panel(prefix: str) -> list[Any]:
    """A stored attempt's problem, solution, answer, cards, votes, chart and heatmap (History
    and Teacher tabs); returns the components in `render_outputs` order."""
    problem = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id=f"{prefix}-problem")
    with gr.Row():
        with gr.Column(scale=3):
            main = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id=f"{prefix}-solution")
            answer = gr.Markdown(latex_delimiters=LATEX_DELIMITERS)
        with gr.Column(scale=2):
            votes = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id=f"{prefix}-votes")
            chart = vote_plot_component(visible=False, elem_id=f"{prefix}-vote-chart")  # shown with a vote
            heatmap = gr.Plot(label="Step rewards", show_label=False, visible=False, format="png")
    reasoning = reasoning_components(prefix)
    cards = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id=f"{prefix}-cards")
    return [problem, main, answer, cards, votes, chart, heatmap, *reasoning]


def reasoning_components(prefix: str) -> list[Any]:
    """The "Where the solutions part ways" panel: its words and its map (the SVG `ui.reasoning`
    writes, model text in it escaped; no `js_on_load`: nothing to click), hidden until a run ends."""
    words = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, visible=False, elem_id=f"{prefix}-reasoning")
    drawn = gr.HTML(visible=False, container=True, padding=True, js_on_load=None, elem_id=f"{prefix}-reasoning-map")
    return [words, drawn]


def render_outputs(line: str, view: RunView, live: LiveRun | None, *, log_message: str = "", plots: bool,
                   ask_hint: bool = False, step_rewards: bool = True) -> list[Any]:
    """Values for the Solve/History outputs: status, solution, answer, cards, votes, chart,
    heatmap. `line` is the status line's `model_line`; without `live` the status is empty;
    `ask_hint`: the cards point to the ask box (where there is one). Then the reasoning map's
    words and SVG, drawn with the plots (measured as the view's map is: against the answer
    feedback marked right, in a replay).
    `step_rewards` False: no step-reward heatmap can show (no process reward model), so it is
    left alone rather than hidden again (each property update costs Gradio a component build)."""
    status = status_markdown(line, live, log_message=log_message) if live is not None else ""
    chart: Any = gr.skip()
    heatmap: Any = gr.skip()
    reasoning: list[Any] = [gr.skip(), gr.skip()]
    if plots:
        reasoning = panel_updates(view)
        chart = vote_plot(view)
        rows = heatmap_rows(view)
        if rows:
            heatmap = gr.update(value=step_heatmap(rows), visible=True)
        elif step_rewards:
            heatmap = gr.update(value=None, visible=False)
    return [
        status,
        main_solution_markdown(view),
        final_answer_markdown(view),
        cards_markdown(view, ask_hint=ask_hint),
        vote_markdown(view),
        chart,
        heatmap,
        *reasoning,
    ]


def vote_plot(view: RunView) -> Any:
    """The bar plot's new value for a finished view: None before the vote, hidden when the run
    ended without one (no empty frame under a replay)."""
    if not view.vote or not view.vote.n:
        return gr.update(value=None, visible=False) if view.finished else None
    import pandas as pd

    rows, colours, title = vote_bars(**chart_data(view.vote))
    return gr.BarPlot(value=pd.DataFrame(rows, columns=list(VOTE_COLUMNS)), color_map=colours, title=title,
                      sort=[row[0] for row in rows], x_label_angle=-20 if len(rows) > 5 else 0, visible=True)
