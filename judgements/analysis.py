"""A finished run judged once: every solution's claims, the checked vote and the reasoning map.

The Solver calls `check_row` as each row finishes and `analyse_run` once the run has voted
and ranked, on its ranking thread (never a decode thread); the page, the log, History, the
Teacher tab, the exports and the evaluation read the `RunAnalysis` it returns and compute none
of it again.

- `SolutionAnalysis`: one finished solution's claims (`judgements.steps.checker.Claim`) with
  their verdicts and, for a wrong one, its right value; `wrong_steps` the steps holding one.
- `CheckedVote`: Maj@N among the samples in which the checker found no wrong claim (Maj@N of
  all when none of those has an answer), with the samples it kept (by `Solution.index`) and
  whether it agrees with Maj@N.
- `map`: the reasoning map (`judgements.map_data.ReasoningMap`) of the greedy solution and the
  samples, measured against the majority's answer.

When feedback gives the right answer, `right_cluster` finds the samples' cluster holding it
and `remeasure` measures the stored map's splits against it (the store calls these when it
reads feedback; `ui/` never does). Every part has a plain dict form for the log
(`to_dict`/`from_dict`); claims are read back tolerantly (`judgements.claims`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from judgements.answers.vote import Standing
from judgements.claims import claim_from_dict, claim_to_dict
from judgements.map_data import ReasoningMap
from judgements.reasoning_map import build_map, with_reference
from judgements.steps.checker import Claim, SolutionCheck, check_solution, checked_vote, split_steps
from judgements.tool_text import prose_of

if TYPE_CHECKING:
    from judgements.answers import Vote
    from judgements.solution import Solution


@dataclass(frozen=True)
class SolutionAnalysis:
    """The checker's verdicts on one finished solution (row `index`: 0 greedy, 1..N samples)."""

    index: int
    claims: tuple[Claim, ...] = ()

    @property
    def wrong(self) -> tuple[Claim, ...]:
        return tuple(c for c in self.claims if c.status == "wrong")

    @property
    def wrong_steps(self) -> tuple[int, ...]:
        """The steps (from 0) that hold a wrong claim, in order."""
        return tuple(sorted({c.step for c in self.wrong}))

    @property
    def has_wrong(self) -> bool:
        return any(c.status == "wrong" for c in self.claims)

    def claim_dicts(self) -> list[dict[str, Any]]:
        return [claim_to_dict(c) for c in self.claims]

    @classmethod
    def of(cls, index: int, check: SolutionCheck) -> SolutionAnalysis:
        return cls(index, tuple(check.claims))

    @classmethod
    def from_claims(cls, index: int, claims: Sequence[Mapping[str, Any]]) -> SolutionAnalysis:
        return cls(index, tuple(claim_from_dict(dict(c)) for c in claims))


@dataclass(frozen=True)
class CheckedVote:
    """The checked vote of a run: `answer` won `count` votes among the `kept` samples (their
    `Solution.index`: no wrong claim) of `total`; `fell_back` when none of those had an answer
    and the vote is Maj@N of all; `agrees` whether its answer is Maj@N's (None without one);
    `standing` how clear its win is (`judgements.answers.Standing`: a tie, no majority; None
    when not known, e.g. read back from an older log), `first` its winner's first sample (by
    `Solution.index`: the tie-break)."""

    answer: str | None
    count: int
    kept: tuple[int, ...]
    total: int
    fell_back: bool
    agrees: bool | None = None
    standing: Standing | None = None
    first: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "count": self.count, "kept": list(self.kept), "total": self.total,
                "fell_back": self.fell_back, "agrees": self.agrees,
                "standing": self.standing.to_dict() if self.standing is not None else None, "first": self.first}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckedVote:
        first = data.get("first")
        return cls(data.get("answer"), int(data.get("count") or 0), tuple(data.get("kept") or ()),
                   int(data.get("total") or 0), bool(data.get("fell_back")), data.get("agrees"),
                   Standing.from_dict(data.get("standing")), first if isinstance(first, int) else None)


@dataclass
class RunAnalysis:
    """Everything judged of one run: each finished solution's verdicts (by index), the checked
    vote (None without samples) and the reasoning map (None without a finished, voted sample);
    `standing` how clear Maj@N's win is and `first` its winner's first sample (by
    `Solution.index`: the tie-break), None without a vote or when an older log kept neither
    (`with_standings` reads them back from the logged clusters)."""

    solutions: tuple[SolutionAnalysis, ...] = ()
    checked: CheckedVote | None = None
    map: ReasoningMap | None = None
    standing: Standing | None = None
    first: int | None = None
    _by_index: dict[int, SolutionAnalysis] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_index = {s.index: s for s in self.solutions}

    def of(self, index: int) -> SolutionAnalysis | None:
        """The verdicts on solution `index`, or None when it was not checked."""
        return self._by_index.get(index)

    @property
    def has_wrong_step(self) -> bool:
        """Whether any solution of the run (greedy or sampled) holds a wrong claim."""
        return any(s.has_wrong for s in self.solutions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "solutions": [{"index": s.index, "claims": s.claim_dicts()} for s in self.solutions],
            "checked": self.checked.to_dict() if self.checked is not None else None,
            "map": self.map.to_dict() if self.map is not None else None,
            "standing": self.standing.to_dict() if self.standing is not None else None,
            "first": self.first,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunAnalysis:
        first = data.get("first")
        return cls(
            tuple(SolutionAnalysis.from_claims(int(s["index"]), s.get("claims") or ()) for s in data.get("solutions") or ()),
            CheckedVote.from_dict(data["checked"]) if data.get("checked") else None,
            ReasoningMap.from_dict(data["map"]) if data.get("map") else None,
            Standing.from_dict(data.get("standing")),
            first if isinstance(first, int) else None,
        )


def check_row(solution: Solution, problem: str = "") -> SolutionCheck:
    """The step checker on one finished solution (its steps, for the map, and its claims): its
    prose only, code and output blanked (`judgements.tool_text.prose_of`: code output is exact,
    and the claims' spans still point into the text). `problem` is read for the operations it
    defines (`a * b = 2a + b`), so that a claim about one is not taken for arithmetic."""
    return check_solution(prose_of(solution.text), problem)


def stored_check(solution: Solution, analysis: SolutionAnalysis | None) -> SolutionCheck:
    """A logged solution's steps (split again: cheap, and what the map lays out) with the claims
    its analysis logged (none when it was not checked): no claim is checked again."""
    return SolutionCheck(tuple(split_steps(prose_of(solution.text))), analysis.claims if analysis is not None else ())


def analyse_run(
    greedy: Solution | None,
    samples: Sequence[Solution],
    vote: Vote | None,
    *,
    checks: Mapping[int, SolutionCheck] | None = None,
    problem: str = "",
) -> RunAnalysis:
    """Judge a run once: check every finished solution (reusing `checks`, by index, of rows
    checked as they finished; `problem` as for `check_row`), the checked vote when every sample
    has finished, and the map of the finished solutions when the samples were voted on (`vote`,
    with `Solution.cluster` set)."""
    rows = [s for s in ([greedy] if greedy is not None else []) + list(samples) if s.finished]
    known = dict(checks or {})
    full = {s.index: known[s.index] if s.index in known else check_row(s, problem) for s in rows}
    solutions = tuple(SolutionAnalysis.of(index, full[index]) for index in sorted(full))
    checked = None
    if samples and vote is not None and all(s.finished for s in samples):
        checked = checked_vote_of(samples, [full[s.index] for s in samples], vote)
    tree = None
    if vote is not None and any(s.kind == "sampled" for s in rows):
        tree = build_map(rows, checks=[full[s.index] for s in rows])
    standing = vote.standing if vote is not None and samples else None
    first = samples[standing.first].index if standing is not None and standing.first is not None else None
    return RunAnalysis(solutions, checked, tree, standing, first)


def logged_standing(samples: Sequence[Solution]) -> tuple[Standing, int | None]:
    """Maj@N's standing read back from the samples' logged clusters (comparing no answers), and
    its winner's first sample (by `Solution.index`): for an attempt whose log kept no standing."""
    from judgements.answers import vote_from_assignments

    standing = vote_from_assignments([s.answer for s in samples], [s.cluster for s in samples]).standing
    return standing, samples[standing.first].index if standing.first is not None else None


def with_standings(analysis: RunAnalysis, samples: Sequence[Solution]) -> RunAnalysis:
    """A logged analysis with the standings an older log did not keep (Maj@N's, the checked
    vote's) read back from the samples' logged clusters; as it is when it has them."""
    if analysis.standing is None and samples:
        standing, first = logged_standing(samples)
        analysis = replace(analysis, standing=standing, first=first)
    checked = analysis.checked
    if checked is not None and checked.standing is None:
        kept = set(checked.kept)
        voters = list(samples) if checked.fell_back else [s for s in samples if s.index in kept]
        standing, first = logged_standing(voters)
        analysis = replace(analysis, checked=replace(checked, standing=standing, first=first))
    return analysis


def checked_vote_of(samples: Sequence[Solution], checks: Sequence[SolutionCheck | SolutionAnalysis], vote: Vote) -> CheckedVote:
    """The checked vote of `samples` given the checker's verdicts on each (`checks`, in order:
    a fresh `SolutionCheck` or a logged `SolutionAnalysis`; only whether it holds a wrong claim
    counts) and their Maj@N `vote`, which it is compared with."""
    found = checked_vote(samples, checks)  # type: ignore[arg-type]  # reads only `has_wrong`
    agrees = None
    if found.answer is not None and vote.answer is not None:
        if found.fell_back:
            agrees = True
        else:  # its winner's first sample sits in Maj@N's winning cluster (cluster 0), or not
            first = found.kept[found.vote.clusters[0].first]
            agrees = vote.assignments[first] == 0 if first < len(vote.assignments) else None
    standing = found.vote.standing
    voters = samples if found.fell_back else [samples[i] for i in found.kept]
    return CheckedVote(
        answer=found.answer,
        count=found.vote.count,
        kept=tuple(samples[i].index for i in found.kept),
        total=len(samples),
        fell_back=found.fell_back,
        agrees=agrees,
        standing=standing,
        first=voters[standing.first].index if standing.first is not None else None,
    )


def right_cluster(samples: Sequence[Solution], right_answer: str | None) -> int | None:
    """The cluster of the samples whose answer is `right_answer` (feedback's right answer);
    None when there is none, and a map is measured against the majority."""
    if not right_answer or not right_answer.strip():
        return None
    from judgements.answers import equivalent

    for sample in samples:
        if sample.cluster is not None and sample.answer and equivalent(sample.answer, right_answer):
            return sample.cluster
    return None


def remeasure(tree: ReasoningMap, samples: Sequence[Solution], right_answer: str | None) -> tuple[ReasoningMap, bool]:
    """The map with its splits measured against `right_answer` when a sample reached it, and
    whether one did (False with no answer given, too: then the map is the majority's)."""
    cluster = right_cluster(samples, right_answer)
    return with_reference(tree, cluster), cluster is not None


__all__ = [
    "CheckedVote",
    "Claim",
    "RunAnalysis",
    "SolutionAnalysis",
    "analyse_run",
    "check_row",
    "checked_vote_of",
    "remeasure",
    "right_cluster",
    "logged_standing",
    "stored_check",
    "with_standings",
]
