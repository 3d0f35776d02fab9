"""Brace and bracket matching in LaTeX source, shared by answer parsing and page rendering.

LaTeX escapes braces (`\\{`, `\\}` are literal) and pairs brackets loosely (`[0,1)` is an
interval), so these helpers scan the text themselves instead of counting characters.
"""

from __future__ import annotations

from collections.abc import Iterator

OPENING = "([{"
CLOSING = ")]}"


def brace_pairs(text: str) -> dict[int, int]:
    """Map the index of every closed `{` to the index of its `}`, in one pass.

    `\\{` and `\\}` are literal braces in LaTeX and do not count; `\\\\` is one token.
    """
    pairs: dict[int, int] = {}
    stack: list[int] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            pairs[stack.pop()] = i
        i += 1
    return pairs


def braced_group(text: str, open_at: int) -> int | None:
    """Index of the `}` closing the `{` at `open_at`, or None when it is never closed."""
    end = group_end(text, open_at) if text[open_at:open_at + 1] == "{" else None
    return None if end is None else end - 1


def _brace_depths(text: str, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, str, int]]:
    """(index, brace, depth after it) at each unescaped `{` or `}` of `text[start:stop]`; `\\x`
    is one escape, so `\\{` and `\\}` are not braces."""
    depth = 0
    i = start
    n = len(text) if stop is None else min(len(text), stop)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{" or c == "}":
            depth += 1 if c == "{" else -1
            yield i, c, depth
        i += 1


def group_end(text: str, i: int, limit: int | None = None) -> int | None:
    """Index just past the `}` closing the `{` at `i` (escapes skipped), or None; with
    `limit`, None as well when the group is longer than that."""
    for at, brace, depth in _brace_depths(text, i, None if limit is None else i + limit):
        if brace == "}" and depth == 0:
            return at + 1
    return None


def bracket_depths(text: str, *, environments: bool = False) -> Iterator[tuple[int, str, int]]:
    """Walk `text` once: (index, character, depth after it) for each character or escape (an
    escape comes as its backslash). (), [] and {} count, mismatched pairs such as `[0,1)`
    included; `\\{`/`\\}` count as braces, and with `environments` `\\begin`/`\\end` as well."""
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if text.startswith("\\{", i) or (environments and text.startswith("\\begin", i)):
                depth += 1
            elif text.startswith("\\}", i) or (environments and text.startswith("\\end", i)):
                depth -= 1
            yield i, c, depth
            i += 2
            continue
        if c in OPENING:
            depth += 1
        elif c in CLOSING:
            depth -= 1
        yield i, c, depth
        i += 1


def top_level_split(text: str, sep: str = ",") -> list[str]:
    """Split at `sep` outside every (), [], {}, `\\{ \\}` and environment (mismatched pairs such as `[0,1)` count)."""
    parts: list[str] = []
    start = 0
    for i, c, depth in bracket_depths(text, environments=True):
        if c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def enclosing_pair(text: str) -> tuple[str, str, str] | None:
    """(open, inner, close) when a single bracket pair, `(`/`[` to `)`/`]` or `\\{`/`\\}`, encloses the whole text."""
    if text.startswith("\\{") and text.endswith("\\}"):
        open_, close, inner = "\\{", "\\}", text[2:-2]
    elif len(text) >= 2 and text[0] in "([" and text[-1] in ")]":
        open_, close, inner = text[0], text[-1], text[1:-1]
    else:
        return None
    # The opening bracket must close at the very end, not earlier as in "(1,2)\cup(3,4)".
    depth = 0
    for _, c, depth in bracket_depths(inner):
        if c in CLOSING and depth < 0:
            return None
    return (open_, inner, close) if depth == 0 else None


def braces_balanced(text: str) -> bool:
    """Whether every unescaped `{` in `text` is closed and no `}` closes nothing."""
    depth = 0
    for _, _, depth in _brace_depths(text):
        if depth < 0:
            return False
    return depth == 0
