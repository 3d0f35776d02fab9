"""Matplotlib figures for the page: votes per answer cluster, and per-step rewards.

Figures are built with the object-oriented API (`Figure`, never `pyplot`), which is safe to
call from Gradio's worker threads. Answer labels are typeset with matplotlib's mathtext when
they parse, and shown as plain text otherwise.
"""

from __future__ import annotations

from typing import Sequence

from matplotlib.figure import Figure
from matplotlib.mathtext import MathTextParser

from ui.render import NO_ANSWER_COLOUR, cluster_colour

_PARSER = MathTextParser("agg")
LABEL_CHARS = 24


def axis_label(answer: str) -> str:
    """A bar label: mathtext when the answer parses as such, else escaped plain text."""
    short = answer if len(answer) <= LABEL_CHARS else answer[: LABEL_CHARS - 1] + "…"
    if "\\" in short or "^" in short or "_" in short:
        candidate = f"${short}$"
        try:
            _PARSER.parse(candidate)
            return candidate
        except (ValueError, RuntimeError, KeyError, IndexError):
            pass
    return short.replace("$", r"\$")


def vote_chart(
    labels: Sequence[str],
    counts: Sequence[int],
    *,
    no_answer: int,
    total: int,
    rm_cluster: int | None = None,
    weighted: Sequence[float] | None = None,
    weight_label: str = "reward",
) -> Figure:
    """Bars of votes per answer cluster (winner first), coloured as the solution cards.

    The reward model's pick is marked with ★; a reward-weighted share per cluster is drawn as
    a dot on a second axis when given. Samples without an answer form a grey last bar.
    """
    names = [axis_label(label) for label in labels]
    values = list(counts)
    colours = [cluster_colour(i) for i in range(len(labels))]
    if no_answer:
        names.append("no answer")
        values.append(no_answer)
        colours.append(NO_ANSWER_COLOUR)
    figure = Figure(figsize=(6.4, 3.2), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(values)))
    bars = axes.bar(positions, values, color=colours)
    axes.set_xticks(positions, names, rotation=20 if len(names) > 5 else 0, ha="right" if len(names) > 5 else "center")
    axes.set_ylabel("votes")
    axes.set_ylim(0, max(values + [1]) * 1.25)
    axes.set_title(f"Votes per answer ({sum(counts)} of {total} samples answered)", fontsize=10)
    axes.spines[["top", "right"]].set_visible(False)
    for i, bar in enumerate(bars):
        text = f"{values[i]}"
        if rm_cluster is not None and i == rm_cluster:
            text += " ★RM" if weight_label == "reward" else " ★"
        axes.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=9)
    if weighted:
        twin = axes.twinx()
        twin.plot(positions[: len(weighted)], list(weighted), "o", color="black", markersize=5, label=f"{weight_label}-weighted share")
        twin.set_ylim(0, 1.25)
        twin.set_ylabel("weighted share", fontsize=8)
        twin.spines[["top"]].set_visible(False)
        twin.legend(loc="upper right", fontsize=8, frameon=False)
    return figure


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
