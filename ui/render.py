"""Turning untrusted text (problems, model output, feedback) into safe page content.

Two targets:
- Gradio `Markdown` components, which render markdown and, in the browser, LaTeX with KaTeX
  for the delimiters in `LATEX_DELIMITERS`. Everything we send is HTML-escaped first (`&`, `<`,
  `>`), so `<img onerror=...>` or `<script>` arrive as text; the browser decodes the entities
  back into text nodes, where KaTeX still finds `$x < 3$`. Markdown images are neutralised (a
  model could otherwise make every viewer's browser fetch a URL). Gradio's own sanitizer runs
  afterwards as a second layer.
- A self-contained HTML transcript (markdown-it-py with raw HTML disabled; formulas converted
  to MathML on the server, checked against a MathML allowlist), for printing and sharing.

While a solution streams, a formula whose closing delimiter has not arrived is held back
(`hold_back_open_math`), so the reader never sees a half-formula mangled by markdown.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from model.answers import brace_pairs

BOXED = "\\boxed{"

LATEX_DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\[", "right": "\\]", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "$", "right": "$", "display": False},
]

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


def escape_text(text: str) -> str:
    """HTML-escape untrusted text for a Gradio Markdown component, keeping LaTeX intact.

    `&`, `<`, `>` become entities (the browser turns them back into text, never into tags);
    `![` loses its image meaning; NUL and other C0 controls except newline/tab are dropped.
    """
    cleaned = "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32)
    escaped = html.escape(cleaned, quote=False)
    return escaped.replace("![", "!\u200b[")


@dataclass(frozen=True)
class _Span:
    start: int
    end: int  # exclusive; -1 while open
    opener: str


_OPENERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))


def math_spans(text: str) -> list[_Span]:
    """Math regions in reading order; the last one may be open (end == -1).

    Honors `\\$` (a literal dollar) and treats `$$` before `$`, as KaTeX's auto-render does.
    """
    spans: list[_Span] = []
    i = 0
    n = len(text)
    while i < n:
        if text.startswith("\\$", i):
            i += 2
            continue
        for opener, closer in _OPENERS:
            if text.startswith(opener, i):
                close = _find_closer(text, i + len(opener), closer)
                if close == -1:
                    spans.append(_Span(i, -1, opener))
                    return spans
                spans.append(_Span(i, close + len(closer), opener))
                i = close + len(closer)
                break
        else:
            i += 1
    return spans


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


def hold_back_open_math(text: str) -> tuple[str, bool]:
    """The part of a streaming text that is safe to render now, and whether anything is held.

    Cuts at the start of an unclosed formula, and drops a trailing `\\` or `$` that may be
    the first character of a delimiter still on its way.
    """
    spans = math_spans(text)
    if spans and spans[-1].end == -1:
        return text[: spans[-1].start], True
    if text.endswith("\\") or (text.endswith("$") and not (spans and spans[-1].end == len(text))):
        return text[:-1], True
    return text, False


def wrap_bare_boxed(text: str) -> str:
    """Put `$...$` around a complete `\\boxed{...}` written outside any formula.

    Qwen often ends with "The answer is \\boxed{5}." in plain text, which KaTeX would not
    look at; an unclosed box is left alone (it is still streaming).
    """
    spans = math_spans(text)
    pairs = brace_pairs(text)
    out: list[str] = []
    last = 0
    start = text.find(BOXED)
    while start != -1:
        inside = any(s.start <= start < (s.end if s.end != -1 else len(text)) for s in spans)
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


def streaming_markdown(text: str, *, finished: bool) -> str:
    """Markdown for a solution that may still be streaming (open formulas held back)."""
    shown, held = (text, False) if finished else hold_back_open_math(text)
    body = escape_text(wrap_bare_boxed(shown))
    if held:
        body += " <span class='held'>…</span>"
    return body


def boxed_answer_markdown(answer: str | None) -> str:
    """The final answer, prominent and typeset as \\boxed{} (falls back to text if it has `$`)."""
    if answer is None:
        return "<div class='final-answer none'>No final answer found.</div>"
    if "$" in answer or "\\]" in answer or "\\)" in answer:
        return f"<div class='final-answer'>Answer: {escape_text(answer)}</div>"
    return f"<div class='final-answer'>\n\n$$\\boxed{{{escape_text(answer)}}}$$\n\n</div>"


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
    "math mrow mi mn mo ms mtext mspace msqrt mroot mfrac msub msup msubsup munder mover "
    "munderover mtable mtr mtd mstyle mpadded mphantom menclose merror semantics annotation "
    "mmultiscripts mprescripts none mlabeledtr maligngroup malignmark".split()
)
MATHML_ATTRIBUTES = frozenset(
    "xmlns display mathvariant stretchy fence separator lspace rspace width height depth "
    "linethickness columnalign rowalign columnspacing rowspacing notation accent accentunder "
    "movablelimits largeop symmetric form minsize maxsize scriptlevel displaystyle "
    "columnlines rowlines frame encoding".split()
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
    """Markdown with LaTeX -> safe HTML: raw HTML disabled, formulas as MathML (or escaped source)."""
    from markdown_it import MarkdownIt

    placeholders: list[str] = []
    pieces: list[str] = []
    last = 0
    for span in math_spans(text):
        end = span.end if span.end != -1 else len(text)
        pieces.append(text[last : span.start])
        raw = text[span.start : end]
        closer = dict(_OPENERS)[span.opener]
        inner = raw[len(span.opener) : (len(raw) - len(closer)) if span.end != -1 else len(raw)]
        display = span.opener in ("$$", "\\[")
        mathml = latex_to_mathml(inner, display) if span.end != -1 else None
        placeholders.append(mathml if mathml is not None else f"<code class='latex'>{html.escape(raw)}</code>")
        pieces.append(f"MATHPLACEHOLDER{len(placeholders) - 1}X")
        last = end
    pieces.append(text[last:])
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")
    rendered = md.render("".join(pieces))
    return re.sub(r"MATHPLACEHOLDER(\d+)X", lambda m: placeholders[int(m.group(1))], rendered)
