"""Accuracies over all problems (a failed problem counts as wrong) and what the run was.

`Summary` holds the counts behind the table; `RunInfo` says which model, data, scorer and
sampling produced them. Both are turned into files by `evaluation.report`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model.params import SamplingParams
from evaluation.problems import SkippedLine
from evaluation.run import ProblemResult


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
    checked: Accuracy = Accuracy(0, 0)  # the checked vote (`judgements.steps.checker.checked_vote`)


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
    code_runs: int = 0  # cells run in the sandbox, over every solution (reasoning with Python)
    code_failed: int = 0
    solutions_with_code: int = 0


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
                checked=Accuracy(sum(o.checked.correct for o in outcomes), total),
            )
        )
    finish: dict[str, int] = {}
    runs = failed = with_code = 0
    for result in results:
        for row in ([result.greedy] if result.greedy else []) + result.samples:
            finish[row.finish] = finish.get(row.finish, 0) + 1
            runs += row.code_runs
            failed += row.code_failed
            with_code += row.code_runs > 0
    return Summary(
        problems=total,
        greedy=Accuracy(sum(bool(r.greedy and r.greedy.correct) for r in results), total),
        rows=rows,
        finish_reasons=dict(sorted(finish.items(), key=lambda kv: -kv[1])),
        failed=sum(r.error is not None for r in results),
        unscored=sum(not r.scored and r.error is None for r in results),
        generated_tokens=sum(int(r.timings.get("generated_tokens") or 0) for r in results),
        generate_s=sum(float(r.timings.get("generate_s") or 0.0) for r in results),
        code_runs=runs,
        code_failed=failed,
        solutions_with_code=with_code,
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


def interval_halfwidth(problems: int) -> float:
    """Largest half-width, in points, of a 95% normal interval on an accuracy over `problems`."""
    return 100 * 1.96 * math.sqrt(0.25 / problems) if problems else float("nan")
