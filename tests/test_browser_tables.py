"""Feedback in the trace and lists that fit the page (issue 23, item 12), against the launched app:

- through gradio_client: a student's feedback (verdict, what it is about, the correct answer,
  the comment) is shown at the head of the History replay and of the Teacher trace, and the
  Teacher list has a session column and a feedback column;
- in a real headless Chromium at 1400 x 900: the History and Teacher tables show every column
  inside the page, headers unbroken ("greedy", not "gre/edy"), the id and status on screen.

Skips without Chromium on a user's machine; `.ci/run` makes that skip a failure.
"""

from __future__ import annotations

import pytest
from gradio_client import Client

from tests.servers import scripted_model_dir, start_app
from tests.test_browser import ARTIFACTS, browser, goto_app  # noqa: F401  (the module's Chromium fixture)

PASSWORD = "tables-teacher-password"
STUDENT = "tables-student-0123456789abcdef"
LONG_PROBLEM = ("A train leaves the station at 3 pm travelling at 60 km/h; another leaves at 4 pm at 80 km/h. "
                "When does the second catch up with the first one, and how far from the station is it then?")

# Each header cell of a table: its text, where it ends, how tall it is, and where the table's box ends.
HEADER_CELLS = """(selector) => {
  const box = document.querySelector(selector).getBoundingClientRect();
  return Array.from(document.querySelectorAll(selector + ' thead th')).map(th => {
    const r = th.getBoundingClientRect();
    return {text: th.innerText.trim(), right: r.right, height: r.height, limit: box.right};
  }).filter(c => c.text);
}"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables-app")
    running = start_app(scripted_model_dir(root), root / "app.sqlite3", teacher_password=PASSWORD, n_samples=2)
    yield running
    running.close()


def solve(client: Client, problem: str, browser_id: str) -> str:
    client.predict(problem, 2, 1.0, 0.9, 64, 1, browser_id, api_name="/solve")
    table, _ = client.predict(1, browser_id, api_name="/history")
    return table["data"][0][-1]


def test_feedback_is_in_the_trace_and_in_the_teacher_list(app):
    student = Client(app.url, verbose=False)
    attempt = solve(student, "Compute $\\frac{10}{2}$.", STUDENT)
    saved = student.predict(attempt, "wrong", "majority", "6", "I think it is <b>six</b>", STUDENT, api_name="/feedback")
    assert saved.startswith("Thank you")

    head = student.predict(attempt, STUDENT, api_name="/open_attempt")[0]
    assert "Feedback" in head and "<b>wrong</b> (about the majority answer)" in head
    assert "correct answer \\(6\\)" in head and "I think it is &lt;b&gt;six&lt;/b&gt;" in head and "<b>six" not in head

    teacher = Client(app.url, verbose=False)
    teacher.predict(PASSWORD, api_name="/teacher_login")
    table, _ = teacher.predict(1, "", "", "", "any", "", "any", api_name="/teacher_search")
    headers = table["headers"]
    assert "session" in headers and "feedback" in headers and headers[-1] == "id"
    row = next(r for r in table["data"] if r[-1] == attempt)
    assert row[headers.index("feedback")] == "wrong → 6"
    assert row[headers.index("session")] and len(row[headers.index("session")]) <= 8
    trace_head = teacher.predict(attempt, api_name="/teacher_open")[0]
    assert "<b>wrong</b> (about the majority answer)" in trace_head and "I think it is &lt;b&gt;six&lt;/b&gt;" in trace_head


def fits(page, selector: str) -> None:
    cells = page.evaluate(HEADER_CELLS, selector)
    names = [c["text"] for c in cells]
    assert names[-2:] == ["status", "id"], names
    for cell in cells:
        assert cell["right"] <= cell["limit"] + 1, f"{cell['text']!r} ends off the table at {cell['right']:.0f} px"
    heights = [c["height"] for c in cells]
    assert max(heights) < 60, f"a header is broken over lines: {list(zip(names, heights))}"


def test_the_history_and_teacher_tables_fit_a_1400_px_page(browser, app):  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        goto_app(page, app.url)
        for problem in (LONG_PROBLEM, "What is $2+3$?"):
            before = page.locator("#status .prose").first.inner_text()  # the line itself, not Gradio's timer beside it
            page.locator("#problem textarea").fill(problem)
            page.locator("#solve-btn").click()
            page.wait_for_function(  # this run's totals in the status, and Solve on again
                f"(t => t !== {before!r} && t.includes('tokens in'))(document.querySelector('#status .prose').innerText) "
                "&& !document.querySelector('#solve-btn').disabled", timeout=60_000)
        page.get_by_role("tab", name="History").click()
        page.wait_for_function("(t => t.includes('What is $2+3$?') && t.includes('A train leaves'))"
                               "(document.querySelector('#history-table').innerText)", timeout=30_000)
        fits(page, "#history-table")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-history-table.png"))

        page.get_by_role("tab", name="Teacher").click()
        page.get_by_label("teacher password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_function("document.body.innerText.includes('Logged in.')", timeout=30_000)
        page.get_by_role("button", name="Search").click()
        page.wait_for_function("(t => t.includes('What is $2+3$?') && t.includes('A train leaves'))"
                               "(document.querySelector('#teacher-table').innerText)", timeout=30_000)
        fits(page, "#teacher-table")
        page.screenshot(path=str(ARTIFACTS / "browser-teacher-table.png"))
    finally:
        context.close()
