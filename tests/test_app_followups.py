"""Follow-up questions through the launched app, driven by gradio_client (issue 18): a question
about a solution streams its answer and both turns are logged; a second turn sees the first;
another session cannot continue the conversation; bad input is refused like a bad problem; and
with the session log off, follow-ups still work from the page's own state, unsaved.

The app runs on the scripted model (it answers everything with SCRIPT), so an answer is known;
what the model was shown is read with a spy on the app's own Solver (a recorder around
`stream_follow_up`, which still runs the real thing).
"""

from __future__ import annotations

import re
import sqlite3
import time

import pytest
from gradio_client import Client

from tests.servers import SCRIPT, RunningApp, free_port, scripted_model_dir, start_app

RENDERED_SCRIPT = "We add \\(2+3\\) and get \\(\\boxed{5}\\)."
ALICE = "alice-asks-0123456789abcdef00"
BOB = "bob-asks-0123456789abcdef0000"
REFUSAL = "No such attempt in your history."
TEACHER_PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("followup-app")
    running = start_app(scripted_model_dir(root), root / "app.sqlite3", max_problem_chars=500,
                        teacher_password=TEACHER_PASSWORD)
    yield running
    running.close()


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


@pytest.fixture
def prompts(app, monkeypatch):
    """The prompt of every follow-up the app's Solver runs, in order."""
    solver = app.resources.solver
    seen: list[str] = []
    real = solver.stream_follow_up

    def recording(prepared, **kwargs):
        seen.append(prepared.request.prompt_text)
        return real(prepared, **kwargs)

    monkeypatch.setattr(solver, "stream_follow_up", recording)
    return seen


def solved_attempt(client, problem: str, browser: str, n: int = 2) -> str:
    """Solve `problem` as `browser`; the new attempt's id (from the History API)."""
    client.predict(problem, n, 1.0, 0.9, 64, 1, browser, api_name="/solve")
    table, _ = client.predict(1, browser, api_name="/history")
    return table["data"][0][-1]


def ask(client, attempt_id: str, about: int, question: str, browser: str):
    job = client.submit(attempt_id, about, question, browser, api_name="/ask")
    outputs = list(job)
    return outputs, job.result()  # raises the app's message, if any


def refused(asked, message: str) -> bool:
    """Whether an ask was refused with `message` (a regular expression) in one calm line of the
    notice, the conversation left as it was (no error is raised: it would badge the outputs)."""
    outputs, (conversation, notice) = asked
    return (len(outputs) == 1 and conversation == {"__type__": "update"} and "class='refusal'" in notice
            and re.search(message, notice) is not None)


def turns(app, attempt_id: str) -> list[tuple]:
    path = app.config.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT sample_index, turn_index, role, text, finish_reason, tokens, model_id FROM follow_up_turns "
            "WHERE attempt_id = ? ORDER BY sample_index, turn_index", (attempt_id,)).fetchall()


def test_a_follow_up_streams_and_both_turns_are_logged(client, app, prompts):
    attempt = solved_attempt(client, "What is $2+3$?", ALICE)
    outputs, (conversation, notice) = ask(client, attempt, 0, "Why is it $5$?", ALICE)
    assert len(outputs) >= 2  # the question at once, waiting for its answer; then the answer
    first = outputs[0][0]
    assert "Why is it \\(5\\)?" in first and "Thinking…" in first and SCRIPT not in first
    assert "Why is it \\(5\\)?" in conversation and RENDERED_SCRIPT in conversation  # typeset like a solution
    assert notice == ""
    rows = turns(app, attempt)
    model = app.resources.solver.info.model
    assert [r[:5] for r in rows] == [(0, 0, "student", "Why is it $5$?", None), (0, 1, "assistant", SCRIPT, "stop")]
    assert rows[1][5] > 0 and rows[1][6] == model
    assert len(prompts) == 1 and "What is $2+3$?" in prompts[0] and "Why is it $5$?" in prompts[0]


def test_a_second_turn_sees_the_first_and_each_solution_has_its_own_conversation(client, app, prompts):
    attempt = solved_attempt(client, "What is $2+3$ again?", ALICE)
    ask(client, attempt, 0, "Why add first?", ALICE)
    _, (conversation, _) = ask(client, attempt, 0, "And then what?", ALICE)
    second = prompts[-1]
    # The model is shown the solution, the first question and its answer, then the new question.
    assert second.count(SCRIPT) == 2
    assert second.index("Why add first?") < second.rindex(SCRIPT) < second.index("And then what?")
    assert conversation.index("Why add first?") < conversation.index("And then what?")
    assert conversation.count(RENDERED_SCRIPT) == 2

    _, (about_sample, _) = ask(client, attempt, 2, "Is sample 2 right?", ALICE)
    assert "Why add first?" not in about_sample and "Is sample 2 right?" in about_sample
    assert "Why add first?" not in prompts[-1]
    assert [r[:3] for r in turns(app, attempt)] == [
        (0, 0, "student"), (0, 1, "assistant"), (0, 2, "student"), (0, 3, "assistant"),
        (2, 0, "student"), (2, 1, "assistant"),
    ]


def test_another_session_cannot_continue_the_conversation(client, app, prompts):
    attempt = solved_attempt(client, "What is $2+3$, privately?", ALICE)
    ask(client, attempt, 0, "Why?", ALICE)
    before = turns(app, attempt)
    opened = client.predict(attempt, BOB, api_name="/open_attempt")
    assert REFUSAL in opened[0] and list(opened[1:5]) == ["", "", "", ""]
    assert refused(ask(client, attempt, 0, "What did Alice ask?", BOB), REFUSAL)  # the same words as for opening it
    assert refused(ask(client, "no-such-attempt-0123456789", 0, "Anyone there?", BOB), REFUSAL)  # as for none at all
    assert turns(app, attempt) == before and len(prompts) == 1


@pytest.mark.parametrize(
    "question, message",
    [
        ("", "question box is empty"),
        ("   \n ", "question box is empty"),
        ("x" * 501, "501 characters long; the limit is 500"),
        ("why\x00 this step?", "binary data or control characters"),
    ],
)
def test_a_bad_question_gets_the_problems_message_and_nothing_is_logged(client, app, prompts, question, message):
    attempt = solved_attempt(client, "What is $2+3$, carefully?", ALICE, n=0)
    assert refused(ask(client, attempt, 0, question, ALICE), message)
    assert refused(ask(client, attempt, 3, "About a sample that is not there?", ALICE), "no solution #3|no text")
    assert turns(app, attempt) == [] and prompts == []


def test_markup_in_a_question_is_shown_as_text(client, app):
    attempt = solved_attempt(client, "What is $2+3$, safely?", ALICE, n=0)
    _, (conversation, _) = ask(client, attempt, 0, "<img src=x onerror=alert(1)> <script>alert(2)</script> why?", ALICE)
    assert "&lt;img src=x onerror=alert(1)&gt;" in conversation and "&lt;script&gt;" in conversation
    assert "<img" not in conversation and "<script" not in conversation
    assert turns(app, attempt)[0][3] == "<img src=x onerror=alert(1)> <script>alert(2)</script> why?"  # kept as typed


def test_the_teacher_filters_attempts_with_follow_ups_and_reads_them_in_the_trace(client, app):
    from ui.followups import teacher_conversations

    asked = solved_attempt(client, "What is $2+3$, for the teacher?", BOB)
    ask(client, asked, 1, "Why $5$?", BOB)
    quiet = solved_attempt(client, "What is $2+3$, asked nothing?", BOB)
    teacher = Client(app.url, verbose=False)
    assert teacher.predict(TEACHER_PASSWORD, api_name="/teacher_login") == "Logged in."
    found = {}
    for choice in ("with follow-ups", "without", "any"):
        table, _ = teacher.predict(1, "", "", "", "any", "", "any", choice, api_name="/teacher_search")
        found[choice] = {row[-1] for row in table["data"]}
    assert asked in found["with follow-ups"] and quiet not in found["with follow-ups"]
    assert quiet in found["without"] and asked not in found["without"]
    assert {asked, quiet} <= found["any"]
    # A card points to the ask box where there is one: in History, not in the Teacher trace.
    assert "ask about #1 below" in client.predict(asked, BOB, api_name="/open_attempt")[3]
    assert "ask about" not in teacher.predict(asked, api_name="/teacher_open")[3]
    # The trace's "Follow-up questions" panel (what the Open trace button fills beside the trace).
    shown = teacher_conversations(app.resources, app.resources.store.teacher_login(TEACHER_PASSWORD), asked)
    assert "About sample #1" in shown and "Why \\(5\\)?" in shown and RENDERED_SCRIPT in shown
    assert "No follow-up questions" in teacher_conversations(
        app.resources, app.resources.store.teacher_login(TEACHER_PASSWORD), quiet)


def test_stop_ends_a_follow_up_and_what_streamed_is_logged_as_stopped(tmp_path):
    from model.backends.local import LocalBackend
    from settings import AppConfig
    from model.loading import load_causal_lm
    from model.solver import Solver
    from training.tiny import train_tokenizer
    from storage.store import Store
    from tests.conftest import TINY_CORPUS
    from tests.crafted import build_scripted_model
    from tests.test_followups import NO_LOOP_GUARD
    from ui.app import build_app, launch
    from ui.resources import AppResources

    # A model that repeats SCRIPT for ever (no loop guard): the answer runs its whole budget unless stopped.
    tokenizer = train_tokenizer(TINY_CORPUS * 20 + [SCRIPT] * 50, vocab_size=500)  # as `scripted_model_dir`'s
    path = build_scripted_model(tokenizer, SCRIPT, tmp_path / "looping", loop=True)
    config = AppConfig(model=str(path), db_url=f"sqlite:///{tmp_path / 'app.sqlite3'}", reward_model="none",
                       fallback_to_bundled=False, port=free_port())
    solver = Solver(LocalBackend(load_causal_lm(str(path), context_length=4096), guard=NO_LOOP_GUARD))
    demo = build_app(config, AppResources(config, solver, Store.open(config.db_url)))
    launch(demo, config, prevent_thread_lock=True, quiet=True)
    looping = RunningApp(url=f"http://127.0.0.1:{config.port}/", demo=demo, config=config)
    browser = "stop-asking-0123456789abcdef"
    try:
        client = Client(looping.url, verbose=False)
        client.predict("What is $2+3$?", 0, 1.0, 0.9, 32, 1, browser, api_name="/solve")
        attempt = client.predict(1, browser, api_name="/history")[0]["data"][0][-1]
        job = client.submit(attempt, 0, "Explain it again and again?", browser, api_name="/ask")
        while len(job.outputs()) < 2 and not job.done():
            time.sleep(0.02)
        assert client.predict(browser, api_name="/ask_stop") == "Stopping…"
        conversation, _ = job.result(timeout=60)
        assert "stopped" in conversation
        answer = turns(looping, attempt)[-1]
        assert answer[2:3] == ("assistant",) and answer[4] == "cancelled" and 0 < answer[5] < 1024
        assert answer[3].startswith(SCRIPT)  # what streamed before Stop is kept
        assert client.predict(browser, api_name="/ask_stop") == "Nothing is being answered."
    finally:
        looping.close()


def test_with_the_log_off_follow_ups_work_from_the_page_and_say_they_are_not_saved(tmp_path):
    from settings import AppConfig
    from ui.app import build_app, launch

    # A log URL that cannot be opened: the app runs without its log (and says so).
    config = AppConfig(model=str(scripted_model_dir(tmp_path)), db_url="not a database url", reward_model="none",
                       fallback_to_bundled=False, port=free_port(), browser_secret="a-fixed-browser-key-0123456789")
    demo = build_app(config)
    launch(demo, config, prevent_thread_lock=True, quiet=True)
    off = RunningApp(url=f"http://127.0.0.1:{config.port}/", demo=demo, config=config)
    try:
        assert off.resources.store is None
        client = Client(off.url, verbose=False)  # one Gradio session: the page state is its own
        client.predict("What is $2+3$?", 1, 1.0, 0.9, 64, 1, "log-off-session-0123456789", api_name="/solve")
        _, (first, notice) = ask(client, "", 0, "Why?", "log-off-session-0123456789")
        assert RENDERED_SCRIPT in first and "not saved" in notice
        _, (second, _) = ask(client, "", 0, "And then?", "log-off-session-0123456789")
        assert second.index("Why?") < second.index("And then?") and second.count(RENDERED_SCRIPT) == 2
        # Another Gradio session has no page state.
        assert refused(ask(Client(off.url, verbose=False), "", 0, "Why?", "log-off-session-0123456789"), "Solve a problem")
    finally:
        off.close()
