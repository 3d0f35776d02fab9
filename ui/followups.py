"""Follow-up questions in the page (issue 18): ask about a solution on the page, stream the
answer, log both turns; show the conversations in History and the Teacher trace.

One question (`ask`):
1. which solution: with the session log on, the attempt must be in the log and the caller's
   own (`Store.get_attempt`); any other gets History's refusal, "No such attempt in your
   history.", word for word, so a stranger learns nothing. With the log off (or a solve that
   never reached it), the solutions on the page (the box's `AskContext`, a server-side
   `gr.State` of this browser session) and the conversations kept beside them (`turns`) stand
   in for the log, and nothing is saved: the box says so;
2. `Solver.prepare_follow_up` checks the question (empty, huge, binary: the same message as
   for a problem) and fits the conversation to the context; `prepared.notice` says what was
   left out;
3. the question is logged, the answer streams through the same queue as solves with the
   same coalesced updates (`ui.views.LiveRun`), and is logged when it ends: stopped, or the
   page gone, as `cancelled` with what streamed.
Stop sets the follow-up's cancel event (`AppResources.follow_ups`: one per session, apart from
the solves'). Everything shown passes through `ui.render.math_markdown`: text, never HTML.

Choosing a solution: the cards are HTML inside one Markdown component, so there is no button
per card; the box's "about" selector lists the greedy solution and each sample #k (with its
answer and how many questions it has), and each finished card says "ask about #k below".
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

import gradio as gr

from model.errors import ModelError
from model.types import RunDone, RunResult, Started
from storage.errors import StorageError
from storage.records import AttemptDetail, FollowUpAnswer
from ui import lognotes
from ui.mathtext import escape_text, math_markdown
from ui.resources import AppResources
from ui.sessions import session_of
from ui.views import LiveRun

NO_SUCH_ATTEMPT = "No such attempt in your history."  # History's refusal, word for word
NOTHING_TO_ASK_ABOUT = "Solve a problem (or open one in History) first: there is no solution to ask about."
LOG_OFF = "The session log is off: these questions are answered but not saved."
NOT_LOGGED = "This attempt did not reach the session log: these questions are answered but not saved."
ANSWER_NOTES = {
    "length": "the answer hit its token limit",
    "repetition": "the model started repeating itself and was stopped",
    "cancelled": "stopped",
    "error": "the answer failed",
}
MAX_LABEL_ANSWER_CHARS = 30


# ------------------------------------------------------------------------------ page data


@dataclass(frozen=True)
class AskContext:
    """The solutions on the page a question can be about. `key` names their conversations
    (the attempt id when logged, else a token of this page); `solutions` holds
    (index, label, text), 0 the greedy solution, 1..N the samples."""

    key: str
    attempt_id: str | None
    problem: str
    solutions: tuple[tuple[int, str, str], ...]

    def text_of(self, index: int) -> str | None:
        return next((text for i, _, text in self.solutions if i == index), None)

    def label_of(self, index: int) -> str:
        return next((label for i, label, _ in self.solutions if i == index), f"solution #{index}")


def solution_label(index: int, kind: str, answer: str | None) -> str:
    """How the "about" selector names a solution: its card's number and its answer."""
    name = "the greedy solution" if kind == "greedy" else f"sample #{index}"
    if answer:
        short = answer if len(answer) <= MAX_LABEL_ANSWER_CHARS else answer[: MAX_LABEL_ANSWER_CHARS - 1] + "…"
        name += f" (answer {short})"
    return name


def solved_context(attempt_id: str | None, result: RunResult | None) -> AskContext | None:
    """The box's context after a solve: its solutions that have text (None: nothing to ask about)."""
    if result is None:
        return None
    solutions = tuple((s.index, solution_label(s.index, s.kind, s.answer), s.text) for s in result.solutions if s.text)
    if not solutions:
        return None
    return AskContext(attempt_id or f"page-{secrets.token_hex(8)}", attempt_id, result.problem, solutions)


def detail_context(detail: AttemptDetail | None) -> AskContext | None:
    """The box's context for an attempt opened in History."""
    if detail is None:
        return None
    solutions = tuple((s.index, solution_label(s.index, s.kind, s.answer), s.text) for s in detail.samples if s.text)
    return AskContext(detail.id, detail.id, detail.problem, solutions) if solutions else None


# ------------------------------------------------------------------------------ rendering


class ShownTurn(NamedTuple):
    """One turn as the page shows it: `role` `student` or `assistant`; `note` why an answer ended early."""

    role: str
    text: str
    finished: bool = True
    note: str = ""


def turns_of(records: Sequence[Any]) -> list[ShownTurn]:
    """Logged turns (`storage.records.TurnRecord`) as shown."""
    return [ShownTurn(t.role, t.text, True, ANSWER_NOTES.get(t.finish_reason or "", "")) for t in records]


def turns_from_pairs(pairs: Sequence[tuple[str, str]]) -> list[ShownTurn]:
    return [turn for question, answer in pairs for turn in (ShownTurn("student", question), ShownTurn("assistant", answer))]


def conversation_markdown(turns: Sequence[ShownTurn]) -> str:
    """A conversation: each question and answer in its own box, math typeset, nothing as HTML."""
    parts = []
    for turn in turns:
        who = "Question" if turn.role == "student" else "Answer"
        if turn.role != "student" and not turn.text and not turn.finished:
            body = "<span class='held'>Thinking…</span>"
        else:
            body = math_markdown(turn.text, finished=turn.finished)
        note = f" · <span class='note'>{escape_text(turn.note)}</span>" if turn.note else ""
        parts.append(f"<div class='turn {'student' if turn.role == 'student' else 'assistant'}'>"
                     f"<div class='turn-who'>{who}{note}</div>\n\n{body}\n\n</div>")
    return "\n\n".join(parts)


def all_conversations_markdown(detail: AttemptDetail | None) -> str:
    """Every solution's conversation of an attempt (the Teacher trace)."""
    if detail is None:
        return ""
    parts = ["### Follow-up questions"]
    for index in sorted({t.sample_index for t in detail.turns}):
        name = "the greedy solution" if index == 0 else f"sample #{index}"
        parts.append(f"**About {name}**\n\n{conversation_markdown(turns_of(detail.turns_about(index)))}")
    if len(parts) == 1:
        parts.append("<span class='held'>No follow-up questions were asked about this attempt.</span>")
    return "\n\n".join(parts)


def notice_markdown(notes: Sequence[str], status: str = "") -> str:
    lines = [f"<span class='held'>{escape_text(status)}</span>"] if status else []
    lines += [f"<div class='warn'>{escape_text(note)}</div>" for note in notes]
    return "\n\n".join(lines)


# ------------------------------------------------------------------------------ handlers


def _conversations(app: AppResources, context: AskContext, turns: dict[str, Any], session_id: str) -> dict[int, list[ShownTurn]]:
    """Each solution's conversation: from the log, or kept beside the page with the log off."""
    if app.store is not None and context.attempt_id is not None:
        try:
            detail = app.store.get_attempt(context.attempt_id, session_id=session_id)
        except StorageError:
            detail = None
        if detail is not None:
            return {i: turns_of(detail.turns_about(i)) for i, _, _ in context.solutions}
    return {i: turns_from_pairs((turns or {}).get(f"{context.key}:{i}", [])) for i, _, _ in context.solutions}


def show_context(app: AppResources, context: Any, turns: Any, browser: Any, request: gr.Request | None) -> list[Any]:
    """A new context (a solve finished, an attempt opened, or none): the box, its selector and
    the conversation of the first solution that has one (else of the greedy solution)."""
    if not isinstance(context, AskContext):
        return [gr.update(visible=False), "", gr.update(choices=[], value=None), "", ""]
    conversations = _conversations(app, context, turns, session_of(browser, request))
    choices = []
    for index, label, _ in context.solutions:
        asked = sum(1 for t in conversations[index] if t.role == "student")
        choices.append((label + (f" · {asked} question{'s' if asked != 1 else ''}" if asked else ""), index))
    chosen = next((i for i, _, _ in context.solutions if conversations[i]), context.solutions[0][0])
    notice = notice_markdown([_unsaved(app)]) if context.attempt_id is None else ""
    return [gr.update(visible=True), context.attempt_id or "", gr.update(choices=choices, value=chosen),
            conversation_markdown(conversations[chosen]), notice]


def show_conversation(app: AppResources, context: Any, turns: Any, about: Any, browser: Any, request: gr.Request | None) -> str:
    """The conversation about the solution just chosen in the selector."""
    index = _index(about)
    if not isinstance(context, AskContext) or index is None:
        return ""
    return conversation_markdown(_conversations(app, context, turns, session_of(browser, request)).get(index, []))


def open_attempt_context(app: AppResources, attempt_id: Any, browser: Any, request: gr.Request | None) -> AskContext | None:
    """The box's context for the attempt History opens (None, hiding the box, when it cannot:
    the replay itself says why)."""
    if app.store is None or not isinstance(attempt_id, str) or not attempt_id.strip():
        return None
    try:
        return detail_context(app.store.get_attempt(attempt_id.strip(), session_id=session_of(browser, request)))
    except StorageError:
        return None


def teacher_conversations(app: AppResources, token: Any, attempt_id: Any) -> str:
    """The Teacher trace's follow-up questions ("" when the trace itself cannot open)."""
    if app.store is None or not isinstance(attempt_id, str) or not attempt_id.strip():
        return ""
    try:
        return all_conversations_markdown(app.store.teacher_get_attempt(token, attempt_id.strip()))
    except StorageError:
        return ""


def _index(about: Any) -> int | None:
    if isinstance(about, bool):
        return None
    if isinstance(about, int):
        return about
    if isinstance(about, float) and about.is_integer():
        return int(about)
    if isinstance(about, str) and about.strip().isdigit():
        return int(about.strip())
    return None


@dataclass
class _Source:
    """What a question is about: the problem, the solution's text, the conversation so far."""

    attempt_id: str | None
    problem: str
    solution: str | None
    earlier: list[tuple[str, str]]
    shown: list[ShownTurn]
    label: str


def _unsaved(app: AppResources) -> str:
    return LOG_OFF if app.store is None else NOT_LOGGED


class Refused(Exception):
    """A question that cannot be asked, and why (said in the box's notice, not raised as an error)."""


def refusal_markdown(message: str) -> str:
    """The notice for a refused question (`keep_question` sees its class and leaves the box alone)."""
    return f"<div class='refusal'>{escape_text(message)}</div>"


def keep_question(notice: Any) -> Any:
    """After Ask: the question box emptied when its question went out, kept when it was refused."""
    return gr.skip() if isinstance(notice, str) and notice.startswith("<div class='refusal'>") else ""


def _source(app: AppResources, session_id: str, context: Any, turns: Any, attempt_id: Any, index: int) -> _Source:
    """From the log when an attempt id is given (the caller's own attempt, else the refusal);
    from the page's solutions when the log is off or the solve never reached it."""
    wanted = attempt_id.strip() if isinstance(attempt_id, str) and attempt_id.strip() else None
    if app.store is not None and (wanted is not None or not isinstance(context, AskContext) or context.attempt_id):
        if wanted is None:
            raise Refused(NOTHING_TO_ASK_ABOUT)
        try:
            detail = app.store.get_attempt(wanted, session_id=session_id)
        except StorageError as exc:
            raise Refused(lognotes.read_failure(app, exc)) from None
        if detail is None:
            raise Refused(NO_SUCH_ATTEMPT)
        sample = next((s for s in detail.samples if s.index == index), None)
        label = solution_label(index, sample.kind, None) if sample is not None else f"solution #{index}"
        return _Source(detail.id, detail.problem, sample.text if sample is not None else None,
                       detail.exchanges(index), turns_of(detail.turns_about(index)), label)
    if not isinstance(context, AskContext):
        raise Refused(NOTHING_TO_ASK_ABOUT)
    earlier = list((turns or {}).get(f"{context.key}:{index}", []))
    return _Source(None, context.problem, context.text_of(index), earlier, turns_from_pairs(earlier),
                   context.label_of(index))


def ask(app: AppResources, attempt_id: Any, about: Any, question: Any, browser: Any, context: Any, turns: Any,
        request: gr.Request | None) -> Iterator[list[Any]]:
    """The Ask handler: check, log the question, stream the answer, log it. Yields the
    conversation, the notice, and the conversations kept with the log off."""
    session_id = session_of(browser, request)
    try:
        index = _index(about)
        if index is None:
            raise Refused("Choose which solution the question is about.")
        source = _source(app, session_id, context, turns, attempt_id, index)
        if not source.solution:
            raise Refused(f"There is no text of {source.label} to ask about.")
        try:
            prepared = app.solver.prepare_follow_up(source.problem, source.solution, question, source.earlier)
        except ModelError as exc:
            raise Refused(str(exc)) from None
    except Refused as refused:
        # One calm line in the box's notice; the conversation on the page and the question typed stay.
        yield [gr.skip(), refusal_markdown(str(refused)), gr.skip()]
        return

    notes = [prepared.notice] if prepared.notice else []
    asked = None
    if app.store is not None and source.attempt_id is not None:
        asked = app.store.add_question(source.attempt_id, session_id=session_id, sample_index=index, text=prepared.question)
        if not asked.ok:  # the store logged why, for the operator
            notes.append(asked.message if lognotes.log_working(app) else lognotes.UNSAVED)
    elif source.attempt_id is None:
        notes.append(_unsaved(app))

    cancel = app.follow_ups.start(session_id)
    live = LiveRun(prepared.request.rows)
    started_at: datetime | None = None
    logged = False

    def page(status: str, turns_out: Any = None) -> list[Any]:
        answer = live.result.greedy if live.result is not None else None
        streamed = ShownTurn("assistant", answer.text, True, ANSWER_NOTES.get(answer.finish_reason or "", "")) \
            if answer is not None else ShownTurn("assistant", live.text(0), False)
        shown = [*source.shown, ShownTurn("student", prepared.question), streamed]
        return [conversation_markdown(shown), notice_markdown(notes, status), gr.skip() if turns_out is None else turns_out]

    def log_answer(text: str, reason: str, tokens: int | None) -> None:
        if app.store is None or asked is None or asked.turn_id is None or source.attempt_id is None:
            return
        done = app.store.add_answer(source.attempt_id, asked.turn_id, session_id=session_id,
                                    answer=FollowUpAnswer(text, reason, tokens, started_at, app.solver.info.model))
        if not done.ok and lognotes.UNSAVED not in notes:
            notes.append(done.message if lognotes.log_working(app) else lognotes.UNSAVED)

    try:
        yield page("Waiting for the model…")
        for event in app.solver.stream_follow_up(prepared, cancel=cancel):
            live.apply(event)
            if isinstance(event, Started):
                started_at = datetime.now(timezone.utc)
            if isinstance(event, RunDone):
                break
            if live.due():
                ahead = live.queued_ahead
                yield page(f"Waiting: {ahead} run{'s' if ahead != 1 else ''} ahead…" if ahead else "Answering…")
        answer = live.result.greedy if live.result is not None else None
        if answer is None:  # pragma: no cover - every run ends with RunDone and its greedy row
            return
        logged = True
        log_answer(answer.text, answer.finish_reason or "error", answer.tokens)
        turns_out = None
        if source.attempt_id is None and isinstance(context, AskContext) and answer.text:
            key = f"{context.key}:{index}"
            turns_out = {**(turns or {}), key: [*source.earlier, (prepared.question, answer.text)]}
        error = live.result.error if live.result is not None else None
        yield page(f"The answer failed: {error}" if error else "", turns_out)
    finally:
        cancel.set()
        app.follow_ups.finish(session_id, cancel)
        if not logged:  # the page went away (or the event was cancelled) before the answer ended
            log_answer(live.text(0), "cancelled", None)


def stop(app: AppResources, browser: Any, request: gr.Request | None) -> str:
    """The Stop handler of the ask box: cancel this session's follow-up."""
    return "Stopping…" if app.follow_ups.stop(session_of(browser, request)) else "Nothing is being answered."


# ------------------------------------------------------------------------------ wiring


def wire_follow_up_box(app: AppResources, box: Any, browser_id: Any, gpu: Callable[[Any], Any], *,
                       api: bool, opens: Sequence[tuple[Any, Any]] = ()) -> None:
    """The ask box's events. `api`: name the ask event `ask` (one box does); `opens`: the
    (event trigger, attempt id box) pairs that open an attempt in History, so the box follows."""

    def on_context(context, turns, browser, request: gr.Request):
        return show_context(app, context, turns, browser, request)

    box.context.change(on_context, [box.context, box.turns, browser_id],
                       [box.column, box.attempt, box.about, box.conversation, box.notice],
                       api_name=False, show_progress="hidden")

    def on_about(context, turns, about, browser, request: gr.Request):
        return show_conversation(app, context, turns, about, browser, request)

    box.about.input(on_about, [box.context, box.turns, box.about, browser_id], [box.conversation],
                    api_name=False, show_progress="hidden")

    @gpu
    def run(attempt_id, about, question, browser, context, turns, request: gr.Request) -> Iterator[list[Any]]:
        yield from ask(app, attempt_id, about, question, browser, context, turns, request)

    inputs = [box.attempt, box.about, box.question, browser_id, box.context, box.turns]
    outputs = [box.conversation, box.notice, box.turns]
    limits = {"trigger_mode": "once", "concurrency_limit": app.config.max_queue + 1,
              "concurrency_id": "solve", "show_progress": "minimal"}
    for trigger, name in ((box.ask_btn.click, "ask" if api else False), (box.question.submit, False)):
        asked = trigger(run, inputs, outputs, api_name=name, **limits)
        asked.success(keep_question, [box.notice], [box.question], api_name=False, show_progress="hidden")

    def on_stop(browser, request: gr.Request):
        return stop(app, browser, request)

    box.stop_btn.click(on_stop, [browser_id], [box.notice], api_name="ask_stop" if api else False,
                       concurrency_limit=None, show_progress="hidden")

    def on_open(attempt_id, browser, request: gr.Request):
        return open_attempt_context(app, attempt_id, browser, request)

    for trigger, attempt in opens:
        trigger(on_open, [attempt, browser_id], [box.context], api_name=False, show_progress="hidden")


def wire_teacher_conversations(app: AppResources, triggers: Sequence[Any], access: Any, attempt: Any, shown: Any) -> None:
    """The Teacher trace's "Follow-up questions" panel follows the attempt it opens."""

    def on_open(token, attempt_id):
        return teacher_conversations(app, token, attempt_id)

    for trigger in triggers:
        trigger(on_open, [access, attempt], [shown], api_name=False, show_progress="hidden")
