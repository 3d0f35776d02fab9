"""What a student meets in the browser, in a real headless Chromium against the launched app:
History that survives a restart and loads when its tab opens, 64 cards that all show when the
model writes an unpaired `$`, and a seed box that is empty (random) with the seed used shown.

Skips without Chromium on a user's machine; `.ci/run` makes that skip a failure.
"""

from __future__ import annotations

import re
import sqlite3

import pytest

from training.tiny import train_tokenizer
from tests.conftest import TINY_CORPUS
from tests.crafted import build_scripted_model
from tests.servers import free_port, scripted_model_dir, start_app
from tests.test_browser import ARTIFACTS, browser, goto_app  # noqa: F401  (the module's Chromium fixture)

UNPAIRED = "Each pen costs $3 so the total is \\boxed{7}."


def open_page(context, url):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    goto_app(page, url)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def solve(page, problem: str) -> None:
    page.locator("#problem textarea").fill(problem)
    page.locator("#solve-btn").click()
    page.wait_for_selector("#final-answer .katex", timeout=60_000)


def history_shows(page, text: str) -> None:
    page.get_by_role("tab", name="History").click()  # no Refresh: the tab loads on opening
    page.wait_for_function(
        f"document.querySelector('#history-table') && document.querySelector('#history-table').innerText.includes({text!r})",
        timeout=30_000,
    )


def test_history_loads_on_opening_and_survives_a_restart(browser, tmp_path):  # noqa: F811
    model = scripted_model_dir(tmp_path)
    db = tmp_path / "log.sqlite3"
    port = free_port()
    app = start_app(model, db, n_samples=2, port=port)
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    try:
        page = open_page(context, app.url)
        solve(page, "What is 2 plus 3, first time?")
        history_shows(page, "first time")
        page.get_by_role("tab", name="Solve").click()
        solve(page, "And a second problem?")
        history_shows(page, "second problem")  # refreshed after the solve
        app.close()

        app = start_app(model, db, n_samples=2, port=port)  # a restart: same log, same address
        page = open_page(context, app.url)
        history_shows(page, "first time")
        assert "second problem" in page.locator("#history-table").inner_text()
        assert page.locator("#history-notice").inner_text().strip() == ""
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()
        app.close()
    assert (tmp_path / "browser-state.key").stat().st_mode & 0o077 == 0  # kept private, beside the log


def test_a_browser_whose_key_changed_is_told_why_its_history_is_empty(browser, tmp_path):  # noqa: F811
    model = scripted_model_dir(tmp_path)
    db = tmp_path / "log.sqlite3"
    port = free_port()
    app = start_app(model, db, n_samples=0, port=port, browser_secret="the-first-key-0123456789")
    context = browser.new_context()
    try:
        page = open_page(context, app.url)
        solve(page, "Kept under the first key?")
        app.close()
        app = start_app(model, db, n_samples=0, port=port, browser_secret="another-key-0123456789")
        page = open_page(context, app.url)
        page.get_by_role("tab", name="History").click()
        page.wait_for_function("document.querySelector('#history-notice').innerText.includes('can no longer read')",
                               timeout=30_000)
    finally:
        context.close()
        app.close()


@pytest.fixture(scope="module")
def unpaired_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("unpaired")
    tokenizer = train_tokenizer(TINY_CORPUS * 20 + [UNPAIRED] * 50, vocab_size=500)
    model = build_scripted_model(tokenizer, UNPAIRED, root / "model", loop=False)
    running = start_app(model, root / "log.sqlite3", n_samples=64)
    yield running
    running.close()


def test_an_unpaired_dollar_takes_no_card_and_no_text_with_it_at_n64(browser, unpaired_app):  # noqa: F811
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    try:
        page = open_page(context, unpaired_app.url)
        page.locator("#problem textarea").fill("How much for the pens?")
        page.locator("#solve-btn").click()
        page.wait_for_function("document.querySelectorAll('#cards details.card').length === 64", timeout=90_000)
        page.wait_for_function("document.querySelector('#votes').innerText.includes('64 of 64')", timeout=90_000)
        # The cards may fill in the same update that finishes the vote: wait until they have rendered.
        page.wait_for_function("Array.from(document.querySelectorAll('#cards details.card'))"
                               ".every(d => d.textContent.includes('so the total is'))", timeout=30_000)
        cards = page.locator("#cards details.card")
        assert cards.count() == 64
        texts = page.evaluate("Array.from(document.querySelectorAll('#cards details.card')).map(d => d.textContent)")
        assert all("Each pen costs $3 so the total is" in t for t in texts)
        assert page.locator("#cards details.card .katex").count() == 2 * 64  # each card's answer and box
        # The main solution keeps its words and spaces, and its box is typeset.
        solution = page.locator("#solution").inner_text()
        assert "Each pen costs $3 so the total is" in solution
        assert page.locator("#solution .katex").count() == 1
        page.screenshot(path=str(ARTIFACTS / "browser-unpaired-dollar.png"), full_page=False)
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()


def test_the_seed_box_is_empty_and_each_run_shows_and_logs_its_own_seed(browser, tmp_path):  # noqa: F811
    app = start_app(scripted_model_dir(tmp_path), tmp_path / "log.sqlite3", n_samples=2)
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    try:
        page = open_page(context, app.url)
        page.get_by_text("Settings").click()
        seed_box = page.locator("#seed textarea, #seed input").first
        seed_box.wait_for(timeout=10_000)
        assert seed_box.input_value() == ""
        seeds = []
        for problem in ("First run?", "Second run?"):
            # The status line's own text: while an event is pending Gradio puts its timer
            # ("0.0s") beside the last run's line, which must not pass for this run's.
            line = "document.querySelector('#status .prose').innerText"
            before = page.evaluate(line)
            solve(page, problem)
            # The run is over when the status line has its totals (and differs from the last one's);
            # the seed is read from that same text, not from a second look that could race.
            finished = page.wait_for_function(
                f"(t => t !== {before!r} && /seed \\d+/.test(t) && /tokens in/.test(t) && t)({line})",
                timeout=60_000,
            ).json_value()
            seeds.append(int(re.search(r"seed (\d+)", finished).group(1)))
            assert seed_box.input_value() == ""  # still random
        assert seeds[0] != seeds[1]
    finally:
        context.close()
        app.close()
    with sqlite3.connect(tmp_path / "log.sqlite3") as db:
        logged = [row[0] for row in db.execute("SELECT seed FROM attempts ORDER BY started_at")]
    assert logged == seeds


def ask_and_wait(page, prefix: str, question: str, answers: int) -> None:
    """Ask in the `prefix` ask box; wait until `answers` answers stand there, typeset."""
    page.locator(f"#{prefix}-question textarea").fill(question)
    page.locator(f"#{prefix}-ask-btn").click()
    answered(page, f"#{prefix}-conversation", answers)


def answered(page, conversation: str, answers: int, timeout: int = 60_000) -> None:
    """Wait until the conversation holds `answers` finished answers, each with its math typeset."""
    page.wait_for_function(
        f"(turns => turns.length >= {answers} && turns.every(t => t.querySelector('.katex') && !t.querySelector('.held')))"
        f"(Array.from(document.querySelectorAll('{conversation} .turn.assistant')))", timeout=timeout)


def test_a_follow_up_streams_typeset_and_is_in_history_after_a_restart(browser, tmp_path):  # noqa: F811
    model = scripted_model_dir(tmp_path)
    db = tmp_path / "log.sqlite3"
    port = free_port()
    app = start_app(model, db, n_samples=2, port=port)
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    try:
        page = open_page(context, app.url)
        solve(page, "What is 2 plus 3, asked about?")
        page.wait_for_selector("#solve-ask", state="visible", timeout=30_000)
        assert "ask about #1 below" in page.locator("#cards").inner_text()
        # Every state the conversation passes through, to see the answer arrive after the question.
        page.evaluate("""() => { window.seen = [];
            new MutationObserver(() => window.seen.push(document.querySelector('#solve-conversation').innerText))
              .observe(document.querySelector('#solve-conversation'), {childList: true, subtree: true, characterData: true}); }""")
        ask_and_wait(page, "solve", "Why is it $5$ and not <b>6</b>?", 1)
        seen = page.evaluate("window.seen")
        assert any("Thinking…" in s and "Why is it" in s for s in seen)  # the question first, the answer streaming in
        conversation = page.locator("#solve-conversation")
        assert conversation.locator(".turn.student .katex").count() == 1  # the question's math typeset too
        assert "not <b>6</b>?" in conversation.inner_text() and conversation.locator("b").count() == 0
        assert "We add" in conversation.locator(".turn.assistant").inner_text()
        # Ready for the next question: the box empties with the answer's last update (which may
        # land just after the answer is typeset).
        page.wait_for_function("document.querySelector('#solve-question textarea').value === ''", timeout=10_000)
        ask_and_wait(page, "solve", "And then?", 2)  # a second turn, under the first
        assert conversation.locator(".turn.student").count() == 2
        page.locator("#solve-ask").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "browser-followup.png"), full_page=False)
        app.close()

        app = start_app(model, db, n_samples=2, port=port)  # a restart: same log, same address
        page = open_page(context, app.url)
        history_shows(page, "asked about")
        page.locator("#history-table :text('asked about'):visible").first.click()  # picks the attempt's id
        page.wait_for_function("document.querySelector('#attempt-id textarea, #attempt-id input').value.length > 8",
                               timeout=10_000)
        page.get_by_role("button", name="Open", exact=True).click()
        answered(page, "#history-conversation", 2, timeout=30_000)
        shown = page.locator("#history-conversation").inner_text()
        assert shown.index("Why is it") < shown.index("And then?")
        assert "2 questions" in page.locator("#history-ask-about input").input_value()
        page.locator("#history-ask").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "browser-followup-history.png"), full_page=False)
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        context.close()
        app.close()


# A wrong claim (6 × 7 is 42) after injected markup; every token unique, as the scripted model needs.
SLIP_SCRIPT = "<img src=x onerror=alert(1)> So 6\\times7=52, the answer is \\boxed{9}."


@pytest.fixture(scope="module")
def slip_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("slip")
    tokenizer = train_tokenizer(TINY_CORPUS * 20 + [SLIP_SCRIPT] * 50, vocab_size=500)
    return build_scripted_model(tokenizer, SLIP_SCRIPT, root / "model", loop=False), root


def reasoning_shows(page, prefix: str, solutions: int) -> None:
    """The "Where the solutions part ways" panel of `prefix` shows its words and its drawn map: an
    SVG with its nodes, laid out with a width."""
    page.wait_for_function(
        f"(e => e && e.innerText.includes('Where the solutions part ways') && e.innerText.includes('{solutions} solutions'))"
        f"(document.querySelector('#{prefix}-reasoning'))", timeout=90_000)
    page.wait_for_function(f"(s => s && s.querySelector('circle') && s.getBoundingClientRect().width > 300)"
                           f"(document.querySelector('#{prefix}-reasoning-map svg'))", timeout=60_000)


@pytest.mark.parametrize("n", [8, 64])
def test_the_reasoning_map_shows_the_slip_is_marked_and_markup_stays_text(browser, slip_model, n):  # noqa: F811
    model, root = slip_model
    app = start_app(model, root / f"log-{n}.sqlite3", n_samples=n)
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    try:
        page = open_page(context, app.url)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.locator("#problem textarea").fill("What is 6 times 7?")
        page.locator("#solve-btn").click()
        page.wait_for_function(f"document.querySelector('#votes').innerText.includes('{n} of {n}')", timeout=120_000)
        reasoning_shows(page, "solve", n + 1)
        panel = page.locator("#solve-reasoning").inner_text()
        assert "Every solution reaches the same answer" in panel  # one script: one path, no split
        # Each card marks its wrong step, with the right value typeset.
        cards = page.locator("#cards details.card")
        assert cards.count() == n
        first = cards.first
        assert "1 wrong step" in first.locator("summary").inner_text()
        first.locator("summary").click()
        assert "step 1" in first.inner_text() and "that is 42, not 52" in first.inner_text()
        assert first.locator(".slip .katex").count() == 1  # the claim as written, 6×7=52, typeset
        assert "that is 42, not 52" in page.locator("#solution").inner_text()  # and the main solution
        assert "every sample has a wrong step" in page.locator("#votes").inner_text()  # the checked vote fell back
        # The model's markup is text on the page: no image, no handler ran.
        assert "<img src=x onerror=alert(1)>" in page.locator("#solution").inner_text()
        assert page.locator("img[src='x']").count() == 0 and dialogs == []
        # The map keeps its colours and its hover text: the step in full, as text, and the count.
        tips = page.locator("#solve-reasoning-map svg title").all_text_contents()
        assert any("<img src=x onerror=alert(1)>" in t and f"{n + 1} solutions pass through it" in t for t in tips)
        assert any("that is 42, not 52" in t for t in tips)
        fills = page.locator("#solve-reasoning-map svg circle").evaluate_all("cs => cs.map(c => getComputedStyle(c).fill)")
        assert "rgb(37, 99, 235)" in fills  # the first answer cluster's blue
        page.locator("#solve-reasoning-map").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"browser-reasoning-map-n{n}.png"), full_page=False)
        if n == 8:  # History replays the panel from the log
            history_shows(page, "6 times 7")
            page.locator("#history-table [role=gridcell]", has_text="6 times 7").first.click()
            page.wait_for_function("document.querySelector('#attempt-id textarea, #attempt-id input').value.length > 0",
                                   timeout=30_000)
            page.get_by_role("button", name="Open", exact=True).click()
            reasoning_shows(page, "history", n + 1)
            assert "that is 42, not 52" in page.locator("#history-solution").inner_text()
        assert page.errors == [] and dialogs == []  # type: ignore[attr-defined]
    finally:
        context.close()
        app.close()
