"""The labelled set of bench/check_work.py: slips and wrong plans carried forward with right
arithmetic, labels from the right intermediate values, and the table's counting."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

from training.synthetic import equation_value, solution_equations

REPO = Path(__file__).resolve().parents[1]
RIGHT = ("She puts $20 - 5 = 15$ flowers in bunches.\n\nThat makes $15 \\div 3 = 5$ bunches.\n\n"
         "She makes $5 \\times 7 = 35$ dollars.\n\nHer profit is $35 - 18 = 17$ dollars.\n\nThe answer is $\\boxed{17}$.")


def load():
    spec = importlib.util.spec_from_file_location("bench_check_work", REPO / "bench" / "check_work.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_slips_and_plans_are_labelled_at_their_step_and_carried_forward():
    bench = load()
    for seed in range(20):
        for make, kind in ((bench.slip_item, "slip"), (bench.plan_item, "plan")):
            item = make(0, "p", RIGHT, random.Random(seed))
            if item is None:
                continue
            steps = item.solution.split("\n\n")
            assert item.kind == kind and steps[: item.label] == RIGHT.split("\n\n")[: item.label]
            wrong_arithmetic = [k for k, s in enumerate(steps) for left, written in solution_equations(s)
                                if equation_value(left) != int(written)]
            assert wrong_arithmetic == ([item.label] if kind == "slip" else [])  # later steps are right arithmetic
            assert steps[item.label] != RIGHT.split("\n\n")[item.label]


def test_a_models_solution_is_labelled_from_the_right_values():
    bench = load()
    assert bench.model_label(RIGHT, RIGHT, "17") == (True, None)
    slipped = RIGHT.replace("$35 - 18 = 17$", "$35 - 18 = 7$").replace("\\boxed{17}", "\\boxed{7}")
    assert bench.model_label(slipped, RIGHT, "17") == (True, 3)
    wrong_turn = RIGHT.replace("$35 - 18 = 17$", "$35 + 18 = 53$").replace("\\boxed{17}", "\\boxed{53}")
    assert bench.model_label(wrong_turn, RIGHT, "17") == (True, 3)
    only_answer = RIGHT.replace("\\boxed{17}", "\\boxed{18}")
    assert bench.model_label(only_answer, RIGHT, "17") == (True, 4)
