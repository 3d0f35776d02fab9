"""Check my work, measured: exact-earliest-step accuracy and false alarms, per judge and combined.

    python bench/check_work.py                       # bundled model, CPU, 60 held-out problems
    python bench/check_work.py --model Qwen/Qwen2-Math-1.5B-Instruct \\
        --reward-model Qwen/Qwen2.5-Math-PRM-7B --problems 100   # the GPU plan: PRM + checker vs PRM alone

The labelled set is built here, each time, from the held-out problems (assets/heldout.jsonl,
never trained on), so none of its solutions is in the repository:

- `model`: the model's own greedy solution to each problem. Its label comes from the problem's
  known right intermediate values: the earliest step holding an equation whose written result
  is not its left side's value (a slip), or whose result is no value of the right solution
  while the final answer is wrong (a wrong turn), else the final step when only the final
  answer is wrong; none for a right solution with every value right. Ambiguous ones (right
  answer, a value off the right path) are left out.
- `slip`: a right solution with one result changed by a digit at step k, carried forward with
  right arithmetic after it: label k.
- `plan`: a right solution with step k's operation swapped for another (right arithmetic, the
  wrong plan), carried forward: label k. Plus `HAND_WRITTEN` wrong plans (a wrong quantity
  used, a step left out, the wrong question answered).
- `right`: the right solutions themselves: every verdict there that is not "no wrong step" is a
  false alarm.

Judges: the step checker alone, the model's samples alone (N samples per problem, the same
run's), the PRM alone (when `--reward-model` loads a process reward model), and combined
(`judgements.work_check.check_work`). Accuracy on a wrong solution means the predicted
earliest wrong step is exactly the label; F1 is ProcessBench's (harmonic mean of the accuracy on
wrong solutions and on right ones).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from judgements.answers import extract_answer  # noqa: E402
from judgements.work_check import check_work, split_work  # noqa: E402
from judgements.work_judges import CHECKER, PRM, SAMPLES, Samples  # noqa: E402
from training.synthetic import equation_value, read_jsonl  # noqa: E402

HELDOUT = Path(__file__).resolve().parent.parent / "assets" / "heldout.jsonl"
EQUATION = re.compile(r"\$(\d+(?: (?:\+|-|\\times|\\div) \d+)+) = (\d+)\$")
BOXED = re.compile(r"\\boxed\{(\d+)\}")
OPS = ("+", "-", "\\times", "\\div")

# Hand-written wrong plans: (problem, solution, earliest wrong step). The arithmetic is right.
HAND_WRITTEN = [
    ("Maya picks 20 flowers. She keeps 5 for herself and puts the rest in bunches of 3. She sells each bunch for "
     "7 dollars. She spent 18 dollars on seeds. How much profit does she make?",
     "She puts $20 - 5 = 15$ flowers in bunches.\n\nThat makes $15 \\div 3 = 5$ bunches.\n\n"
     "She makes $5 \\times 7 = 35$ dollars.\n\nHer profit is $35 + 18 = 53$ dollars.\n\nThe answer is $\\boxed{53}$.", 3),
    ("Maya picks 20 flowers. She keeps 5 for herself and puts the rest in bunches of 3. She sells each bunch for "
     "7 dollars. She spent 18 dollars on seeds. How much profit does she make?",
     "She has $20 \\div 3 = 6$ bunches, with 2 left over.\n\nShe makes $6 \\times 7 = 42$ dollars.\n\n"
     "Her profit is $42 - 18 = 24$ dollars.\n\nThe answer is $\\boxed{24}$.", 0),
    ("Maya has 25 stickers. Ava has 2 times as many stickers as Maya. Lily has 13 more stickers than Ava. How many "
     "stickers do the three of them have altogether?",
     "Ava has $25 + 2 = 27$ stickers.\n\nLily has $27 + 13 = 40$ stickers.\n\nAltogether $25 + 27 + 40 = 92$ stickers.\n\n"
     "The answer is $\\boxed{92}$.", 0),
    ("Maya has 25 stickers. Ava has 2 times as many stickers as Maya. Lily has 13 more stickers than Ava. How many "
     "stickers do the three of them have altogether?",
     "Ava has $25 \\times 2 = 50$ stickers.\n\nLily has $50 + 13 = 63$ stickers.\n\nThe answer is $\\boxed{63}$.", 2),
    ("Chloe has 46 stamps. She gives 5 stamps to Leo. Then she uses 3 stamps for a school project. She buys 26 more "
     "stamps. Then she finds 40 more stamps. How many stamps does Chloe have in the end?",
     "She has $46 - 5 = 41$ stamps.\n\nShe buys more: $41 + 26 = 67$ stamps.\n\nShe finds more: $67 + 40 = 107$ stamps.\n\n"
     "The answer is $\\boxed{107}$.", 1),
    ("Chloe has 46 stamps. She gives 5 stamps to Leo. Then she uses 3 stamps for a school project. She buys 26 more "
     "stamps. Then she finds 40 more stamps. How many stamps does Chloe have in the end?",
     "She has $46 + 5 = 51$ stamps.\n\nThen $51 - 3 = 48$ stamps.\n\nThen $48 + 26 = 74$ stamps.\n\n"
     "Then $74 + 40 = 114$ stamps.\n\nThe answer is $\\boxed{114}$.", 0),
]


@dataclass(frozen=True)
class Item:
    """One labelled solution: `label` is the earliest wrong step, None for a right solution."""

    kind: str
    problem: str
    solution: str
    label: int | None
    source: int  # index of its problem, for its samples


def _value(left: str) -> int | None:
    value = equation_value(left)
    return int(value) if value.denominator == 1 and value >= 0 else None


def carry_forward(steps: list[str], at: int, new_left: str) -> list[str] | None:
    """`steps` with step `at`'s equation's left side replaced, its result recomputed, and each
    later equation using the changed values recomputed (right arithmetic); None when it breaks."""
    out, changed = list(steps), {}
    match = EQUATION.search(out[at])
    if match is None:
        return None
    value = _value(new_left)
    if value is None or value == int(match.group(2)):
        return None
    changed[match.group(2)] = str(value)
    out[at] = out[at].replace(match.group(0), f"${new_left} = {value}$", 1)
    for j in range(at + 1, len(out)):
        for eq in EQUATION.finditer(steps[j]):
            tokens = [changed.get(t, t) for t in eq.group(1).split()]
            result = _value(" ".join(tokens))
            if result is None:
                return None
            if " ".join(tokens) != eq.group(1):
                changed[eq.group(2)] = str(result)
            out[j] = out[j].replace(eq.group(0), f"${' '.join(tokens)} = {result}$", 1)
        out[j] = BOXED.sub(lambda m: "\\boxed{" + changed.get(m.group(1), m.group(1)) + "}", out[j])
    return out


def slip_item(i: int, problem: str, solution: str, rng: random.Random) -> Item | None:
    steps = split_work(solution)
    spots = [k for k, s in enumerate(steps) if EQUATION.search(s)]
    if not spots:
        return None
    at = rng.choice(spots)
    match = EQUATION.search(steps[at])
    assert match is not None
    wrong = int(match.group(2)) + rng.choice([-10, -2, -1, 1, 2, 10])
    if wrong < 0:
        return None
    changed = carry_forward_written(steps, at, match.group(1), wrong)
    return Item("slip", problem, "\n\n".join(changed), at, i) if changed else None


def carry_forward_written(steps: list[str], at: int, left: str, wrong: int) -> list[str] | None:
    """Step `at` written with a wrong result, the later steps computed from it rightly."""
    out = list(steps)
    match = EQUATION.search(out[at])
    assert match is not None
    out[at] = out[at].replace(match.group(0), f"${left} = {wrong}$", 1)
    changed = {match.group(2): str(wrong)}
    for j in range(at + 1, len(out)):
        for eq in EQUATION.finditer(steps[j]):
            tokens = [changed.get(t, t) for t in eq.group(1).split()]
            result = _value(" ".join(tokens))
            if result is None:
                return None
            changed[eq.group(2)] = str(result)
            out[j] = out[j].replace(eq.group(0), f"${' '.join(tokens)} = {result}$", 1)
        out[j] = BOXED.sub(lambda m: "\\boxed{" + changed.get(m.group(1), m.group(1)) + "}", out[j])
    return out


def plan_item(i: int, problem: str, solution: str, rng: random.Random) -> Item | None:
    steps = split_work(solution)
    spots = [k for k, s in enumerate(steps) if EQUATION.search(s)]
    rng.shuffle(spots)
    for at in spots:
        match = EQUATION.search(steps[at])
        assert match is not None
        tokens = match.group(1).split()
        for op in rng.sample(OPS, len(OPS)):
            if op == tokens[1]:
                continue
            changed = carry_forward(steps, at, " ".join([tokens[0], op, *tokens[2:]]))
            if changed is not None:
                return Item("plan", problem, "\n\n".join(changed), at, i)
    return None


def model_label(solution: str, right_solution: str, answer: str) -> tuple[bool, int | None]:
    """(usable, label) of a model's own solution from the right solution's values (module docstring)."""
    steps = split_work(solution)
    right_values = {r for _, r in EQUATION.findall(right_solution)}
    final_right = (extract_answer(solution) or "") == answer
    for k, step in enumerate(steps):
        for left, written in EQUATION.findall(step):
            true = equation_value(left)
            if true.denominator != 1 or int(true) != int(written):
                return not final_right, k
            if written not in right_values and not final_right:
                return True, k
            if written not in right_values:
                return False, None  # right answer by another path: ambiguous
    if not final_right:
        return bool(steps), len(steps) - 1
    return True, None


def predictions(item: Item, samples: Samples | None, prm: list[float] | None) -> dict[str, int | None | str]:
    """Each judge's earliest wrong step for one item ("n/a" when that judge cannot run)."""
    out: dict[str, int | None | str] = {}
    out["step checker"] = check_work(item.problem, item.solution, judges=(CHECKER,)).first_wrong_step
    out["model's samples"] = check_work(item.problem, item.solution, samples=samples, judges=(SAMPLES,)).first_wrong_step \
        if samples is not None else "n/a"
    out["PRM"] = check_work(item.problem, item.solution, prm_scores=prm, judges=(PRM,)).first_wrong_step \
        if prm is not None else "n/a"
    out["combined"] = check_work(item.problem, item.solution, samples=samples, prm_scores=prm).first_wrong_step
    return out


def table(items: list[Item], preds: list[dict]) -> str:
    """The markdown table: exact earliest step on wrong solutions by kind, false alarms, F1."""
    judges = list(preds[0]) if preds else []
    kinds = [k for k in ("model", "slip", "plan") if any(i.kind == k and i.label is not None for i in items)]
    head = ["judge", *[f"exact step: {k} ({sum(i.kind == k and i.label is not None for i in items)})" for k in kinds],
            "exact step: all wrong", f"false alarms on right ({sum(i.label is None for i in items)})", "F1"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for judge in judges:
        if all(p[judge] == "n/a" for p in preds):
            rows.append("| " + " | ".join([judge] + ["n/a"] * (len(head) - 1)) + " |")
            continue
        cells = [judge]
        for kind in kinds:
            pairs = [(i, p) for i, p in zip(items, preds) if i.kind == kind and i.label is not None]
            cells.append(f"{sum(p[judge] == i.label for i, p in pairs) / len(pairs):.0%}")
        wrong = [(i, p) for i, p in zip(items, preds) if i.label is not None]
        right = [(i, p) for i, p in zip(items, preds) if i.label is None]
        acc_wrong = sum(p[judge] == i.label for i, p in wrong) / max(len(wrong), 1)
        alarms = sum(p[judge] is not None for _, p in right)
        acc_right = 1 - alarms / max(len(right), 1)
        f1 = 2 * acc_wrong * acc_right / (acc_wrong + acc_right) if acc_wrong + acc_right else 0.0
        cells += [f"{acc_wrong:.0%}", f"{alarms} ({alarms / max(len(right), 1):.0%})", f"{f1:.2f}"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--reward-model", default="none", help="a process reward model (e.g. Qwen/Qwen2.5-Math-PRM-7B)")
    parser.add_argument("--problems", type=int, default=60)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write every item and prediction here")
    args = parser.parse_args(argv)

    from model.checkwork import prm_step_scores
    from model.params import SamplingParams
    from model.solver import open_solver
    from settings import AppConfig

    solver, note = open_solver(AppConfig(model=args.model, reward_model=args.reward_model, fallback_to_bundled=False))
    if note:
        print(f"reward model: {note}", file=sys.stderr)
    rng = random.Random(args.seed)
    problems = read_jsonl(HELDOUT)[: args.problems]
    hand = [(p, s, k) for p, s, k in HAND_WRITTEN]
    texts = [p.problem for p in problems] + sorted({p for p, _, _ in hand})
    started = time.perf_counter()
    samples_of: dict[int, Samples] = {}
    items: list[Item] = []
    params = SamplingParams(n=args.samples, temperature=1.0, top_p=0.9, max_new_tokens=args.max_new_tokens,
                            seed=args.seed, include_greedy=True)
    for i, text in enumerate(texts):
        result = solver.solve(text, params)
        answers = [s.answer for s in result.samples]
        samples_of[i] = Samples(tuple(s.text for s in result.samples), tuple(answers), result.vote) \
            if result.vote is not None else Samples.of([s.text for s in result.samples])
        if i < len(problems):
            ref = problems[i]
            items.append(Item("right", ref.problem, ref.solution, None, i))
            for make in (slip_item, plan_item):
                made = make(i, ref.problem, ref.solution, rng)
                if made is not None:
                    items.append(made)
            greedy = result.greedy.text if result.greedy else ""
            usable, label = model_label(greedy, ref.solution, ref.answer)
            if usable and greedy.strip():
                items.append(Item("model", ref.problem, greedy, label, i))
    for problem, solution, label in hand:
        items.append(Item("plan", problem, solution, label, texts.index(problem)))
    preds = []
    for item in items:
        prm, _ = prm_step_scores(solver, item.problem, split_work(item.solution))
        preds.append(predictions(item, samples_of.get(item.source), prm))
    solver.close()
    right_model = sum(i.kind == "model" and i.label is None for i in items)
    print(f"{args.model}, {len(problems)} held-out problems (+{len(hand)} hand-written wrong plans), N={args.samples} "
          f"samples each, reward model: {args.reward_model}; {len(items)} labelled solutions "
          f"({right_model} of the model's own are right, counted with the right ones); "
          f"{time.perf_counter() - started:.0f} s\n")
    print(table([Item("right" if i.label is None else i.kind, i.problem, i.solution, i.label, i.source) for i in items],
                preds))
    if args.json:
        args.json.write_text(json.dumps([{**i.__dict__, "predictions": p} for i, p in zip(items, preds)], indent=1))


if __name__ == "__main__":
    main()
