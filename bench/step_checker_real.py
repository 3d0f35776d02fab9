"""The step checker on real text: MATH-500's reference solutions and the realistic corpora.

    python bench/step_checker_real.py                       # this checkout's checker
    python bench/step_checker_real.py --repo /tmp/before    # another checkout's (a git worktree)

Three measures, each from files in this repository (`--repo` only picks whose checker reads them):

- MATH-500's 500 reference solutions (`bench/data/math500.jsonl`, all meant to be right; one
  holds a real slip, `(-4)^2 + 4 \\cdot 1 \\cdot (-1) = 20`): solutions flagged, each flag listed,
  and the claims checked (right or wrong);
- `tests/data/realistic_solutions.txt`: right solutions in Qwen2-Math-Instruct's style, the
  ones flagged and the claims checked;
- `tests/data/realistic_slips.txt`: one real slip each (named by its `>>>` line), the share
  caught (the named claim flagged).

A checker without `certain` (older ones) counts every "wrong" claim as a flag. Writes nothing;
prints a Markdown summary.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_ENTRY = re.compile(r"^=== ([^\n]*)\n(.*?)(?=^=== |\Z)", re.S | re.M)


def entries(path: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _ENTRY.finditer(path.read_text(encoding="utf-8"))]


def squeeze(text: str) -> str:
    return re.sub(r"\s|&|\\\\", "", text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose step checker is measured")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.repo.resolve()))
    from judgements.steps.checker import check_solution  # the chosen checkout's

    def flags(text: str) -> list[str]:
        return [c.text for c in check_solution(text).claims if c.status == "wrong" and getattr(c, "certain", True)]

    started = time.perf_counter()
    lines_in = (REPO / "bench" / "data" / "math500.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines_in if line.strip()]
    math500 = [(r["unique_id"], flags(r["solution"])) for r in rows]
    math500_checked = sum(check_solution(r["solution"]).checked for r in rows)
    corpus = entries(REPO / "tests" / "data" / "realistic_solutions.txt")
    corpus_flags = [(name, flags(text)) for name, text in corpus]
    corpus_checked = sum(check_solution(text).checked for _, text in corpus)
    slips = entries(REPO / "tests" / "data" / "realistic_slips.txt")
    missed = []
    for name, body in slips:
        text, _, target = body.rpartition(">>> ")
        if not any(squeeze(target.strip()) in squeeze(c) or squeeze(c) in squeeze(target) for c in flags(text)):
            missed.append(name)
    seconds = time.perf_counter() - started

    flagged = [(uid, f) for uid, f in math500 if f]
    lines = [
        f"## Step checker on real text ({args.repo})",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| MATH-500 reference solutions flagged | {len(flagged)} of {len(rows)} |",
        f"| MATH-500 claims checked (right or wrong) | {math500_checked} |",
        f"| realistic right solutions flagged | {sum(1 for _, f in corpus_flags if f)} of {len(corpus)} |",
        f"| realistic right solutions: claims checked | {corpus_checked} |",
        f"| realistic slips caught | {len(slips) - len(missed)} of {len(slips)} |",
        f"| time for all of it | {seconds:.1f} s |",
        "",
        "MATH-500 flags:",
        "",
    ]
    lines += [f"- `{uid}`: " + "; ".join(f"`{' '.join(c.split())}`" for c in f) for uid, f in flagged]
    if any(f for _, f in corpus_flags):
        lines += ["", "Realistic right solutions flagged:", ""]
        lines += [f"- {name}: " + "; ".join(f"`{' '.join(c.split())}`" for c in f) for name, f in corpus_flags if f]
    if missed:
        lines += ["", "Slips missed: " + ", ".join(missed)]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
