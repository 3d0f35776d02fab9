"""Check my work in a real headless Chromium: type a solution with a slip in step 2, see step 2
marked with the reason; ask for a hint, see no answer in it; markup stays text.

The scripted model answers every problem "We add $2+3$ and get \\boxed{5}.": its samples agree
on 5, and each hint it writes states 5, so the hint shown must have been cut."""

from __future__ import annotations

import pytest

from tests.servers import scripted_model_dir, start_app
from tests.test_browser import ARTIFACTS, browser, goto_app  # noqa: F401 - `browser` is a fixture

EGGS = "A box holds 14 rows of 12 eggs. 8 eggs break. How many eggs are left?"
TEACHER = "correct-horse-battery"
SLIP = "There are 14 rows of 12 eggs.\n$14 \\times 12 = 158$ eggs\n$158 - 8 = 150$ are left\nSo \\boxed{150}"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-check-work")
    running = start_app(scripted_model_dir(root), root / "app.sqlite3", n_samples=4, max_new_tokens=48,
                        teacher_password=TEACHER)
    yield running
    running.close()


@pytest.fixture()
def page(browser, app):  # noqa: F811 - the imported fixture
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    goto_app(page, app.url)
    page.get_by_role("tab", name="Check my work").click()
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def test_a_slip_in_step_2_is_marked_with_its_reason_and_a_hint_gives_no_answer(page):
    page.locator("#check-problem textarea").fill(EGGS)
    page.locator("#check-solution textarea").fill(SLIP)
    page.locator("#check-btn").click()
    page.wait_for_selector("#check-steps .work-step.first-wrong", timeout=60_000)
    page.wait_for_function("document.querySelector('#check-judges').innerText.includes('4 of 4')", timeout=60_000)
    marked = page.locator("#check-steps .work-step.first-wrong")
    assert marked.get_attribute("id") == "work-step-2"
    assert "Step 2" in marked.inner_text() and "168, not 158" in marked.inner_text()
    assert marked.locator(".katex").count() >= 1  # the step is typeset like everywhere else
    assert page.locator("#check-steps .work-step").count() == 4
    assert "Step 2 looks wrong" in page.locator("#check-status").inner_text()

    page.locator("#check-hint-btn").click()
    page.wait_for_selector("#check-hints .hint", timeout=60_000)
    hint = page.locator("#check-hints .hint").first.inner_text()
    assert "Hint 1" in hint and "5" not in hint.replace("Hint 1", "")
    page.locator("#check-hint-btn").click()
    page.wait_for_function("document.querySelectorAll('#check-hints .hint').length === 2", timeout=60_000)
    second = page.locator("#check-hints .hint").nth(1).inner_text()
    assert second != hint and "5" not in second.replace("Hint 2", "")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-check-work.png"), full_page=True)
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_map_shows_only_when_the_answer_is_asked_for(page):
    page.locator("#check-problem textarea").fill(EGGS)
    page.locator("#check-solution textarea").fill(SLIP)
    page.locator("#check-btn").click()
    page.wait_for_function("document.querySelector('#check-judges').innerText.includes('4 of 4')", timeout=60_000)
    assert page.locator("#check-map svg").count() == 0
    page.locator("#check-reveal input").check()
    page.locator("#check-btn").click()
    page.wait_for_selector("#check-map svg circle", timeout=60_000)
    assert "your path leaves all of theirs" in page.locator("#check-map").inner_text()
    assert "their answer" in page.locator("#check-judges").inner_text()


def test_markup_in_a_solution_stays_text(page):
    page.locator("#check-problem textarea").fill(EGGS)
    page.locator("#check-solution textarea").fill("<img src=x onerror=\"window.__pwned=1\">\n$14 \\times 12 = 158$")
    page.locator("#check-btn").click()
    page.wait_for_function("document.querySelector('#check-steps').innerText.includes('onerror')", timeout=60_000)
    assert page.locator("#check-steps img").count() == 0 and page.evaluate("window.__pwned") is None
    assert "HTML" in page.locator("#check-status").inner_text()


def test_every_tab_has_one_button_whichever_is_opened(page):
    names = ["Solve", "History", "Check my work", "Teacher", "Checked work (class)"]
    for name in names:  # opening a tab used to draw the Teacher's button a second time
        page.get_by_role("tab", name=name, exact=True).first.click()
        page.wait_for_timeout(300)
        assert [t.strip() for t in page.locator("[role=tab]").all_inner_texts()] == names, name


def test_an_empty_solution_gets_a_message(page):
    page.locator("#check-problem textarea").fill(EGGS)
    page.locator("#check-btn").click()
    page.wait_for_function("document.querySelector('#check-status').innerText.includes('empty')", timeout=30_000)
    assert page.locator("#check-steps .work-step").count() == 0


def test_checked_work_shows_in_history_and_for_the_teacher(page):
    page.locator("#check-problem textarea").fill(EGGS)
    page.locator("#check-solution textarea").fill(SLIP + "\nChecked for the log.")
    page.locator("#check-btn").click()
    page.wait_for_function("document.querySelector('#check-judges').innerText.includes('4 of 4')", timeout=60_000)
    page.locator("#check-hint-btn").click()
    page.wait_for_selector("#check-hints .hint", timeout=60_000)

    page.get_by_role("tab", name="History").click()
    page.locator("#history-checks").get_by_text("Checked work").first.click()
    page.locator("#history-checks-refresh").click()
    page.wait_for_function("document.querySelector('#history-checks-table').innerText.includes('14 rows')", timeout=30_000)
    page.locator("#history-checks-table [role=gridcell]", has_text="14 rows").first.click()
    page.wait_for_function("document.querySelector('#history-checks-id textarea, #history-checks-id input').value.length > 0",
                           timeout=30_000)
    page.locator("#history-checks-open").click()
    page.wait_for_selector("#history-checks-view .work-step.first-wrong", timeout=30_000)
    opened = page.locator("#history-checks-view")
    assert opened.locator(".work-step.first-wrong").get_attribute("id") == "work-step-2"
    assert "168, not 158" in opened.inner_text() and opened.locator(".hint").count() == 1

    page.get_by_role("tab", name="Teacher").click()
    page.locator("input[type=password]").fill(TEACHER)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_timeout(1500)
    page.get_by_role("tab", name="Checked work (class)").click()
    page.locator("#teacher-checks-text textarea, #teacher-checks-text input").first.fill("eggs")
    page.locator("#teacher-checks-refresh").click()
    page.wait_for_function("document.querySelector('#teacher-checks-summary').innerText.includes('step 2')", timeout=30_000)
    assert "Where students go wrong most" in page.locator("#teacher-checks-summary").inner_text()
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def slow_app(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("browser-check-work-slow")
    running = start_app(tiny_model_dir, root / "app.sqlite3", n_samples=8, max_new_tokens=4000)
    yield running
    running.close()


def test_stop_ends_the_models_part_and_keeps_the_checkers_verdicts(browser, slow_app):  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    try:
        goto_app(page, slow_app.url)
        page.get_by_role("tab", name="Check my work").click()
        page.locator("#check-problem textarea").fill(EGGS)
        page.locator("#check-solution textarea").fill(SLIP)
        page.locator("#check-btn").click()
        page.wait_for_function("document.querySelector('#check-status').innerText.includes('Checking')", timeout=60_000)
        assert page.locator("#check-steps .work-step.first-wrong").get_attribute("id") == "work-step-2"  # already
        assert page.locator("#check-hint-btn").is_disabled()  # a hint would stop the check's draw
        page.locator("#check-stop-btn").click()
        page.wait_for_function("document.querySelector('#check-status').innerText.includes('Stopped.')", timeout=30_000)
        assert "stopped before the model's solutions were drawn" in page.locator("#check-judges").inner_text()
        assert page.locator("#check-steps .work-step.first-wrong").get_attribute("id") == "work-step-2"
        page.wait_for_function("!document.querySelector('#check-hint-btn').disabled", timeout=30_000)
    finally:
        context.close()
