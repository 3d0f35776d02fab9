"""The reasoning map as data: its nodes, its splits and their sentences, and a plain dict form.

`judgements.reasoning_map.build_map` grows a `ReasoningMap` once per run (the Solver calls it
through `judgements.analysis`); the log stores `to_dict()` (JSON), and History, the Teacher tab
and the exports read it back with `ReasoningMap.from_dict`, so a map is drawn, never rebuilt.
Every node carries what a renderer needs: its full text, its short label (`label`, and whether
that label is an equation, `label_formula`), its wrong claims with their right values, its mean
step reward and its answer cluster. Nothing here computes a judgement.

Reading back is tolerant: a claim field a newer step checker added and an older log lacks
takes its default (`judgements.claims.claim_from_dict`), keys nobody knows are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from judgements.claims import Claim, claim_from_dict, claim_to_dict

NodeKind = Literal["root", "step", "fold", "answer"]


@dataclass
class MapNode:
    """One step (or the root, a folded tail, an answer) and the solutions through it.

    `label` is the node's few words (its first claim as written, its answer, `+k more steps`);
    `label_formula` says the label is an equation, for a renderer that typesets it."""

    id: int
    parent: int | None
    depth: int
    kind: NodeKind
    key: str
    text: str
    rows: tuple[int, ...]
    children: list[int] = field(default_factory=list)
    wrong: tuple[Claim, ...] = ()
    reward: float | None = None
    cluster: int | None = None
    folded: tuple[str, ...] = ()
    label: str = ""
    label_formula: bool = False

    @property
    def weight(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "parent": self.parent, "depth": self.depth, "kind": self.kind, "key": self.key,
            "text": self.text, "rows": list(self.rows), "children": list(self.children),
            "wrong": [claim_to_dict(c) for c in self.wrong], "reward": self.reward, "cluster": self.cluster,
            "folded": list(self.folded), "label": self.label, "label_formula": self.label_formula,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MapNode:
        return cls(
            id=int(data["id"]), parent=data.get("parent"), depth=int(data.get("depth", 0)),
            kind=data.get("kind", "step"), key=data.get("key", ""), text=data.get("text", ""),
            rows=tuple(data.get("rows", ())), children=list(data.get("children", ())),
            wrong=tuple(claim_from_dict(c) for c in data.get("wrong", ())), reward=data.get("reward"),
            cluster=data.get("cluster"), folded=tuple(data.get("folded", ())), label=data.get("label", ""),
            label_formula=bool(data.get("label_formula", False)),
        )


@dataclass(frozen=True)
class Branch:
    """One branch named in a split's sentence: its node, how many solutions take it, and what
    it says: an equation (`formula`: `14 \\times 12 = 168`, or only its right side `= 158`
    when it shares its left side with the main branch), an answer (`→ 8`) or text."""

    node: int
    weight: int
    says: str
    formula: bool


@dataclass(frozen=True)
class Split:
    """At `node`, the branches toward the reference cluster (`right`) and away from it (`wrong`);
    `branches` are the ones the sentence names (the heaviest right one first), for a renderer
    that typesets them."""

    node: int
    right: tuple[int, ...]
    wrong: tuple[int, ...]
    sentence: str
    branches: tuple[Branch, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node, "right": list(self.right), "wrong": list(self.wrong), "sentence": self.sentence,
            "branches": [{"node": b.node, "weight": b.weight, "says": b.says, "formula": b.formula} for b in self.branches],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Split:
        branches = tuple(
            Branch(int(b["node"]), int(b.get("weight", 0)), b.get("says", ""), bool(b.get("formula", False)))
            for b in data.get("branches", ())
        )
        return cls(int(data["node"]), tuple(data.get("right", ())), tuple(data.get("wrong", ())),
                   data.get("sentence", ""), branches)


@dataclass
class ReasoningMap:
    """The tree: `nodes[i].id == i`, `nodes[0]` is the root; `reference` is the cluster the
    splits are measured against (None when no solution has an answer); `clusters` each row's
    answer cluster (None: no answer)."""

    nodes: list[MapNode]
    splits: list[Split]
    reference: int | None
    clusters: dict[int, int | None]

    def path(self, row: int) -> list[int]:
        """The node ids from the root to the leaf of one solution."""
        path, node = [0], self.nodes[0]
        while node.children:
            node = next(self.nodes[c] for c in node.children if row in self.nodes[c].rows)
            path.append(node.id)
        return path

    @property
    def leaves(self) -> list[MapNode]:
        return [n for n in self.nodes if not n.children and n.kind != "root"]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (`clusters` as [row, cluster] pairs: JSON keys are only text)."""
        return {
            "nodes": [n.to_dict() for n in self.nodes],
            "splits": [s.to_dict() for s in self.splits],
            "reference": self.reference,
            "clusters": [[row, cluster] for row, cluster in sorted(self.clusters.items())],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReasoningMap:
        return cls(
            nodes=[MapNode.from_dict(n) for n in data.get("nodes", ())],
            splits=[Split.from_dict(s) for s in data.get("splits", ())],
            reference=data.get("reference"),
            clusters={int(row): cluster for row, cluster in data.get("clusters", ())},
        )


__all__ = ["Branch", "MapNode", "NodeKind", "ReasoningMap", "Split"]
