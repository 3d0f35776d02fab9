"""Where a tool-integrated (TIR) solution's Python cells and their outputs sit in its text.

Qwen2.5-Math-Instruct's format: the model writes a cell as a fenced block opening with a line
that starts with three backticks and `python`, closes it with a line of three backticks, and
stops at three backticks and `output`; the app appends the output and the closing fence:

    Let me compute it.
    ```python
    print(6 * 7)
    ```
    ```output
    42
    ```
    So the answer is \\boxed{42}.

`blocks` cuts a text into prose, code and output pieces (the page draws them, a block still
streaming included); `last_program` is the cell the model just wrote (Qwen's `extract_program`
with `last_only`); `prose_of` blanks code and output out, keeping every other character where it
was, so the step checker reads only the prose (code output is exact) and its claims' spans still
point into the solution's text. Nothing here knows about torch, gradio or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CODE_FENCE = "```python"
OUTPUT_FENCE = "```output"
CLOSE_FENCE = "```"

BlockKind = Literal["prose", "code", "output"]


@dataclass(frozen=True)
class Block:
    """`text[start:end]` of a solution: prose, a cell's code or its output. For code and output,
    `body` is the inside of the fences and `closed` whether the closing fence has come."""

    kind: BlockKind
    start: int
    end: int
    body: str = ""
    closed: bool = True


def _opener(line: str) -> BlockKind | None:
    stripped = line.strip()
    if stripped.startswith(CODE_FENCE) or stripped.endswith(CODE_FENCE):
        return "code"
    if stripped.startswith(OUTPUT_FENCE):
        return "output"
    return None


def blocks(text: str) -> list[Block]:
    """The text as prose, code and output blocks in order; their spans tile it. A fence opens
    at the start of a line (a line ending in ```` ```python ```` opens code too, as Qwen reads
    it) and a line starting with three backticks closes it; a block whose closing fence has not
    come runs to the end (`closed` False)."""
    out: list[Block] = []
    kind: BlockKind | None = None
    start = 0  # of the current piece (prose or a block's opening fence)
    body_start = 0
    pos = 0
    for line in text.splitlines(keepends=True):
        line_end = pos + len(line)
        if kind is None:
            opened = _opener(line)
            if opened is not None:
                fence = pos + max(line.find(CODE_FENCE if opened == "code" else OUTPUT_FENCE), 0)
                if fence > start:  # the prose before it, a line's start before the fence included
                    out.append(Block("prose", start, fence))
                kind, start, body_start = opened, fence, line_end
        elif line.lstrip().startswith(CLOSE_FENCE):
            out.append(Block(kind, start, line_end, text[body_start:pos], True))
            kind, start = None, line_end
        pos = line_end
    if kind is not None:
        out.append(Block(kind, start, len(text), text[body_start:], False))
    elif len(text) > start:
        out.append(Block("prose", start, len(text)))
    return out


def last_program(text: str) -> str:
    """The code of the last ```` ```python ```` cell in `text` (what runs at a ```` ```output ````
    stop; empty when the model wrote no cell)."""
    cells = [b.body for b in blocks(text) if b.kind == "code"]
    return cells[-1] if cells else ""


def has_tool_blocks(text: str) -> bool:
    return CODE_FENCE in text or OUTPUT_FENCE in text


def prose_of(text: str) -> str:
    """`text` with every code and output block blanked out (each character but a line end
    becomes a space): the same length, the same line breaks, so positions in it are positions
    in `text`, and a blanked block reads as blank lines between the prose around it."""
    if not has_tool_blocks(text):
        return text
    pieces = []
    for block in blocks(text):
        piece = text[block.start : block.end]
        if block.kind != "prose":
            piece = "".join(ch if ch == "\n" else " " for ch in piece)
        pieces.append(piece)
    return "".join(pieces)


__all__ = ["CLOSE_FENCE", "CODE_FENCE", "OUTPUT_FENCE", "Block", "blocks", "has_tool_blocks", "last_program", "prose_of"]
