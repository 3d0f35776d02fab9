"""The "Where the solutions part ways" panel: the reasoning map of a finished run, as words and
as a picture, for Solve, History replay and the Teacher trace.

The map comes with the run's analysis (`judgements.map_data.ReasoningMap`: the Solver built it
once, the log keeps it, the store measures it against feedback's right answer): this module
only draws it. It writes its splits as sentences (each claim typeset by `ui.stepmarks`, every
piece of model text through `ui.render`, nothing from the model as HTML), lists the full text
of the steps at each split in an accordion, and draws the tree as an SVG that it writes itself
(`map_svg`, once per finished run: no drawing library, no PNG for Gradio to rasterise).

The map, left to right: the problem, the steps, the answers in one column at the right.
A node's area is the number of solutions through it, its colour their answer cluster (the
vote chart's palette; dark grey where they still end in different answers). Runs of steps that
every solution through them shares are drawn as one edge with a small dot per step;
single-solution tails arrive folded ("+k more steps"). A step the checker found wrong has a red ring and its
right value; a step reward (with a process reward model) is printed under its node; a split
has a yellow halo and its number. Hovering a node shows its full step text, how many solutions
pass through it and the checker's verdict (an SVG `<title>`, the browser's tooltip). Labels are
plain text (`ui.plots.plain_label`, no `$`) and every piece of model text in the SVG is
character data escaped by `xml_text`, so model text cannot become markup or an attribute.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from judgements.map_data import MapNode, ReasoningMap, Split
from ui.plots import plain_label
from ui.mathtext import escape_text, inline_math, math_markdown
from ui.render import NO_ANSWER_COLOUR, cluster_colour
from ui.stepmarks import NOT_KEPT, claim_math, mark_markdown
from ui.views import RunView

TITLE = "### Where the solutions part ways"
MIXED_COLOUR = "#374151"  # a node whose solutions still end in different answers
WRONG_COLOUR = "#dc2626"
SPLIT_HALO = "#fde047"
SHOWN_SPLITS = 6
"""Splits written out in the panel (heaviest first); the map marks every one."""
FULL_TEXT_CHARS = 4_000
"""Longest step text in the accordion (the card holds the whole solution)."""
TOOLTIP_CHARS = 600
"""Longest step text in a node's hover text on the map."""
PX = 100 / 72
"""The map's units per point: its marks keep the sizes, in points, of the 100-dpi figure it replaced."""


@dataclass
class Panel:
    """What the panel shows for one run: the words, the map's SVG, and the tree behind both."""

    markdown: str
    svg: str | None
    tree: ReasoningMap | None


def run_row_name(index: int) -> str:
    """A solution of one run: the greedy one is row 0, sample k is #k."""
    return "greedy" if index == 0 else f"#{index}"


def reasoning_panel(tree: ReasoningMap, *, right_answer: str | None = None, reached: bool = False,
                    heading: str = TITLE, row_name: Callable[[int], str] = run_row_name,
                    who: str = "the greedy one and the samples") -> Panel:
    """The panel of a run's map; `right_answer`: the answer feedback marked right, which the
    map's splits are measured against when a solution `reached` it (else it is said that none
    did); `row_name` names a solution by its index in the accordion; `who` says whose
    solutions they are."""
    note = ""
    if right_answer and not reached:
        note = f"No solution reached the answer marked right ({inline_math(right_answer)}); the splits are measured against the majority."
    return Panel(panel_markdown(tree, note=note, heading=heading, row_name=row_name, who=who), map_svg(tree), tree)


def panel_updates(view: RunView) -> list[Any]:
    """The panel's two components (words, map) for a run: hidden until it has finished with a
    vote and a map, so a new solve clears the last one's map (shown empty, each would still
    leave a box); for an attempt logged before maps were kept, the words say so."""
    import gradio as gr

    hidden = gr.update(value="", visible=False)
    if not view.finished or not view.vote:
        return [hidden, hidden]
    if view.map is None:
        if view.not_checked and view.samples:
            return [gr.update(value=f"{TITLE}\n\n<div class='note'>{NOT_KEPT}</div>", visible=True), hidden]
        return [hidden, hidden]
    panel = reasoning_panel(view.map, right_answer=view.right_answer, reached=view.reached)
    return [gr.update(value=panel.markdown, visible=True), gr.update(value=panel.svg, visible=True)]


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
    if node.label_formula:
        return claim_math(node.label)
    return math_markdown(node.label)


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
        lines.append(f"<div class='slip'>⚠ {mark_markdown(claim)}</div>")
    if node.reward is not None:
        lines.append(f"<div class='note'>step reward {node.reward:.2f}</div>")
    return "\n\n".join(lines)


def ranked_splits(tree: ReasoningMap) -> list[tuple[int, Split]]:
    """The splits numbered 1, 2, ... heaviest first (then in tree order), as the words and the
    map both name them."""
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


# ------------------------------------------------------------------------ map


def _shown(tree: ReasoningMap) -> set[int]:
    """Nodes the map draws: the root, branch points and their children, folds, answers,
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


def xml_text(text: str, *, lines: bool = False) -> str:
    """Model text as SVG character data: characters XML 1.0 cannot carry (controls, lone
    surrogates, noncharacters) and other unprintables dropped (tab and newline kept with
    `lines`), then `&`, `<`, `>` and both quotes escaped: it can only ever be text."""
    kept = "".join(ch for ch in text if ch.isprintable() or (lines and ch in "\t\n"))
    return html.escape(kept, quote=True)


def _label(x: float, y: float, text: str, size: float, colour: str, *, anchor: str = "start", bold: bool = False) -> str:
    """One line of plain text on the map: no `$`, nothing unprintable, escaped; our own double
    spaces kept (browsers collapse them unless the `<text>` itself says otherwise)."""
    extra = (' font-weight="bold"' if bold else "") + (' style="white-space:pre"' if "  " in text else "")
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:.1f}" fill="{colour}" text-anchor="{anchor}"{extra}>'
            f'{xml_text(text.replace("$", ""))}</text>')


def _tooltip(node: MapNode) -> str:
    """What hovering a node says: its full text (bounded), how many solutions pass through it,
    the checker's verdict on a wrong step, its step reward."""
    through = f"{node.weight} solution{'s pass' if node.weight != 1 else ' passes'} through it"
    if node.kind == "root":
        return f"the problem: {node.weight} solutions start here"
    if node.kind == "answer":
        return f"answer {node.text}: {node.weight} solution{'s end' if node.weight != 1 else ' ends'} here"
    text = "\n\n".join(node.folded) if node.folded else node.text
    if len(text) > TOOLTIP_CHARS:
        text = text[:TOOLTIP_CHARS] + "…"
    lines = [text.strip(), through]
    lines += [f"✗ {claim.text}: {claim.mark()}" for claim in node.wrong]
    if node.reward is not None:
        lines.append(f"step reward {node.reward:.2f}")
    return "\n".join(lines)


def map_svg(tree: ReasoningMap) -> str:
    """The tree as an SVG, left to right (see the module docstring), written here as text: no
    drawing library, and every piece of model text through `xml_text`. Sizes are those of the
    old 100-dpi figure (marks in points, `PX` pixels each); the `viewBox` scales it to the panel."""
    position, link, lanes = _layout(tree)
    total = max(tree.nodes[0].weight, 1)
    columns = max(x for x, _ in position.values()) + 1
    width = 100 * min(14.0, max(8.0, 1.55 * columns + 1.5))
    height = 100 * (1.1 + (0.34 if lanes <= 16 else 0.27) * max(lanes, 2))
    left, right, top, bottom = 0.01 * width, 0.99 * width, 45.0, height - 20.0
    x_low, x_high, y_low, y_high = -0.35, columns - 1 + 1.25, -0.9, max(lanes, 2) - 0.5

    def at(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x_low) / (x_high - x_low) * (right - left),
                top + (y - y_low) / (y_high - y_low) * (bottom - top))

    chars = max(10, min(36, int((width / 100 / (columns + 0.6)) * 72 / 4.1)))
    small = lanes > 16
    font = (6.5 if small else 7.5) * PX
    lift = (2 if small else 4) * PX  # between a lane's line and its texts
    splits = {s.node: number for number, s in ranked_splits(tree)}

    edges, dots, halos, nodes = [], [], [], []
    for node_id, (parent, hidden) in link.items():
        node = tree.nodes[node_id]
        colour = _colour(tree, node)
        (x0, y0), (x1, y1) = position[parent], position[node_id]
        bend = x0 + 0.25 if y1 != y0 else x0
        points = " ".join(f"{u:.1f},{v:.1f}" for u, v in (at(x0, y0), at(bend, y1), at(x1, y1)))
        edges.append(f'<polyline points="{points}" stroke="{colour}" stroke-width="{(0.8 + 5.0 * node.weight / total) * PX:.2f}"/>')
        shown = min(hidden, 8)  # one small dot per step the edge stands for
        for i in range(shown):
            u, v = at(bend + (x1 - bend) * (i + 1) / (shown + 1), y1)
            dots.append(f'<circle cx="{u:.1f}" cy="{v:.1f}" r="{1.5 * PX:.2f}" stroke="{colour}"/>')
    for node_id, (x, y) in position.items():
        node = tree.nodes[node_id]
        colour = _colour(tree, node)
        u, v = at(x, y)
        size = 24 + 420 * node.weight / total  # a marker's area in square points, as `scatter` had it
        reach = (size ** 0.5 / 2 + 2) * PX  # from the centre to just past the marker's edge
        ring = f'stroke="{WRONG_COLOUR}" stroke-width="{2.2 * PX:.2f}"' if node.wrong else f'stroke="white" stroke-width="{0.8 * PX:.2f}"'
        marks = [f"<title>{xml_text(_tooltip(node), lines=True)}</title>",
                 f'<circle cx="{u:.1f}" cy="{v:.1f}" r="{size ** 0.5 / 2 * PX:.2f}" fill="{colour}" {ring}/>']
        if node_id in splits:
            halos.append(f'<circle cx="{u:.1f}" cy="{v:.1f}" r="{(size * 2.6 + 90) ** 0.5 / 2 * PX:.2f}"/>')
            marks.append(_label(u - reach, v + reach + 0.8 * font, f"split {splits[node_id]}", font, "#854d0e",
                                anchor="end", bold=True))
        if node.kind == "answer":
            marks.append(_label(u + reach + 2 * PX, v + 0.35 * (font + PX), f"→ {plain_label(node.text, 24)}  ({node.weight})",
                                font + PX, colour, bold=True))
        else:
            label = "problem" if node.kind == "root" else plain_label(node.label, chars)
            marks.append(_label(u + reach, v - lift - 0.22 * font, label, font, "#111827"))
            below = []
            if node.wrong:
                below.append("✗ should be " + ", ".join(plain_label(c.right or "?", 16) for c in node.wrong[:2]))
            if node.reward is not None:
                below.append(f"reward {node.reward:.2f}")
            if below:
                marks.append(_label(u + reach, v + lift + 0.8 * font, "  ".join(below), font - 0.5 * PX,
                                    WRONG_COLOUR if node.wrong else "#4b5563"))
        nodes.append("<g>" + "".join(marks) + "</g>")
    title = (f"Reasoning map: {total} solutions · node size = solutions through it · small dot = one more step · "
             "red ring = wrong step")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="100%" role="img" '
            f'aria-label="{xml_text(title)}" style="max-width:{width:.0f}px;height:auto;display:block;margin:auto">'
            f'{_label(left, top - 6 * PX - 0.22 * 9 * PX, title, 9 * PX, "#111827")}'
            '<g fill="none" stroke-opacity="0.75" stroke-linecap="round" stroke-linejoin="round">' + "".join(edges) + "</g>"
            f'<g fill="white" stroke-width="{0.8 * PX:.2f}">' + "".join(dots) + "</g>"
            f'<g fill="{SPLIT_HALO}">' + "".join(halos) + "</g>"
            + "".join(nodes) + "</svg>")


__all__ = [
    "Panel",
    "branch_markdown",
    "label_markdown",
    "map_svg",
    "panel_markdown",
    "panel_updates",
    "reasoning_panel",
    "split_markdown",
    "xml_text",
]
