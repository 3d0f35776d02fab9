"""Checked work in the log, on the page: each check and hint logged for the student's session,
the session's own checks under History, and the class's behind the teacher's login.

- `log_result` / `log_hint`: write a check (`storage.work_log.log_check`) and append hints to
  it; a failing log never blocks the check (the store says why; the page gets a short note).
- `history_section`: "Checked work" at the end of the History tab: the session's own checks, one opened
  (its steps and verdicts as the check showed them, its hints), a transcript (one HTML file, no
  scripts) and a JSONL export.
- `teacher_section`: a "Checked work (class)" tab, using the token the Teacher tab's login put
  in its state: every session's checks (filter by problem text), which step students get wrong
  most on each problem, one check opened, the export.
Privacy is the log's: a session reads only its own checks; a teacher needs the password.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from storage.errors import StorageError
from storage.work_log import (
    CheckedWork,
    CheckLog,
    add_hint,
    export_checks,
    get_check,
    log_check,
    session_checks,
    teacher_checks,
    teacher_get_check,
    wrong_step_counts,
)
from ui.mathtext import LATEX_DELIMITERS, escape_text, math_markdown
from ui.render import markdown_to_html
from ui.resources import AppResources
from ui.sessions import session_of
from ui.work_views import hints_markdown, steps_view

log = logging.getLogger(__name__)

HEADERS = ["when (UTC)", "problem", "first wrong step", "hints", "id"]


def log_result(app: AppResources, session_id: str, problem: Any, solution: Any, result: dict[str, Any],
               status: str = "checked", hints: tuple[str, ...] = ()) -> str | None:
    """Log one check for the session; its id, or None when the log is off or refused it."""
    if app.store is None or not isinstance(problem, str) or not isinstance(solution, str) or not solution.strip():
        return None
    written = log_check(app.store, session_id, CheckLog(problem.strip(), solution, result, status,
                                                       app.solver.info.model, hints))
    return written.attempt_id if written.ok or written.pending else None


def log_hint(app: AppResources, session_id: str, check_id: str | None, hint: str) -> None:
    if app.store is not None and check_id:
        add_hint(app.store, session_id, check_id, hint)


def _rows(checks: list[CheckedWork]) -> list[list[Any]]:
    return [[c.created_at.strftime("%Y-%m-%d %H:%M"), c.problem[:120],
             "none" if c.first_wrong_step is None else (c.status if c.status != "checked" else c.first_wrong_step + 1),
             len(c.hints), c.id] for c in checks]


def check_markdown(check: CheckedWork | None) -> str:
    """One logged check as the Check tab showed it."""
    if check is None:
        return "No such check in your log."
    parts = [f"**Problem.** {math_markdown(check.problem)}",
             f"<div class='work-message'>{escape_text(check.message or '')}</div>",
             steps_view(check.steps, check.verdicts, check.first_wrong_step)]
    if check.hints:
        parts.append(hints_markdown(check.hints))
    return "\n\n".join(parts)


def transcript_html(check: CheckedWork) -> str:
    """A logged check as one self-contained HTML file (no scripts; text escaped, formulas as MathML)."""
    steps = []
    for verdict in check.verdicts:
        at = verdict.get("step")
        if not isinstance(at, int) or not 0 <= at < len(check.steps):
            continue
        mark = " (the first wrong step)" if at == check.first_wrong_step else ""
        reasons = "".join(f"<li>{html.escape(str(r))}</li>" for r in verdict.get("reasons") or [])
        steps.append(f"<h3>Step {at + 1}: {html.escape(str(verdict.get('verdict')))}{mark}</h3>"
                     f"{markdown_to_html(math_markdown(check.steps[at]))}<ul>{reasons}</ul>")
    hints = "".join(f"<li>{markdown_to_html(math_markdown(h))}</li>" for h in check.hints)
    judges = "".join(f"<li>{html.escape(str(j.get('name')))}: {html.escape(str(j.get('said')))}</li>" for j in check.judges)
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Checked work</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;line-height:1.5}</style></head>"
            f"<body><h1>Checked work</h1><p>{html.escape(check.created_at.isoformat())} · {html.escape(check.status)}</p>"
            f"<h2>Problem</h2>{markdown_to_html(math_markdown(check.problem))}"
            f"<h2>Verdicts</h2><p>{html.escape(check.message or '')}</p>{''.join(steps)}"
            f"<h2>Judges</h2><ul>{judges}</ul><h2>Hints</h2><ul>{hints or '<li>none</li>'}</ul></body></html>")


def _file(app: AppResources, name: str, text: str) -> str:
    path = Path(app.downloads) / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def wrong_steps_markdown(checks: list[CheckedWork]) -> str:
    """Per problem, the step students' checks first go wrong at most."""
    lines = []
    for problem, counts in sorted(wrong_step_counts(checks).items(), key=lambda kv: -sum(kv[1].values()))[:20]:
        step, times = counts.most_common(1)[0]
        total = sum(1 for c in checks if c.problem == problem and c.status == "checked")
        lines.append(f"- step {step} ({times} of {total} checks): {escape_text(problem[:160])}")
    return ("**Where students go wrong most**\n" + "\n".join(lines)) if lines else "No checked work with a wrong step yet."


@dataclass
class LogSection:
    refresh: gr.Button
    table: gr.Dataframe
    check_id: gr.Textbox
    open_btn: gr.Button
    view: gr.Markdown
    transcript_btn: gr.Button
    export_btn: gr.Button
    download: gr.File
    text: gr.Textbox | None = None
    summary: gr.Markdown | None = None


def _section(prefix: str, *, teacher: bool) -> LogSection:
    text = summary = None
    with gr.Row():
        if teacher:
            text = gr.Textbox(label="problem contains", scale=3, elem_id=f"{prefix}-text")
        refresh = gr.Button("Find checked work" if teacher else "Show my checked work", scale=1, elem_id=f"{prefix}-refresh")
    if teacher:
        summary = gr.Markdown(elem_id=f"{prefix}-summary")
    table = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True, elem_id=f"{prefix}-table")
    with gr.Row():
        check_id = gr.Textbox(label="check id", scale=3, elem_id=f"{prefix}-id")
        open_btn = gr.Button("Open check", scale=1, elem_id=f"{prefix}-open")
    view = gr.Markdown(latex_delimiters=LATEX_DELIMITERS, elem_id=f"{prefix}-view")
    with gr.Row():
        transcript_btn = gr.Button("Transcript of this check")
        export_btn = gr.Button("Export checked work (JSONL)")
    download = gr.File(label="download")
    return LogSection(refresh, table, check_id, open_btn, view, transcript_btn, export_btn, download, text, summary)


def history_section() -> LogSection:
    """"Checked work" at the end of the History tab (called inside it by `ui.layout.history_tab`)."""
    with gr.Accordion("Checked work", open=False, elem_id="history-checks"):
        return _section("history-checks", teacher=False)


def teacher_section() -> LogSection:
    """A tab of its own for the class's checked work (called inside `gr.Tabs`)."""
    with gr.Tab("Checked work (class)", id="teacher-checks"):
        gr.Markdown("Every student's checked work. Log in on the Teacher tab first.")
        return _section("teacher-checks", teacher=True)


def _read(fn: Any, teacher: bool) -> Any:
    try:
        return fn()
    except StorageError as exc:
        what = "the class's checked work" if teacher else "your checked work"
        raise gr.Error(f"Could not read {what}: {exc}", print_exception=False) from None


def wire_history(app: AppResources, section: LogSection, browser_id: Any) -> None:
    """The session's own checked work."""
    if app.store is None:
        return

    def listing(browser, request: gr.Request):
        return _rows(_read(lambda: session_checks(app.store, session_of(browser, request)), False))

    def open_check(check_id, browser, request: gr.Request):
        return check_markdown(_read(lambda: get_check(app.store, session_of(browser, request), check_id or ""), False))

    def transcript(check_id, browser, request: gr.Request):
        found = _read(lambda: get_check(app.store, session_of(browser, request), check_id or ""), False)
        if found is None:
            raise gr.Error("Pick one of your checks first.", print_exception=False)
        return _file(app, f"check-{found.id}.html", transcript_html(found))

    def export(browser, request: gr.Request):
        checks = _read(lambda: session_checks(app.store, session_of(browser, request), limit=1000), False)
        return _file(app, "checked-work.jsonl", export_checks(checks))

    section.refresh.click(listing, [browser_id], [section.table], api_name=False)
    section.table.select(_picked, [section.table], [section.check_id], api_name=False)
    section.open_btn.click(open_check, [section.check_id, browser_id], [section.view], api_name=False)
    section.transcript_btn.click(transcript, [section.check_id, browser_id], [section.download], api_name=False)
    section.export_btn.click(export, [browser_id], [section.download], api_name=False)


def wire_teacher(app: AppResources, section: LogSection, access: gr.State) -> None:
    """The class's checked work, behind the Teacher tab's login token."""
    if app.store is None:
        return

    def search(token, text):
        checks = _read(lambda: teacher_checks(app.store, token, text=(text or "").strip() or None), True)
        return _rows(checks), wrong_steps_markdown(checks)

    def open_check(token, check_id):
        return check_markdown(_read(lambda: teacher_get_check(app.store, token, check_id or ""), True))

    def transcript(token, check_id):
        found = _read(lambda: teacher_get_check(app.store, token, check_id or ""), True)
        if found is None:
            raise gr.Error("Pick a check first.", print_exception=False)
        return _file(app, f"check-{found.id}.html", transcript_html(found))

    def export(token, text):
        checks = _read(lambda: teacher_checks(app.store, token, text=(text or "").strip() or None, limit=1000), True)
        return _file(app, "class-checked-work.jsonl", export_checks(checks))

    section.refresh.click(search, [access, section.text], [section.table, section.summary], api_name=False)
    section.table.select(_picked, [section.table], [section.check_id], api_name=False)
    section.open_btn.click(open_check, [access, section.check_id], [section.view], api_name=False)
    section.transcript_btn.click(transcript, [access, section.check_id], [section.download], api_name=False)
    section.export_btn.click(export, [access, section.text], [section.download], api_name=False)


def _picked(table: Any, event: gr.SelectData) -> str:
    """The id of the row clicked."""
    try:
        row = event.index[0]
        return str(table.iloc[row, -1]) if hasattr(table, "iloc") else str(table["data"][row][-1])
    except (IndexError, KeyError, TypeError, AttributeError):
        return ""


__all__ = ["LogSection", "check_markdown", "history_section", "log_hint", "log_result", "teacher_section",
           "transcript_html", "wire_history", "wire_teacher", "wrong_steps_markdown"]
