"""How much raw LaTeX a reader still sees: human-written competition-math solutions through the
app's renderer into Gradio's Markdown and KaTeX in a real headless Chromium.

    python bench/latex_coverage.py                       # bench/data/math500.jsonl, both renderers
    python bench/latex_coverage.py --chromium /usr/bin/chromium --limit 100

For each solution the page is checked after KaTeX ran: a solution "leaves raw LaTeX" when
text outside the typeset formulas and outside code blocks still holds a LaTeX command
(`\\frac`, `\\begin`, ...) or a KaTeX error box. The renderer of the commit given by `--before`
(default HEAD~, read with `git show`) is measured in the same run as the baseline. Also
reported: of 5,000 mid-stream prefixes (10 per solution), how many show an environment that has
not closed yet (a raw `\\begin{...}` on the page while streaming).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gradio as gr

from ui.mathtext import LATEX_DELIMITERS, math_markdown

COMMAND = re.compile(r"\\[A-Za-z]+")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

PAGE_CHECK = """
() => Array.from(document.querySelectorAll('div[id^="s"].sol')).filter(div => /^s\\d+$/.test(div.id)).map(div => {
  const copy = div.cloneNode(true);
  copy.querySelectorAll('.katex, pre, code').forEach(e => e.remove());
  return {id: div.id, raw: copy.textContent, errors: div.querySelectorAll('.katex-error').length};
})
"""


def old_renderer(commit: str, *, finished: bool = True):
    """`streaming_markdown` as it was at `commit` (its ui/render.py, loaded from git)."""
    source = subprocess.run(["git", "show", f"{commit}:ui/render.py"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("render_before")
    sys.modules["render_before"] = module  # dataclasses look their module up
    exec(compile(source, f"{commit}:ui/render.py", "exec"), module.__dict__)  # noqa: S102 - our own file from git
    return lambda text: module.streaming_markdown(text, finished=finished)


def measure_in_browser(chromium: str, rendered: dict[str, list[str]]) -> dict[str, list[dict]]:
    """Each solution in its own Markdown component (as each card and solution is on the page),
    one page per renderer; the page is read once KaTeX has run."""
    from playwright.sync_api import sync_playwright

    results: dict[str, list[dict]] = {}
    for name, markups in rendered.items():
        with gr.Blocks() as demo:
            for i, markup in enumerate(markups):
                gr.Markdown(value=markup, latex_delimiters=LATEX_DELIMITERS, elem_id=f"s{i}", elem_classes=["sol"])
        demo.launch(prevent_thread_lock=True, quiet=True)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=LAUNCH_ARGS)
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(demo.local_url, wait_until="networkidle")
                page.wait_for_selector(".sol .katex", timeout=120_000)
                time.sleep(5)  # KaTeX renders block by block
                results[name] = page.evaluate(PAGE_CHECK)
                browser.close()
        finally:
            demo.close()
    return results


def open_environment_prefixes(solutions: list[str], renderer, per_solution: int = 10) -> tuple[int, int]:
    """(prefixes whose page shows a raw `\\begin{`, prefixes looked at), streaming."""
    rng = random.Random(0)
    shown = total = 0
    for solution in solutions:
        for _ in range(per_solution):
            cut = rng.randrange(1, len(solution) + 1)
            markup = renderer(solution[:cut])
            total += 1
            outside = re.sub(r"\\\[[\s\S]*?\\\]|\\\([\s\S]*?\\\)|\$\$[\s\S]*?\$\$|\$[^$]*\$", " ", markup)
            if "\\begin{" in outside:
                shown += 1
    return shown, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "bench/data/math500.jsonl")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--before", default="HEAD~", help="commit whose renderer is the baseline ('' for none)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)

    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    solutions = [r["solution"] for r in rows][: args.limit]
    renderers = {"now": lambda t: math_markdown(t, finished=True)}
    if args.before:
        renderers = {"before": old_renderer(args.before), **renderers}
    rendered = {name: [render(s) for s in solutions] for name, render in renderers.items()}
    results = measure_in_browser(args.chromium, rendered)

    print(f"{len(solutions)} solutions from {args.data.name}, rendered in Chromium by Gradio {gr.__version__}'s Markdown + KaTeX")
    print("| renderer | solutions with raw LaTeX on the page | with a KaTeX error | commands left raw |")
    print("|---|---|---|---|")
    for name, found in results.items():
        raw = [f for f in found if COMMAND.search(f["raw"])]
        errors = [f for f in found if f["errors"]]
        leftovers = sum(len(COMMAND.findall(f["raw"])) for f in found)
        label = f"{name} ({args.before})" if name == "before" else name
        print(f"| {label} | {len(raw)} of {len(found)} ({len(raw) / len(found):.1%}) | {len(errors)} | {leftovers} |")
        sample = [(rows[int(f["id"][1:])]["unique_id"], COMMAND.findall(f["raw"])[:3]) for f in raw[:8]]
        print(f"  e.g. {sample}")
    streaming = {"now": lambda t: math_markdown(t, finished=False)}
    if args.before:
        streaming["before"] = old_renderer(args.before, finished=False)
    for name, render in streaming.items():
        shown, total = open_environment_prefixes(solutions, render)
        print(f"mid-stream prefixes showing an open environment ({name}): {shown} of {total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
