"""Check my work, the model's part: draw the model's own solutions and score the student's steps.

`draw_samples` runs an ordinary solve of the problem through the Solver (same queue, same
batch; samples only) and returns them as `judgements.work_judges.Samples`; `prm_step_scores`
asks a loaded process reward model for one score per student step (the steps joined by blank
lines, the PRM's own step separator); `run_check` does both and hands everything to the pure
judgement `judgements.work_check.check_work`. A cancelled or failed draw leaves the samples
judge out and says why; it never loses the other judges' verdicts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from judgements.answers import majority_vote
from judgements.solution import Solution
from judgements.work_check import WorkCheck, WorkInputError, check_work, split_work, validate_work
from judgements.work_judges import Samples
from model.errors import ModelError
from model.params import SamplingParams
from model.solver import Solver

log = logging.getLogger(__name__)


def draw_samples(solver: Solver, problem: str, params: SamplingParams,
                 cancel: threading.Event | None = None) -> tuple[Samples | None, str | None]:
    """The model's sampled solutions to `problem` (no greedy row), or None and why not."""
    if params.n < 1:
        return None, "no samples asked for"
    run = SamplingParams(n=params.n, temperature=params.temperature, top_p=params.top_p,
                         max_new_tokens=params.max_new_tokens, seed=params.seed, include_greedy=False)
    try:
        result = solver.solve(problem, run, cancel=cancel)
    except ModelError as exc:  # a problem it cannot take, a model server that does not answer
        return None, f"the model could not solve the problem: {exc}"
    if result.cancelled:
        return None, "stopped before the model's solutions were drawn"
    if result.error:
        return None, f"drawing the model's solutions failed: {result.error}"
    answers = [s.answer for s in result.samples]
    return Samples(tuple(s.text for s in result.samples), tuple(answers), result.vote or majority_vote(answers)), None


def prm_step_scores(solver: Solver, problem: str, steps: Sequence[str]) -> tuple[list[float] | None, str]:
    """One process-reward score per step when the Solver's scorer is a PRM, else None; and its name."""
    scorer = solver.scorer
    if scorer is None or getattr(scorer, "kind", "") != "prm" or not steps:
        return None, ""
    solution = Solution(1, "sampled", text="\n\n".join(steps), finish_reason="stop")
    try:
        scores = scorer.score(problem, [solution])
    except Exception:  # noqa: BLE001 - a reward model failure leaves that judge out, said in its report
        log.exception("the process reward model failed on a student's solution")
        return None, scorer.name
    steps_scores = scores[0].steps if scores else None
    return (list(steps_scores) if steps_scores is not None else None), scorer.name


def run_check(solver: Solver, problem: object, solution: object, params: SamplingParams | None, *,
              cancel: threading.Event | None = None, samples: Samples | None = None,
              reveal: bool = False) -> tuple[WorkCheck, Samples | None]:
    """Check a student's solution with every judge available; returns the check and the samples
    (drawn here unless given, so a hint can reuse them). Bad input comes back refused, not raised."""
    try:
        problem_text, solution_text = validate_work(problem, solution, max_problem_chars=solver.max_problem_chars)
    except WorkInputError:
        return check_work(problem, solution, max_problem_chars=solver.max_problem_chars), samples
    note = None
    if samples is None and params is not None:
        samples, note = draw_samples(solver, problem_text, params, cancel)
    if cancel is not None and cancel.is_set():
        note = "stopped before the model's solutions were drawn"
        samples = None
    scores, name = (None, "") if cancel is not None and cancel.is_set() else \
        prm_step_scores(solver, problem_text, split_work(solution_text))
    check = check_work(problem_text, solution_text, samples=samples, prm_scores=scores, prm_name=name,
                       reveal=reveal, max_problem_chars=solver.max_problem_chars, samples_note=note)
    return check, samples


__all__ = ["draw_samples", "prm_step_scores", "run_check"]
