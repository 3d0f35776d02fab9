"""What kind of mistakes the bundled model makes: arithmetic slips, and where in the number.

Reads the sampled solutions the reward-model trainer caches (JSONL rows of
`[problem, solution, right]`, greedy row first, then the samples of that problem):

    python -m training.train_bundled_rm --solutions out/rm-solutions.jsonl --out out/rm
    python bench/bundled_errors.py out/rm-solutions.jsonl

For every solution it recomputes each equation's left-hand side and prints: how many right
and wrong solutions hold an arithmetically wrong result, and, for the first wrong result of
each wrong solution, which digit (counted from the units) is off and by how much. A verifier
that checked every equation would tell almost all right from wrong solutions; that this one
cannot is what the README's evaluation section discusses.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.synthetic import equation_value, solution_equations  # noqa: E402


def first_slip(solution: str) -> tuple[str, str] | None:
    """(true result, written result) of the first equation whose written result is wrong."""
    for left, written in solution_equations(solution):
        true = equation_value(left)
        if true != int(written):
            return (str(true.numerator) if true.denominator == 1 else str(true)), written
    return None


def describe(true: str, written: str) -> str:
    """`tens digit off by 1`, `units digit off by 3`, `2 digits off`, `length differs`."""
    if len(true) != len(written) or "/" in true:
        return "length differs (or not a whole number)"
    off = [i for i in range(len(true)) if true[i] != written[i]]
    if len(off) > 1:
        return f"{len(off)} digits off"
    place = ("units", "tens", "hundreds", "thousands")[min(len(true) - 1 - off[0], 3)]
    return f"{place} digit off by {abs(int(true[off[0]]) - int(written[off[0]]))}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("solutions", type=Path, help="JSONL of [problem, solution, right] rows")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.solutions.read_text(encoding="utf-8").splitlines() if line.strip()]
    counts: Counter[tuple[bool, bool]] = Counter()
    kinds: Counter[str] = Counter()
    for _problem, solution, right in rows:
        slip = first_slip(solution)
        counts[(bool(right), slip is not None)] += 1
        if slip is not None and not right:
            kinds[describe(*slip)] += 1
    wrong = counts[(False, True)] + counts[(False, False)]
    rights = counts[(True, True)] + counts[(True, False)]
    print(f"{len(rows)} solutions: {rights} right, {wrong} wrong")
    print(f"wrong solutions with an arithmetically wrong result: {counts[(False, True)]} "
          f"({counts[(False, True)] / max(wrong, 1):.1%})")
    print(f"right solutions with every result right: {counts[(True, False)]} "
          f"({counts[(True, False)] / max(rights, 1):.1%})")
    print("first wrong result of each wrong solution:")
    for kind, count in kinds.most_common(10):
        print(f"  {count:6d}  {kind}")


if __name__ == "__main__":
    main()
