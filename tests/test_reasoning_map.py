"""The reasoning map (`judgements.reasoning_map`): tree properties on generated sample sets (one path
per solution, merged nodes say the same thing, leaves are the vote's clusters, weights add up,
folding keeps them, the same samples give the same tree), the split sentence, step rewards, and
the plain plot data."""

from __future__ import annotations

import copy
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from judgements.answers import majority_vote
from judgements.reasoning_map import MIN_FOLD_STEPS, build_map, plot_data, short_label
from judgements.steps.checker import check_solution, split_steps, step_key
from judgements.solution import Solution

# Ways to say one step `{a} {op} {b} = {c}`; all say the same equation.
PHRASES = [
    "She has ${a} {op} {b} = {c}$ now.",
    "Now she has \\( {a}{op}{b} = {c} \\) left.",
    "That makes {a} {op} {b} = {c}.",
]
OPS = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "\\times": lambda x, y: x * y}
ENDINGS = ["The answer is $\\boxed{{{v}}}$.", "So the answer is $\\boxed{{{v}}}$.", "Therefore, the answer is \\(\\boxed{{{v}}}\\)."]


def number(n: int, thousands: bool) -> str:
    return f"{n:,}" if thousands and abs(n) >= 1000 else str(n)


def write(start: int, plan: list[tuple[str, int]], slips: dict[int, int], rng: random.Random) -> tuple[str, str]:
    """A solution of `plan` from `start` (a slip at step i adds slips[i] to its result, carried on)."""
    lines, value = [], start
    for i, (op, operand) in enumerate(plan):
        result = OPS[op](value, operand) + slips.get(i, 0)
        phrase = rng.choice(PHRASES)
        thousands = rng.random() < 0.5
        lines.append(phrase.format(a=number(value, thousands), op=op, b=operand, c=number(result, thousands)))
        value = result
    lines.append(rng.choice(ENDINGS).format(v=value))
    return "\n\n".join(lines), str(value)


def sample_set(seed: int, n: int, steps: int = 4, slip_rate: float = 0.4) -> list[Solution]:
    """The greedy solution (row 0, no slip) and `n` samples of one problem, voted on."""
    rng = random.Random(seed)
    start = rng.randint(10, 2000)
    plan = [(rng.choice(list(OPS)), rng.randint(2, 40)) for _ in range(steps)]
    solutions = []
    for row in range(n + 1):
        slips = {}
        if row and rng.random() < slip_rate:
            slips[rng.randrange(steps)] = rng.choice([-10, -1, 1, 10, 100])
        # Some samples wander off into their own steps before answering.
        extra = [("+", rng.randint(1, 9)) for _ in range(rng.choice([0, 0, 0, 3]))] if row else []
        text, answer = write(start, plan + extra, slips, rng)
        solutions.append(Solution(index=row, kind="greedy" if row == 0 else "sampled", text=text, answer=answer))
    vote = majority_vote([s.answer for s in solutions[1:]])
    for s, cluster in zip(solutions[1:], vote.assignments):
        s.cluster = cluster
    return solutions


def check_tree(solutions: list[Solution], fold: bool) -> None:
    tree = build_map(solutions, fold=fold)
    nodes = tree.nodes
    rows = sorted(s.index for s in solutions)
    assert [n.id for n in nodes] == list(range(len(nodes)))
    assert nodes[0].kind == "root" and list(nodes[0].rows) == rows
    # Every solution is exactly one root-to-leaf path, ending in its answer cluster's leaf.
    assert sorted(r for leaf in tree.leaves for r in leaf.rows) == rows
    by_index = {s.index: s for s in solutions}
    for s in solutions:
        path = tree.path(s.index)
        assert path[0] == 0 and not nodes[path[-1]].children
        assert all(s.index in nodes[i].rows for i in path)
        leaf = nodes[path[-1]]
        assert leaf.kind == "answer" and leaf.cluster == tree.clusters[s.index]
        if s.cluster is not None:
            assert leaf.cluster == s.cluster
    for leaf in tree.leaves:
        assert len({tree.clusters[r] for r in leaf.rows}) == 1
    # Weights add up; children are parted, heaviest first.
    for node in nodes:
        if node.children:
            assert node.weight == sum(nodes[c].weight for c in node.children)
            assert sorted(r for c in node.children for r in nodes[c].rows) == sorted(node.rows)
            weights = [nodes[c].weight for c in node.children]
            assert weights == sorted(weights, reverse=True)
            assert all(nodes[c].parent == node.id and nodes[c].depth == node.depth + 1 for c in node.children)
    # Merged nodes say the same thing: every row's step at that depth has the node's key.
    for node in nodes:
        if node.kind == "step":
            for r in node.rows:
                step = split_steps(by_index[r].text)[node.depth - 1]
                assert step_key(step.text) == node.key
        if node.kind == "fold":
            assert node.weight == 1 and len(node.folded) >= MIN_FOLD_STEPS
            assert node.text == f"+{len(node.folded)} more steps"
    # Splits part the reference cluster's rows from the others.
    for split in tree.splits:
        assert all(any(tree.clusters[r] == tree.reference for r in nodes[c].rows) for c in split.right)
        assert all(all(tree.clusters[r] != tree.reference for r in nodes[c].rows) for c in split.wrong)
        assert split.sentence.startswith("the paths split here: ")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.integers(1, 16), st.integers(1, 5))
def test_tree_properties_on_generated_sample_sets(seed, n, steps):
    solutions = sample_set(seed, n, steps)
    check_tree(solutions, fold=False)
    check_tree(solutions, fold=True)


def test_the_same_samples_give_the_same_tree():
    solutions = sample_set(7, 12)
    first = plot_data(build_map(solutions))
    again = plot_data(build_map(copy.deepcopy(solutions)))
    assert first == again
    # Given in another order, the same solutions (by index) make the same tree.
    shuffled = solutions[:]
    random.Random(3).shuffle(shuffled)
    assert plot_data(build_map(shuffled)) == first


def test_folding_keeps_weights_and_leaves_and_shortens_tails():
    solutions = sample_set(11, 64, steps=5, slip_rate=0.6)
    folded, unfolded = build_map(solutions), build_map(solutions, fold=False)
    leaves = lambda tree: sorted((leaf.cluster, leaf.rows) for leaf in tree.leaves)
    assert leaves(folded) == leaves(unfolded)
    assert folded.nodes[0].weight == unfolded.nodes[0].weight == 65
    assert len(folded.nodes) < len(unfolded.nodes)
    assert any(n.kind == "fold" for n in folded.nodes)
    # Below a single-solution step, at most MIN_FOLD_STEPS - 1 more steps stay unfolded.
    for node in folded.nodes:
        if node.kind == "step" and node.weight == 1 and folded.nodes[node.parent].weight > 1:
            chain, current = 0, node
            while current.children and folded.nodes[current.children[0]].kind == "step":
                current = folded.nodes[current.children[0]]
                chain += 1
            assert chain < MIN_FOLD_STEPS


def test_a_greedy_solution_outside_the_vote_joins_the_cluster_of_its_answer():
    solutions = sample_set(5, 6, slip_rate=0.0)
    assert solutions[0].cluster is None
    tree = build_map(solutions)
    assert tree.clusters[0] == solutions[1].cluster == 0
    assert len(tree.leaves) >= 1 and all(leaf.cluster == 0 for leaf in tree.leaves)


def solution(index: int, text: str, answer: str, cluster: int | None, rewards: list[float] | None = None) -> Solution:
    return Solution(index=index, kind="sampled", text=text, answer=answer, cluster=cluster, step_rewards=rewards)


def slip_set() -> list[Solution]:
    right = "A baker makes $14 \\times 12 = 168$ muffins.\n\nShe has $168 - 150 = 18$ left.\n\nThe answer is $\\boxed{18}$."
    wrong = "A baker makes $14 \\times 12 = 158$ muffins.\n\nShe has $158 - 150 = 8$ left.\n\nThe answer is $\\boxed{8}$."
    spaced = right.replace("14 \\times 12 = 168", "14\\times 12=168").replace("A baker makes", "There are")
    return (
        [solution(i, right, "18", 0, [0.9, 0.8, 0.9]) for i in range(1, 5)]
        + [solution(5, spaced, "18", 0, [0.5, 0.6, 0.7])]
        + [solution(i, wrong, "8", 1, [0.2, 0.9, 0.9]) for i in range(6, 9)]
    )


def test_the_split_says_where_the_wrong_answer_leaves_the_majority():
    tree = build_map(slip_set())
    [split] = tree.splits
    assert split.node == 0
    assert split.sentence == "the paths split here: 5 say `14 \\times 12 = 168`, 3 say `= 158`"
    right, wrong = tree.nodes[split.right[0]], tree.nodes[split.wrong[0]]
    assert right.weight == 5 and right.reward == pytest.approx((0.9 * 4 + 0.5) / 5)
    assert wrong.weight == 3 and wrong.reward == pytest.approx(0.2)
    assert [c.text for c in wrong.wrong] == ["14 \\times 12 = 158"] and wrong.wrong[0].right == "168"
    assert not right.wrong


def test_a_cluster_marked_right_moves_the_reference():
    tree = build_map(slip_set(), right_cluster=1)
    assert tree.reference == 1
    [split] = tree.splits
    assert split.sentence == "the paths split here: 3 say `14 \\times 12 = 158`, 5 say `= 168`"


def test_checks_given_are_used_and_must_match():
    solutions = slip_set()
    checks = [check_solution(s.text) for s in solutions]
    assert plot_data(build_map(solutions, checks=checks)) == plot_data(build_map(solutions))
    try:
        build_map(solutions, checks=checks[:-1])
    except ValueError as exc:
        assert "checks" in str(exc)
    else:
        raise AssertionError("a short list of checks was accepted")


def test_plot_data_is_plain_and_lays_leaves_in_lanes():
    tree = build_map(sample_set(2, 10))
    data = plot_data(tree)
    json.dumps(data)  # plain data only
    nodes = data["nodes"]
    assert len(data["edges"]) == len(nodes) - 1
    assert all(n["x"] == tree.nodes[n["id"]].depth for n in nodes)
    leaf_lanes = [n["y"] for n in nodes if not tree.nodes[n["id"]].children]
    assert sorted(leaf_lanes) == list(range(len(leaf_lanes)))
    for node in tree.nodes:
        if node.children:
            assert nodes[node.id]["y"] == nodes[node.children[0]]["y"]
    assert {s["node"] for s in data["splits"]} == {n["id"] for n in nodes if n["split"]}


def test_text_stays_raw_text_for_the_renderer_to_escape():
    evil = "She has $3 + 4 = 7$ <script>alert(1)</script> apples.\n\nThe answer is $\\boxed{7}$."
    tree = build_map([solution(1, evil, "7", 0), solution(2, evil, "7", 0)])
    hover = plot_data(tree)["nodes"][1]["hover"]
    assert "<script>alert(1)</script>" in hover
    assert short_label(tree.nodes[1]) == "3 + 4 = 7"


def test_no_answers_no_splits():
    solutions = [Solution(index=i, kind="sampled", text=f"Step {i}.\n\nNo idea.") for i in range(1, 4)]
    tree = build_map(solutions)
    assert tree.reference is None and tree.splits == []
    assert all(leaf.cluster is None for leaf in tree.leaves)
    assert build_map([]).nodes[0].weight == 0
