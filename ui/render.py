"""Page pieces shared by Solve, History and Teacher: answer-cluster colours, the final-answer
box, a card's code runs, text tails, and the self-contained HTML transcript (markdown-it-py with raw HTML off,
formulas as MathML checked against an allowlist). Model text for Gradio's Markdown is written
by `ui.mathtext`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from html.parser import HTMLParser

from judgements.solution import ToolCall, tool_seconds
from judgements.tool_text import blocks, has_tool_blocks
from ui.mathtext import escape_text, formula_markdown, pieces

# Categorical colours for answer clusters, winner first; the same in cards and the bar chart.
CLUSTER_COLOURS = (
    "#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626",
    "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d",
)
NO_ANSWER_COLOUR = "#9ca3af"


def cluster_colour(cluster: int | None) -> str:
    """Colour of an answer cluster (by its rank in the vote); grey for no answer or the long tail."""
    if cluster is None or cluster >= len(CLUSTER_COLOURS):
        return NO_ANSWER_COLOUR
    return CLUSTER_COLOURS[cluster]


def cluster_css() -> str:
    """CSS classes `.c0`..`.c9` and `.cnone` (card border and chip colour), from the palette."""
    rules = [f".c{i} {{ border-left-color: {c}; }} .chip.c{i} {{ background: {c}; }}" for i, c in enumerate(CLUSTER_COLOURS)]
    rules.append(f".cnone {{ border-left-color: {NO_ANSWER_COLOUR}; }} .chip.cnone {{ background: {NO_ANSWER_COLOUR}; }}")
    return "\n".join(rules)


def boxed_answer_markdown(answer: str | None) -> str:
    """The final answer, prominent and typeset as \\boxed{} (as text when it cannot be a formula)."""
    if answer is None:
        return "<div class='final-answer none'>No final answer found.</div>"
    boxed = None if "$" in answer else formula_markdown(f"\\boxed{{{answer}}}", display=True)
    if boxed is None:
        return f"<div class='final-answer'>Answer: {escape_text(answer)}</div>"
    return f"<div class='final-answer'>\n\n{boxed}\n\n</div>"


def code_runs_text(calls: Sequence[ToolCall]) -> str:
    """A card's code runs: `2 Python runs (1 failed) · 0.03 s in the sandbox`; "" without any."""
    if not calls:
        return ""
    failed = sum(not call.ok for call in calls)
    runs = f"{len(calls)} Python run{'s' if len(calls) != 1 else ''}" + (f" ({failed} failed)" if failed else "")
    return f"{runs} · {tool_seconds(list(calls)):.2f} s in the sandbox"


def tail(text: str, limit: int) -> str:
    """The last `limit` characters, starting at a line or sentence boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    boundary = max(cut.find("\n"), cut.find(". "))
    if 0 <= boundary < limit // 3:
        cut = cut[boundary + 1 :]
    return "…" + cut.lstrip()


# ------------------------------------------------------------------- transcript (HTML)

MATHML_TAGS = frozenset(
    ["math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msqrt", "mroot", "mfrac", "msub", "msup", "msubsup", "munder", "mover", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom", "menclose", "merror", "semantics", "annotation", "mmultiscripts", "mprescripts", "none", "mlabeledtr", "maligngroup", "malignmark"]
)
MATHML_ATTRIBUTES = frozenset(
    ["xmlns", "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "width", "height", "depth", "linethickness", "columnalign", "rowalign", "columnspacing", "rowspacing", "notation", "accent", "accentunder", "movablelimits", "largeop", "symmetric", "form", "minsize", "maxsize", "scriptlevel", "displaystyle", "columnlines", "rowlines", "frame", "encoding"]
)


class _MathMLCheck(HTMLParser):
    """Accepts only MathML elements and attributes from the allowlists, no URLs, no comments."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ok = True

    def handle_starttag(self, tag, attrs):
        if tag not in MATHML_TAGS:
            self.ok = False
        for name, value in attrs:
            if name not in MATHML_ATTRIBUTES or (value and ":" in value and name != "xmlns"):
                self.ok = False

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag not in MATHML_TAGS:
            self.ok = False

    def handle_comment(self, data):
        self.ok = False

    def handle_decl(self, decl):
        self.ok = False

    def handle_pi(self, data):
        self.ok = False


def latex_to_mathml(latex: str, display: bool) -> str | None:
    """MathML for one formula, or None when it cannot be converted safely."""
    try:
        from latex2mathml.converter import convert
    except ImportError:  # pragma: no cover - a runtime dependency, listed in requirements.txt
        return None
    # `<`/`>` as commands: latex2mathml copies \text{} contents verbatim into the markup.
    source = latex.replace("<", "\\lt ").replace(">", "\\gt ")
    if len(source) > 5000:
        return None
    try:
        markup = convert(source, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - any parse failure shows the LaTeX source instead
        return None
    check = _MathMLCheck()
    check.feed(markup)
    check.close()
    return markup if check.ok else None


def markdown_to_html(text: str) -> str:
    """Markdown with LaTeX -> safe HTML: raw HTML disabled, formulas and environments as
    MathML (or their escaped source), `[asy]` figures as code, a solution's Python cells and
    their outputs as labelled code."""
    if not has_tool_blocks(text):
        return _prose_html(text)
    out = []
    for block in blocks(text):
        if block.kind == "prose":
            out.append(_prose_html(text[block.start : block.end]))
        else:
            label = "Python" if block.kind == "code" else "output"
            out.append(f"<div class='meta'>{label}</div><pre class='tir-{block.kind}'><code>"
                       f"{html.escape(block.body.strip(chr(10)))}</code></pre>")
    return "\n".join(out)


def _prose_html(text: str) -> str:
    from markdown_it import MarkdownIt

    placeholders: list[str] = []
    out: list[str] = []
    for piece in pieces(text):
        source = text[piece.start : piece.end]
        if piece.kind == "text":
            out.append(source)
            continue
        if piece.kind == "asy":
            markup = f"<pre class='asy'><code>{html.escape(piece.inner.strip(chr(10)))}</code></pre>"
        else:
            mathml = latex_to_mathml(piece.inner, piece.display) if piece.closed else None
            markup = mathml if mathml is not None else f"<code class='latex'>{html.escape(source)}</code>"
        placeholders.append(markup)
        out.append(f"MATHPLACEHOLDER{len(placeholders) - 1}X")
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")
    rendered = md.render("".join(out))
    return re.sub(r"MATHPLACEHOLDER(\d+)X", lambda m: placeholders[int(m.group(1))], rendered)
