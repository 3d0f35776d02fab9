"""Charts for the page: votes per answer cluster (drawn by the browser), per-step rewards.

The vote chart is data, not a picture: a table of bars that Gradio's `BarPlot` draws in the
browser (Vega), so a solve costs the server no drawing (it was a fifth of the server's busy
time under load as a matplotlib PNG). Its bars carry plain-text answer labels (`plain_label`),
the clusters' colours, the reward model's pick (★) and the weighted shares in the tooltip. The
per-step reward heatmap (only with a process reward model) stays a matplotlib figure, built
with the object-oriented API (`Figure`, never `pyplot`), safe from Gradio's worker threads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from ui.render import NO_ANSWER_COLOUR, cluster_colour

LABEL_CHARS = 24
NO_ANSWER = "no answer"
VOTE_COLUMNS = ("answer", "votes", "cluster", "weighted share")

# LaTeX to plain text for a bar label: the typeset answer is in the vote panel and on the cards.
_SYMBOLS = {
    "pi": "π", "cdot": "·", "times": "×", "div": "÷", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
    "ne": "≠", "neq": "≠", "infty": "∞", "pm": "±", "circ": "°", "degree": "°", "theta": "θ", "alpha": "α",
    "beta": "β", "sqrt": "√", "cup": "∪", "cap": "∩", "in": "∈", "approx": "≈", "to": "→",
}
_FRACTION = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|operatorname|boxed)\s*\{([^{}]*)\}")
_COMMAND = re.compile(r"\\([A-Za-z]+)")
_SQRT = re.compile(r"\\sqrt\s*\{([^{}]*)\}")


def plain_label(answer: str, limit: int = LABEL_CHARS) -> str:
    """An answer as short plain text for an axis: `\\frac{3}{4}` -> 3/4, `\\sqrt{2}` -> √2,
    `\\pi` -> π, other commands by name, braces and `$` dropped; at most `limit` characters."""
    text = answer.replace("$", "")
    for _ in range(3):  # nested fractions and wrappers, from the inside out
        text = _WRAPPER.sub(r"\1", text)
        text = _FRACTION.sub(lambda m: f"{_group(m.group(1))}/{_group(m.group(2))}", text)
        text = _SQRT.sub(lambda m: "√" + _group(m.group(1)), text)
    text = text.replace("\\left", "").replace("\\right", "")
    text = text.replace("\\,", " ").replace("\\!", "").replace("\\;", " ").replace("^{\\circ}", "°")
    text = _COMMAND.sub(lambda m: _SYMBOLS.get(m.group(1), m.group(1)), text)
    text = re.sub(r"(?<!\\)[{}]", "", text).replace("^°", "°").replace("\\{", "{").replace("\\}", "}")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _group(part: str) -> str:
    part = part.strip()
    return part if re.fullmatch(r"[\w.√π]+", part) else f"({part})"


def vote_bars(
    labels: Sequence[str],
    counts: Sequence[int],
    *,
    no_answer: int,
    total: int,
    rm_cluster: int | None = None,
    weighted: Sequence[float] | None = None,
    weight_label: str = "reward",
) -> tuple[list[list[Any]], dict[str, str], str]:
    """The vote chart as (rows of VOTE_COLUMNS, colour per cluster name, title).

    One bar per answer cluster, winner first, coloured as the solution cards; the reward pick
    is marked ★ (★RM for a reward model); samples without an answer form a grey last bar.
    Labels that would read the same are told apart with a number, so no two bars merge.
    """
    rows: list[list[Any]] = []
    colours: dict[str, str] = {}
    seen: set[str] = set()
    for i, (label, count) in enumerate(zip(labels, counts)):
        name = plain_label(label) or "?"
        if rm_cluster is not None and i == rm_cluster:
            name += " ★RM" if weight_label == "reward" else " ★"
        while name in seen:
            name += f" ({i + 1})"
        seen.add(name)
        share = f"{weighted[i]:.0%}" if weighted and i < len(weighted) else ""
        cluster = f"#{i + 1}: {name}"
        colours[cluster] = cluster_colour(i)
        rows.append([name, int(count), cluster, share])
    if no_answer:
        colours[NO_ANSWER] = NO_ANSWER_COLOUR
        rows.append([NO_ANSWER, int(no_answer), NO_ANSWER, ""])
    title = f"Votes per answer ({sum(counts)} of {total} samples answered)"
    return rows, colours, title


def step_heatmap(rows: Sequence[tuple[str, Sequence[float]]]) -> Figure:
    """Per-step rewards (probability that the step is correct) of the chosen solutions."""
    longest = max((len(steps) for _, steps in rows), default=1) or 1
    figure = Figure(figsize=(6.4, 0.6 + 0.5 * max(len(rows), 1)), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    grid = [[float("nan")] * longest for _ in rows]
    for r, (_, steps) in enumerate(rows):
        for c, value in enumerate(steps):
            grid[r][c] = value
    image = axes.imshow(grid, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_yticks(range(len(rows)), [name for name, _ in rows])
    axes.set_xticks(range(longest), [str(i + 1) for i in range(longest)])
    axes.set_xlabel("step")
    axes.set_title("Process reward per step", fontsize=10)
    figure.colorbar(image, ax=axes, fraction=0.04)
    return figure
