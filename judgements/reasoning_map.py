"""Where the solutions part ways: the greedy solution and the N samples as one tree of steps.

`build_map(solutions)` splits every solution into steps (`judgements.steps.checker.split_steps`) and lays
them into a tree from one root: solutions share a node while their steps say the same thing
(`judgements.steps.checker.step_key`: the same text after normalising spacing, `\\left`/`\\right` and number
formatting, or, for a step with an equation, the same equation), and part at the first step
where they differ. Each solution's path ends in a leaf for its answer cluster
(`Solution.cluster`, the position in `Vote.clusters`, coloured as in the vote histogram).
A node carries the rows through it (`Solution.index`), the wrong claims the step checker found
in its step, and the mean step reward over its rows when a process reward model scored them.

The splits are where solutions ending in other clusters leave those ending in the reference
cluster (the majority's, or one a person marked right): "the paths split here: 5 say
`14 \\times 12 = 168`, 3 say `= 158`". For legibility at N = 64 a path's tail that only one
solution takes is folded after its first step into one node ("+7 more steps"), whose texts
stay on the node for a hover.

Deterministic: children are ordered by weight (heaviest first), then by their first row; the
same solutions give the same tree. `plot_data` turns the tree into plain lists (x = depth,
y = lane, weight, colour = cluster, short label, full text) for any figure library; nothing
here knows one. The tree's shape (`MapNode`, `Split`, `ReasoningMap`, their dict form for the
log) is `judgements.map_data`; `with_reference` measures a stored tree's splits again against
an answer a person marked right, without reading a step again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import TYPE_CHECKING, Any

from judgements.map_data import Branch, MapNode, NodeKind, ReasoningMap, Split
from judgements.steps.checker import (
    Claim,
    SolutionCheck,
    check_solution,
    equations,
    normalize_step,
    step_key,
)

if TYPE_CHECKING:
    from judgements.solution import Solution

LABEL_CHARS = 48
"""Longest short label of a node; the full text is kept for the hover."""

MIN_FOLD_STEPS = 2
"""A single-solution tail folds when at least this many steps follow its first one."""

SHOWN_WRONG_BRANCHES = 3
"""Leaving branches named in a split's sentence; the rest are counted."""


@dataclass
class _Draft:
    """A node while the tree grows (children by key, in order of first arrival)."""

    kind: NodeKind
    key: str
    text: str
    rows: list[int] = field(default_factory=list)
    children: dict[str, _Draft] = field(default_factory=dict)
    wrong: tuple[Claim, ...] = ()
    rewards: list[float] = field(default_factory=list)
    folded: tuple[str, ...] = ()


def _clusters(solutions: Sequence[Solution]) -> dict[int, int | None]:
    """Each row's answer cluster; a row outside the vote (greedy) joins the cluster of a
    voted row with the same normalised answer."""
    from judgements.answers import normalize_answer

    by_answer: dict[str, int] = {}
    for s in solutions:
        if s.cluster is not None and s.answer:
            by_answer.setdefault(normalize_answer(s.answer), s.cluster)
    return {
        s.index: s.cluster if s.cluster is not None else (by_answer.get(normalize_answer(s.answer)) if s.answer else None)
        for s in solutions
    }


def _step_reward(solution: Solution, paragraph: int) -> float | None:
    rewards = solution.step_rewards
    return float(rewards[paragraph]) if rewards is not None and paragraph < len(rewards) else None


def _grow(solutions: Sequence[Solution], checks: Sequence[SolutionCheck], clusters: dict[int, int | None]) -> _Draft:
    root = _Draft("root", "", "")
    for solution, check in sorted(zip(solutions, checks), key=lambda pair: pair[0].index):
        node = root
        node.rows.append(solution.index)
        wrong_by_step: dict[int, list[Claim]] = {}
        for claim in check.wrong:
            wrong_by_step.setdefault(claim.step, []).append(claim)
        for step in check.steps:
            key = step_key(step.text)
            if key not in node.children:
                node.children[key] = _Draft("step", key, step.text, wrong=tuple(wrong_by_step.get(step.index, ())))
            node = node.children[key]
            node.rows.append(solution.index)
            reward = _step_reward(solution, step.paragraph)
            if reward is not None:
                node.rewards.append(reward)
        cluster = clusters.get(solution.index)
        answer = "" if cluster is not None else normalize_step(solution.answer or "")
        key = f"answer:{cluster}" if cluster is not None else f"answer:none:{answer}"
        if key not in node.children:
            node.children[key] = _Draft("answer", key, solution.answer or "no answer")
        node.children[key].rows.append(solution.index)
    return root


def _fold(root: _Draft) -> None:
    """Fold every single-row tail after its first step into one node, in place."""
    stack = [root]
    while stack:
        node = stack.pop()
        for child in node.children.values():
            if len(child.rows) == 1 and child.kind == "step":
                chain, tail = [], child
                while len(tail.children) == 1:
                    nxt = next(iter(tail.children.values()))
                    if nxt.kind != "step":
                        break
                    chain.append(nxt)
                    tail = nxt
                if len(chain) >= MIN_FOLD_STEPS:
                    end = next(iter(chain[-1].children.values()))
                    child.children = {
                        "fold": _Draft(
                            "fold", "fold", f"+{len(chain)} more steps", list(child.rows), {end.key: end},
                            wrong=tuple(c for n in chain for c in n.wrong),
                            rewards=[r for n in chain for r in n.rewards],
                            folded=tuple(n.text for n in chain),
                        )
                    }
                    continue
            stack.append(child)


def _freeze(root: _Draft, clusters: dict[int, int | None]) -> list[MapNode]:
    """Number the nodes depth-first, heaviest child first (ties: the lowest first row)."""
    nodes: list[MapNode] = []
    stack: list[tuple[_Draft, int | None, int]] = [(root, None, 0)]
    while stack:
        draft, parent, depth = stack.pop()
        ends = {clusters.get(r) for r in draft.rows}
        node = MapNode(
            id=len(nodes), parent=parent, depth=depth, kind=draft.kind, key=draft.key, text=draft.text,
            rows=tuple(sorted(draft.rows)), wrong=draft.wrong,
            reward=fmean(draft.rewards) if draft.rewards else None,
            cluster=next(iter(ends)) if len(ends) == 1 else None, folded=draft.folded,
        )
        node.label, node.label_formula = _label(node)
        nodes.append(node)
        if parent is not None:
            nodes[parent].children.append(node.id)
        ordered = sorted(draft.children.values(), key=lambda c: (-len(c.rows), min(c.rows)))
        stack.extend((child, node.id, depth + 1) for child in reversed(ordered))
    return nodes


def _reference(clusters: dict[int, int | None], right_cluster: int | None) -> int | None:
    if right_cluster is not None:
        return right_cluster
    counts = Counter(c for c in clusters.values() if c is not None)
    if not counts:
        return None
    return 0 if 0 in counts else min(counts, key=lambda c: (-counts[c], c))


def short_label(node: MapNode) -> str:
    """A node's few words: its first claim, its answer, `+k more steps`, or its opening text."""
    return _label(node)[0]


def _label(node: MapNode) -> tuple[str, bool]:
    """(the node's short label, whether it is the step's first equation as written)."""
    if node.kind == "answer":
        return f"→ {node.text}", False
    if node.kind in ("fold", "root"):
        return node.text or "problem", False
    found = equations(node.text, written=True) if node.kind == "step" else ()
    text = " ".join(node.text.split()) if not found else found[0]
    shown = text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
    return shown, bool(found) and shown == found[0]


def _said(node: MapNode, against: MapNode | None) -> Branch:
    """What a branch says, shortened to `= 158` when it shares its left side with `against`."""
    mine = equations(node.text) if node.kind == "step" else ()
    if mine and against is not None and against.kind == "step":
        theirs = equations(against.text)
        shown = equations(node.text, written=True)
        for a, b, text in zip(mine, theirs, shown):
            if a != b:
                left, sep, _ = a.partition("=")
                if sep and left == b.partition("=")[0]:
                    return Branch(node.id, node.weight, "= " + text.partition("=")[2].strip(), True)
                return Branch(node.id, node.weight, text, True)
    label = short_label(node)
    return Branch(node.id, node.weight, label, bool(mine) and label == equations(node.text, written=True)[0])


def _splits(nodes: list[MapNode], clusters: dict[int, int | None], reference: int | None) -> list[Split]:
    if reference is None:
        return []
    splits = []
    for node in nodes:
        if len(node.children) < 2:
            continue
        right = [c for c in node.children if any(clusters.get(r) == reference for r in nodes[c].rows)]
        wrong = [c for c in node.children if c not in right]
        if not right or not wrong:
            continue
        main = nodes[right[0]]
        branches = [_said(main, None)] + [_said(nodes[c], main) for c in wrong[:SHOWN_WRONG_BRANCHES]]
        parts = [f"{b.weight} say `{b.says}`" for b in branches]
        if len(wrong) > SHOWN_WRONG_BRANCHES:
            parts.append(f"{sum(nodes[c].weight for c in wrong[SHOWN_WRONG_BRANCHES:])} more take other steps")
        sentence = "the paths split here: " + ", ".join(parts)
        splits.append(Split(node.id, tuple(right), tuple(wrong), sentence, tuple(branches)))
    return splits


def build_map(
    solutions: Sequence[Solution],
    *,
    right_cluster: int | None = None,
    checks: Sequence[SolutionCheck] | None = None,
    fold: bool = True,
) -> ReasoningMap:
    """The tree of the given solutions (greedy and samples, any order; `Solution.index` names
    them). `right_cluster`: the cluster a person marked right, else the majority's (cluster
    0). `checks`: `check_solution` of each solution, computed when not given. `fold`: fold
    single-solution tails."""
    if checks is None:
        checks = [check_solution(s.text) for s in solutions]
    if len(checks) != len(solutions):
        raise ValueError(f"{len(checks)} checks for {len(solutions)} solutions")
    if len({s.index for s in solutions}) != len(solutions):
        raise ValueError("two solutions share an index")
    clusters = _clusters(solutions)
    root = _grow(solutions, checks, clusters)
    if fold:
        _fold(root)
    nodes = _freeze(root, clusters)
    reference = _reference(clusters, right_cluster)
    return ReasoningMap(nodes, _splits(nodes, clusters, reference), reference, clusters)


def with_reference(tree: ReasoningMap, right_cluster: int | None) -> ReasoningMap:
    """The same tree with its splits measured against `right_cluster` (the cluster of an answer
    a person marked right; None: the majority's), from the stored nodes: no step is read again."""
    reference = _reference(tree.clusters, right_cluster)
    if reference == tree.reference:
        return tree
    return ReasoningMap(tree.nodes, _splits(tree.nodes, tree.clusters, reference), reference, tree.clusters)


def _lanes(tree: ReasoningMap) -> dict[int, int]:
    """Leaves take lanes 0, 1, 2, ... depth-first; a node sits in its heaviest child's lane."""
    leaves = [n.id for n in tree.nodes if not n.children]
    lanes = {leaf: lane for lane, leaf in enumerate(leaves)}
    for node in reversed(tree.nodes):  # a node's children are numbered after it
        if node.children:
            lanes[node.id] = lanes[node.children[0]]
    return lanes


def hover_text(node: MapNode) -> str:
    """The full text of a node for a hover or a click: its step(s), wrong claims, reward, rows."""
    parts = ["\n\n".join(node.folded) if node.folded else node.text]
    parts += [f"wrong: {c.text} (should be {c.right})" for c in node.wrong]
    if node.reward is not None:
        parts.append(f"step reward {node.reward:.2f}")
    parts.append(f"{node.weight} solution{'s' if node.weight != 1 else ''}: rows {', '.join(map(str, node.rows))}")
    return "\n".join(p for p in parts if p)


def plot_data(tree: ReasoningMap) -> dict[str, list[dict[str, Any]]]:
    """Plain lists for a figure: `nodes` (id, x = depth, y = lane, weight, colour = cluster or
    None for mixed, label, hover, kind, wrong, right values, reward, split, rows: row 0 is the
    greedy solution), `edges` (source, target, weight, colour) and `splits` (node, sentence).
    Text is raw: the renderer escapes it."""
    lanes = _lanes(tree)
    split_nodes = {s.node for s in tree.splits}
    nodes = [
        {
            "id": n.id, "x": n.depth, "y": lanes[n.id], "weight": n.weight, "colour": n.cluster,
            "label": short_label(n), "hover": hover_text(n), "kind": n.kind, "wrong": bool(n.wrong),
            "right_values": [c.right for c in n.wrong], "reward": n.reward, "split": n.id in split_nodes,
            "rows": list(n.rows),
        }
        for n in tree.nodes
    ]
    edges = [
        {"source": n.parent, "target": n.id, "weight": n.weight, "colour": n.cluster}
        for n in tree.nodes
        if n.parent is not None
    ]
    splits = [{"node": s.node, "sentence": s.sentence} for s in tree.splits]
    return {"nodes": nodes, "edges": edges, "splits": splits}


__all__ = [
    "Branch",
    "MapNode",
    "NodeKind",
    "ReasoningMap",
    "Split",
    "build_map",
    "hover_text",
    "plot_data",
    "short_label",
    "with_reference",
]
