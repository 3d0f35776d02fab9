"""Screenshots of the Solve tab mid-stream and finished, and of a follow-up question, for the README.

Starts the app in this process (default: the bundled offline model and reward model, so it
runs anywhere), drives it in headless Chromium with Playwright, and writes
`screenshot-streaming.png`, `screenshot-finished.png`, `screenshot-reasoning-map.png` (the
"Where the solutions part ways" panel: its splits and the map), `screenshot-followup.png`
(the "Ask about this solution" box after one question), `screenshot-history.png` (History at
1400 x 900: the list, and the attempt reopened with the student's feedback at its head) and
`screenshot-teacher.png` (the Teacher list at 1400 x 900, with its session and feedback
columns) and `screenshot-check-work.png` (Check my work: a student's solution with a slip in
step 2, marked, and one hint) to `--out`.

    python bench/screenshots.py [--model bundled] [--problem TEXT] [--question TEXT] [--n 8] [--out assets]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settings import AppConfig

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
# A held-out problem of the kind the bundled model was trained on (it knows nothing else).
DEFAULT_PROBLEM = (
    "Emma has 52 dollars. She saves 16 dollars every week for 5 weeks. Then she buys a camera for 74 dollars. "
    "How much money does she have left?"
)
DEFAULT_QUESTION = "Why do we multiply 16 by 5 first?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reasoning_map_shot(page, path: Path) -> None:
    """The reasoning panel, from its heading to the bottom of its map."""
    page.wait_for_function("document.querySelector('#solve-reasoning-map svg circle') !== null", timeout=60_000)
    top = page.locator("#solve-reasoning").bounding_box()  # in the viewport; the clip is on the page
    bottom = page.locator("#solve-reasoning-map").bounding_box()
    scrolled = page.evaluate("window.scrollY")
    clip = {"x": top["x"] - 8, "y": top["y"] + scrolled - 8, "width": top["width"] + 16,
            "height": bottom["y"] + bottom["height"] - top["y"] + 16}
    page.screenshot(path=str(path), clip=clip, full_page=True)


def follow_up_shot(page, path: Path) -> None:
    """The sample cards and, under them, the "Ask about this solution" box with its conversation."""
    page.wait_for_function("document.querySelector('#solve-question textarea').value === ''", timeout=60_000)
    page.evaluate("document.querySelector('#solve-ask').scrollIntoView({block: 'end'})")
    top = page.locator("#cards").bounding_box()
    bottom = page.locator("#solve-ask").bounding_box()
    scrolled = page.evaluate("window.scrollY")
    clip = {"x": bottom["x"] - 8, "y": top["y"] + scrolled - 44, "width": bottom["width"] + 16,
            "height": bottom["y"] + bottom["height"] - top["y"] + 52}
    page.screenshot(path=str(path), clip=clip, full_page=True)


def history_shot(page, problem: str, path: Path) -> None:
    """History at 1400 x 900: the list, then the attempt reopened with feedback given on it."""
    page.set_viewport_size({"width": 1400, "height": 900})
    page.get_by_role("tab", name="History", exact=True).click()
    page.wait_for_function(f"document.querySelector('#history-table').innerText.includes({problem[:40]!r})",
                           timeout=60_000)
    attempt_id = page.locator("#history-table").inner_text().split()[-1]
    page.locator("#attempt-id textarea, #attempt-id input").first.fill(attempt_id)
    page.get_by_role("button", name="Open", exact=True).click()
    page.wait_for_function("document.querySelector('#history-problem').innerText.includes('Problem')", timeout=60_000)
    page.get_by_role("radio", name="wrong", exact=True).check()
    page.get_by_label("correct answer (optional)").fill("90")
    page.get_by_label("comment (optional)").fill("She spends the 74 dollars after saving, so 52 + 80 - 74.")
    page.get_by_role("button", name="Save feedback").click()
    page.wait_for_function("document.body.innerText.includes('Thank you')", timeout=60_000)
    page.get_by_role("button", name="Open", exact=True).click()
    page.wait_for_function("document.querySelector('#history-problem').innerText.includes('Feedback')", timeout=60_000)
    page.evaluate("document.querySelector('#history-table').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(path), full_page=False)


def teacher_shot(page, password: str, path: Path) -> None:
    """The Teacher list at 1400 x 900, with its session and feedback columns."""
    page.get_by_role("tab", name="Teacher", exact=True).click()
    page.get_by_label("teacher password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_function("document.body.innerText.includes('Logged in.')", timeout=60_000)
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_function("document.querySelector('#teacher-table').innerText.includes('wrong')", timeout=60_000)
    page.evaluate("document.querySelector('#teacher-table').scrollIntoView({block: 'center'})")
    page.screenshot(path=str(path), full_page=False)


CHECK_PROBLEM = "Emma has 52 dollars. She saves 16 dollars every week for 5 weeks. How much money does she have now?"
CHECK_SOLUTION = "She saves 16 dollars for 5 weeks.\n\nShe saves $16 \\times 5 = 90$ dollars.\n\nNow she has $52 + 90 = 142$ dollars."


def check_work_shot(page, path: Path) -> None:
    """Check my work at 1400 x 900: a solution with a slip in step 2, marked, and one hint."""
    page.get_by_role("tab", name="Check my work").click()
    page.locator("#check-problem textarea").fill(CHECK_PROBLEM)
    page.locator("#check-solution textarea").fill(CHECK_SOLUTION)
    page.locator("#check-btn").click()
    page.wait_for_selector("#check-steps .work-step.first-wrong", timeout=60_000)
    page.locator("#check-hint-btn").click()
    page.wait_for_selector("#check-hints .hint", timeout=120_000)
    page.evaluate("document.querySelector('#check-problem').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(path), full_page=False)


def slow_first_run(solver, pause_s: float = 0.01) -> None:
    """Pace the first run's events (the bundled model writes a whole solve in a fraction of a
    second, faster than the page updates), so the streaming shot can catch it mid-stream."""
    backend = solver.backend
    stream = backend.stream
    runs = []

    def paced(request, cancel):
        runs.append(request)
        for event in stream(request, cancel):
            if len(runs) == 1:
                time.sleep(pause_s)
            yield event

    backend.stream = paced


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--reward-model", default="auto")
    parser.add_argument("--problem", default=DEFAULT_PROBLEM)
    parser.add_argument("--question", default=DEFAULT_QUESTION, help="the follow-up question asked about the solution")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "assets")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from ui.app import build_app, launch
    from ui.sessions import SESSION_STORAGE_KEY

    workdir = Path(tempfile.mkdtemp(prefix="mathapp-shots-"))
    password = "screenshots-teacher"
    config = AppConfig(model=args.model, reward_model=args.reward_model, n_samples=args.n, seed=args.seed,
                       db_url=f"sqlite:///{workdir / 'log.sqlite3'}", port=free_port(), teacher_password=password)
    demo = build_app(config)
    slow_first_run(demo.resources.solver)  # type: ignore[attr-defined]
    launch(demo, config, prevent_thread_lock=True, quiet=True)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=LAUNCH_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1250})
            # Not "networkidle": the page keeps Gradio's heartbeat open (it has per-session state).
            page.goto(f"http://127.0.0.1:{config.port}/", wait_until="load")
            page.wait_for_function(f"localStorage.getItem({SESSION_STORAGE_KEY!r}) !== null", timeout=60_000)
            page.locator("#problem textarea").fill(args.problem)
            page.locator("#solve-btn").click()
            # Mid-stream: some text in the solution, the final answer not there yet.
            page.wait_for_function(
                "document.querySelector('#solution').innerText.trim().length > 40 "
                "&& !document.querySelector('#final-answer .katex')", timeout=120_000, polling=50)
            page.screenshot(path=str(args.out / "screenshot-streaming.png"), full_page=False)
            page.wait_for_selector("#final-answer .katex", timeout=300_000)
            page.wait_for_selector("#vote-chart .vega-embed canvas, #vote-chart .vega-embed svg", timeout=60_000)
            page.screenshot(path=str(args.out / "screenshot-finished.png"), full_page=False)
            reasoning_map_shot(page, args.out / "screenshot-reasoning-map.png")
            page.locator("#solve-question textarea").fill(args.question)
            page.locator("#solve-ask-btn").click()
            # Answered: the answer is there, nothing held back, and the box says nothing more.
            page.wait_for_function(
                "document.querySelector('#solve-conversation .turn.assistant') "
                "&& !document.querySelector('#solve-conversation .held') "
                "&& document.querySelector('#solve-ask-notice').innerText.trim() === ''", timeout=300_000, polling=100)
            follow_up_shot(page, args.out / "screenshot-followup.png")
            history_shot(page, args.problem, args.out / "screenshot-history.png")
            teacher_shot(page, password, args.out / "screenshot-teacher.png")
            check_work_shot(page, args.out / "screenshot-check-work.png")
            browser.close()
    finally:
        demo.resources.solver.close()  # type: ignore[attr-defined]
        demo.close()
    print(f"wrote screenshot-streaming.png, screenshot-finished.png, screenshot-reasoning-map.png, "
          f"screenshot-followup.png, screenshot-history.png, screenshot-teacher.png and screenshot-check-work.png to "
          f"{args.out}")


if __name__ == "__main__":
    main()
