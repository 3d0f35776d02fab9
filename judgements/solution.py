"""One solution, the shape it keeps from the decoder to the page and the log: `Solution`.

Rows of a run: row 0 is the greedy solution (when asked for), rows 1..N the samples. A row
ends for one of `FINISH_REASONS`. Nothing here knows about torch, gradio or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length", "repetition", "cancelled", "error"]
FINISH_REASONS: tuple[str, ...] = ("stop", "length", "repetition", "cancelled", "error")

GREEDY_ROW = 0

SolutionKind = Literal["greedy", "sampled"]


@dataclass(frozen=True)
class ToolCall:
    """One code run of a tool-integrated solution: the cell the model wrote, what the model was
    shown (`output`, already cut as Qwen cuts it), whether it ran without error, and how long
    the sandbox took, in seconds."""

    code: str
    output: str
    ok: bool
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "output": self.output, "ok": self.ok, "elapsed_s": round(self.elapsed_s, 4)}

    @classmethod
    def from_dict(cls, data: Any) -> "ToolCall | None":
        """Read back a logged call; None for anything that is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("code"), str) or not isinstance(data.get("output"), str):
            return None
        elapsed = data.get("elapsed_s")
        return cls(data["code"], data["output"], bool(data.get("ok")),
                   float(elapsed) if isinstance(elapsed, (int, float)) and not isinstance(elapsed, bool) else 0.0)


@dataclass
class Solution:
    """One solution: greedy (row 0) or sampled (rows 1..N).

    While the row streams, `finish_reason` is None and `text` grows; when it finishes the
    Solver sets the reason, the token count, the mean log-probability and the extracted
    answer; after the vote `cluster` (position in `Vote.clusters`, None: no answer); after the
    ranking `reward`, `step_rewards` (a process reward model's) and `weight` (the sample's
    weight in the reward-weighted vote). `tool_calls`: the code runs of a tool-integrated
    solution, in order (their code and output are also in `text`).
    """

    index: int
    kind: SolutionKind
    text: str = ""
    tokens: int = 0
    finish_reason: FinishReason | None = None
    mean_logprob: float | None = None
    answer: str | None = None
    cluster: int | None = None
    reward: float | None = None
    step_rewards: list[float] | None = None
    weight: float | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None


def tool_seconds(calls: list[ToolCall]) -> float:
    """The sandbox's time over a solution's code runs."""
    return sum(call.elapsed_s for call in calls)


def kind_of_row(row: int) -> SolutionKind:
    return "greedy" if row == GREEDY_ROW else "sampled"
