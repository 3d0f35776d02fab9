"""Model text with LaTeX -> Markdown that Gradio's KaTeX renders, for any text whatsoever.

Gradio's Markdown first cuts every `left ... right` pair of our delimiters out of the whole
message with a regular expression, then renders markdown, then runs KaTeX's auto-render on
the page. So one unpaired `$` in a card pairs with the first `$` of the next card and takes
the markup in between with it. This module splits the text into pieces (prose, formulas,
environments, `[asy]` figures) and writes each one so that no piece can reach into another:
formulas go out in canonical `\\(..\\)` / `\\[..\\]` form only when they are closed and
balanced, and every delimiter left in prose is written as an entity inside its own element,
which neither the regular expression nor auto-render can pair. A solution that reasons with
Python has code and output blocks (`judgements.tool_text`): those go out as preformatted code,
never read as math or markdown, also while they stream.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Literal

from judgements.latex import brace_pairs, braces_balanced
from judgements.tool_text import CODE_FENCE, OUTPUT_FENCE, Block, blocks, has_tool_blocks

BOXED = "\\boxed{"

# The delimiters the page's Markdown components hand to KaTeX. The renderer below only ever
# emits `\(`/`\)` and `\[`/`\]`; `$` stays listed for text that reaches the page otherwise.
LATEX_DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\[", "right": "\\]", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "$", "right": "$", "display": False},
]

# Environments KaTeX typesets. Those in DISPLAY_ONLY fail in inline math, so they are shown
# as display math wherever they stand.
KATEX_ENVIRONMENTS = frozenset(
    ["align", "align*", "alignat", "alignat*", "aligned", "alignedat", "array", "Bmatrix", "Bmatrix*", "bmatrix", "bmatrix*", "cases", "CD", "darray", "dcases", "drcases", "equation", "equation*", "gather", "gather*", "gathered", "matrix", "matrix*", "pmatrix", "pmatrix*", "rcases", "smallmatrix", "split", "subarray", "Vmatrix", "Vmatrix*", "vmatrix", "vmatrix*"]
)
DISPLAY_ONLY = frozenset(["align", "align*", "alignat", "alignat*", "equation", "equation*", "gather", "gather*", "CD", "split"])
# LaTeX environments KaTeX lacks, written as the KaTeX one that lays them out the same way.
RENAMED_ENVIRONMENTS = {
    "eqnarray": ("array", "{rcl}"),
    "eqnarray*": ("array", "{rcl}"),
    "tabular": ("array", ""),
    "multline": ("gather", ""),
    "multline*": ("gather*", ""),
}

_OPENERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
_BEGIN = re.compile(r"\\begin\{([A-Za-z]+\*?)\}")
ASY_OPEN, ASY_CLOSE = "[asy]", "[/asy]"
MAX_FORMULA_CHARS = 20_000
MAX_RESCANS = 64

PieceKind = Literal["text", "math", "env", "asy"]


@dataclass(frozen=True)
class Piece:
    """One stretch of the text: prose, a formula (`inner` without its delimiters), a bare
    environment (`inner` from `\\begin` to `\\end`), or an Asymptote figure (`inner` its code).
    `closed` is False for the last piece when its end has not arrived."""

    kind: PieceKind
    start: int
    end: int
    inner: str = ""
    display: bool = False
    closed: bool = True
    opener: int = 0  # length of the opening delimiter (`$`, `\\begin{align}`, `[asy]`)


def _find_closer(text: str, start: int, closer: str) -> int:
    i = start
    while True:
        j = text.find(closer, i)
        if j == -1:
            return -1
        if closer.startswith("$") and j > 0 and text[j - 1] == "\\":
            i = j + 1  # an escaped dollar inside math does not close it
            continue
        if closer == "$" and text.startswith("$$", j) and j == start:
            return -1  # "$$" right after "$": an empty inline formula is not math
        return j


def _environment_end(text: str, start: int, name: str) -> int:
    """Index just past the `\\end{name}` closing the `\\begin{name}` at `start`, or -1."""
    begin, end = f"\\begin{{{name}}}", f"\\end{{{name}}}"
    depth = 0
    i = start
    while True:
        next_begin = text.find(begin, i)
        next_end = text.find(end, i)
        if next_end == -1:
            return -1
        if next_begin != -1 and next_begin < next_end:
            depth += 1
            i = next_begin + len(begin)
            continue
        depth -= 1
        i = next_end + len(end)
        if depth == 0:
            return i


def pieces(text: str) -> list[Piece]:
    """The text split into prose, formulas, environments and figures, in reading order.

    Honours `\\$` (a literal dollar) and takes `$$` before `$`, as KaTeX's auto-render does.
    Only the last piece can be open (its closer never came).
    """
    out: list[Piece] = []
    n = len(text)
    prose_from = 0
    i = 0

    def flush(upto: int) -> None:
        if upto > prose_from:
            out.append(Piece("text", prose_from, upto))

    while i < n:
        c = text[i]
        if c == "\\" and text.startswith("\\$", i):
            i += 2
            continue
        if c == "[" and text.startswith(ASY_OPEN, i):
            close = text.find(ASY_CLOSE, i + len(ASY_OPEN))
            flush(i)
            end = n if close == -1 else close + len(ASY_CLOSE)
            inner = text[i + len(ASY_OPEN) : close if close != -1 else n]
            out.append(Piece("asy", i, end, inner, closed=close != -1, opener=len(ASY_OPEN)))
            i = prose_from = end
            continue
        if c == "\\" and text.startswith("\\begin{", i):
            match = _BEGIN.match(text, i)
            name = match.group(1) if match else None
            if match is None and "}" not in text[i : i + 40]:
                flush(i)  # `\begin{ali` at the end of a stream: the name is still coming
                out.append(Piece("env", i, n, text[i:], display=True, closed=False, opener=n - i))
                return out
            if name in KATEX_ENVIRONMENTS or name in RENAMED_ENVIRONMENTS:
                end = _environment_end(text, i, name)
                flush(i)
                if end == -1:
                    out.append(Piece("env", i, n, text[i:], display=True, closed=False, opener=match.end() - i))
                    return out
                out.append(Piece("env", i, end, text[i:end], display=True))
                i = prose_from = end
                continue
        if c in "$\\":
            for opener, closer in _OPENERS:
                if text.startswith(opener, i):
                    close = _find_closer(text, i + len(opener), closer)
                    paragraph_end = text.find("\n\n", i + len(opener))
                    if paragraph_end != -1 and (close == -1 or close > paragraph_end):
                        i += len(opener)  # a formula never runs past its paragraph: prose
                        break
                    flush(i)
                    display = opener in ("$$", "\\[")
                    if close == -1:
                        out.append(Piece("math", i, n, text[i + len(opener) :], display, closed=False, opener=len(opener)))
                        return out
                    end = close + len(closer)
                    out.append(Piece("math", i, end, text[i + len(opener) : close], display, opener=len(opener)))
                    i = prose_from = end
                    break
            else:
                i += 1
            continue
        i += 1
    flush(n)
    return out


def hold_back_open_math(text: str) -> tuple[str, bool]:
    """The part of a streaming text that is safe to render now, and whether anything is held.

    Cuts at the start of an unclosed formula, environment or figure, and drops a tail that may
    be the first characters of a delimiter still on its way (`\\`, `$`, `[as`, `\\begin{ali`).
    """
    held = False
    while True:  # a cut can leave an opener that was prose only because of what followed it
        shown = _hold_back_once(text)
        if shown == text:
            return text, held
        text, held = shown, True


def _hold_back_once(text: str) -> str:
    parts = pieces(text)
    if parts and not parts[-1].closed:
        return text[: parts[-1].start]
    if text.endswith("\\"):
        return text[:-1]
    if text.endswith("$") and not (parts and parts[-1].kind == "math" and parts[-1].end == len(text)):
        return text[:-1]
    for k in range(len(ASY_OPEN) - 1, 1, -1):
        if text.endswith(ASY_OPEN[:k]):
            return text[:-k]
    return text


def wrap_bare_boxed(text: str) -> str:
    """Put `$...$` around a complete `\\boxed{...}` written outside any formula.

    Qwen often ends with "The answer is \\boxed{5}." in plain text, which KaTeX would not
    look at; an unclosed box is left alone (it is still streaming).
    """
    spans = [p for p in pieces(text) if p.kind != "text"]
    pairs = brace_pairs(text)
    out: list[str] = []
    last = 0
    start = text.find(BOXED)
    while start != -1:
        inside = any(p.start <= start < p.end for p in spans)
        end = pairs.get(start + len(BOXED) - 1)
        if end is None:
            break
        if not inside:
            out.append(text[last:start])
            out.append("$" + text[start : end + 1] + "$")
            last = end + 1
        start = text.find(BOXED, end + 1)
    out.append(text[last:])
    return "".join(out)


# ------------------------------------------------------------------------ writing

_LITERAL_DOLLAR = "<span class='tex'>&#36;</span>"
_DELIMITER_IN_PROSE = re.compile(r"\\\$|\$|\\[()\[\]]|`")


def _literal(match: re.Match[str]) -> str:
    token = match.group(0)
    if token in ("$", "\\$"):
        return _LITERAL_DOLLAR
    if token == "`":
        return "&#96;"  # no code spans from model text: their content would show entities raw
    return f"<span class='tex'>&#92;</span>{token[1]}"


def escape_text(text: str) -> str:
    """Untrusted text as literal page text: never markup, never math.

    `&`, `<`, `>` become entities; `![` loses its image meaning; NUL and other C0 controls
    except newline/tab are dropped; every `$`, `\\(`, `\\)`, `\\[`, `\\]` is written so that
    neither Gradio's delimiter pass nor KaTeX can pair it with anything.
    """
    cleaned = "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32)
    escaped = html.escape(cleaned, quote=False).replace("![", "!\u200b[")
    return _DELIMITER_IN_PROSE.sub(_literal, escaped)


def _formula_ok(latex: str, display: bool) -> bool:
    """Whether a formula can go out between canonical delimiters without reaching past them:
    its braces balance (KaTeX's auto-render looks for the closer at brace depth 0) and it
    holds no delimiter that Gradio's pass would pair with one outside."""
    if not latex.strip() or len(latex) > MAX_FORMULA_CHARS or not braces_balanced(latex):
        return False
    forbidden = ("\\]",) if display else ("\\(", "\\)", "\\[", "\\]")
    return not any(token in latex for token in forbidden)


# `\cline{2-4}` (a rule under some columns, as in long additions) is not in KaTeX; a full
# `\hline` keeps the table typeset instead of showing an error box.
_CLINE = re.compile(r"\\cline\{\d+-\d+\}")


def _plain_array_columns(latex: str) -> str:
    """Drop `@{...}` column separators from array specs (`{@{}c@{\\;}c}`): KaTeX rejects them."""
    out: list[str] = []
    last = 0
    pairs = brace_pairs(latex)
    for match in re.finditer(r"\\begin\{array\}\{", latex):
        close = pairs.get(match.end() - 1)
        if close is None:
            continue
        spec = latex[match.end() : close]
        cleaned, i = [], 0
        while i < len(spec):
            if spec.startswith("@{", i) and (end := pairs.get(match.end() + i + 1)) is not None:
                i = end - match.end() + 1
                continue
            cleaned.append(spec[i])
            i += 1
        out.append(latex[last : match.end()] + "".join(cleaned))
        last = close
    out.append(latex[last:])
    return "".join(out)


def _rename_environments(latex: str) -> str:
    latex = _plain_array_columns(_CLINE.sub(r"\\hline ", latex))
    for old, (new, spec) in RENAMED_ENVIRONMENTS.items():
        if f"\\begin{{{old}}}" in latex and f"\\end{{{old}}}" in latex:
            latex = latex.replace(f"\\begin{{{old}}}", f"\\begin{{{new}}}{spec}").replace(f"\\end{{{old}}}", f"\\end{{{new}}}")
    return latex


def _math_body(latex: str) -> str:
    """A formula's source as page text: HTML-escaped, `$` as an entity (the browser turns it
    back into `$` for KaTeX, after Gradio's delimiter pass has run)."""
    return html.escape(latex, quote=False).replace("$", "&#36;")


def formula_markdown(latex: str, *, display: bool = False) -> str | None:
    """One formula in canonical delimiters, or None when it cannot be shown as math safely."""
    latex = _rename_environments(latex)
    match = _BEGIN.match(latex.lstrip())
    if match and match.group(1) in DISPLAY_ONLY:
        display = True
    if not _formula_ok(latex, display):
        return None
    body = _math_body(latex)
    return f"\\[{body}\\]" if display else f"\\({body}\\)"


def inline_math(latex: str | None) -> str:
    """A short formula (an answer, a vote) as inline math, or as literal text if it can't be."""
    if latex is None:
        return "<i>none</i>"
    shown = formula_markdown(latex) if len(latex) <= 200 else None
    return shown if shown is not None else escape_text(latex)


def _code_text(code: str) -> str:
    """Code as the text of a <pre>: no markup, no delimiter Gradio or KaTeX could pair."""
    escaped = html.escape(code.strip("\n"), quote=False)
    return escaped.replace("$", "&#36;").replace("\\", "&#92;").replace("`", "&#96;")


def _asy_block(code: str) -> str:
    return f"\n\n<pre class='asy'><code>{_code_text(code)}</code></pre>\n\n"


def _tool_block(block: Block, streaming: bool) -> str:
    """A Python cell or its output: a labelled <pre>; an output still running says so (in a
    finished text an output that never came shows nothing)."""
    if block.kind == "output" and not block.closed and not block.body.strip():
        return "\n\n<pre class='tir-output running'><code>running…</code></pre>\n\n" if streaming else ""
    return f"\n\n<pre class='tir-{block.kind}'><code>{_code_text(block.body)}</code></pre>\n\n"


def _fence_start(text: str) -> int:
    """How many characters at the end of a streaming text may begin a code or output fence."""
    return max((size for fence in (CODE_FENCE, OUTPUT_FENCE) for size in range(len(fence) - 1, 0, -1)
                if text.endswith(fence[:size])), default=0)


def _with_tool_blocks(text: str, finished: bool) -> str:
    """Prose as math and markdown, code and output blocks as code (only the last prose piece
    of a streaming text can still be growing)."""
    parts = blocks(text)
    out = []
    for index, block in enumerate(parts):
        if block.kind == "prose":
            out.append(_prose_markdown(text[block.start : block.end], finished or index < len(parts) - 1))
        else:
            out.append(_tool_block(block, not finished))
    return "".join(out)


def _finished_markdown(text: str) -> str:
    """A finished text: an opener that never closed is shown as written and the scan goes on
    after it, so the formulas further on still render (up to MAX_RESCANS such openers)."""
    out: list[str] = []
    for _ in range(MAX_RESCANS):
        text = wrap_bare_boxed(text)
        unclosed = None
        for piece in pieces(text):
            source = text[piece.start : piece.end]
            if piece.kind == "text":
                out.append(escape_text(source))
            elif piece.kind == "asy":
                out.append(_asy_block(piece.inner))  # a figure cut off still shows as code
            elif not piece.closed:
                unclosed = piece
                break
            else:
                formula = formula_markdown(piece.inner, display=piece.display)
                out.append(formula if formula is not None else escape_text(source))
        if unclosed is None:
            return "".join(out)
        cut = unclosed.start + max(unclosed.opener, 1)
        out.append(escape_text(text[unclosed.start : cut]))
        text = text[cut:]
    out.append(escape_text(text))
    return "".join(out)


def math_markdown(text: str, *, finished: bool = True) -> str:
    """Model text (a solution, a problem) as Markdown for a Gradio component with
    `LATEX_DELIMITERS`: formulas and environments typeset, `[asy]` as code, everything else
    literal. While streaming, an unclosed formula, environment or figure is held back; in a
    finished text its opener shows as written. Code and output blocks show as code (while
    streaming, a last line that may become a fence is held back)."""
    if not finished:
        text = text[: len(text) - _fence_start(text)]
    if has_tool_blocks(text):
        return _with_tool_blocks(text, finished)
    return _prose_markdown(text, finished)


def _prose_markdown(text: str, finished: bool) -> str:
    if finished:
        return _finished_markdown(text)
    shown, held = hold_back_open_math(text)
    body = _finished_markdown(shown)
    if held:
        body += " <span class='held'>…</span>"
    return body


def streaming_markdown(text: str, *, finished: bool) -> str:
    """Markdown for a solution that may still be streaming (open formulas held back)."""
    return math_markdown(text, finished=finished)
