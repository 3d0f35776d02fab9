"""The "Where the solutions part ways" panel: the reasoning map of a finished run, as words and
as a figure, for Solve, History replay and the Teacher trace.

`model.reasoning_map.build_map` lays the greedy solution and the samples into one tree of
steps; this module writes its splits as sentences (each claim typeset by `ui.stepmarks`, every
piece of model text through `ui.render`, nothing from the model as HTML), lists the full text
of the steps at each split in an accordion (a PNG has no hover), and draws the tree with
matplotlib's object-oriented API (`Figure`, never `pyplot`: safe from Gradio's worker threads),
once per finished run.

The figure, left to right: the problem, the steps, the answers in one column at the right.
A node's area is the number of solutions through it, its colour their answer cluster (the
vote chart's palette; dark grey where they still end in different answers). Runs of steps that
every solution through them shares are drawn as one edge with a small dot per step;
single-solution tails arrive folded ("+k more steps"). A step the checker found wrong has a red ring and its
right value; a step reward (with a process reward model) is printed under its node; a split
has a yellow halo and its number. Labels are plain text (`ui.plots.plain_label`: no `$`, so
matplotlib's mathtext never starts; `usetex` off), so model text cannot become markup here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure

from model.reasoning_map import MapNode, ReasoningMap, Split, build_map, short_label
from model.steps import equations
from model.types import Solution
from ui.plots import plain_label
from ui.render import (
    NO_ANSWER_COLOUR,
    cluster_colour,
    escape_text,
    inline_math,
    math_markdown,
)
from ui.stepmarks import claim_math, solution_check
from ui.views import RunView

TITLE = "### Where the solutions part ways"
MIXED_COLOUR = "#374151"  # a node whose solutions still end in different answers
WRONG_COLOUR = "#dc2626"
SPLIT_HALO = "#fde047"
SHOWN_SPLITS = 6
"""Splits written out in the panel (heaviest first); the figure marks every one."""
FULL_TEXT_CHARS = 4_000
"""Longest step text in the accordion (the card holds the whole solution)."""


@dataclass
class Panel:
    """What the panel shows for one run: the words, the figure, and the map behind both."""

    markdown: str
    figure: Figure | None
    tree: ReasoningMap | None


def map_solutions(greedy: Solution | None, samples: Sequence[Solution]) -> list[Solution]:
    """The finished solutions a map is drawn from: the greedy one (row 0) and the samples."""
    rows = ([greedy] if greedy is not None else []) + list(samples)
    return [s for s in rows if s.finished]


def reference_cluster(samples: Sequence[Solution], right_answer: str | None) -> int | None:
    """The cluster of the samples whose answer is `right_answer` (feedback's correct answer);
    None when there is none, and the map measures against the majority."""
    if not right_answer or not right_answer.strip():
        return None
    from model.answers import equivalent

    for sample in samples:
        if sample.cluster is not None and sample.answer and equivalent(sample.answer, right_answer):
            return sample.cluster
    return None


def run_row_name(index: int) -> str:
    """A solution of one run: the greedy one is row 0, sample k is #k."""
    return "greedy" if index == 0 else f"#{index}"


def reasoning_panel(greedy: Solution | None, samples: Sequence[Solution], *, right_answer: str | None = None,
                    heading: str = TITLE, row_name: Callable[[int], str] = run_row_name,
                    who: str = "the greedy one and the samples") -> Panel | None:
    """The panel of a finished run with at least one sample (None otherwise); `row_name` names
    a solution by its index in the accordion; `who` says whose solutions they are."""
    rows = map_solutions(greedy, samples)
    if not samples or not any(s.kind == "sampled" for s in rows):
        return None
    checks = [solution_check(s.text) for s in rows]
    right = reference_cluster(samples, right_answer)
    tree = build_map(rows, right_cluster=right, checks=checks)
    note = ""
    if right_answer and right is None:
        note = f"No solution reached the answer marked right ({inline_math(right_answer)}); the splits are measured against the majority."
    return Panel(panel_markdown(tree, note=note, heading=heading, row_name=row_name, who=who), map_figure(tree), tree)


def panel_updates(view: RunView, *, right_answer: str | None = None) -> list[Any]:
    """The panel's two components (words, figure) for a run: hidden until it has finished
    with a vote, so a new solve clears the last one's map."""
    import gradio as gr

    panel = reasoning_panel(view.greedy, view.samples, right_answer=right_answer) if view.finished and view.vote else None
    if panel is None:
        return [gr.update(value="", visible=False), gr.update(value=None, visible=False)]
    return [gr.update(value=panel.markdown, visible=True), gr.update(value=panel.figure, visible=True)]


# ------------------------------------------------------------------------ words


def branch_markdown(tree: ReasoningMap, node: MapNode, says: str, formula: bool) -> str:
    """What one branch says, typeset: a claim as a formula, an answer boxed, text as text."""
    if node.kind == "answer":
        return f"→ {inline_math(node.text)}"
    if formula:
        return claim_math(says)
    return escape_text(says)


def label_markdown(node: MapNode) -> str:
    """A node's short label on the page: its first claim typeset, or its opening words."""
    label = short_label(node)
    found = equations(node.text, written=True) if node.kind == "step" else ()
    if found and label == found[0]:
        return claim_math(label)
    return math_markdown(label)


def _chip(cluster: int | None) -> str:
    css = f"c{cluster}" if cluster is not None and cluster < 10 else "cnone"
    return f"<span class='chip {css}'></span>"


def _ends(tree: ReasoningMap, node: MapNode) -> str:
    """Where a branch's solutions end: `→ 7` or `→ 7, 9`."""
    answers = []
    for leaf in tree.leaves:
        if set(leaf.rows) & set(node.rows) and leaf.text not in answers:
            answers.append(leaf.text)
    return ", ".join(inline_math(a) if a != "no answer" else "no answer" for a in answers[:4]) + (
        ", …" if len(answers) > 4 else "")


def split_markdown(tree: ReasoningMap, number: int, split: Split) -> str:
    """One split as a sentence: after which step, how many say what, and where they end."""
    at = tree.nodes[split.node]
    where = "At the first step" if at.kind == "root" else f"After “{label_markdown(at)}”"
    parts = []
    for branch in split.branches:
        node = tree.nodes[branch.node]
        said = branch_markdown(tree, node, branch.says, branch.formula)
        verb = "says" if branch.weight == 1 else "say"
        parts.append(f"{_chip(node.cluster)} {branch.weight} {verb} {said} (→ {_ends(tree, node)})")
    shown = {b.node for b in split.branches}
    rest = sum(tree.nodes[c].weight for c in split.wrong if c not in shown)
    if rest:
        parts.append(f"{rest} more take other steps")
    return f"**Split {number}.** {where}, the paths split: " + "; ".join(parts) + "."


def _full_text(tree: ReasoningMap, node: MapNode, row_name: Callable[[int], str]) -> str:
    text = "\n\n".join(node.folded) if node.folded else node.text
    if len(text) > FULL_TEXT_CHARS:
        text = text[:FULL_TEXT_CHARS] + " …"
    rows = ", ".join(row_name(r) for r in node.rows[:40]) + (f", and {len(node.rows) - 40} more" if len(node.rows) > 40 else "")
    lines = [f"{_chip(node.cluster)} **{node.weight} solution{'s' if node.weight != 1 else ''}** ({rows})"]
    body = math_markdown(text) if node.kind != "answer" else f"answer {inline_math(node.text)}"
    lines.append(f"<div class='map-step'>\n\n{body}\n\n</div>")
    for claim in node.wrong:
        right = inline_math(claim.right) if claim.right else "something else"
        lines.append(f"<div class='slip'>⚠ {claim_math(claim.text)} should be {right}</div>")
    if node.reward is not None:
        lines.append(f"<div class='note'>step reward {node.reward:.2f}</div>")
    return "\n\n".join(lines)


def ranked_splits(tree: ReasoningMap) -> list[tuple[int, Split]]:
    """The splits numbered 1, 2, ... heaviest first (then in tree order), as the words and the
    figure both name them."""
    order = sorted(tree.splits, key=lambda s: -tree.nodes[s.node].weight)  # stable: tree order breaks ties
    return list(enumerate(order, 1))


def panel_markdown(tree: ReasoningMap, *, note: str = "", heading: str = TITLE,
                   row_name: Callable[[int], str] = run_row_name, who: str = "the greedy one and the samples") -> str:
    """The panel's words: a line on how to read the map, the splits, their steps in full."""
    solutions = tree.nodes[0].weight
    wrong_nodes = sum(1 for n in tree.nodes if n.wrong)
    parts = [heading]
    intro = (f"{solutions} solutions ({who}) as one tree of steps: they share a "
             "node while they say the same thing. Node size = solutions through it; colour = their answer.")
    if wrong_nodes:
        intro += f" {wrong_nodes} step{'s' if wrong_nodes != 1 else ''} with a wrong calculation (red ring)."
    parts.append(intro)
    if note:
        parts.append(f"<div class='note'>{note}</div>")
    ranked = ranked_splits(tree)
    if not tree.splits:
        answers = {tree.clusters.get(r) for r in tree.nodes[0].rows}
        parts.append("Every solution reaches the same answer: the paths never part toward another one."
                     if len(answers) == 1 else "No split against the majority's answer to show.")
    for number, split in ranked[:SHOWN_SPLITS]:
        parts.append(split_markdown(tree, number, split))
    if len(tree.splits) > SHOWN_SPLITS:
        parts.append(f"and {len(tree.splits) - SHOWN_SPLITS} smaller splits (on the map).")
    if ranked:
        full = []
        for number, split in ranked[:SHOWN_SPLITS]:
            full.append(f"**Split {number}**")
            full += [_full_text(tree, tree.nodes[c], row_name) for c in (*split.right, *split.wrong)][:8]
        parts.append("<details class='map-steps'><summary>The steps at each split, in full</summary>\n\n"
                     + "\n\n".join(full) + "\n\n</details>")
    return "\n\n".join(parts)


# ------------------------------------------------------------------------ figure


def _shown(tree: ReasoningMap) -> set[int]:
    """Nodes the figure draws: the root, branch points and their children, folds, answers,
    wrong steps and splits; the rest sit inside a shared run of steps."""
    split_nodes = {s.node for s in tree.splits}
    shown = set()
    for node in tree.nodes:
        parent = tree.nodes[node.parent] if node.parent is not None else None
        if (node.kind != "step" or len(node.children) != 1 or node.wrong or node.id in split_nodes
                or parent is None or len(parent.children) != 1 or parent.kind == "root"):
            shown.add(node.id)
    return shown


def _colour(tree: ReasoningMap, node: MapNode) -> str:
    if node.cluster is not None:
        return cluster_colour(node.cluster)
    ends = {tree.clusters.get(r) for r in node.rows}
    return NO_ANSWER_COLOUR if ends == {None} else MIXED_COLOUR


def _layout(tree: ReasoningMap) -> tuple[dict[int, tuple[float, float]], dict[int, tuple[int, int]], int]:
    """(x, y) of every drawn node, the (parent shown, hidden steps) of each, and the lanes."""
    shown = _shown(tree)
    leaves = [n.id for n in tree.nodes if not n.children]
    lane = {leaf: i for i, leaf in enumerate(leaves)}
    for node in reversed(tree.nodes):  # a node sits in its heaviest child's lane
        if node.children:
            lane[node.id] = lane[node.children[0]]
    column: dict[int, int] = {}
    link: dict[int, tuple[int, int]] = {}
    for node in tree.nodes:  # parents come first
        if node.parent is None:
            column[node.id] = 0
            continue
        above, hidden = node.parent, 0
        while above not in shown:
            hidden += 1
            above = tree.nodes[above].parent  # type: ignore[assignment]
        if node.id in shown:
            column[node.id] = column[above] + 1
            link[node.id] = (above, hidden)
    last = max((c for i, c in column.items() if tree.nodes[i].kind != "answer"), default=0) + 1
    position = {i: (float(last if tree.nodes[i].kind == "answer" else c), float(lane[i])) for i, c in column.items()}
    return position, link, len(leaves)


def _text(axes: Any, x: float, y: float, text: str, **kwargs: Any) -> None:
    """Plain text on the figure: never mathtext, never TeX, no control characters."""
    shown = "".join(ch for ch in text if ch.isprintable()).replace("$", "")
    axes.annotate(shown, (x, y), textcoords="offset points", usetex=False, annotation_clip=False,
                  **kwargs)


def map_figure(tree: ReasoningMap) -> Figure:
    """The tree as a picture, left to right (see the module docstring). One artist per kind of
    mark (edges, dots, halos, nodes) and fixed margins: drawing a map of 65 solutions costs
    a fraction of a second, not one `scatter` and a layout pass per node."""
    from matplotlib.collections import LineCollection

    position, link, lanes = _layout(tree)
    total = max(tree.nodes[0].weight, 1)
    columns = max(x for x, _ in position.values()) + 1
    width = min(14.0, max(8.0, 1.55 * columns + 1.5))
    height = 1.1 + (0.34 if lanes <= 16 else 0.27) * max(lanes, 2)
    figure = Figure(figsize=(width, height), dpi=100)
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.2 / height, top=1 - 0.45 / height)
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.set_xlim(-0.35, columns - 1 + 1.25)
    axes.set_ylim(max(lanes, 2) - 0.5, -0.9)
    chars = max(10, min(36, int((width / (columns + 0.6)) * 72 / 4.1)))
    small = lanes > 16
    font = 6.5 if small else 7.5
    lift = 2 if small else 4  # points between a lane's line and its texts
    splits = {s.node: number for number, s in ranked_splits(tree)}

    edges, edge_colours, edge_widths, dots, dot_colours = [], [], [], [], []
    for node_id, (parent, hidden) in link.items():
        node = tree.nodes[node_id]
        (x0, y0), (x1, y1) = position[parent], position[node_id]
        bend = x0 + 0.25 if y1 != y0 else x0
        edges.append([(x0, y0), (bend, y1), (x1, y1)])
        edge_colours.append(_colour(tree, node))
        edge_widths.append(0.8 + 5.0 * node.weight / total)
        shown = min(hidden, 8)  # one small dot per step the edge stands for
        dots += [(bend + (x1 - bend) * (i + 1) / (shown + 1), y1) for i in range(shown)]
        dot_colours += [_colour(tree, node)] * shown
    axes.add_collection(LineCollection(edges, colors=edge_colours, linewidths=edge_widths, alpha=0.75,
                                       capstyle="round", zorder=1))
    if dots:
        axes.scatter(*zip(*dots), s=9, color="white", edgecolors=dot_colours, linewidths=0.8, zorder=2)

    ids = list(position)
    sizes = [24 + 420 * tree.nodes[i].weight / total for i in ids]
    halos = [(position[i], size) for i, size in zip(ids, sizes) if i in splits]
    if halos:
        axes.scatter([xy[0] for xy, _ in halos], [xy[1] for xy, _ in halos], s=[size * 2.6 + 90 for _, size in halos],
                     color=SPLIT_HALO, linewidths=0, zorder=2)
    axes.scatter([position[i][0] for i in ids], [position[i][1] for i in ids], s=sizes, zorder=3,
                 color=[_colour(tree, tree.nodes[i]) for i in ids],
                 edgecolors=[WRONG_COLOUR if tree.nodes[i].wrong else "white" for i in ids],
                 linewidths=[2.2 if tree.nodes[i].wrong else 0.8 for i in ids])

    for node_id, size in zip(ids, sizes):
        node = tree.nodes[node_id]
        x, y = position[node_id]
        reach = size ** 0.5 / 2 + 2  # points from the centre to just past the marker's edge
        if node_id in splits:
            _text(axes, x, y, f"split {splits[node_id]}", xytext=(-reach, -reach), ha="right", va="top", fontsize=font,
                  fontweight="bold", color="#854d0e")
        if node.kind == "answer":
            label = f"→ {plain_label(node.text, 24)}  ({node.weight})"
            _text(axes, x, y, label, xytext=(reach + 2, 0), ha="left", va="center", fontsize=font + 1,
                  fontweight="bold", color=_colour(tree, node))
            continue
        label = "problem" if node.kind == "root" else plain_label(short_label(node), chars)
        _text(axes, x, y, label, xytext=(reach, lift), ha="left", va="bottom", fontsize=font, color="#111827")
        below = []
        if node.wrong:
            below.append("✗ should be " + ", ".join(plain_label(c.right or "?", 16) for c in node.wrong[:2]))
        if node.reward is not None:
            below.append(f"reward {node.reward:.2f}")
        if below:
            _text(axes, x, y, "  ".join(below), xytext=(reach, -lift), ha="left", va="top", fontsize=font - 0.5,
                  color=WRONG_COLOUR if node.wrong else "#4b5563")
    axes.set_title(f"Reasoning map: {total} solutions · node size = solutions through it · small dot = one more "
                   "step · red ring = wrong step", fontsize=9, loc="left", usetex=False)
    return figure


__all__ = [
    "Panel",
    "branch_markdown",
    "label_markdown",
    "map_figure",
    "map_solutions",
    "panel_markdown",
    "panel_updates",
    "reasoning_panel",
    "reference_cluster",
    "split_markdown",
]
