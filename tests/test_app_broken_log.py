"""An unusable session log: students and teachers read plain words, the operator reads the details.

The app is started with a `--db-url` whose folder cannot be created (a file stands where it
should be). Everything a person sees through the API (the page's banners, the solve's status,
History, replay, feedback, export, the Teacher tab) must hold no server path and no operator
instruction (`MATHAPP_...`); the server's log must hold the path and the reason, with a
traceback only for what nobody expected.
"""

from __future__ import annotations

import json
import logging
import urllib.request

import pytest
from gradio_client import Client

from tests.servers import scripted_model_dir, start_app

PASSWORD = "correct-horse-battery"
STUDENT = "broken-log-student-0123456789"


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken-log")
    blocker = root / "not-a-folder"
    blocker.write_text("a file where the log's folder should be")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    try:
        app = start_app(scripted_model_dir(root), blocker / "app.sqlite3", teacher_password=PASSWORD)
        yield app, str(blocker), records
        app.close()
    finally:
        logging.getLogger().removeHandler(handler)


def assert_plain(text: object, secret_path: str) -> None:
    """No server path, no operator instruction, no storage jargon about files."""
    shown = text if isinstance(text, str) else json.dumps(text)
    assert secret_path not in shown and "not-a-folder" not in shown
    assert "MATHAPP_" not in shown and "sqlite" not in shown.lower() and "Errno" not in shown


def error_text(call) -> str:
    with pytest.raises(Exception) as caught:
        call()
    return str(caught.value)


def test_students_read_plain_words_and_the_operator_reads_the_details(broken):
    app, path, records = broken
    client = Client(app.url, verbose=False)

    page = urllib.request.urlopen(app.url + "config").read().decode("utf-8")  # the page as first drawn
    assert_plain(page, path)
    assert "Your work is not being saved right now" in page and "History is unavailable on this server" in page

    job = client.submit("What is $2+3$?", 2, 1.0, 0.9, 64, 1, STUDENT, api_name="/solve")
    outputs = list(job)
    final = job.result()
    for output in [*outputs, final]:
        assert_plain(output, path)
    status, answer = final[0], final[2]
    assert "\\boxed{5}" in answer  # the answer is never blocked
    assert status.count("Your work is not being saved right now") == 1

    table, info = client.predict(1, STUDENT, api_name="/history")
    assert_plain(info, path)
    assert "History is unavailable on this server" in info and "moment" not in info
    opened = client.predict("0" * 32, STUDENT, api_name="/open_attempt")[0]  # said in the trace's own header
    assert_plain(opened, path)
    assert "unavailable on this server" in opened
    for call in (lambda: client.predict("0" * 32, STUDENT, api_name="/transcript"),
                 lambda: client.predict("jsonl", STUDENT, api_name="/export_history")):
        message = error_text(call)
        assert_plain(message, path)
        assert "unavailable on this server" in message
    said = client.predict("0" * 32, "right", "attempt", "", "", STUDENT, api_name="/feedback")
    assert_plain(said, path)

    # The Teacher tab says the class log is unavailable, and its searches say so plainly.
    teacher = Client(app.url, verbose=False)
    logged_in = teacher.predict(PASSWORD, api_name="/teacher_login")
    assert "The class log is unavailable on this server" in logged_in
    message = error_text(lambda: teacher.predict(1, "", "", "", "any", "", "any", api_name="/teacher_search"))
    assert_plain(message, path)
    assert "class log is unavailable" in message

    # The operator's server log has the path, the reason and the instruction; no traceback for
    # a database that cannot be used, which is expected trouble, not a bug.
    logged = [r for r in records if r.levelno >= logging.WARNING]
    opened = [r for r in logged if "cannot be used" in r.getMessage()]
    assert opened and path in opened[0].getMessage() and opened[0].exc_info is None
    assert any("MATHAPP_BROWSER_SECRET" in r.getMessage() for r in logged)
    assert any("not saved" in r.getMessage() and path in r.getMessage() for r in logged)
