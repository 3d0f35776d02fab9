"""The running app, driven through gradio_client: solve, stream, vote, log, history, stop, teacher.

Two real servers: one on a scripted model (always "We add $2+3$ and get \\boxed{5}.", so the
vote is known) with a teacher password; one on a random tiny model (long, unpredictable
output, to have something to stop) without one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from gradio_client import Client

from storage.store import Store
from tests.servers import SCRIPT, scripted_model_dir, start_app

TEACHER_PASSWORD = "correct-horse-battery"
RENDERED_SCRIPT = "We add \\(2+3\\) and get \\(\\boxed{5}\\)."
ALICE = "alice-session-0123456789abcdef"
BOB = "bob-session-0123456789abcdef00"


@pytest.fixture(scope="module")
def scripted_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("scripted-app")
    app = start_app(scripted_model_dir(root), root / "log" / "app.sqlite3", teacher_password=TEACHER_PASSWORD,
                    max_problem_chars=500)
    yield app
    app.close()


@pytest.fixture(scope="module")
def random_app(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("random-app")
    app = start_app(tiny_model_dir, root / "app.sqlite3")
    yield app
    app.close()


@pytest.fixture(scope="module")
def client(scripted_app):
    return Client(scripted_app.url, verbose=False)


def read_log(app) -> Store:
    return Store.open(app.config.db_url, recover=False)


def solve(client, problem, browser, n=4, temperature=1.0, top_p=0.9, max_new=64, seed=1):
    job = client.submit(problem, n, temperature, top_p, max_new, seed, browser, api_name="/solve")
    outputs = [o for o in job]
    final = job.result()  # raises the app's error message, if any
    return outputs, final


def test_solve_streams_votes_and_logs_one_attempt(client, scripted_app):
    outputs, final = solve(client, "What is $2+3$?", ALICE)
    status, main, answer, cards, votes, chart, heatmap, reasoning, reasoning_map = final
    assert len(outputs) >= 2  # a first render at once, then the finished page
    assert main == RENDERED_SCRIPT  # the bare \boxed{} is put in math so KaTeX typesets it
    assert "\\boxed{5}" in answer
    assert cards.count("<details class='card") == 4
    assert "Maj@4" in votes and "4 of 4 votes" in votes
    assert "confidence, not a reward" in votes  # no reward model: said plainly
    assert "agree" in votes
    # The vote chart is data the browser draws: one bar for the one answer, 4 votes, the card's colour.
    assert chart["value"]["columns"] == ["answer", "votes", "cluster", "weighted share"]
    assert [row[:2] for row in chart["value"]["data"]] == [["5 ★", 4]]
    assert chart["color_map"] == {"#1: 5 ★": "#2563eb"} and "4 of 4" in chart["title"]
    assert "tok/s" in status and "fp32" in status and "cpu" in status
    # Every solution says the same: the map is one path, no split; the checked vote keeps all 4.
    assert reasoning["visible"] and reasoning_map["visible"] and "<circle" in reasoning_map["value"]  # the SVG map
    words = reasoning["value"]
    assert "Where the solutions part ways" in words and "5 solutions" in words and "never part" in words
    assert "Checked vote" in votes and "4 of 4 unflagged samples" in votes

    with read_log(scripted_app) as store:
        page = store.history(ALICE)
        assert page.total == 1
        attempt = page.items[0]
        assert (attempt.status, attempt.maj_answer, attempt.maj_count, attempt.maj_n) == ("done", "5", 4, 4)
        assert attempt.greedy_answer == "5" and attempt.rm_label == "confidence"
        detail = store.get_attempt(attempt.id, session_id=ALICE)
        assert [s.index for s in detail.samples] == [0, 1, 2, 3, 4]
        assert all(s.text == SCRIPT and s.finish_reason == "stop" for s in detail.samples)


def test_history_reopen_feedback_and_transcript(client, scripted_app):
    solve(client, "Compute $\\frac{10}{2}$ <b>now</b>", BOB, n=2)
    table, info = client.predict(1, BOB, api_name="/history")
    assert "1 attempt" in info
    row = table["data"][0]
    assert row[1] == "Compute $\\frac{10}{2}$ <b>now</b>" and row[5] == "done"
    attempt_id = row[-1]

    problem, main, answer, cards, votes, chart, heatmap, reasoning, reasoning_map = client.predict(
        attempt_id, BOB, api_name="/open_attempt")
    assert "&lt;b&gt;now&lt;/b&gt;" in problem and "<b>now" not in problem
    assert main == RENDERED_SCRIPT and cards.count("<details class='card") == 2 and "Maj@2" in votes
    assert "Where the solutions part ways" in reasoning["value"] and "<circle" in reasoning_map["value"]  # replayed
    assert "Checked vote" in votes and "2 of 2 unflagged samples" in votes  # from the logged texts

    message = client.predict(attempt_id, "wrong", "majority", "6", "should be 5? no: 10/2", BOB, api_name="/feedback")
    assert message.startswith("Thank you")
    with read_log(scripted_app) as store:
        feedback = store.get_attempt(attempt_id, session_id=BOB).feedback
    assert [(f.verdict, f.target, f.correct_answer) for f in feedback] == [("wrong", "majority", "6")]

    path = client.predict(attempt_id, BOB, api_name="/transcript")
    html = Path(path).read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "<math" in html and "&lt;b&gt;now&lt;/b&gt;" in html and "<b>now" not in html
    assert "<script" not in html


def test_a_session_cannot_open_another_sessions_attempt(client):
    table, _ = client.predict(1, ALICE, api_name="/history")
    alice_attempt = table["data"][0][-1]
    refused = client.predict(alice_attempt, BOB, api_name="/open_attempt")
    assert "class='refusal'" in refused[0] and "No such attempt in your history." in refused[0]
    assert list(refused[1:5]) == ["", "", "", ""]  # nothing of Alice's reaches Bob's page
    with pytest.raises(Exception, match="No such attempt"):
        client.predict(alice_attempt, BOB, api_name="/transcript")
    message = client.predict(alice_attempt, "right", "attempt", "", "", BOB, api_name="/feedback")
    assert not message.startswith("Thank you")


@pytest.mark.parametrize(
    "problem, settings, message",
    [
        ("", {}, "empty"),
        ("   ", {}, "empty"),
        ("x" * 501, {}, "501 characters"),
        ("abc\x00\x01\x02 binary", {}, "binary"),
        ("What is 1+1?", {"n": 400}, "maximum"),
        ("What is 1+1?", {"temperature": -1.0}, "minimum"),
        ("What is 1+1?", {"max_new": 0}, "minimum"),
    ],
)
def test_bad_input_gets_a_message_and_harms_nothing(client, scripted_app, problem, settings, message):
    browser = "bad-input-session-0123456789"
    with read_log(scripted_app) as store:
        before = store.history(browser).total
    if settings:  # outside a slider's range: Gradio refuses it before the handler (the page's sliders cannot)
        with pytest.raises(Exception, match=message):
            solve(client, problem, browser, **settings)
    else:
        _, refused = solve(client, problem, browser, **settings)
        # One calm line in the status (no error raised: it would badge every output); the rest untouched.
        assert "class='refusal'" in refused[0] and message in refused[0]
        assert all(output == {"__type__": "update"} for output in refused[1:8])
    # The app still solves, and the log still logs.
    _, final = solve(client, "What is $2+3$?", browser, n=1)
    assert "\\boxed{5}" in final[2]
    with read_log(scripted_app) as store:
        assert store.history(browser).total == before + 1


def test_injected_markup_is_shown_as_text(client):
    problem = "<img src=x onerror=alert(1)> <script>alert(2)</script> What is $2+3$?"
    browser = "injection-session-0123456789"
    solve(client, problem, browser, n=1)
    table, _ = client.predict(1, browser, api_name="/history")
    shown = client.predict(table["data"][0][-1], browser, api_name="/open_attempt")[0]
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown and "&lt;script&gt;" in shown
    assert "<img" not in shown and "<script" not in shown


def test_stop_cancels_the_run_and_logs_it(random_app):
    client = Client(random_app.url, verbose=False)
    browser = "stop-session-0123456789abcdef"
    job = client.submit("Write a very long proof.", 4, 1.0, 0.9, 4000, 3, browser, api_name="/solve")
    deadline = time.time() + 60
    while len(job.outputs()) < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert len(job.outputs()) >= 2, "the solve never started streaming"
    assert client.predict(browser, api_name="/stop").endswith("Stopping…</span>")
    stopped_at = time.time()
    final = job.result(timeout=30)
    assert time.time() - stopped_at < 15
    assert "stopped" in final[0]
    with read_log(random_app) as store:
        attempt = store.history(browser).items[0]
        assert attempt.status == "cancelled"
        detail = store.get_attempt(attempt.id, session_id=browser)
    reasons = {s.index: s.finish_reason for s in detail.samples}
    # The samples (budget 4,000) were all still writing; the random model's greedy row may have
    # met the repetition guard (at 64 tokens) before Stop arrived on a loaded machine.
    assert {reasons[i] for i in range(1, 5)} == {"cancelled"} and reasons[0] in ("cancelled", "repetition")
    if reasons[0] == "cancelled":
        assert "Stopped before a final answer" in final[2]
    assert sum(s.tokens or 0 for s in detail.samples) < 4 * 4000
    # Stop again, after the end: the status line given stays, with a word that the run had finished.
    after = client.predict(browser, final[0], api_name="/stop")
    assert after.startswith(final[0]) and "the run had already finished" in after
    assert client.predict(browser, "", api_name="/stop") == "Nothing is running."


def test_teacher_view_needs_the_password(scripted_app, random_app):
    teacher = Client(scripted_app.url, verbose=False)
    message = teacher.predict("guess", api_name="/teacher_login")
    assert "Wrong teacher password" in message
    with pytest.raises(Exception, match="teacher password"):
        teacher.predict(1, "", "", "", "any", "", "any", api_name="/teacher_search")
    message = teacher.predict(TEACHER_PASSWORD, api_name="/teacher_login")
    assert message == "Logged in."
    table, info = teacher.predict(1, "", "", "", "any", "", "any", api_name="/teacher_search")
    problem_column = table["headers"].index("problem")  # after the session's
    problems = {row[problem_column] for row in table["data"]}
    assert "What is $2+3$?" in problems and "Compute $\\frac{10}{2}$ <b>now</b>" in problems  # every session
    table, _ = teacher.predict(1, "", "", "frac", "any", "", "wrong", api_name="/teacher_search")
    assert [row[problem_column] for row in table["data"]] == ["Compute $\\frac{10}{2}$ <b>now</b>"]
    # The same problem across the class: its runs, their answers, one map over their solutions.
    shown, drawn = teacher.predict(table["data"][0][-1], api_name="/teacher_class")
    words = shown["value"]
    assert "Same problem across the class" in words and "1 run of this problem" in words
    assert "Right answer (from feedback): \\(6\\)" in words and "No solution reached it." in words
    assert "Where the wrong paths leave the right one" in words and "<circle" in drawn["value"]
    path = teacher.predict("jsonl", "", "", "", "any", "", "any", api_name="/teacher_export")
    records = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    assert len(records) >= 2 and {r["problem"] for r in records} >= problems

    no_teacher = Client(random_app.url, verbose=False)
    endpoints = no_teacher.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/teacher_login" not in endpoints and "/teacher_search" not in endpoints


def test_a_broken_log_never_blocks_an_answer(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log's folder should be")
    app = start_app(scripted_model_dir(tmp_path), blocker / "app.sqlite3")
    try:
        client = Client(app.url, verbose=False)
        _, final = solve(client, "What is $2+3$?", "broken-log-session-0123456789", n=2)
        status, main, answer = final[:3]
        assert "\\boxed{5}" in answer and main == RENDERED_SCRIPT
        assert "Your work is not being saved right now" in status  # plain words: tests/test_app_broken_log.py
    finally:
        app.close()
