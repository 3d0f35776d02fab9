"""The student's steps on the reasoning map: their path among the model's sampled solutions, and
the step where it leaves every path the samples took.

`student_map(steps, samples, student_answer)` lays the student's solution (row `STUDENT_ROW`, its
steps joined by blank lines) and the samples (rows 1..N, as in a run) into one tree with
`judgements.reasoning_map.build_map`: the student shares a node with the samples while their steps
say the same thing (the same equation, or the same text normalised), and leaves at the first
step none of them takes. `leaves_at` is that step as the student numbered it (None when the
student's path never leaves theirs, or there are no samples). The tree's leaves show the
samples' answers: a page shows it only when the student asked for the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from judgements.answers import equivalent
from judgements.map_data import ReasoningMap
from judgements.reasoning_map import build_map
from judgements.solution import Solution
from judgements.steps.checker import normalize_step
from judgements.work_judges import Samples

STUDENT_ROW = 0
"""The student's row in the map: where a run's greedy solution would be."""


@dataclass(frozen=True)
class StudentMap:
    """The map with the student's path, and the student's step where it leaves the samples'."""

    tree: ReasoningMap
    leaves_at: int | None


def _step_of(steps: Sequence[str], text: str) -> int | None:
    """Which of the student's steps holds a map node's text."""
    wanted = normalize_step(text)
    for i, step in enumerate(steps):
        if wanted and wanted in normalize_step(step):
            return i
    return None


def student_map(steps: Sequence[str], samples: Samples, student_answer: str | None) -> StudentMap | None:
    """The map of the samples and the student's steps (None without samples or steps)."""
    if not steps or not samples.texts:
        return None
    assignments = samples.vote.assignments or (None,) * len(samples.texts)
    rows = [Solution(i + 1, "sampled", text=text, finish_reason="stop", answer=answer, cluster=cluster)
            for i, (text, answer, cluster) in enumerate(zip(samples.texts, samples.answers, assignments))]
    mine = next((k for k, c in enumerate(samples.vote.clusters)
                 if student_answer and equivalent(student_answer, c.answer, timeout_s=1.0)), None)
    student = Solution(STUDENT_ROW, "greedy", text="\n\n".join(steps), finish_reason="stop", answer=student_answer,
                       cluster=mine)
    tree = build_map([student, *rows])
    leaves_at = None
    for node_id in tree.path(STUDENT_ROW)[1:]:
        node = tree.nodes[node_id]
        if node.rows == (STUDENT_ROW,):
            leaves_at = _step_of(steps, node.text) if node.kind in ("step", "fold") else len(steps) - 1
            break
    return StudentMap(tree, leaves_at)


__all__ = ["STUDENT_ROW", "StudentMap", "student_map"]
