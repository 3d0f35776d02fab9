"""Votes: group N sampled answers into clusters of equivalent ones and pick Maj@N.

`majority_vote` returns a `Vote` (winner, counts, clusters, which cluster each sample joined);
ties go to the cluster whose first member came first (`TIE_RULE`). `Vote.standing` says how
clear the win is (`Standing`: a majority, a tie, no majority at all), so that a page can say
"no majority: 8 different answers" instead of calling one vote in eight a majority.
`vote_from_assignments` reads a logged vote back from each sample's cluster, comparing nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from judgements.answers.equivalence import forms_equal
from judgements.answers.extract import as_text
from judgements.answers.limits import VOTE_TIMEOUT_S
from judgements.answers.normalize import Form, answer_form, normalize_answer
from judgements.answers.symbolic import import_math_verify

TIE_RULE = "the answer given first"
"""How `majority_vote` breaks a tie, in words: among clusters of equal size, the one whose first
member has the lowest index (the lowest sample number) wins."""

StandingKind = Literal["majority", "tie", "no_majority", "no_answer"]


@dataclass(frozen=True)
class Standing:
    """How clear a vote's win is.

    `kind`:
    - `majority`: the winner has at least 2 votes and more than any other answer;
    - `tie`: two or more answers share the top count (at least 2 votes each); the winner is
      the one given first (`TIE_RULE`), its first sample at index `first`;
    - `no_majority`: no answer has more than one vote (each answered sample gave its own
      answer, or only one sample answered);
    - `no_answer`: no sample had an answer.
    `top` is the winner's votes, `distinct` how many different answers there were, `answered`
    how many samples had one, `tied` the answers sharing the top count, winner first (a tie
    only), `first` the index of the winner's first member (in the list voted on).
    """

    kind: StandingKind
    top: int = 0
    distinct: int = 0
    answered: int = 0
    tied: tuple[str, ...] = ()
    first: int | None = None

    @property
    def decided(self) -> bool:
        """Whether one answer won outright (more votes than any other, and more than one)."""
        return self.kind == "majority"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "top": self.top, "distinct": self.distinct, "answered": self.answered,
                "tied": list(self.tied), "first": self.first}

    @classmethod
    def from_dict(cls, data: Any) -> Standing | None:
        """Read back `to_dict`'s form; None for anything else (an older log kept none)."""
        if not isinstance(data, dict) or data.get("kind") not in ("majority", "tie", "no_majority", "no_answer"):
            return None
        first = data.get("first")
        return cls(data["kind"], int(data.get("top") or 0), int(data.get("distinct") or 0),
                   int(data.get("answered") or 0), tuple(str(t) for t in data.get("tied") or ()),
                   int(first) if isinstance(first, int) else None)


def standing_of(clusters: Sequence[Cluster]) -> Standing:
    """The standing of clusters in `Vote.clusters` order (winner first, then by count)."""
    if not clusters:
        return Standing("no_answer")
    top = clusters[0].count
    answered = sum(c.count for c in clusters)
    tied = tuple(c.answer for c in clusters if c.count == top)
    common = {"top": top, "distinct": len(clusters), "answered": answered, "first": clusters[0].first}
    if top < 2:
        return Standing("no_majority", **common)
    if len(tied) > 1:
        return Standing("tie", tied=tied, **common)
    return Standing("majority", **common)


@dataclass(frozen=True)
class Cluster:
    """Answers judged equivalent to each other.

    `members` are indices into the list given to `cluster_answers`/`majority_vote`, ascending.
    `answer` is the text shown for the cluster: the answer string written most often among
    its members (exactly as given), the earliest such member on a tie. `key` is
    `normalize_answer(answer)`, kept separate from the text shown.
    """

    key: str
    answer: str
    members: tuple[int, ...]

    @property
    def count(self) -> int:
        """How many samples gave this answer."""
        return len(self.members)

    @property
    def first(self) -> int:
        """Index of the earliest member: the tie-break."""
        return self.members[0]


@dataclass(frozen=True)
class Vote:
    """The Maj@N result of one run.

    `clusters` come winner first, then by count (descending), then by the index of their
    first member (ascending). `assignments[i]` is the position in `clusters` of sample i's
    cluster, or None when sample i had no answer.
    """

    answer: str | None
    count: int
    total: int
    clusters: tuple[Cluster, ...]
    assignments: tuple[int | None, ...] = ()

    @property
    def winner(self) -> Cluster | None:
        """The winning cluster, or None when no sample had an answer."""
        return self.clusters[0] if self.clusters else None

    @property
    def answered(self) -> int:
        """Samples that had an answer (the sum of the cluster counts)."""
        return sum(c.count for c in self.clusters)

    @property
    def share(self) -> float:
        """The winner's count over all samples, answered or not (0.0 for no samples)."""
        return self.count / self.total if self.total else 0.0

    @property
    def tied(self) -> bool:
        """Whether another cluster has as many members as the winner."""
        return len(self.clusters) > 1 and self.clusters[1].count == self.count

    @property
    def standing(self) -> Standing:
        """How clear the win is: a majority, a tie (broken by `TIE_RULE`), or none."""
        return standing_of(self.clusters)


def shown_answer(answers: Sequence[str | None], members: Sequence[int]) -> str:
    """The text shown for a cluster: its members' most frequent answer, the earliest on a tie."""
    texts = {i: answers[i] if isinstance(answers[i], str) else as_text(answers[i]) for i in members}
    tally: dict[str, int] = {}
    for i in members:
        tally[texts[i]] = tally.get(texts[i], 0) + 1
    best = max(tally.values())
    return next(texts[i] for i in members if tally[texts[i]] == best)


def cluster_answers(answers: Sequence[str | None], *, timeout_s: float = VOTE_TIMEOUT_S) -> list[Cluster]:
    """Group answers by equivalence; None and empty answers join no cluster.

    Method: answers are first grouped by `normalize_answer` key (no sympy). The key groups
    are then taken in the order of their first occurrence; each joins the first existing
    cluster whose *first* key group is `equivalent` to it, or starts a new cluster. Comparing
    against each cluster's first member (never against later ones) keeps an imperfectly
    transitive equivalence from chaining clusters together (0.3 ~ 1/3 ~ 0.333333 does not
    merge 0.3 with 0.333333 through 1/3), at the price that the clusters can depend on which
    answer came first when equivalence is not transitive.

    Sympy work shares one budget of `timeout_s` seconds; after it, key groups are compared
    by key only. Returned in the order of `Vote.clusters`.
    """
    import_math_verify()
    deadline = time.monotonic() + timeout_s
    groups: dict[str, list[int]] = {}
    forms: dict[str, Form] = {}
    for i, raw in enumerate(answers):
        if raw is None:
            continue
        form = answer_form(as_text(raw))
        if not form.key:
            continue
        groups.setdefault(form.key, []).append(i)
        forms.setdefault(form.key, form)
    built: list[list[str]] = []
    for key in groups:
        for cluster_keys in built:
            if forms_equal(forms[cluster_keys[0]], forms[key], deadline):
                cluster_keys.append(key)
                break
        else:
            built.append([key])
    clusters = []
    for cluster_keys in built:
        members = tuple(sorted(i for k in cluster_keys for i in groups[k]))
        shown = shown_answer(answers, members)
        clusters.append(Cluster(key=normalize_answer(shown), answer=shown, members=members))
    clusters.sort(key=lambda c: (-c.count, c.first))
    return clusters


def majority_vote(answers: Sequence[str | None], *, timeout_s: float = VOTE_TIMEOUT_S) -> Vote:
    """Maj@N: the largest cluster of equivalent answers wins.

    Tie-break: among clusters of equal size, the one whose first member has the lowest
    index wins (the answer that was given first). Samples without an answer (None or empty)
    vote for nothing but count in `total`; when no sample has an answer the vote is
    `Vote(answer=None, count=0, total=len(answers), clusters=())`.
    """
    clusters = tuple(cluster_answers(answers, timeout_s=timeout_s))
    assignments: list[int | None] = [None] * len(answers)
    for position, cluster in enumerate(clusters):
        for i in cluster.members:
            assignments[i] = position
    winner = clusters[0] if clusters else None
    return Vote(
        answer=winner.answer if winner else None,
        count=winner.count if winner else 0,
        total=len(answers),
        clusters=clusters,
        assignments=tuple(assignments),
    )


def vote_from_assignments(answers: Sequence[str | None], assignments: Sequence[int | None]) -> Vote:
    """A logged vote read back: `assignments[i]` is the cluster sample i joined (None: no
    answer), as the log keeps it. No answers are compared: the clusters are the logged ones,
    in the vote's order (by count, then by first member: for a whole logged vote, its own), each
    showing its members' most frequent answer; `assignments` are renumbered to that order."""
    members: dict[int, list[int]] = {}
    for i, label in enumerate(assignments[: len(answers)]):
        if label is not None:
            members.setdefault(label, []).append(i)
    labels = sorted(members, key=lambda c: (-len(members[c]), members[c][0]))
    clusters = []
    for label in labels:
        shown = shown_answer(answers, members[label])
        clusters.append(Cluster(key=normalize_answer(shown), answer=shown, members=tuple(members[label])))
    position = {label: i for i, label in enumerate(labels)}
    winner = clusters[0] if clusters else None
    return Vote(
        answer=winner.answer if winner else None,
        count=winner.count if winner else 0,
        total=len(answers),
        clusters=tuple(clusters),
        assignments=tuple(position.get(label) if label is not None else None for label in assignments[: len(answers)]),
    )
