"""Hints instead of answers: the idea of the student's next step, asked of the model.

`give_hint` works from the student's solution as far as it is right (the steps before the first
step the step checker finds wrong; an empty solution starts from nothing), asks the model
(a follow-up conversation through the Solver: the problem, the work so far, the hint request)
for the next step's idea at a level of detail that grows with each click (`HINT_LEVELS`), and
checks the reply against the answers the model's own samples reached
(`judgements.hint_guard`): a hint that states one is cut to its other sentences, else another
is drawn (sampled), and after `MAX_DRAWS` the level's fixed hint is given. A hint never
contains a final answer the samples know.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from judgements.hint_guard import fallback_hint, scrub_hint
from judgements.work_check import check_work, right_prefix, split_work
from judgements.work_judges import CHECKER, Samples
from model.checkwork import draw_samples
from model.errors import ModelError
from model.params import SamplingParams
from model.solver import PreparedRun, Solver

HINT_TOKENS = 160
"""A hint's token budget: a sentence or three."""

MAX_DRAWS = 3
"""Hints drawn before falling back to the level's fixed hint."""

NO_STEPS = "(No steps written yet.)"

HINT_LEVELS = (
    "The text above is a student's work so far on this problem (it may stop before the end). Give ONE short "
    "hint for the student's next step: only the idea (which fact or method to use next). Do not compute "
    "anything, do not write any result, and never give the final answer.",
    "Give a more specific hint for the same next step: say which quantity to find next and which operation "
    "gives it, but not its value, and never the final answer.",
    "Give the most specific hint for the next step: write the expression the student should evaluate next, "
    "without evaluating it, and never the final answer.",
)


@dataclass(frozen=True)
class Hint:
    """One hint: its text, its level (0-based), how many were drawn, whether a leak was cut out,
    whether it is the fixed fallback, and the step it works from (the right prefix's length)."""

    text: str
    level: int
    drawn: int
    cut: bool
    fallback: bool
    from_step: int

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def hint_question(level: int) -> str:
    return HINT_LEVELS[min(max(level, 0), len(HINT_LEVELS) - 1)]


def give_hint(solver: Solver, problem: str, solution: str, earlier: Sequence[str], samples: Samples | None, *,
              params: SamplingParams | None = None, seed: int = 0,
              cancel: threading.Event | None = None) -> tuple[Hint, Samples | None]:
    """The next hint (level = how many were given before) and the samples it was checked
    against: drawn here with `params` when not given (see the module docstring)."""
    if samples is None and params is not None:
        samples, _ = draw_samples(solver, problem, params, cancel)
    return _hint(solver, problem, solution, earlier, samples, seed, cancel), samples


def _hint(solver: Solver, problem: str, solution: str, earlier: Sequence[str], samples: Samples | None, seed: int,
          cancel: threading.Event | None) -> Hint:
    level = len(earlier)
    steps = split_work(solution or "")
    prefix = right_prefix(check_work(problem, solution, judges=(CHECKER,))) if steps else []
    work = "\n\n".join(prefix) or NO_STEPS
    answers = samples.known_answers if samples is not None else ()
    exchanges = [(hint_question(i), text) for i, text in enumerate(earlier)]
    cut = False
    for draw in range(MAX_DRAWS):
        if cancel is not None and cancel.is_set():
            break
        try:
            prepared = solver.prepare_follow_up(problem, work, hint_question(level), exchanges, max_new_tokens=HINT_TOKENS)
        except ModelError:  # too long for the context, or the model server does not answer: the fixed hint
            break
        run = prepared.run
        if draw:  # a fresh draw: sampled, not the greedy reply again
            request = dataclasses.replace(run.request, greedy=False, n=1, temperature=1.0, top_p=0.9, seed=seed + draw)
            run = PreparedRun(run.problem, run.params, request)
            result = solver.solve(run, cancel=cancel)
            text = result.samples[0].text if result.samples else ""
        else:
            result = solver.follow_up(prepared, cancel=cancel)
            text = result.greedy.text if result.greedy else ""
        if result.cancelled or result.error:
            break
        scrubbed = scrub_hint(text, answers)
        if scrubbed is not None:
            return Hint(scrubbed, level, draw + 1, cut or scrubbed != " ".join(text.split()), False, len(prefix))
        cut = True
    return Hint(fallback_hint(level), level, MAX_DRAWS, cut, True, len(prefix))


__all__ = ["HINT_LEVELS", "HINT_TOKENS", "MAX_DRAWS", "Hint", "give_hint", "hint_question"]
