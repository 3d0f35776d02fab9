"""Check my work: a student's own solution, one verdict per step, and its earliest wrong step.

`check_work(problem, solution, samples=..., prm_scores=...)` is the whole judgement, pure and
torch-free (the model layer draws the samples and scores the steps; `model.checkwork`):

1. `split_work`: a solution whose steps are separated by blank lines is split into exactly
   those paragraphs (step k is the k-th paragraph); other text into its non-empty lines.
2. The judges (`judgements.work_judges`): the step checker always, a process reward model's
   step scores when one is loaded, the model's own solutions when drawn (gated on agreement).
3. The student's steps on the reasoning map of the samples (`judgements.work_map`; its leaves
   show the samples' answers, so a page draws it only when the student asks for the answer).
4. One verdict per step: "wrong" when any judge finds it wrong (with every judge's reason),
   else "unsure" when a judge doubts it, else "right" when a judge vouches for it, else
   "unsure" because no judge could check it. `first_wrong_step` is the earliest wrong step.

Bad input never raises: an empty or oversized solution, binary data, or an empty problem is
*refused* with a message (`WorkCheck.refused`), nothing checked; HTML, unbalanced LaTeX, a
solution that uses none of the problem's numbers, a problem the samples find no answer to, are
checked and *noticed* (`WorkCheck.notices`). The text stays text: the page escapes it.

The final answer is never in a verdict unless `reveal` is set (see `judgements.work_judges`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from judgements.answers import extract_answer
from judgements.latex import braces_balanced
from judgements.work_map import StudentMap, student_map
from judgements.work_judges import (
    CHECKER,
    PRM,
    SAMPLES,
    JudgeReport,
    Opinion,
    Samples,
    Verdict,
    checker_judge,
    numbers_in,
    prm_judge,
    samples_judge,
)

MAX_SOLUTION_CHARS = 20_000
"""A longer solution is refused (a student's solution is a page, not a book)."""

MAX_WORK_STEPS = 200
"""A solution with more steps than this is refused."""

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_TAG = re.compile(r"<\s*/?\s*[A-Za-z][^>]*>")
_DELIMS = (("\\(", "\\)"), ("\\[", "\\]"), ("$$", "$$"))


@dataclass(frozen=True)
class StepVerdict:
    """One step's combined verdict: right, wrong or unsure, every reason, and who said it."""

    step: int
    verdict: Verdict
    reasons: tuple[str, ...]
    judges: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "verdict": self.verdict, "reasons": list(self.reasons), "judges": list(self.judges)}

    @classmethod
    def from_dict(cls, data: Any) -> StepVerdict | None:
        if not isinstance(data, dict) or data.get("verdict") not in ("right", "wrong", "unsure"):
            return None
        return cls(int(data.get("step") or 0), data["verdict"], tuple(str(r) for r in data.get("reasons") or ()),
                   tuple(str(j) for j in data.get("judges") or ()))


@dataclass(frozen=True)
class WorkCheck:
    """A checked solution: its steps, a verdict per step, the earliest wrong step (or None), the
    judges' reports, notices about the input, and `refused` (a message) when nothing was checked.
    `student_answer` is the final answer the solution states (the student's own, not hidden)."""

    problem: str
    steps: tuple[str, ...]
    verdicts: tuple[StepVerdict, ...] = ()
    first_wrong_step: int | None = None
    judges: tuple[JudgeReport, ...] = ()
    notices: tuple[str, ...] = ()
    refused: str | None = None
    student_answer: str | None = None
    answers: tuple[str, ...] = field(default=(), repr=False)
    map: StudentMap | None = field(default=None, repr=False)

    @property
    def message(self) -> str:
        """What to tell the student first: the refusal, or where the first wrong step is."""
        if self.refused:
            return self.refused
        if self.first_wrong_step is None:
            return "No wrong step found." + ("" if any(v.verdict == "right" for v in self.verdicts)
                                            else " The judges could check little of it.")
        reasons = self.verdicts[self.first_wrong_step].reasons
        return f"Step {self.first_wrong_step + 1} looks wrong: {reasons[0] if reasons else 'see its reasons'}."

    def to_dict(self) -> dict[str, Any]:
        """The API's JSON: steps, verdicts, first_wrong_step, judges (and message, notices)."""
        return {
            "steps": list(self.steps),
            "verdicts": [v.to_dict() for v in self.verdicts],
            "first_wrong_step": self.first_wrong_step,
            "judges": [j.to_dict() for j in self.judges],
            "message": self.message,
            "notices": list(self.notices),
            "refused": self.refused is not None,
        }


class WorkInputError(ValueError):
    """The problem or solution cannot be checked; the message says why and what to do."""


def clean_text(text: object, noun: str, *, limit: int) -> str:
    """Typed text with line ends normalised and trimmed, or `WorkInputError` saying what is wrong."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise WorkInputError(f"The {noun} must be text.")
    cleaned = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(cleaned) > limit:
        raise WorkInputError(f"The {noun} is {len(cleaned):,} characters long; the limit is {limit:,}. "
                             f"Check a shorter part of it (your text is still in the box).")
    controls = sum(1 for ch in cleaned if (ord(ch) < 32 and ch not in "\n\t") or ch == "\ufffd")
    if "\x00" in cleaned or controls > max(3, len(cleaned) // 100):
        raise WorkInputError(f"The {noun} contains binary data or control characters, not text. Paste it as plain text.")
    return cleaned


def validate_work(problem: object, solution: object, *, max_problem_chars: int = 4000) -> tuple[str, str]:
    """The problem and the solution as typed, cleaned; `WorkInputError` when either cannot be checked."""
    problem_text = clean_text(problem, "problem", limit=max_problem_chars)
    if not problem_text:
        raise WorkInputError("Type the problem first: the problem box is empty.")
    solution_text = clean_text(solution, "solution", limit=MAX_SOLUTION_CHARS)
    if not solution_text:
        raise WorkInputError("Your solution is empty: write your steps, one per line or in paragraphs separated "
                             "by a blank line. Stuck at the start? Ask for a hint.")
    return problem_text, solution_text


def split_work(text: str) -> list[str]:
    """A student's steps: the blank-line-separated paragraphs when there is a blank line, else the lines."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    parts = _BLANK_LINE.split(text) if _BLANK_LINE.search(text) else text.split("\n")
    return [part.strip() for part in parts if part.strip()]


def latex_trouble(step: str) -> str | None:
    """Why a step's LaTeX is unbalanced (an unclosed brace or math delimiter), or None."""
    if not braces_balanced(step):
        return "its braces { } do not pair up"
    for opener, closer in _DELIMS:
        if opener == closer:
            if step.count(opener) % 2:
                return f"a {opener} is never closed"
        elif step.count(opener) != step.count(closer):
            return f"its {opener} and {closer} do not pair up"
    if len(re.findall(r"(?<![\\$])\$(?!\$)", step)) % 2:
        return "a $ is never closed (if it is money, write \\$)"
    return None


def input_notices(problem: str, steps: Sequence[str], solution: str) -> list[str]:
    """What the student should know about the input before trusting the verdicts."""
    notices = []
    if _TAG.search(solution):
        notices.append("Your solution contains HTML tags: they are shown as text and never run.")
    for i, step in enumerate(steps):
        trouble = latex_trouble(step)
        if trouble:
            notices.append(f"Step {i + 1}'s LaTeX is unbalanced ({trouble}): it is shown as text, "
                           "and the checker may misread its formulas.")
            break
    given, used = numbers_in(problem), numbers_in(solution)
    if len(given) >= 2 and used and not (given & used):
        notices.append("Your solution uses none of the problem's numbers: is it a solution to this problem?")
    return notices


def combine(count: int, reports: Sequence[JudgeReport]) -> tuple[StepVerdict, ...]:
    """One verdict per step from every judge's opinions (rule in the module docstring)."""
    verdicts = []
    for i in range(count):
        said: list[tuple[str, Opinion]] = [(r.name, r.opinions[i]) for r in reports if r.used and i in r.opinions]
        for verdict in ("wrong", "unsure", "right"):
            agreeing = [(name, o) for name, o in said if o.verdict == verdict]
            if agreeing:
                reasons = tuple(f"{name}: {o.reason}" for name, o in agreeing)
                verdicts.append(StepVerdict(i, verdict, reasons, tuple(name for name, _ in agreeing)))  # type: ignore[arg-type]
                break
        else:
            verdicts.append(StepVerdict(i, "unsure", ("no judge could check this step",)))
    return tuple(verdicts)


def refused(problem: str, solution: str, message: str) -> WorkCheck:
    """A check that did not happen, with the message why."""
    return WorkCheck(problem, tuple(split_work(solution)) if isinstance(solution, str) else (), refused=message)


def check_work(problem: object, solution: object, *, samples: Samples | None = None,
               prm_scores: Sequence[float] | None = None, prm_name: str = "", reveal: bool = False,
               judges: Sequence[str] = (CHECKER, PRM, SAMPLES), max_problem_chars: int = 4000,
               samples_note: str | None = None) -> WorkCheck:
    """Check a student's solution (see the module docstring). `judges` picks which judges may
    speak (for measuring them one at a time); `samples_note` says why samples are missing."""
    try:
        problem_text, solution_text = validate_work(problem, solution, max_problem_chars=max_problem_chars)
    except WorkInputError as exc:
        return refused(problem if isinstance(problem, str) else "", solution if isinstance(solution, str) else "", str(exc))
    steps = split_work(solution_text)
    if len(steps) > MAX_WORK_STEPS:
        return refused(problem_text, "", f"Your solution has {len(steps)} steps; the limit is {MAX_WORK_STEPS}. "
                                         "Check a shorter part of it.")
    answers = samples.known_answers if samples is not None else ()
    student_answer = extract_answer(solution_text)
    reports = [checker_judge(steps, problem_text, answers=answers, reveal=reveal),
               prm_judge(steps, prm_scores, name=prm_name)]
    samples_report = samples_judge(steps, problem_text, samples, student_answer, reveal=reveal)
    if samples is None and samples_note:
        samples_report = JudgeReport(SAMPLES, False, samples_note)
    reports.append(samples_report)
    reports = [r if r.name in judges else JudgeReport(r.name, False, "not asked for") for r in reports]
    verdicts = combine(len(steps), reports)
    wrong = next((v.step for v in verdicts if v.verdict == "wrong"), None)
    notices = input_notices(problem_text, steps, solution_text)
    if samples is not None and samples.vote.answer is None:
        notices.append("The model's solutions reach no answer to this problem: does it ask for one?")
    tree = student_map(steps, samples, student_answer) if samples is not None and SAMPLES in judges else None
    return WorkCheck(problem_text, tuple(steps), verdicts, wrong, tuple(reports), tuple(notices),
                     student_answer=student_answer, answers=answers, map=tree)


def right_prefix(check: WorkCheck) -> list[str]:
    """The student's steps as far as they are right: those before the first wrong step."""
    end = check.first_wrong_step if check.first_wrong_step is not None else len(check.steps)
    return list(check.steps[:end])


__all__ = [
    "MAX_SOLUTION_CHARS", "MAX_WORK_STEPS", "StepVerdict", "WorkCheck", "WorkInputError", "check_work", "clean_text",
    "combine", "input_notices", "latex_trouble", "refused", "right_prefix", "split_work", "validate_work",
]
