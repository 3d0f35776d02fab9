"""The components of follow-up questions (issue 18), with no behaviour: `ui.followups` wires them.

`follow_up_box` is the "Ask about this solution" box under a finished solution, in the Solve
tab and under a History replay; `follow_up_trace` is the read-only "Follow-up questions" panel
under the Teacher trace. Each is called inside the tab's context, where it should appear.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ui.mathtext import LATEX_DELIMITERS


@dataclass
class FollowUpBox:
    """The ask box. `context` holds the solutions on the page (`ui.followups.AskContext`, None
    when there is none: the box hides); `turns` the conversations when the log is off;
    `attempt` the attempt asked about (hidden, for the `ask` API)."""

    column: gr.Column
    context: gr.State
    turns: gr.State
    attempt: gr.Textbox
    about: gr.Dropdown
    question: gr.Textbox
    ask_btn: gr.Button
    stop_btn: gr.Button
    notice: gr.Markdown
    conversation: gr.Markdown


def follow_up_box(prefix: str) -> FollowUpBox:
    """The "Ask about this solution" box, hidden until a solution is on the page."""
    context = gr.State(None)
    turns = gr.State({})
    with gr.Column(visible=False, elem_id=f"{prefix}-ask", elem_classes=["ask-box"]) as column:
        gr.Markdown("### Ask about this solution")
        attempt = gr.Textbox(visible="hidden", label="attempt id", elem_id=f"{prefix}-ask-attempt")
        conversation = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id=f"{prefix}-conversation")
        with gr.Row(equal_height=True):
            # Values (solution numbers) are taken as given: an API client names one the page never listed.
            about = gr.Dropdown(choices=[], label="about", allow_custom_value=True, scale=2, min_width=280,
                                elem_id=f"{prefix}-ask-about")
            question = gr.Textbox(label="your question", lines=2, max_lines=8, scale=5, elem_id=f"{prefix}-question",
                                  placeholder='e.g. "Why is step 3 true?", "Explain it without algebra", '
                                              '"Check my answer: 42". LaTeX such as $x^2$ is welcome.')
        with gr.Row():
            ask_btn = gr.Button("Ask", variant="primary", elem_id=f"{prefix}-ask-btn")
            stop_btn = gr.Button("Stop", variant="stop", elem_id=f"{prefix}-ask-stop")
        notice = gr.Markdown(elem_id=f"{prefix}-ask-notice")
    return FollowUpBox(column, context, turns, attempt, about, question, ask_btn, stop_btn, notice, conversation)


def follow_up_trace(prefix: str) -> gr.Markdown:
    """Every solution's follow-up conversation of an opened attempt, read-only."""
    return gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id=f"{prefix}-follow-ups")
