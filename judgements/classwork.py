"""One problem across the class: every run's solutions voted on together, and one map over them.

For the Teacher's "Same problem across the class" (the store reads the runs, `storage.review`
calls `class_work`, `ui/classview.py` draws the result):

- the answers the runs reached, clustered across the class as in a vote (`majority_vote`
  over every finished solution), with how many solutions gave each, in how many runs it
  appears and how many runs concluded it (their Maj@N, else their greedy answer);
- the right answer: the one feedback gave, else the majority of all the solutions;
- one reasoning map over the solutions (at most `MAX_MAP_SOLUTIONS`: round by round, each
  run's next solution, newest runs first), its splits measured against the right answer when
  feedback gave one that a drawn solution reached. Its wrong steps are the ones each run's
  analysis logged (`stored_check`: steps split again, no claim checked again); a solution
  of a run logged before the app kept its analysis shows none.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from judgements.analysis import RunAnalysis, right_cluster, stored_check
from judgements.answers import equivalent, majority_vote
from judgements.map_data import ReasoningMap
from judgements.reasoning_map import build_map
from judgements.solution import Solution
from judgements.steps.checker import SolutionCheck

MAX_MAP_SOLUTIONS = 96
"""Solutions drawn on the class's map: every run's first ones, newest runs first."""


@dataclass(frozen=True)
class ClassRun:
    """One run of the problem as the log has it: its attempt's id and session, its solutions,
    the answer it concluded (its Maj@N, else its greedy answer; None: none) and its analysis
    (None: logged before the app kept one)."""

    attempt_id: str
    session: str
    solutions: tuple[Solution, ...]
    concluded: str | None
    analysis: RunAnalysis | None = None


@dataclass(frozen=True)
class ClassRow:
    """One answer the class reached: its cluster, how many solutions gave it, in how many runs
    it appeared, how many runs concluded it, and whether it is the right one."""

    cluster: int
    answer: str
    solutions: int
    in_runs: int
    concluded: int
    right: bool


@dataclass
class ClassWork:
    """The class's runs of one problem, counted. `owners[i]`: the (attempt id, row) of the
    class's solution i (the map's rows); `right_from` is "feedback" or "majority";
    `map_reached` whether a drawn solution reached feedback's answer (the map is then measured
    against it, else against the majority); `drawn` how many solutions the map draws."""

    runs: int
    sessions: int
    total: int
    solutions: int
    owners: list[tuple[str, int]]
    rows: list[ClassRow]
    right_answer: str | None
    right_from: str
    map: ReasoningMap | None
    drawn: int
    map_reached: bool

    @property
    def unanswered(self) -> int:
        return self.solutions - sum(r.solutions for r in self.rows)


def class_solutions(runs: Sequence[ClassRun]) -> tuple[list[Solution], list[tuple[int, int]], list[SolutionCheck]]:
    """Every finished solution with text of the runs, renumbered, with (run position, row) and
    its steps and logged claims."""
    solutions: list[Solution] = []
    owners: list[tuple[int, int]] = []
    checks: list[SolutionCheck] = []
    for position, run in enumerate(runs):
        for solution in run.solutions:
            if not solution.finished or not solution.text.strip():
                continue
            owners.append((position, solution.index))
            checks.append(stored_check(solution, run.analysis.of(solution.index) if run.analysis else None))
            solutions.append(dataclasses.replace(solution, index=len(solutions), kind="sampled", cluster=None))
    return solutions, owners, checks


def class_work(runs: Sequence[ClassRun], total: int, feedback_answer: str | None) -> ClassWork:
    """Count the class's answers and map its solutions (see the module doc); `total` is how
    many runs of the problem the log holds, `feedback_answer` the answer feedback marked right."""
    solutions, owners, checks = class_solutions(runs)
    vote = majority_vote([s.answer for s in solutions])
    for solution, cluster in zip(solutions, vote.assignments):
        solution.cluster = cluster
    right_answer, right_from, right = feedback_answer, "feedback" if feedback_answer else "majority", None
    if feedback_answer:
        right = next((i for i, c in enumerate(vote.clusters) if equivalent(c.answer, feedback_answer)), None)
    elif vote.clusters:
        right_answer, right = vote.clusters[0].answer, 0

    in_runs: Counter[int] = Counter()
    concluded: Counter[int] = Counter()
    for position, run in enumerate(runs):
        mine = [s for (owner, _), s in zip(owners, solutions) if owner == position]
        in_runs.update({s.cluster for s in mine if s.cluster is not None})
        cluster = _run_answer(run, mine)
        if cluster is not None:
            concluded[cluster] += 1
    rows = [ClassRow(i, c.answer, c.count, in_runs[i], concluded[i], i == right) for i, c in enumerate(vote.clusters)]

    shown = map_sample(solutions, owners)
    tree, reached = None, False
    if shown:
        cluster = right_cluster(shown, feedback_answer)
        reached = cluster is not None
        tree = build_map(shown, right_cluster=cluster, checks=[checks[s.index] for s in shown])
    return ClassWork(
        runs=len(runs), sessions=len({r.session for r in runs}), total=total, solutions=len(solutions),
        owners=[(runs[position].attempt_id, own) for position, own in owners], rows=rows, right_answer=right_answer,
        right_from=right_from, map=tree, drawn=len(shown), map_reached=reached,
    )


def _run_answer(run: ClassRun, mine: list[Solution]) -> int | None:
    """The cluster of the answer a run concluded (its Maj@N, else its greedy answer)."""
    if run.concluded is None:
        return None
    for solution in mine:
        if solution.answer == run.concluded and solution.cluster is not None:
            return solution.cluster
    counts = Counter(s.cluster for s in mine if s.cluster is not None)
    return counts.most_common(1)[0][0] if counts else None


def map_sample(solutions: Sequence[Solution], owners: Sequence[tuple[int, int]]) -> list[Solution]:
    """The solutions drawn on the class's map: round by round, each run's next solution, newest
    runs first, up to MAX_MAP_SOLUTIONS."""
    by_run: dict[int, list[Solution]] = {}
    for (owner, _), solution in zip(owners, solutions):
        by_run.setdefault(owner, []).append(solution)
    chosen: list[Solution] = []
    depth = 0
    while len(chosen) < MAX_MAP_SOLUTIONS and any(depth < len(v) for v in by_run.values()):
        for owner in sorted(by_run):
            if depth < len(by_run[owner]) and len(chosen) < MAX_MAP_SOLUTIONS:
                chosen.append(by_run[owner][depth])
        depth += 1
    return sorted(chosen, key=lambda s: s.index)


__all__ = ["MAX_MAP_SOLUTIONS", "ClassRow", "ClassRun", "ClassWork", "class_solutions", "class_work", "map_sample"]
