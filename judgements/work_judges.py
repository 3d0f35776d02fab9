"""The judges of a student's own solution ("Check my work"), each saying what it saw, per step.

Each judge reads the student's steps (as `judgements.work_check.split_work` split them) and
returns a `JudgeReport`: per step an `Opinion` ("right", "wrong" or "unsure" with a reason),
the first step it finds wrong, and one sentence of what it saw. `judgements.work_check`
combines them into one verdict per step.

- `checker_judge`: the step checker (`judgements.steps.checker`), always: "14 × 12 = 168, not
  158". Only claims read with certainty make a step wrong; a claim that would be wrong under an
  uncertain reading makes it unsure.
- `prm_judge`: a process reward model's per-step scores (`Score.steps`, one per step): a step
  below `PRM_THRESHOLD` is wrong (the threshold ProcessBench uses for Qwen's PRMs); the report
  says where the score drops most.
- `samples_judge`: the model's own sampled solutions: Maj@N and its agreement among the samples
  the step checker finds no wrong claim in (the checked vote's rule). Gated: only a
  strong majority (`STRONG_SHARE` of the samples, at least `STRONG_VOTES`, no tie) speaks, and
  then only when the student's final answer differs from it, placing the error where the
  student's path leaves every path of the majority's solutions (the first step with a new
  number none of them writes), else at the final step. Weak agreement says nothing.

Nothing here reveals a final answer: a checker's right value that is the student's final
result, or equals a sampled answer, is withheld unless `reveal` (the student asked).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from judgements.answers import Vote, equivalent, extract_answer, majority_vote
from judgements.steps.checker import Claim, SolutionCheck, check_solution

Verdict = Literal["right", "wrong", "unsure"]

PRM_THRESHOLD = 0.5
"""A step a process reward model scores below this is wrong (ProcessBench's rule for Qwen's PRMs)."""

STRONG_SHARE = 0.6
"""The model's solutions speak only when the majority holds at least this share of the samples..."""

STRONG_VOTES = 3
"""...and at least this many votes, with no tie."""

CHECKER, PRM, SAMPLES = "step checker", "process reward model", "model's solutions"

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")


@dataclass(frozen=True)
class Opinion:
    """One judge on one step: its verdict and why."""

    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class JudgeReport:
    """What one judge saw: `used` (False: it could not judge, `said` says why), its opinions per
    step (index -> Opinion; steps it has nothing on are absent), the first step it found wrong,
    and `details`: JSON-able facts (scores, agreement), never a hidden answer."""

    name: str
    used: bool
    said: str
    opinions: dict[int, Opinion] = field(default_factory=dict)
    first_wrong: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "used": self.used, "said": self.said, "first_wrong_step": self.first_wrong,
                "details": self.details}


@dataclass(frozen=True)
class Samples:
    """The model's sampled solutions to the problem: their texts, answers and Maj@N."""

    texts: tuple[str, ...]
    answers: tuple[str | None, ...]
    vote: Vote

    @classmethod
    def of(cls, texts: Sequence[str], answers: Sequence[str | None] | None = None) -> Samples:
        found = tuple(answers) if answers is not None else tuple(extract_answer(t) if t else None for t in texts)
        return cls(tuple(texts), found, majority_vote(list(found)))

    @property
    def known_answers(self) -> tuple[str, ...]:
        """Every answer a cluster of the samples reached (what a hint or a reason must not say)."""
        return tuple(c.answer for c in self.vote.clusters)

    def unflagged(self) -> Samples:
        """Only the samples in which the step checker finds no wrong claim (the checked vote's
        rule): a model's shared arithmetic slip cannot make a strong majority."""
        kept = [i for i, text in enumerate(self.texts) if not check_solution(text).wrong]
        return Samples(tuple(self.texts[i] for i in kept), tuple(self.answers[i] for i in kept),
                       majority_vote([self.answers[i] for i in kept]))

    @property
    def strong(self) -> bool:
        """Whether the majority is strong enough for this judge to speak (see the module docstring)."""
        vote = self.vote
        return (vote.answer is not None and not vote.tied and vote.count >= STRONG_VOTES
                and vote.total > 0 and vote.count / vote.total >= STRONG_SHARE)


def first_wrong(opinions: dict[int, Opinion]) -> int | None:
    wrong = [i for i, o in opinions.items() if o.verdict == "wrong"]
    return min(wrong) if wrong else None


def _hidden(value: str | None, final_step: bool, answers: Sequence[str], reveal: bool) -> bool:
    """Whether a right value would give away a final answer."""
    if reveal or value is None:
        return False
    if final_step:
        return True
    return any(equivalent(value, answer, timeout_s=0.5) for answer in answers)


def claim_reason(claim: Claim, *, hide: bool) -> str:
    """The checker's sentence for a wrong or doubtful claim: "14 × 12 = 168, not 158"."""
    read = claim.read_as or " ".join(claim.text.split())
    written = " ".join(claim.written.split())
    if claim.status == "wrong":
        if hide:
            return f"{read} is not {written}: work it out again"
        return f"{read} = {claim.right}, not {written}"
    why = claim.reason.removeprefix("not marked: ") or "the reading is a guess"
    if hide:
        return f"{read} may not be {written} (not sure: {why})"
    return f"{read} may be {claim.right}, not {written} (not sure: {why})"


def checker_judge(steps: Sequence[str], problem: str, *, answers: Sequence[str] = (), reveal: bool = False,
                  check: SolutionCheck | None = None) -> JudgeReport:
    """The step checker on each step (the steps joined by blank lines: paragraph k is step k)."""
    check = check or check_solution("\n\n".join(steps), problem)
    paragraph = {s.index: s.paragraph for s in check.steps}
    last = len(steps) - 1
    found: dict[int, list[tuple[Verdict, str]]] = {}
    for claim in check.claims:
        at = paragraph.get(claim.step, 0)
        if claim.status == "wrong" and claim.certain:
            found.setdefault(at, []).append(("wrong", claim_reason(claim, hide=_hidden(claim.right, at == last, answers, reveal))))
        elif claim.status == "not checked" and claim.right is not None:
            found.setdefault(at, []).append(("unsure", claim_reason(claim, hide=_hidden(claim.right, at == last, answers, reveal))))
        elif claim.status == "right":
            found.setdefault(at, []).append(("right", f"{claim.read_as or claim.text} {claim.relation} {claim.written}: right"))
    opinions: dict[int, Opinion] = {}
    for at, said in found.items():
        for verdict in ("wrong", "unsure", "right"):
            reasons = [r for v, r in said if v == verdict]
            if reasons:
                opinions[at] = Opinion(verdict, "; ".join(reasons[:3]))  # type: ignore[arg-type]
                break
    wrong = first_wrong(opinions)
    checked = sum(c.status != "not checked" for c in check.claims)
    if wrong is not None:
        said = f"a wrong calculation in step {wrong + 1}"
    elif checked:
        said = f"{checked} calculation{'s' if checked != 1 else ''} checked, none wrong"
    else:
        said = "no calculation it could check"
    return JudgeReport(CHECKER, True, said, opinions, wrong,
                       {"checked": checked, "wrong": len(check.wrong), "truncated": check.truncated})


def prm_judge(steps: Sequence[str], scores: Sequence[float] | None, *, name: str = "") -> JudgeReport:
    """A process reward model's per-step scores (probability that the step is right)."""
    if scores is None:
        return JudgeReport(PRM, False, "no process reward model is loaded")
    if len(scores) != len(steps):
        return JudgeReport(PRM, False, f"the reward model read {len(scores)} steps where there are {len(steps)} "
                                       "(the solution may not fit its context)")
    opinions: dict[int, Opinion] = {}
    previous: float | None = None
    drop_at, drop = None, 0.0
    for i, score in enumerate(scores):
        change = f" (from {previous:.2f})" if previous is not None else ""
        if score < PRM_THRESHOLD:
            opinions[i] = Opinion("wrong", f"the process reward model gives this step {score:.2f}{change}")
        else:
            opinions[i] = Opinion("right", f"the process reward model gives this step {score:.2f}")
        if previous is not None and previous - score > drop:
            drop_at, drop = i, previous - score
        previous = score
    wrong = first_wrong(opinions)
    said = (f"scores fall below {PRM_THRESHOLD} at step {wrong + 1}" if wrong is not None
            else f"every step scores at least {PRM_THRESHOLD}")
    if drop_at is not None:
        said += f"; the biggest drop is at step {drop_at + 1} (by {drop:.2f})"
    return JudgeReport(PRM, True, said, opinions, wrong,
                       {"model": name, "scores": [round(float(s), 4) for s in scores], "drop_step": drop_at})


def numbers_in(text: str) -> set[str]:
    """The numbers a text writes, normalised (`1,000` -> `1000`, `2.50` -> `2.5`)."""
    found = set()
    for raw in _NUMBER.findall(re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)):
        if "." in raw:
            raw = raw.rstrip("0").rstrip(".")
        found.add(raw.lstrip("-") or "0")
    return found


def leaves_paths(steps: Sequence[str], problem: str, texts: Sequence[str]) -> tuple[int, str] | None:
    """The first step that writes a number no sample in `texts` writes (and the problem does not
    give, and no earlier step wrote): where the student's path leaves all of theirs."""
    seen = numbers_in(problem)
    theirs = set().union(*(numbers_in(t) for t in texts)) if texts else set()
    for i, step in enumerate(steps):
        new = sorted(numbers_in(step) - seen - theirs, key=lambda n: (len(n), n))
        if new:
            return i, new[0]
        seen |= numbers_in(step)
    return None


def samples_judge(steps: Sequence[str], problem: str, samples: Samples | None, student_answer: str | None, *,
                  reveal: bool = False) -> JudgeReport:
    """The model's own solutions: Maj@N, gated on agreement (see the module docstring)."""
    if samples is None:
        return JudgeReport(SAMPLES, False, "the model's solutions were not drawn")
    drawn = samples.vote.total
    samples = samples.unflagged()
    vote, total = samples.vote, samples.vote.total
    details: dict[str, Any] = {"samples": drawn, "unflagged": total, "agreement": vote.count,
                               "answers": len(vote.clusters), "tied": vote.tied}
    if reveal and vote.answer is not None:
        details["answer"] = vote.answer
    if vote.answer is None:
        why = (f"none of the model's {drawn} solutions reaches an answer" if total == drawn else
               f"none of the model's {drawn} solutions reaches an answer without a wrong calculation")
        return JudgeReport(SAMPLES, True, f"{why}: it says nothing", details=details)
    if not samples.strong:
        return JudgeReport(SAMPLES, True, f"the model's {total} solutions disagree ({vote.count} of {total} agree at best): "
                                          "too weak to judge, so it says nothing", details=details)
    agree = (f"{vote.count} of {total} of the model's solutions" if total == drawn else
             f"{vote.count} of the {total} model solutions with no wrong calculation")
    last = len(steps) - 1
    if student_answer is None:
        return JudgeReport(SAMPLES, True, f"{agree} agree on an answer; your solution states none",
                           {last: Opinion("unsure", "no final answer found in your solution")}, details=details)
    if equivalent(student_answer, vote.answer, timeout_s=2.0):
        return JudgeReport(SAMPLES, True, f"{agree} reach your final answer",
                           {last: Opinion("right", f"{agree} reach this answer")}, details=details)
    reveal_words = f" ({vote.answer})" if reveal else ""
    opinions = {last: Opinion("wrong", f"your final answer differs from the one {agree} reach{reveal_words}")}
    winners = [samples.texts[i] for i in vote.clusters[0].members if i < len(samples.texts)]
    leaves = leaves_paths(steps, problem, winners)
    if leaves is not None and leaves[0] < last:
        at, number = leaves
        opinions[at] = Opinion("wrong", f"here your path leaves every path of the {len(winners)} model solutions that agree: "
                                        f"none of them writes {number}")
    details["leaves_at"] = leaves[0] if leaves is not None else None
    wrong = first_wrong(opinions)
    return JudgeReport(SAMPLES, True, f"{agree} reach another final answer than yours", opinions, wrong, details)


__all__ = [
    "CHECKER", "PRM", "PRM_THRESHOLD", "SAMPLES", "STRONG_SHARE", "STRONG_VOTES", "JudgeReport", "Opinion", "Samples",
    "Verdict", "checker_judge", "claim_reason", "first_wrong", "leaves_paths", "numbers_in", "prm_judge",
    "samples_judge",
]
