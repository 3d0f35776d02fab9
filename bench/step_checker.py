"""The step checker on the bundled model's held-out problems: recall, false alarms, checked vote.

    python bench/step_checker.py                      # 300 held-out problems, greedy + N = 8
    python bench/step_checker.py --n 8 --out out/step-checker

The solutions come from the evaluation command, run once with `--save-text` into
`OUT/eval/results.jsonl` (greedy row, N samples, their answers, whether each is right, and
the evaluation's own Maj@N and RM@N picks); a rerun reuses that file and takes seconds.
Then, with `judgements.steps.checker.check_solution` on every solution (greedy and sampled):

- recall: the share of wrong solutions (answer not equivalent to the reference) in which the
  checker flags a claim;
- false alarms: the share of right solutions in which it flags any claim; each flagged claim is
  recomputed independently (the synthetic generator's own left-to-right evaluation, for this
  model's `a op b = c` format), so a flag in a right solution that is a real slip (two slips
  that cancel) is told apart from a flag on a correct claim;
- checked vote: Maj@N among the samples with no wrong claim (Maj@N when none is left), against
  greedy, Maj@N and RM@N on the same problems: accuracy, the discordant pairs (b: checked vote
  right and the other wrong, c: the reverse) and the exact two-sided sign test on them, as in
  the README's evaluation table.

Writes `OUT/summary.md` and prints it.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from judgements.steps.checker import check_solution, checked_vote
from judgements.solution import Solution


def generate(args: argparse.Namespace, folder: Path) -> None:
    command = [
        sys.executable, "-m", "evaluation", "--model", args.model, "--reward-model", args.reward_model,
        "--data", str(args.data), "--n", str(args.n), "--seed", str(args.seed), "--save-text",
        "--out", str(folder), "--no-progress",
    ]
    print("generating:", " ".join(command[1:]), file=sys.stderr, flush=True)
    subprocess.run(command, cwd=REPO, check=True)


def load(path: Path, n: int) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows or any(len(r["samples"]) != n or "text" not in r["samples"][0] for r in rows):
        raise SystemExit(f"{path} does not hold N = {n} samples with their text; delete it to regenerate")
    return rows


def sign_test(b: int, c: int) -> float:
    """Exact two-sided sign test on b vs c discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def really_wrong(claim_text: str) -> bool | None:
    """The bundled format's own recomputation of `a op b ... = c` (None: not that format)."""
    try:
        from training.synthetic import equation_value
    except ImportError:
        return None
    left, _, right = claim_text.partition("=")
    try:
        return equation_value(left.strip()) != int(right.strip())
    except (KeyError, ValueError, ZeroDivisionError, IndexError):
        return None


def has_slip(solution: str) -> bool | None:
    """Whether any `$a op b = c$` of the bundled format is wrong, by the generator's own
    recomputation (None when that code is not there)."""
    try:
        from training.synthetic import equation_value, solution_equations
    except ImportError:
        return None
    return any(equation_value(left) != int(written) for left, written in solution_equations(solution))


def percent(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "-"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "assets" / "heldout.jsonl")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--reward-model", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "step-checker")
    args = parser.parse_args(argv)
    results = args.out / "eval" / "results.jsonl"
    if not results.exists():
        generate(args, results.parent)
    rows = load(results, args.n)

    check_s = 0.0
    flags = {True: [0, 0], False: [0, 0]}  # right? -> [flagged, total]
    real = [0, 0]  # flagged right solutions: [holding a really wrong claim, recomputable]
    claims = [0, 0]  # flagged claims: [really wrong, recomputable]
    slips = [0, 0]  # wrong solutions holding a slip (independent recomputation): [flagged, all]
    methods = {"greedy": [], f"Maj@{args.n}": [], f"RM@{args.n}": []}
    checked: list[bool] = []
    fell_back = kept_total = solutions = 0
    for row in rows:
        texts = [row["greedy"]] + row["samples"]
        clock = time.perf_counter()
        checks = [check_solution(s["text"]) for s in texts]
        check_s += time.perf_counter() - clock
        solutions += len(texts)
        for s, check in zip(texts, checks):
            flags[bool(s["correct"])][0] += check.has_wrong
            flags[bool(s["correct"])][1] += 1
            verdicts = [really_wrong(c.text) for c in check.wrong]
            claims[0] += sum(v is True for v in verdicts)
            claims[1] += sum(v is not None for v in verdicts)
            if s["correct"] and check.has_wrong and all(v is not None for v in verdicts):
                real[1] += 1
                real[0] += any(verdicts)
            if not s["correct"] and has_slip(s["text"]):
                slips[1] += 1
                slips[0] += check.has_wrong
        samples = [Solution(index=i + 1, kind="sampled", text=s["text"], answer=s["answer"]) for i, s in enumerate(row["samples"])]
        result = checked_vote(samples, checks[1:])
        fell_back += result.fell_back
        kept_total += len(result.kept)
        right = {s["answer"]: s["correct"] for s in row["samples"]}
        checked.append(bool(result.answer is not None and right.get(result.answer, False)))
        methods["greedy"].append(bool(row["greedy"]["correct"]))
        methods[f"Maj@{args.n}"].append(bool(row["at_n"][str(args.n)]["maj"]["correct"]))
        methods[f"RM@{args.n}"].append(bool(row["at_n"][str(args.n)]["rm"]["correct"]))

    problems = len(rows)
    wrong_flagged, wrong_total = flags[False]
    right_flagged, right_total = flags[True]
    lines = [
        f"## Step checker on {args.data.name}: {problems} problems, greedy + N = {args.n}, {solutions} solutions",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| recall: wrong solutions with a flagged claim | {percent(wrong_flagged, wrong_total)} ({wrong_flagged}/{wrong_total}) |",
        f"| recall on wrong solutions that hold a slip (recomputed) | {percent(*slips)} ({slips[0]}/{slips[1]}) |",
        f"| false alarms: right solutions with a flagged claim | {percent(right_flagged, right_total)} ({right_flagged}/{right_total}) |",
        f"| ... of those, holding a claim that really is wrong (two slips that cancel) | {real[0]}/{real[1]} |",
        f"| flagged claims that really are wrong (of those the recomputation reads) | {claims[0]}/{claims[1]} |",
        f"| checker time per solution | {1000 * check_s / max(solutions, 1):.2f} ms |",
        "",
        "| method | accuracy | checked vote right, it wrong (b) | checked vote wrong, it right (c) | sign test p |",
        "|---|---:|---:|---:|---:|",
        f"| checked vote@{args.n} | {percent(sum(checked), problems)} ({sum(checked)}/{problems}) | | | |",
    ]
    for name, picks in methods.items():
        b = sum(1 for x, y in zip(checked, picks) if x and not y)
        c = sum(1 for x, y in zip(checked, picks) if y and not x)
        lines.append(f"| {name} | {percent(sum(picks), problems)} ({sum(picks)}/{problems}) | {b} | {c} | {sign_test(b, c):.2g} |")
    lines += [
        "",
        (
            f"Checked vote kept {kept_total / max(problems, 1):.2f} of {args.n} samples per problem on average and "
            f"fell back to Maj@{args.n} (no sample left without a wrong claim) on {fell_back} of {problems} problems."
        ),
        "",
    ]
    markdown = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.md").write_text(markdown, encoding="utf-8")
    print(markdown)


if __name__ == "__main__":
    main()
