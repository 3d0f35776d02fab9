"""Reasoning with Python over an OpenAI-compatible server: where a row's round of text ends.

Each round is one completion request of one row (the prompt plus the row's text so far), with
```` ```output ```` among its stop strings. A server that honours stop strings (vLLM, SGLang) ends
the round before the stop, with finish reason `stop` (vLLM also names the string in
`stop_reason`); the row's text then gets the stop added here. A server that ignores them
(`transformers serve` 5.x streams straight past it, tried) is cut here: `RoundCut` holds back
the end of the streamed text while it could be the start of the stop, and cuts the round right
after the stop (the request is hung up). Either way the row's text reads `...```output` before
the output is appended, as on the local backend.
"""

from __future__ import annotations

from judgements.tool_text import blocks
from model.tools import CODE_STOP


def _partial_stop(text: str) -> int:
    """Characters at the end of `text` that could begin the stop."""
    for size in range(min(len(CODE_STOP) - 1, len(text)), 0, -1):
        if text.endswith(CODE_STOP[:size]):
            return size
    return 0


class RoundCut:
    """One tool-integrated row's streamed text: what may be shown now, and whether the round
    reached the code stop."""

    def __init__(self) -> None:
        self.held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text to show now, whether the stop is in it: then the text ends with the stop and
        whatever streamed past it is dropped)."""
        held = self.held + text
        at = held.find(CODE_STOP)
        if at >= 0:
            self.held = ""
            return held[: at + len(CODE_STOP)], True
        keep = _partial_stop(held)
        self.held = held[len(held) - keep:] if keep else ""
        return held[: len(held) - keep], False

    def flush(self) -> str:
        """The held-back text, at the end of a round that did not reach the stop."""
        held, self.held = self.held, ""
        return held


def stopped_for_code(text: str, stop_reason: str | None) -> bool:
    """Whether a row whose round ended with finish reason `stop` (and no stop in its text) was
    stopped by a server at the code stop: the server says so (`stop_reason`), or, as Qwen's
    harness decides, the text ends with a closed ```` ```python ```` cell (a server that names no
    stop string leaves nothing else to go by)."""
    if stop_reason is not None:
        return stop_reason == CODE_STOP
    pieces = blocks(text.rstrip())
    return bool(pieces) and pieces[-1].kind == "code" and pieces[-1].closed


def round_seed(seed: int, row: int, round_index: int) -> int:
    """The seed of a row's `round_index`-th request (0: the row's first, `seed + row` as
    without tools), so that a seeded run can be repeated where the server honours seeds."""
    return (seed + row + 1_000_003 * round_index) % 2**63


__all__ = ["RoundCut", "round_seed", "stopped_for_code"]
