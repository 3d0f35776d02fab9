"""Calm refusals and a Solve button that cannot be clicked twice (issue 23, items 8 and 10), in a
real headless Chromium against the launched app, generating through a fake OpenAI-compatible
server that writes its solution a word every 0.1 s (so a run is on for a few seconds):

- while a run is on, Solve is off (a click, or Shift+Enter in the problem box, starts nothing),
  and it is on again when the run ends;
- an empty problem says so in one calm line in the status, with no error toast and no "Error"
  badge on any output, and the last run's results stay; the ask box refuses the same way;
- Stop after the run has ended keeps the status line (model, timings, seed) and says the run
  had already finished;
- an attempt id that opens nothing, in History or in the Teacher tab, says so in one calm line
  where the trace's problem would stand, with no toast and no "Error" over the trace.

Skips without Chromium on a user's machine; `.ci/run` makes that skip a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serve import FakeServer
from tests.servers import start_app
from tests.test_browser import ARTIFACTS, browser, goto_app  # noqa: F401  (the module's Chromium fixture)

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "assets" / "bundled-model"
SLOW_SCRIPT = ("We add the two numbers one step at a time , carefully , and we check each step "
               "again before we write the result down : the sum is \\boxed{5} .")
PASSWORD = "calm-teacher-password"
ERROR_BADGES = "Array.from(document.querySelectorAll('.wrap .error, .error-wrap')).filter(e => e.offsetParent !== null).length"


@pytest.fixture(scope="module")
def fake():
    server = FakeServer(model=str(BUNDLED_DIR.resolve()), script=SLOW_SCRIPT, delay_s=0.1).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app(fake, tmp_path_factory):
    root = tmp_path_factory.mktemp("calm-app")
    running = start_app(BUNDLED_DIR, root / "app.sqlite3", server_url=fake.url, server_timeout=20.0, n_samples=2,
                        teacher_password=PASSWORD)
    yield running
    running.close()


def solve_disabled(page) -> bool:
    return page.evaluate("document.querySelector('#solve-btn').disabled")


def no_alarm(page) -> None:
    """No toast and no error badge over any output."""
    assert page.locator(".toast-body, [data-testid='toast-body']").count() == 0
    assert page.evaluate(ERROR_BADGES) == 0
    assert page.get_by_text("Error", exact=True).count() == 0


def opened(browser, url: str):  # noqa: F811
    """A fresh context and page on the app, and the list its page errors go to."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    goto_app(page, url)
    return context, page, errors


def test_solve_is_off_while_its_run_is_on_and_refusals_are_calm(browser, app, fake):  # noqa: F811
    context, page, errors = opened(browser, app.url)
    try:
        requests_before = len(fake.stream_requests)
        box = page.locator("#problem textarea")
        box.fill("What is 2 + 3?")
        page.locator("#solve-btn").click()
        page.wait_for_function("document.querySelector('#solve-btn').disabled", timeout=5_000)
        # A changed problem cannot be sent while the first is being solved: no click, no Shift+Enter.
        box.fill("What is 7 + 8?")
        page.locator("#solve-btn").click(force=True)
        box.press("Shift+Enter")
        assert solve_disabled(page)
        page.wait_for_selector("#final-answer .katex", timeout=60_000)
        page.wait_for_function("!document.querySelector('#solve-btn').disabled", timeout=30_000)
        assert len(fake.stream_requests) - requests_before == 3  # one run: greedy and 2 samples
        status = page.locator("#status").inner_text()
        assert "seed" in status and "tokens in" in status
        solution = page.locator("#solution").inner_text()
        assert "carefully" in solution

        # Stop after the end: the status line stays, with a word that the run had finished.
        page.locator("#stop-btn").click()
        page.wait_for_function("document.querySelector('#status').innerText.includes('already finished')",
                               timeout=10_000)
        after_stop = page.locator("#status").inner_text()
        assert "seed" in after_stop and "tokens in" in after_stop and "Nothing is running" not in after_stop

        # An empty problem: one calm line in the status; the last run's results stay.
        box.fill("   ")
        page.locator("#solve-btn").click()
        page.wait_for_function("document.querySelector('#status .refusal') !== null", timeout=10_000)
        assert "problem box is empty" in page.locator("#status .refusal").inner_text()
        page.wait_for_function("!document.querySelector('#solve-btn').disabled", timeout=10_000)
        page.wait_for_timeout(500)
        no_alarm(page)
        assert page.locator("#solution").inner_text() == solution
        assert page.locator("#final-answer .katex").count() == 1
        assert page.locator("#cards details.card").count() == 2
        assert len(fake.stream_requests) - requests_before == 3  # nothing was sent

        # The ask box refuses an empty question the same way, and its conversation stays.
        page.locator("#solve-ask-btn").click()
        page.wait_for_function("document.querySelector('#solve-ask-notice .refusal') !== null", timeout=10_000)
        assert "question box is empty" in page.locator("#solve-ask-notice").inner_text()
        page.wait_for_timeout(500)
        no_alarm(page)
        page.screenshot(path=str(ARTIFACTS / "browser-calm-refusal.png"), full_page=True)
        assert errors == []
    finally:
        context.close()


def test_an_id_that_opens_nothing_is_said_calmly_in_history_and_teacher(browser, app):  # noqa: F811
    context, page, errors = opened(browser, app.url)
    try:
        page.get_by_role("tab", name="History").click()
        page.locator("#attempt-id textarea, #attempt-id input").first.fill("not-an-attempt-<b>0</b>")
        page.get_by_role("button", name="Open", exact=True).click()
        page.wait_for_function("document.querySelector('#history-problem .refusal') !== null", timeout=10_000)
        assert "No such attempt in your history." in page.locator("#history-problem").inner_text()
        page.wait_for_timeout(500)
        no_alarm(page)

        page.get_by_role("tab", name="Teacher").click()
        page.get_by_label("teacher password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_function("document.body.innerText.includes('Logged in.')", timeout=30_000)
        teacher_id = page.get_by_label("attempt id").nth(1)  # History's box is the first
        teacher_id.fill("0" * 32)
        page.get_by_role("button", name="Open trace").click()
        page.wait_for_function("document.querySelector('#teacher-problem .refusal') !== null", timeout=10_000)
        assert "No attempt with that id." in page.locator("#teacher-problem").inner_text()
        page.wait_for_timeout(500)
        no_alarm(page)
        assert errors == []
    finally:
        context.close()
