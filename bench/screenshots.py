"""Screenshots of the Solve tab mid-stream and finished, for the README.

Starts the app in this process (default: the bundled offline model and reward model, so it
runs anywhere), drives it in headless Chromium with Playwright, and writes
`screenshot-streaming.png` and `screenshot-finished.png` to `--out`.

    python bench/screenshots.py [--model bundled] [--problem TEXT] [--n 8] [--out assets]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.config import AppConfig  # noqa: E402

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
# A held-out problem of the kind the bundled model was trained on (it knows nothing else).
DEFAULT_PROBLEM = (
    "Emma has 52 dollars. She saves 16 dollars every week for 5 weeks. Then she buys a camera for 74 dollars. "
    "How much money does she have left?"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--reward-model", default="auto")
    parser.add_argument("--problem", default=DEFAULT_PROBLEM)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "assets")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from ui.app import build_app, launch

    workdir = Path(tempfile.mkdtemp(prefix="mathapp-shots-"))
    config = AppConfig(model=args.model, reward_model=args.reward_model, n_samples=args.n, seed=args.seed,
                       db_url=f"sqlite:///{workdir / 'log.sqlite3'}", port=free_port())
    demo = build_app(config)
    launch(demo, config, prevent_thread_lock=True, quiet=True)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=LAUNCH_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1250})
            page.goto(f"http://127.0.0.1:{config.port}/", wait_until="networkidle")
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
            browser.close()
    finally:
        demo.resources.solver.close()  # type: ignore[attr-defined]
        demo.close()
    print(f"wrote {args.out / 'screenshot-streaming.png'} and {args.out / 'screenshot-finished.png'}")


if __name__ == "__main__":
    main()
