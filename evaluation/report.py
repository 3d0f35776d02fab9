"""The summary as files: summary.md (the printed table), summary.json and accuracy.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evaluation.scoring import method_names
from evaluation.summary import RunInfo, Summary, interval_halfwidth

# Skipped lines listed by line number in summary.md (all of them go to summary.json).
SHOWN_SKIPPED = 20
# Share of solutions cut at the token limit above which the summary says so.
LENGTH_WARNING = 0.05


def format_markdown(summary: Summary, info: RunInfo) -> str:
    """The summary as markdown: a short header, the accuracy table, and how to read it."""
    rm_name, weighted_name = method_names(info.score_label)
    n_max = info.params.n
    data_name = Path(info.data).name
    if info.skipped:
        shown = ", ".join(f"{s.line} ({s.reason})" for s in info.skipped[:SHOWN_SKIPPED])
        more = f", and {len(info.skipped) - SHOWN_SKIPPED} more" if len(info.skipped) > SHOWN_SKIPPED else ""
        skipped = f"{len(info.skipped)} lines skipped: {shown}{more}"
    else:
        skipped = "no lines skipped"
    if info.score_label == "reward":
        ranking = f"{rm_name} is the sample with the highest reward from **{info.scorer_name}**"
    else:
        ranking = (
            f"no reward model: {rm_name} is the sample with the highest policy confidence (mean token "
            "log-probability), which is not a reward"
        )
    seeds = f"seed {info.base_seed} + i for problem i"
    lines = [
        f"## {info.model} on {data_name}",
        "",
        f"- Problems: {summary.problems} ({skipped})"
        + (f"; **interrupted** after {summary.problems} of {info.planned}" if info.interrupted else ""),
        f"- Model: {info.model_details} (prompt family {info.family})",
        (f"- Sampling: greedy + N = {n_max} samples per problem in one batch, temperature "
         f"{info.params.temperature:g}, top-p {info.params.top_p:g}, up to {info.params.max_new_tokens} new tokens, {seeds}"),
        f"- Ranking: {ranking}; {weighted_name} sums the weights of each answer's samples",
        _reasoning_line(summary, info),
        ("- Checked vote: Maj@N among the samples in which the step checker (`judgements.steps.checker`) finds no "
         "wrong calculation; Maj@N of all when none of those has an answer"),
    ]
    if info.scorer_note:
        lines.append(f"- Note: {info.scorer_note}")
    lines += [
        f"- Greedy accuracy: **{summary.greedy.percent()}** ({summary.greedy.correct}/{summary.greedy.total})",
        "",
        f"| N | Maj@N | checked vote | {rm_name} | {weighted_name} | pass@N |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary.rows:
        cells = [row.majority.percent(), row.checked.percent(), row.rm.percent(), row.weighted.percent(),
                 row.passed.percent()]
        lines.append(f"| {row.n} | " + " | ".join(cells) + " |")
    lines += [
        "",
        (f"Every N uses the first N of the same {n_max} samples of each problem (nested prefixes of one "
         "run, not fresh draws); pass@N (at least one of the first N is right) bounds any way of "
         f"choosing among them. A 95% interval on one accuracy over {summary.problems} problems is up to "
         f"±{interval_halfwidth(summary.problems):.1f} points."),
    ]
    solutions = sum(summary.finish_reasons.values())
    if solutions:
        reasons = ", ".join(f"{name} {count}" for name, count in summary.finish_reasons.items())
        lines += ["", f"Finish reasons of the {solutions} solutions (greedy and sampled): {reasons}."]
        cut = summary.finish_reasons.get("length", 0)
        if cut >= LENGTH_WARNING * solutions:
            lines += [
                "",
                (f"{100 * cut / solutions:.0f}% of the solutions stopped at the limit of {info.params.max_new_tokens} "
                 "new tokens, where an answer is read from unfinished work: raise --max-new-tokens if they were "
                 "still reasoning."),
            ]
    if summary.failed or summary.unscored:
        lines += [
            "",
            (f"Counted as wrong where they lack an answer: {summary.failed} problems failed to run and "
             f"{summary.unscored} were not scored (see `error` and `notes` in results.jsonl)."),
        ]
    rate = summary.generated_tokens / summary.generate_s if summary.generate_s else 0.0
    lines += [
        "",
        (f"Time: {info.wall_s:.0f} s in all; {summary.generated_tokens:,} tokens generated in "
         f"{summary.generate_s:.0f} s ({rate:,.0f} tokens/s)."),
    ]
    return "\n".join(lines) + "\n"


def _reasoning_line(summary: Summary, info: RunInfo) -> str:
    if not info.params.tir:
        return "- Reasoning: in words (chain of thought)"
    solutions = sum(summary.finish_reasons.values())
    return (f"- Reasoning: with Python (the TIR prompt; the model's cells run in the sandbox): {summary.code_runs} "
            f"runs, {summary.code_failed} of them failed, in {summary.solutions_with_code} of {solutions} solutions")


def accuracy_figure(summary: Summary, info: RunInfo) -> Any:
    """Accuracy (%) against N on a log2 axis; greedy as a horizontal line. An Agg `Figure`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

    rm_name, weighted_name = method_names(info.score_label)
    ns = [row.n for row in summary.rows]

    def percents(pick: str) -> list[float]:
        return [100 * (getattr(row, pick).fraction or 0.0) for row in summary.rows]

    figure = Figure(figsize=(6.4, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    series = [
        ("Maj@N", "majority", "o", "-", "tab:blue"),
        ("checked vote", "checked", "D", "-", "tab:red"),
        (rm_name, "rm", "s", "-", "tab:orange"),
        (weighted_name, "weighted", "^", "-", "tab:green"),
        ("pass@N (upper bound)", "passed", "", "--", "grey"),
    ]
    plotted: list[float] = []
    for label, pick, marker, style, colour in series:
        values = percents(pick)
        plotted += values
        axes.plot(ns, values, marker=marker or None, linestyle=style, color=colour, label=label)
    greedy = 100 * (summary.greedy.fraction or 0.0)
    plotted.append(greedy)
    axes.axhline(greedy, color="black", linestyle=":", label=f"greedy ({greedy:.1f}%)")
    axes.set_xscale("log", base=2)
    axes.set_xticks(ns, [str(n) for n in ns])
    axes.xaxis.set_minor_locator(NullLocator())
    if len(ns) == 1:
        axes.set_xlim(ns[0] / 1.5, ns[0] * 1.5)
    low, high = min(plotted), max(plotted)
    pad = max(5.0, 0.1 * (high - low))
    axes.set_ylim(max(0.0, low - pad), min(100.0, high + pad))
    axes.set_xlabel("N (sampled solutions per problem)")
    axes.set_ylabel("accuracy (%)")
    # A `$` would start mathtext in a title.
    title = f"{info.model} on {Path(info.data).name} ({summary.problems} problems)".replace("$", r"\$")
    axes.set_title(title, fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="best", fontsize=8, frameon=False)
    return figure


def summary_json(summary: Summary, info: RunInfo) -> dict[str, Any]:
    rm_name, weighted_name = method_names(info.score_label)
    return {
        "model": {"name": info.model, "details": info.model_details, "family": info.family},
        "data": {
            "path": info.data,
            "problems": summary.problems,
            "planned": info.planned,
            "interrupted": info.interrupted,
            "skipped": [{"line": s.line, "reason": s.reason} for s in info.skipped],
        },
        "scorer": {"name": info.scorer_name, "label": info.score_label, "note": info.scorer_note,
                   "columns": {"rm": rm_name, "weighted": weighted_name}},
        "sampling": {
            "n": info.params.n,
            "temperature": info.params.temperature,
            "top_p": info.params.top_p,
            "max_new_tokens": info.params.max_new_tokens,
            "base_seed": info.base_seed,
            "reasoning": "with Python" if info.params.tir else "in words",
            "subsets": "prefixes: N uses the first N samples of each problem",
        },
        "greedy": summary.greedy.to_json(),
        "code": {"runs": summary.code_runs, "failed": summary.code_failed,
                 "solutions_with_code": summary.solutions_with_code},
        "at_n": [
            {
                "n": row.n,
                "maj": row.majority.to_json(),
                "checked": row.checked.to_json(),
                "rm": row.rm.to_json(),
                "weighted": row.weighted.to_json(),
                "pass": row.passed.to_json(),
            }
            for row in summary.rows
        ],
        "finish_reasons": summary.finish_reasons,
        "failed": summary.failed,
        "unscored": summary.unscored,
        "timings": {
            "wall_s": round(info.wall_s, 3),
            "generate_s": round(summary.generate_s, 3),
            "generated_tokens": summary.generated_tokens,
        },
    }


def write_summary(out: Path, summary: Summary, info: RunInfo) -> str:
    """Write summary.md, summary.json and accuracy.png into `out`; return the markdown."""
    markdown = format_markdown(summary, info)
    (out / "summary.md").write_text(markdown, encoding="utf-8")
    (out / "summary.json").write_text(
        json.dumps(summary_json(summary, info), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    accuracy_figure(summary, info).savefig(out / "accuracy.png", dpi=150)
    return markdown
