"""Running problems through the Solver: one batched run per problem, judged, kept as a record.

`evaluate` solves `parallel` problems at once (each with its own seed, so the results do not
depend on it) and writes each `ProblemResult` as one line of results.jsonl in file order.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from model.params import SamplingParams
from model.errors import ModelError
from evaluation.problems import Problem
from evaluation.scoring import (
    NO_PICK,
    AtN,
    Judge,
    Pick,
    evaluate_prefixes,
    method_names,
    scores_of,
)
from judgements.solution import Solution


@dataclass(frozen=True)
class Row:
    """One generated solution as the results file keeps it."""

    answer: str | None
    correct: bool
    finish: str
    tokens: int
    score: float | None = None
    text: str | None = None
    code_runs: int = 0  # reasoning with Python: cells run in the sandbox
    code_failed: int = 0  # of those, the ones that ended in an error

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "answer": self.answer,
            "correct": self.correct,
            "score": self.score,
            "finish": self.finish,
            "tokens": self.tokens,
        }
        if self.code_runs:
            data["code_runs"] = self.code_runs
            data["code_failed"] = self.code_failed
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
                str(o.n): {"maj": pick(o.majority), "checked": pick(o.checked), "rm": pick(o.rm),
                           "weighted": pick(o.weighted), "pass": o.passed}
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
        code_runs=len(solution.tool_calls),
        code_failed=sum(not call.ok for call in solution.tool_calls),
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
        analysis=run.analysis,
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
