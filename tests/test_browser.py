"""The app in a real headless Chromium (Playwright, system browser): typing, solving, KaTeX,
cards, the vote chart, and injected markup that must stay text.

Skips without Chromium on a user's machine; `.ci/run` installs it and sets
MATHAPP_TEST_STRICT=1, which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.optional import require
from tests.servers import scripted_model_dir, start_app

ARTIFACTS = Path(os.environ.get("MATHAPP_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]


def goto_app(page, url: str, *, quiet_s: float = 0.5, timeout_s: float = 60.0) -> None:
    """Open the app and wait until its start-up requests (the browser's session id, the model
    check) have all answered and none has started for `quiet_s`. Playwright's "networkidle"
    never comes: the page holds Gradio's heartbeat open while it has per-session state."""
    pending: set = set()

    def started(request) -> None:
        if "/heartbeat/" not in request.url:
            pending.add(request)

    def ended(request) -> None:
        pending.discard(request)

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    page.goto(url, wait_until="load")
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < quiet_s:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the page kept loading for {timeout_s:.0f} s: {sorted(r.url for r in pending)}")
        page.wait_for_timeout(50)
        if pending:
            quiet_since = time.monotonic()
    for event, handler in (("request", started), ("requestfinished", ended), ("requestfailed", ended)):
        page.remove_listener(event, handler)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("MATHAPP_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    require(executable is not None, "Chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright Python package")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, headless=True, args=LAUNCH_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-app")
    running = start_app(scripted_model_dir(root), root / "app.sqlite3", n_samples=6)
    yield running
    running.close()


@pytest.fixture()
def page(browser, app):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    goto_app(page, app.url)
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def type_and_solve(page, problem: str) -> None:
    box = page.locator("#problem textarea")
    box.fill(problem)
    page.locator("#solve-btn").click()
    page.wait_for_selector("#final-answer .katex", timeout=60_000)


def test_solve_renders_latex_cards_and_chart(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    type_and_solve(page, "Compute $2+3$ and write it as $\\frac{10}{2}$.")
    # The solution's inline formula is typeset by KaTeX, not left as raw dollars.
    page.wait_for_selector("#solution .katex", timeout=30_000)
    solution_text = page.locator("#solution").inner_text()
    assert "$2+3$" not in solution_text and "We add" in solution_text
    # Six sample cards, each with the cluster colour class of the single answer cluster.
    page.wait_for_function("document.querySelectorAll('#cards details.card').length === 6", timeout=30_000)
    assert page.locator("#cards details.card.c0").count() == 6
    # Maj@N panel and the vote histogram, drawn by the browser.
    assert "6 of 6 votes" in page.locator("#votes").inner_text()
    page.wait_for_selector("#vote-chart .vega-embed canvas, #vote-chart .vega-embed svg", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "browser-solve.png"), full_page=True)
    assert page.errors == []  # type: ignore[attr-defined]


def test_injected_markup_runs_nothing(page, app):
    attack = "<img src=x onerror=\"window.__pwned=1\"> <script>window.__pwned=2</script> What is $2+3$?"
    type_and_solve(page, attack)
    page.get_by_role("tab", name="History").click()
    page.get_by_role("button", name="Refresh").click()
    page.wait_for_function("document.querySelector('#history-table') && document.querySelector('#history-table').innerText.includes('onerror')",
                           timeout=30_000)
    page.locator("#history-table [role=gridcell]", has_text="onerror").first.click()  # opens that row
    page.wait_for_function("document.querySelector('#attempt-id textarea, #attempt-id input').value.length > 0", timeout=30_000)
    page.get_by_role("button", name="Open", exact=True).click()
    page.wait_for_function("document.querySelector('#history-problem').innerText.includes('<img src=x')", timeout=30_000)
    problem = page.locator("#history-problem")
    assert problem.locator("img").count() == 0 and problem.locator("script").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x']").count() == 0
    page.screenshot(path=str(ARTIFACTS / "browser-injection.png"), full_page=True)
    assert page.errors == []  # type: ignore[attr-defined]
