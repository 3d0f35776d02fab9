"""Offline evaluation: greedy, Maj@N, RM@N and reward-weighted accuracy on a set of problems.

`python -m model.evaluate --data FILE.jsonl --n 8 [--model 1.5b] [--reward-model auto] ...`

Input: JSON Lines, one problem per line, in the common formats of public math sets. Field
names are matched case-insensitively (AIME sets write `Problem`/`Answer`):

- the problem: `problem` (MATH, MATH-500, AIME) or `question` (GSM8K);
- the reference answer: `answer`, where a GSM8K-style solution ending in `#### N` gives N; else
  `solution`: its `#### N`, or its last `\\boxed{...}` (read with `extract_answer`). A solution
  without either gives no answer: its last number is not trusted as a reference;
- an optional `id` / `unique_id` / `idx` is carried into the results.

Blank lines are ignored; a line that is not UTF-8, not a JSON object, or has no problem text or
no usable answer is skipped, counted and reported with its line number.

Method: per problem ONE run of the app's Solver decodes the greedy solution (row 0) and the
max N samples in one batch, with seed `--seed + i` for problem i (0-based, in file order), so a
run is reproducible. The scorer (the same as the app's: a reward model, or the policy's own
confidence when there is none) scores all N samples once. For each N in 1, 2, 4, ... and the
max N itself, every method sees the FIRST N samples: the results nest (Maj@4 votes over the
samples Maj@2 voted over, plus two), one generation serves every N, and the per-N numbers
differ only by N, not by a fresh draw. The price is that each N is one draw rather than an
average over many subsets of the max N samples, so small-N numbers are noisier than they
would be with resampling.

- Maj@N: `majority_vote` over the first N answers (its documented tie-break: the answer given
  first).
- RM@N and the weighted vote: `rank_solutions` over the first N samples and their scores, so
  ties break exactly as in the app. Without a reward model the column says "Conf@N" and
  "confidence-weighted": the policy's mean token log-probability is confidence, not a reward.
- pass@N: at least one of the first N answers is correct; an upper bound on any way of
  choosing among them.

An answer is correct when it is `equivalent` to the reference. A problem that cannot be run
(for example a prompt longer than the context) or whose run fails stays in the denominator as
wrong, and is counted in the summary.

Output, in `--out` (default `out/eval`): `results.jsonl` (one line per problem, written as it
finishes, so an interrupted run keeps what it did), `summary.md` (the markdown table that is
also printed), `summary.json` (the same numbers, with counts) and `accuracy.png` (accuracy
against N, log2 axis, greedy as a horizontal line). Ctrl-C abandons the problem in progress
and still writes the summary of the problems done.
"""

from __future__ import annotations

import argparse
import json
import os
import logging
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

from model.answers import equivalent, extract_answer, majority_vote
from model.config import (
    DEFAULT_MODEL,
    DEVICES,
    MAX_SAMPLES,
    PRECISIONS,
    PROMPT_FAMILIES,
    SERVER_API_KEY_ENV,
    AppConfig,
    SamplingParams,
    default_sampling,
)
from model.errors import ConfigError, ModelError
from model.ranking import Score, rank_solutions
from model.types import Solution

log = logging.getLogger(__name__)

PROBLEM_FIELDS = ("problem", "question")
ID_FIELDS = ("id", "unique_id", "idx")
GSM8K_MARK = "####"
DEFAULT_OUT = Path("out/eval")
# Evaluation sets hold longer problems than a student types; the context limit still applies.
MAX_PROBLEM_CHARS = 100_000
# Skipped lines listed by line number in summary.md (all of them go to summary.json).
SHOWN_SKIPPED = 20
# Share of solutions cut at the token limit above which the summary says so.
LENGTH_WARNING = 0.05


class DatasetError(ModelError, ValueError):
    """The problem file cannot be read at all."""


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One problem with a known answer; `line` is its 1-based line in the file."""

    line: int
    text: str
    reference: str
    id: str | None = None


@dataclass(frozen=True)
class SkippedLine:
    line: int
    reason: str


@dataclass(frozen=True)
class Dataset:
    path: str
    problems: list[Problem]
    skipped: list[SkippedLine]


def _fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """Keys lower-cased; an exact lower-case key wins over a differently cased one."""
    lowered: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(key, str) and (key.lower() not in lowered or key == key.lower()):
            lowered[key.lower()] = value
    return lowered


def _after_mark(text: str) -> str | None:
    """N in a GSM8K solution `... #### N`, or None when there is no mark."""
    if GSM8K_MARK not in text:
        return None
    return text.rsplit(GSM8K_MARK, 1)[1].strip() or None


def _answer_field(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    if isinstance(value, str):
        if GSM8K_MARK in value:
            return _after_mark(value)
        return value.strip() or None
    return None


def _solution_field(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if GSM8K_MARK in value:
        return _after_mark(value)
    if "\\boxed" in value or "\\fbox" in value:
        return extract_answer(value)
    return None


def reference_answer(record: Mapping[str, Any]) -> str | None:
    """The reference answer of one record (see the module docstring), or None."""
    fields = _fields(record)
    return _answer_field(fields.get("answer")) or _solution_field(fields.get("solution"))


def problem_text(record: Mapping[str, Any]) -> str | None:
    fields = _fields(record)
    for name in PROBLEM_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def parse_line(line_no: int, raw: bytes) -> Problem | SkippedLine | None:
    """One line of the file: a problem, a skipped line with its reason, or None (blank)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return SkippedLine(line_no, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return SkippedLine(line_no, f"not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(record, dict):
        return SkippedLine(line_no, f"a JSON {type(record).__name__}, not an object")
    problem = problem_text(record)
    if problem is None:
        return SkippedLine(line_no, "no `problem` or `question` text")
    reference = reference_answer(record)
    if reference is None:
        return SkippedLine(line_no, "no usable answer (`answer`, or `#### N` / `\\boxed{}` in `solution`)")
    fields = _fields(record)
    ident = next((fields[k] for k in ID_FIELDS if isinstance(fields.get(k), (str, int)) and not isinstance(fields.get(k), bool)), None)
    return Problem(line=line_no, text=problem, reference=reference, id=None if ident is None else str(ident))


def read_problems(path: str | Path, *, limit: int | None = None) -> Dataset:
    """Problems from a JSONL file, stopping after `limit` usable ones; bad lines are skipped."""
    path = Path(path)
    problems: list[Problem] = []
    skipped: list[SkippedLine] = []
    try:
        with path.open("rb") as handle:
            for line_no, raw in enumerate(handle, 1):
                if limit is not None and len(problems) >= limit:
                    break
                if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                parsed = parse_line(line_no, raw)
                if isinstance(parsed, Problem):
                    problems.append(parsed)
                elif isinstance(parsed, SkippedLine):
                    skipped.append(parsed)
    except OSError as exc:
        raise DatasetError(f"Cannot read the problem file {path}: {exc.strerror or exc}.") from None
    return Dataset(str(path), problems, skipped)


# --- evaluation of one problem -------------------------------------------------------------------


def nested_sizes(max_n: int) -> list[int]:
    """1, 2, 4, ... below `max_n`, then `max_n` itself (so 6 gives 1, 2, 4, 6)."""
    if max_n < 1:
        raise ConfigError(f"N must be at least 1; got {max_n}.")
    sizes = []
    n = 1
    while n < max_n:
        sizes.append(n)
        n *= 2
    return sizes + [max_n]


class Judge:
    """Whether an answer is equivalent to one reference; each distinct answer is judged once."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        self._verdicts: dict[str, bool] = {}

    def __call__(self, answer: str | None) -> bool:
        if answer is None or not answer.strip():
            return False
        if answer not in self._verdicts:
            self._verdicts[answer] = equivalent(answer, self.reference)
        return self._verdicts[answer]


@dataclass(frozen=True)
class Pick:
    """The answer a method chose, and whether it is right (no answer is never right)."""

    answer: str | None
    correct: bool


NO_PICK = Pick(None, False)


@dataclass(frozen=True)
class AtN:
    """Every method's choice among the first `n` samples."""

    n: int
    majority: Pick
    rm: Pick
    weighted: Pick
    passed: bool


def scores_of(samples: Sequence[Solution]) -> list[Score] | None:
    """The scores the Solver attached to the samples, or None when they were not scored."""
    if not samples or any(s.reward is None for s in samples):
        return None
    return [
        Score(total=s.reward, steps=tuple(s.step_rewards) if s.step_rewards is not None else None)  # type: ignore[arg-type]
        for s in samples
    ]


def evaluate_prefixes(
    samples: Sequence[Solution],
    scores: Sequence[Score] | None,
    sizes: Sequence[int],
    judge: Judge,
    *,
    scorer_name: str,
    label: str,
    greedy_answer: str | None = None,
) -> list[AtN]:
    """Maj@N, RM@N, the weighted vote and pass@N on the first N samples, for each N in `sizes`.

    `scores` (one per sample, or None when nothing was scored) are sliced with the samples, so
    each prefix is ranked exactly as the app would rank a run of that many samples.
    """
    answers = [s.answer for s in samples]
    outcomes = []
    for n in sizes:
        head = list(samples[:n])
        vote = majority_vote(answers[:n])
        rm = weighted = NO_PICK
        if scores is not None and head:
            ranking = rank_solutions(
                head, vote, list(scores[:n]), scorer_name=scorer_name, label=label, greedy_answer=greedy_answer
            )
            rm = Pick(ranking.rm_answer, judge(ranking.rm_answer))
            weighted = Pick(ranking.weighted_answer, judge(ranking.weighted_answer))
        outcomes.append(
            AtN(
                n=n,
                majority=Pick(vote.answer, judge(vote.answer)),
                rm=rm,
                weighted=weighted,
                passed=any(judge(a) for a in answers[:n]),
            )
        )
    return outcomes


@dataclass(frozen=True)
class Row:
    """One generated solution as the results file keeps it."""

    answer: str | None
    correct: bool
    finish: str
    tokens: int
    score: float | None = None
    text: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "answer": self.answer,
            "correct": self.correct,
            "score": self.score,
            "finish": self.finish,
            "tokens": self.tokens,
        }
        if self.text is not None:
            data["text"] = self.text
        return data


@dataclass
class ProblemResult:
    """Everything measured on one problem (one line of results.jsonl)."""

    index: int
    problem: Problem
    seed: int
    greedy: Row | None
    samples: list[Row]
    at_n: list[AtN]
    scored: bool
    timings: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self, score_label: str) -> dict[str, Any]:
        def pick(p: Pick) -> dict[str, Any]:
            return {"answer": p.answer, "correct": p.correct}

        return {
            "index": self.index,
            "line": self.problem.line,
            "id": self.problem.id,
            "problem": self.problem.text,
            "reference": self.problem.reference,
            "seed": self.seed,
            "greedy": self.greedy.to_json() if self.greedy else None,
            "at_n": {
                str(o.n): {"maj": pick(o.majority), "rm": pick(o.rm), "weighted": pick(o.weighted), "pass": o.passed}
                for o in self.at_n
            },
            "score_label": score_label,
            "samples": [s.to_json() for s in self.samples],
            "timings": self.timings,
            "notes": self.notes,
            "error": self.error,
        }


def _row(solution: Solution, judge: Judge, save_text: bool) -> Row:
    score = solution.reward if solution.reward is not None and math.isfinite(solution.reward) else None
    return Row(
        answer=solution.answer,
        correct=judge(solution.answer),
        finish=solution.finish_reason,
        tokens=solution.tokens,
        score=score,
        text=solution.text if save_text else None,
    )


def run_problem(
    solver: Any, problem: Problem, index: int, params: SamplingParams, sizes: Sequence[int], *, save_text: bool = False
) -> ProblemResult:
    """Solve one problem with the Solver (greedy + max N samples, one run) and judge it.

    `solver` needs `solve(problem, params) -> RunResult` and `scorer` (or None), as `Solver`.
    """
    judge = Judge(problem.reference)
    started = time.perf_counter()
    try:
        run = solver.solve(problem.text, params)
    except ModelError as exc:
        # Raised before decoding (prompt too long for the context, not text): wrong, and said so.
        blank = [AtN(n, NO_PICK, NO_PICK, NO_PICK, False) for n in sizes]
        seed = params.seed if params.seed is not None else 0
        return ProblemResult(index, problem, seed, None, [], blank, False, error=str(exc))
    scorer = solver.scorer
    scores = scores_of(run.samples) if scorer is not None else None
    greedy_answer = run.greedy.answer if run.greedy else None
    at_n = evaluate_prefixes(
        run.samples,
        scores,
        sizes,
        judge,
        scorer_name=scorer.name if scorer is not None else "",
        label=scorer.label if scorer is not None else "reward",
        greedy_answer=greedy_answer,
    )
    timings = {
        "generate_s": round(run.timings.total_s, 4),
        "total_s": round(time.perf_counter() - started, 4),
        "time_to_first_token_s": None
        if run.timings.time_to_first_token_s is None
        else round(run.timings.time_to_first_token_s, 4),
        "prompt_tokens": run.timings.prompt_tokens,
        "generated_tokens": run.timings.generated_tokens,
        "tokens_per_s": round(run.timings.tokens_per_s, 2),
    }
    return ProblemResult(
        index=index,
        problem=problem,
        seed=run.seed,
        greedy=_row(run.greedy, judge, save_text) if run.greedy else None,
        samples=[_row(s, judge, save_text) for s in run.samples],
        at_n=at_n,
        scored=scores is not None,
        timings=timings,
        notes=list(run.notes),
        error=run.error,
    )


# --- summary -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accuracy:
    correct: int
    total: int

    @property
    def fraction(self) -> float | None:
        return self.correct / self.total if self.total else None

    def percent(self) -> str:
        return "n/a" if not self.total else f"{100 * self.correct / self.total:.1f}%"

    def to_json(self) -> dict[str, Any]:
        return {"correct": self.correct, "total": self.total, "accuracy": self.fraction}


@dataclass(frozen=True)
class SummaryRow:
    n: int
    majority: Accuracy
    rm: Accuracy
    weighted: Accuracy
    passed: Accuracy


@dataclass(frozen=True)
class Summary:
    problems: int
    greedy: Accuracy
    rows: list[SummaryRow]
    finish_reasons: dict[str, int]
    failed: int
    unscored: int
    generated_tokens: int
    generate_s: float


def summarize(results: Sequence[ProblemResult], sizes: Sequence[int]) -> Summary:
    """Accuracies over all problems; a problem that failed counts as wrong everywhere."""
    total = len(results)
    rows = []
    for position, n in enumerate(sizes):
        outcomes = [r.at_n[position] for r in results]
        if any(o.n != n for o in outcomes):
            raise ValueError(f"every problem must be evaluated at the sizes {list(sizes)}")
        rows.append(
            SummaryRow(
                n=n,
                majority=Accuracy(sum(o.majority.correct for o in outcomes), total),
                rm=Accuracy(sum(o.rm.correct for o in outcomes), total),
                weighted=Accuracy(sum(o.weighted.correct for o in outcomes), total),
                passed=Accuracy(sum(o.passed for o in outcomes), total),
            )
        )
    finish: dict[str, int] = {}
    for result in results:
        for row in ([result.greedy] if result.greedy else []) + result.samples:
            finish[row.finish] = finish.get(row.finish, 0) + 1
    return Summary(
        problems=total,
        greedy=Accuracy(sum(bool(r.greedy and r.greedy.correct) for r in results), total),
        rows=rows,
        finish_reasons=dict(sorted(finish.items(), key=lambda kv: -kv[1])),
        failed=sum(r.error is not None for r in results),
        unscored=sum(not r.scored and r.error is None for r in results),
        generated_tokens=sum(int(r.timings.get("generated_tokens") or 0) for r in results),
        generate_s=sum(float(r.timings.get("generate_s") or 0.0) for r in results),
    )


@dataclass(frozen=True)
class RunInfo:
    """What was evaluated and how: the header of the table, the plot's title, summary.json."""

    model: str
    model_details: str
    family: str
    data: str
    skipped: list[SkippedLine]
    scorer_name: str
    score_label: str
    scorer_note: str | None
    params: SamplingParams
    base_seed: int
    wall_s: float = 0.0
    interrupted: bool = False
    planned: int = 0


def method_names(score_label: str) -> tuple[str, str]:
    """Column names of the scorer's pick and of the weighted vote: never "reward" for confidence."""
    if score_label == "reward":
        return "RM@N", "reward-weighted"
    return "Conf@N", "confidence-weighted"


def interval_halfwidth(problems: int) -> float:
    """Largest half-width, in points, of a 95% normal interval on an accuracy over `problems`."""
    return 100 * 1.96 * math.sqrt(0.25 / problems) if problems else float("nan")


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
        f"- Sampling: greedy + N = {n_max} samples per problem in one batch, temperature "
        f"{info.params.temperature:g}, top-p {info.params.top_p:g}, up to {info.params.max_new_tokens} new tokens, {seeds}",
        f"- Ranking: {ranking}; {weighted_name} sums the weights of each answer's samples",
    ]
    if info.scorer_note:
        lines.append(f"- Note: {info.scorer_note}")
    lines += [
        f"- Greedy accuracy: **{summary.greedy.percent()}** ({summary.greedy.correct}/{summary.greedy.total})",
        "",
        f"| N | Maj@N | {rm_name} | {weighted_name} | pass@N |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in summary.rows:
        cells = [row.majority.percent(), row.rm.percent(), row.weighted.percent(), row.passed.percent()]
        lines.append(f"| {row.n} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Every N uses the first N of the same {n_max} samples of each problem (nested prefixes of one "
        "run, not fresh draws); pass@N (at least one of the first N is right) bounds any way of "
        f"choosing among them. A 95% interval on one accuracy over {summary.problems} problems is up to "
        f"±{interval_halfwidth(summary.problems):.1f} points.",
    ]
    solutions = sum(summary.finish_reasons.values())
    if solutions:
        reasons = ", ".join(f"{name} {count}" for name, count in summary.finish_reasons.items())
        lines += ["", f"Finish reasons of the {solutions} solutions (greedy and sampled): {reasons}."]
        cut = summary.finish_reasons.get("length", 0)
        if cut >= LENGTH_WARNING * solutions:
            lines += [
                "",
                f"{100 * cut / solutions:.0f}% of the solutions stopped at the limit of {info.params.max_new_tokens} "
                "new tokens, where an answer is read from unfinished work: raise --max-new-tokens if they were "
                "still reasoning.",
            ]
    if summary.failed or summary.unscored:
        lines += [
            "",
            f"Counted as wrong where they lack an answer: {summary.failed} problems failed to run and "
            f"{summary.unscored} were not scored (see `error` and `notes` in results.jsonl).",
        ]
    rate = summary.generated_tokens / summary.generate_s if summary.generate_s else 0.0
    lines += [
        "",
        f"Time: {info.wall_s:.0f} s in all; {summary.generated_tokens:,} tokens generated in "
        f"{summary.generate_s:.0f} s ({rate:,.0f} tokens/s).",
    ]
    return "\n".join(lines) + "\n"


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
            "subsets": "prefixes: N uses the first N samples of each problem",
        },
        "greedy": summary.greedy.to_json(),
        "at_n": [
            {
                "n": row.n,
                "maj": row.majority.to_json(),
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


# --- the run -------------------------------------------------------------------------------------


def evaluate(
    solver: Any,
    problems: Sequence[Problem],
    params: SamplingParams,
    sizes: Sequence[int],
    *,
    base_seed: int,
    sink: TextIO | None = None,
    progress: bool = True,
    save_text: bool = False,
    parallel: int = 1,
) -> tuple[list[ProblemResult], bool]:
    """Run every problem; (results in file order, interrupted). Ctrl-C keeps what is done.

    `parallel` problems are solved at once (they share the local backend's batch; each keeps its
    own seed, so the results are the same as one at a time). Each result is written to `sink`
    as one JSON line as soon as it and every earlier one exist.
    """
    from tqdm import tqdm

    label = solver.scorer.label if solver.scorer is not None else "reward"
    rm_name = method_names(label)[0].replace("@N", f"@{params.n}")
    results: list[ProblemResult] = []
    interrupted = False
    right = {"greedy": 0, "maj": 0, "rm": 0}  # running counts for the progress bar, at the max N
    with tqdm(total=len(problems), unit="problem", file=sys.stderr, disable=not progress, dynamic_ncols=True) as bar:
        def solve_one(index: int) -> ProblemResult:
            return run_problem(
                solver, problems[index], index, replace(params, seed=base_seed + index), sizes, save_text=save_text
            )

        executor = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="evaluate") if parallel > 1 else None
        ordered = executor.map(solve_one, range(len(problems))) if executor else map(solve_one, range(len(problems)))
        while True:
            try:
                result = next(ordered)
            except StopIteration:
                break
            except KeyboardInterrupt:
                interrupted = True
                if executor is not None:
                    executor.shutdown(wait=False, cancel_futures=True)
                break
            index, problem = result.index, result.problem
            results.append(result)
            if result.error:
                bar.write(f"problem {index} (line {problem.line}): {result.error}", file=sys.stderr)
            if sink is not None:
                sink.write(json.dumps(result.to_json(label), ensure_ascii=False) + "\n")
                sink.flush()
            right["greedy"] += bool(result.greedy and result.greedy.correct)
            right["maj"] += result.at_n[-1].majority.correct
            right["rm"] += result.at_n[-1].rm.correct
            done = len(results)
            bar.update(1)
            bar.set_postfix_str(
                f"greedy {_share(right['greedy'], done)} Maj@{params.n} {_share(right['maj'], done)} "
                f"{rm_name} {_share(right['rm'], done)}"
            )
        if executor is not None:
            executor.shutdown(wait=not interrupted, cancel_futures=True)
    return results, interrupted


def _share(count: int, total: int) -> str:
    return f"{100 * count / total:.0f}%" if total else "-"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model.evaluate",
        description="Greedy, Maj@N, RM@N, reward-weighted accuracy and pass@N for N = 1, 2, 4, ... "
        "on problems with known answers, with the app's own Solver, answer checking and ranking.",
        epilog="Input lines need `problem` or `question`, and `answer` (a GSM8K `#### N` inside "
        "it is read as N) or a `solution` with `#### N` or \\boxed{}. Every N uses the first N of "
        "the same samples per problem. Writes results.jsonl, summary.md, summary.json and "
        "accuracy.png to --out.",
    )
    parser.add_argument("--data", required=True, type=Path, help="JSON Lines file of problems with answers")
    parser.add_argument("--n", type=int, default=8, help=f"largest N: samples per problem (1-{MAX_SAMPLES}; default 8)")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="Hub id, size alias (1.5b, 7b, 72b, 2.5-1.5b, ...), local directory, or 'bundled' "
        f"(default {DEFAULT_MODEL}); never silently replaced by another model",
    )
    parser.add_argument(
        "--reward-model",
        default="auto",
        help="auto | none | bundled | Hub id or directory of a Qwen2.5-Math-RM / PRM or likelihood reward model "
        "(none ranks by the policy's confidence; default auto, as the app)",
    )
    parser.add_argument("--prompt-family", default="auto", choices=PROMPT_FAMILIES, help="prompt format (default: from the model)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="as the app's --precision (default auto)")
    parser.add_argument("--device", default="auto", choices=DEVICES, help="as the app's --device (default auto)")
    parser.add_argument("--temperature", type=float, default=None, help="sampling temperature (default: the model family's)")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus top-p (default: the model family's)")
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="token budget per solution (default 2048 on GPU, 1024 on CPU)"
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed: problem i uses seed + i (default 0)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first K usable problems")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument(
        "--server-url",
        default=None,
        help="generate with an OpenAI-compatible server (vLLM, SGLang, ...) at this URL instead of loading the model "
        "here, e.g. http://127.0.0.1:8000/v1 (API key from MATHAPP_SERVER_API_KEY)",
    )
    parser.add_argument("--server-model", default=None, help="the model name on that server (default: the one it lists)")
    parser.add_argument("--tokenizer", default=None, help="with --server-url: the served model's tokenizer (directory or Hub id)")
    parser.add_argument("--server-timeout", type=float, default=600.0, help="seconds to wait for the server's next reply piece")
    parser.add_argument("--save-text", action="store_true", help="also keep every solution's text in results.jsonl")
    parser.add_argument(
        "--parallel", type=int, default=8,
        help="problems solved at once, sharing one batch (default 8; each keeps its seed: the results are the same)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def _config(args: argparse.Namespace) -> AppConfig:
    if not 1 <= args.n <= MAX_SAMPLES:
        raise ConfigError(f"--n must be between 1 and {MAX_SAMPLES}; got {args.n}.")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1; got {args.limit}.")
    if args.seed < 0:
        raise ConfigError(f"--seed must be 0 or more; got {args.seed}.")
    if not 1 <= args.parallel <= 64:
        raise ConfigError(f"--parallel must be between 1 and 64; got {args.parallel}.")
    return AppConfig(
        model=args.model,
        prompt_family=args.prompt_family,
        precision=args.precision,
        device=args.device,
        # An evaluation of another model than the one named would be a wrong number.
        fallback_to_bundled=False,
        reward_model=args.reward_model,
        n_samples=args.n,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        max_problem_chars=MAX_PROBLEM_CHARS,
        server_url=args.server_url,
        server_model=args.server_model,
        server_timeout=args.server_timeout,
        tokenizer=args.tokenizer,
        server_api_key=os.environ.get(SERVER_API_KEY_ENV) or None,
    )


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0 done, 1 model error, 2 usage, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = _config(args)
        dataset = read_problems(args.data, limit=args.limit)
    except (ConfigError, DatasetError) as exc:
        parser.error(str(exc))
    for skipped in dataset.skipped:
        _say(f"{args.data}:{skipped.line}: skipped: {skipped.reason}")
    if not dataset.problems:
        _say(f"error: {args.data} holds no usable problem ({len(dataset.skipped)} lines skipped).")
        return 2

    from model.solver import open_solver

    wall_started = time.perf_counter()
    try:
        solver, scorer_note = open_solver(config)
    except ModelError as exc:
        _say(f"error: {exc}")
        return 1
    model_info = solver.info
    scorer = solver.scorer
    _say(f"model: {model_info.describe()}")
    _say(f"ranking by: {scorer.name} ({scorer.label})" + (f" - {scorer_note}" if scorer_note else ""))

    base = default_sampling(config, model_info.family, on_gpu=model_info.device.startswith("cuda"))
    params = replace(base, n=args.n, include_greedy=True)
    sizes = nested_sizes(args.n)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    try:
        with (out / "results.jsonl").open("w", encoding="utf-8") as sink:
            results, interrupted = evaluate(
                solver,
                dataset.problems,
                params,
                sizes,
                base_seed=args.seed,
                sink=sink,
                progress=not args.no_progress,
                save_text=args.save_text,
                parallel=args.parallel,
            )
    finally:
        solver.close()
    if not results:
        _say("interrupted before the first problem finished; nothing to summarise.")
        return 130
    info = RunInfo(
        model=model_info.model,
        model_details=model_info.describe(),
        family=model_info.family,
        data=str(args.data),
        skipped=dataset.skipped,
        scorer_name=scorer.name,
        score_label=scorer.label,
        scorer_note=scorer_note,
        params=params,
        base_seed=args.seed,
        wall_s=time.perf_counter() - wall_started,
        interrupted=interrupted,
        planned=len(dataset.problems),
    )
    markdown = write_summary(out, summarize(results, sizes), info)
    print(markdown, end="")
    _say(f"wrote {out / 'results.jsonl'}, {out / 'summary.md'}, {out / 'summary.json'}, {out / 'accuracy.png'}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
