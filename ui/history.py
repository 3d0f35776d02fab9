"""The History and Teacher tabs' handlers: the session log read back as tables, replayed
attempts, feedback, printable transcripts and exports.

A person sees only their own session's attempts; the Teacher tab sees every session's behind
the operator's password (the log checks the token). Storage errors become `gr.Error`s here.
"""

from __future__ import annotations

import secrets
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import gradio as gr

from storage.errors import StorageError
from storage import review
from storage.records import AttemptQuery, FeedbackInput
from ui import logbook, lognotes
from ui.outputs import model_line, render_outputs
from ui.mathtext import escape_text
from ui.resources import AppResources
from ui.transcript import transcript_html
from ui.trace_header import trace_header
from ui.tables import history_rows, teacher_rows

HISTORY_PAGE_SIZE = 20
TEACHER_PAGE_SIZE = 50
DOWNLOAD_TTL_S = 3600


def parse_day(text: str | None, name: str) -> date | None:
    if text is None or not str(text).strip():
        return None
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise gr.Error(f"{name} must be a date written YYYY-MM-DD; got {str(text)[:40]!r}.") from None


def row_id(table: Any, evt: gr.SelectData) -> Any:
    """The attempt id of the table row a person clicked (its last column)."""
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    try:
        return str(table.iloc[row, -1]) if hasattr(table, "iloc") else str(table[row][-1])
    except (IndexError, KeyError, TypeError):
        return gr.skip()


# --------------------------------------------------------------------------- one session


def lost_id_notice(current: object, had_stored: object) -> str:
    """Said in History when the browser held a session id that could not be read back."""
    if had_stored is True and not (isinstance(current, str) and current):
        return ("<div class='warn'>This browser kept a History key this server can no longer read (the "
                "server's key changed). Earlier attempts are still kept, but cannot be shown here; new ones "
                "are kept from now on.</div>")
    return ""


def history_page(app: AppResources, session_id: str, page: Any) -> tuple[Any, str]:
    if app.store is None:
        return [], lognotes.HISTORY_UNAVAILABLE
    try:
        number = max(1, int(page or 1))
    except (TypeError, ValueError):
        number = 1
    try:
        result = app.store.history(session_id, page=number, page_size=HISTORY_PAGE_SIZE)
    except StorageError as exc:  # the store logged the details for the operator
        return [], f"<span class='error'>{escape_text(lognotes.read_failure(app, exc))}</span>"
    rows = history_rows(result.items)
    return rows, f"{result.total} attempt{'s' if result.total != 1 else ''} · page {result.page} of {result.pages}"


NO_ATTEMPT = "No such attempt in your history."
NO_TRACE = "No attempt with that id."


def refused_trace(message: str) -> list[Any]:
    """A trace that cannot open: one calm line where its problem would stand, and the panel
    emptied, so no earlier trace sits under it as if it were this one's (an error raised here
    would put a toast and a red "Error" over each of the panel's nine outputs)."""
    hidden = gr.update(value=None, visible=False)
    return [f"<div class='refusal'>{escape_text(message)}</div>", "", "", "", "", hidden, hidden,
            gr.update(value="", visible=False), gr.update(value="", visible=False)]


def _replay_outputs(app: AppResources, replayed: review.Replay | None, *, missing: str,
                    ask_hint: bool = False) -> list[Any]:
    if replayed is None:
        return refused_trace(missing)
    detail = replayed.detail
    view = logbook.run_view_from_replay(replayed)  # its map's splits follow feedback's right answer
    outputs = render_outputs(model_line(app.solver.info), view, None, plots=True, ask_hint=ask_hint)
    return [trace_header(detail)] + outputs[1:]  # the problem, how the run ended, its feedback


def replay(app: AppResources, session_id: str, attempt_id: Any) -> list[Any]:
    if app.store is None:
        return refused_trace(lognotes.HISTORY_UNAVAILABLE)
    if not isinstance(attempt_id, str) or not attempt_id.strip():
        return refused_trace("Pick an attempt from the table (or paste its id) first.")
    try:
        replayed = review.replay(app.store, attempt_id.strip(), session_id=session_id)
    except StorageError as exc:
        return refused_trace(lognotes.read_failure(app, exc))
    return _replay_outputs(app, replayed, missing=NO_ATTEMPT, ask_hint=True)  # History's replay has the ask box under it


def save_feedback(app: AppResources, session_id: str, attempt_id: Any, verdict: Any, target: Any, correct: Any, comment: Any) -> str:
    if app.store is None:
        return lognotes.HISTORY_UNAVAILABLE
    if not isinstance(attempt_id, str) or not attempt_id.strip():
        return "Open an attempt first."
    correct_text = correct.strip() if isinstance(correct, str) and correct.strip() else None
    comment_text = comment.strip() if isinstance(comment, str) and comment.strip() else None
    if verdict not in ("right", "wrong", None) or (verdict is None and not correct_text and not comment_text):
        return "Choose right or wrong, or give the correct answer or a comment."
    if (correct_text and len(correct_text) > 1000) or (comment_text and len(comment_text) > 5000):
        return "That is too long: keep the answer under 1,000 and the comment under 5,000 characters."
    try:
        status = app.store.add_feedback(
            attempt_id.strip(), session_id=session_id,
            feedback=FeedbackInput(verdict=verdict, correct_answer=correct_text, comment=comment_text,
                                   target=target if target in ("attempt", "greedy", "majority", "reward", "weighted") else "attempt"),
        )
    except StorageError as exc:
        return f"<span class='error'>{escape_text(lognotes.read_failure(app, exc))}</span>"
    if status.ok:
        return "Thank you: feedback saved."
    # Not saved: the student's own mistake is said as it is; the log's trouble in plain words.
    said = status.message if lognotes.log_working(app) else lognotes.UNSAVED
    return f"<span class='error'>{escape_text(said)}</span>"


# --------------------------------------------------------------------------- downloads


def prune_downloads(folder: Path) -> None:
    """Delete transcripts and exports older than an hour (Gradio has copied them by then)."""
    cutoff = time.time() - DOWNLOAD_TTL_S
    for path in folder.glob("*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue  # another handler removed it first


def transcript_file(app: AppResources, session_id: str, attempt_id: Any) -> str:
    if app.store is None:
        raise gr.Error(lognotes.HISTORY_UNAVAILABLE, print_exception=False)
    if not isinstance(attempt_id, str) or not attempt_id.strip():
        raise gr.Error("Open an attempt first.", print_exception=False)
    try:
        detail = app.store.get_attempt(attempt_id.strip(), session_id=session_id)
    except StorageError as exc:
        raise gr.Error(lognotes.read_failure(app, exc), print_exception=False) from None
    if detail is None:
        raise gr.Error("No such attempt in your history.", print_exception=False)
    prune_downloads(app.downloads)
    path = app.downloads / f"transcript-{detail.id[:12]}-{secrets.token_hex(3)}.html"
    path.write_text(transcript_html(detail), encoding="utf-8")
    return str(path)


def export_file(app: AppResources, fmt: Any, *, session_id: str | None = None, access: Any = None,
                query: AttemptQuery | None = None, require_teacher: bool = False) -> str:
    if app.store is None:
        raise gr.Error(lognotes.CLASS_LOG_UNAVAILABLE if require_teacher else lognotes.HISTORY_UNAVAILABLE,
                       print_exception=False)
    if fmt not in ("jsonl", "csv"):
        raise gr.Error("Choose jsonl or csv.", print_exception=False)
    prune_downloads(app.downloads)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = app.downloads / f"{'class' if require_teacher else 'my'}-attempts-{stamp}-{secrets.token_hex(3)}.{fmt}"
    try:
        if require_teacher:
            app.store.teacher_export(access, fmt, query=query, out=path)
        else:
            app.store.export_session(session_id, fmt, out=path)  # type: ignore[arg-type]
    except StorageError as exc:
        raise gr.Error(lognotes.read_failure(app, exc, teacher=require_teacher), print_exception=False) from None
    return str(path)


# --------------------------------------------------------------------------- every session (Teacher)


WRONG_STEP_CHOICES = {"with a wrong step": True, "without": False}
CHECKED_CHOICES = {"agrees with Maj@N": True, "differs from Maj@N": False}


def teacher_query(date_from: Any, date_to: Any, text: Any, agree: Any, model: Any, feedback: Any,
                  follow_ups: Any = "any", wrong_step: Any = "any", checked: Any = "any") -> AttemptQuery:
    """The Teacher tab's filters, checked (`wrong_step`, `checked`: the step checker's, see
    `WRONG_STEP_CHOICES` and `CHECKED_CHOICES`; anything else filters nothing)."""
    return AttemptQuery(
        date_from=parse_day(date_from, "from"),
        date_to=parse_day(date_to, "to"),
        text=text.strip()[:500] if isinstance(text, str) and text.strip() else None,
        all_agree={"agree": True, "disagree": False}.get(agree) if isinstance(agree, str) else None,
        model_id=model.strip() if isinstance(model, str) and model.strip() else None,
        feedback=feedback if feedback in ("none", "right", "wrong", "corrected") else None,
        has_follow_ups={"with follow-ups": True, "without": False}.get(follow_ups) if isinstance(follow_ups, str) else None,
        has_wrong_step=WRONG_STEP_CHOICES.get(wrong_step) if isinstance(wrong_step, str) else None,
        checked_agrees=CHECKED_CHOICES.get(checked) if isinstance(checked, str) else None,
    )


def teacher_page(app: AppResources, token: Any, page: Any, *filters: Any) -> tuple[Any, str]:
    try:
        number = max(1, int(page or 1))
    except (TypeError, ValueError):
        number = 1
    try:
        result = app.store.teacher_search(token, teacher_query(*filters), page=number, page_size=TEACHER_PAGE_SIZE)
    except StorageError as exc:
        raise gr.Error(lognotes.read_failure(app, exc, teacher=True), print_exception=False) from None
    count = f"{result.total} attempt{'s' if result.total != 1 else ''}"
    return teacher_rows(result.items), f"{count} · page {result.page} of {result.pages}"


def teacher_replay(app: AppResources, token: Any, attempt_id: Any) -> list[Any]:
    if app.store is None:
        return refused_trace(lognotes.CLASS_LOG_UNAVAILABLE)
    if not isinstance(attempt_id, str) or not attempt_id.strip():
        return refused_trace("Pick an attempt first.")
    try:
        replayed = review.teacher_replay(app.store, token, attempt_id.strip())
    except StorageError as exc:
        return refused_trace(lognotes.read_failure(app, exc, teacher=True))
    return _replay_outputs(app, replayed, missing=NO_TRACE)


def teacher_export(app: AppResources, token: Any, fmt: Any, *filters: Any) -> str:
    return export_file(app, fmt, access=token, query=teacher_query(*filters), require_teacher=True)
