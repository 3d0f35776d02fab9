"""The page renderer is total: for any text a model can write, every card and the whole
solution show, one card never takes another with it, and the math renders where it can.

Gradio's Markdown is mirrored here in its two steps: first its delimiter pass (for each of our
`LATEX_DELIMITERS` in order, `left([\\s\\S]+?)right` is cut out of the whole message), then
KaTeX's auto-render on the page's text nodes. The properties are checked on generated
model-like text with unbalanced `$`, `\\(`, `\\[`, `{`, `\\begin{...}`, stray `</details>`.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from ui.mathtext import LATEX_DELIMITERS, escape_text, hold_back_open_math, inline_math, math_markdown, pieces
from ui.render import boxed_answer_markdown

FRAGMENTS = [
    "One", " group", " has", " 9", " books", ".", " The", " answer", " is", " 45", "\n\n", "\n", " ",
    "$", "$$", "\\$", "\\(", "\\)", "\\[", "\\]", "{", "}", "\\{", "\\}", "x", "^2", "_1", " = ", " + ",
    "\\frac{1}{2}", "\\times", " 5", "&", "\\\\", "\\begin{align*}", "\\end{align*}", "\\begin{cases}",
    "\\end{cases}", "\\begin{pmatrix}", "\\end{pmatrix}", "\\begin{tabular}", "\\begin{itemize}",
    "[asy]", "[/asy]", "draw((0,0)--(1,1));", "label(\"$A$\",(0,0));", "\\boxed{", "\\boxed{7}",
    "</details>", "<details>", "<script>alert(1)</script>", "`", "```", "**", "*", "#", "![x](http://e/p.png)",
    "\\text{ cm}", "%", "\\left(", "\\right)", "1,000", "\u00e9", "\u2212",
]
model_text = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)


def gradio_delimiter_pass(markup: str) -> tuple[str, list[str]]:
    """Gradio's Markdown before marked runs: every delimited block cut out, in delimiter order."""
    blocks: list[str] = []

    def cut(match: re.Match[str]) -> str:
        blocks.append(match.group(0))
        return f"%%%LATEX_BLOCK_{len(blocks) - 1}%%%"

    for delimiter in LATEX_DELIMITERS:
        pattern = re.escape(delimiter["left"]) + r"([\s\S]+?)" + re.escape(delimiter["right"])
        markup = re.sub(pattern, cut, markup)
    return markup, blocks


class TextNodes(HTMLParser):
    """The page's text nodes (entities decoded), each with where it sits: in a literal
    `span.tex`, in `pre`/`code` (which auto-render skips), or in ordinary text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[tuple[str, str]] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        inherited = self.stack[-1] if self.stack else "text"
        if tag in ("pre", "code"):
            self.stack.append("code")
        elif tag == "span" and ("class", "tex") in attrs:
            self.stack.append("tex")
        else:
            self.stack.append(inherited)

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        self.nodes.append((data, self.stack[-1] if self.stack else "text"))


def text_nodes(markup: str) -> list[tuple[str, str]]:
    parser = TextNodes()
    parser.feed(markup)
    parser.close()
    return parser.nodes


DELIMITER_TOKENS = re.compile(r"\$|\\[()\[\]]")


def card(body: str) -> str:
    return f"<details class='card'><summary>#</summary>\n\n{body}\n\n</details>"


@settings(max_examples=300, deadline=None)
@given(st.lists(model_text, min_size=1, max_size=6))
def test_one_card_never_takes_another_with_it(texts):
    rendered = [math_markdown(t) for t in texts]
    page = "<div class='cards'>" + "\n".join(card(r) for r in rendered) + "</div>"
    remaining, blocks = gradio_delimiter_pass(page)
    alone = [b for r in rendered for b in gradio_delimiter_pass(r)[1]]
    # Every formula lies inside its own card, and no new one appears (the pass order differs).
    assert sorted(blocks) == sorted(alone)
    assert not any("<details" in b or "</details>" in b for b in blocks)
    assert all(b.startswith(("\\(", "\\[")) for b in blocks)
    assert remaining.count("<details class='card'>") == len(texts) == remaining.count("</details>")
    # Nothing that Gradio's pass left behind can pair up on the page: no raw delimiter at all.
    assert not DELIMITER_TOKENS.search(remaining)


@settings(max_examples=300, deadline=None)
@given(model_text)
def test_auto_render_finds_only_whole_formulas(text):
    """On the page, each text node outside a literal `span.tex` holds delimiters only as whole
    formulas, so KaTeX's auto-render (per text node) cannot pair across them."""
    markup = math_markdown(text)
    remaining, blocks = gradio_delimiter_pass(markup)
    restored = re.sub(r"%%%LATEX_BLOCK_(\d+)%%%", lambda m: blocks[int(m.group(1))], remaining)
    decoded_blocks = [html.unescape(b) for b in blocks]
    for node, where in text_nodes(restored):
        if where == "tex":
            assert node in ("$", "\\")
            continue
        if where == "code":
            continue
        for block in decoded_blocks:
            node = node.replace(block, " ")
        assert not DELIMITER_TOKENS.search(node), (text, node)


def visible_alphanumerics(markup: str) -> str:
    return "".join(ch for node, _ in text_nodes(markup) for ch in node if ch.isalnum())


@settings(max_examples=300, deadline=None)
@given(model_text)
def test_every_word_of_the_text_reaches_the_page(text):
    rendered = math_markdown(text)
    # `[asy]`/`[/asy]` become the code block around the figure; every other letter stays.
    # An environment KaTeX lacks is written as the one it lays out like (tabular -> array).
    expected = text.replace("[asy]", "").replace("[/asy]", "")
    if "\\end{tabular}" in text:
        expected = expected.replace("tabular", "array")
    expected = "".join(ch for ch in expected if ch.isalnum())
    shown = visible_alphanumerics(rendered)
    # Renamed environments (tabular -> array) add letters; nothing is ever lost.
    assert _is_subsequence(expected, shown), (text, rendered)
    assert "<script" not in rendered and "<details>" not in rendered


def _is_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(ch in it for ch in small)


@settings(max_examples=200, deadline=None)
@given(model_text)
def test_streaming_prefixes_show_no_open_formula(text):
    for cut in range(0, len(text) + 1, max(1, len(text) // 8)):
        shown, _ = hold_back_open_math(text[:cut])
        assert all(p.closed for p in pieces(shown))
        markup = math_markdown(text[:cut], finished=False)
        assert not DELIMITER_TOKENS.search(gradio_delimiter_pass(markup)[0])


def test_an_unpaired_dollar_leaves_the_next_formula_and_card_alone():
    text = "One group has $9 \\times 5 = 45 books.\n\nSo the answer is \\boxed{45}."
    first = math_markdown("Each costs $5.")
    second = math_markdown(text)
    remaining, blocks = gradio_delimiter_pass(card(first) + card(second))
    assert remaining.count("<details") == 2
    assert blocks == ["\\(\\boxed{45}\\)"] or blocks[-1] == "\\(\\boxed{45}\\)"


def test_environments_are_typeset_with_their_line_breaks():
    text = "So\n\\begin{align*}\na &= b \\\\\n&= c.\n\\end{align*}\nand $$\\begin{cases} 1 & x>0 \\\\ 0 \\end{cases}$$"
    _, blocks = gradio_delimiter_pass(math_markdown(text))
    assert blocks[0].startswith("\\[\\begin{align*}") and "\\\\\n" in blocks[0]
    assert blocks[1].startswith("\\[\\begin{cases}")


def test_display_only_environments_inside_inline_math_become_display():
    _, blocks = gradio_delimiter_pass(math_markdown("$\\begin{align} x \\end{align}$ and $\\begin{pmatrix}1\\end{pmatrix}$"))
    assert blocks[0].startswith("\\[") and blocks[1].startswith("\\(")


def test_eqnarray_and_tabular_become_arrays():
    _, blocks = gradio_delimiter_pass(math_markdown("\\begin{eqnarray*} a &=& b \\end{eqnarray*}"))
    assert blocks == ["\\[\\begin{array}{rcl} a &amp;=&amp; b \\end{array}\\]"]


def test_asymptote_figures_are_code_whose_labels_stay_text():
    markup = math_markdown("See [asy]\nlabel(\"$A$\", (0,0));\n[/asy] so $x$.")
    assert "<pre class='asy'><code>label(&quot;" not in markup  # quotes need no escaping in text
    assert "<pre class='asy'><code>label(\"&#36;A&#36;\", (0,0));</code></pre>" in markup
    assert gradio_delimiter_pass(markup)[1] == ["\\(x\\)"]


def test_a_cut_that_leaves_an_opener_open_cuts_again():
    # "$$" was prose only because a blank line followed it; once that is held back, it is open.
    assert hold_back_open_math("One$$\\begin{cases}\n\n") == ("One", True)


def test_streaming_holds_back_an_open_environment_and_figure():
    assert hold_back_open_math("so \\begin{align*} a &= b") == ("so ", True)
    assert hold_back_open_math("so [asy] draw(") == ("so ", True)
    assert hold_back_open_math("x \\begin{ali") == ("x ", True)
    assert hold_back_open_math("done \\begin{align*} a \\end{align*}") == ("done \\begin{align*} a \\end{align*}", False)


def test_escape_text_is_never_math_and_never_markup():
    escaped = escape_text("$x < 3$ & \\(y\\) <b>\x00")
    assert not DELIMITER_TOKENS.search(escaped) and "<b>" not in escaped and "\x00" not in escaped
    assert "&lt;" in escaped and "&amp;" in escaped


def test_answers_are_inline_math_or_text():
    assert inline_math("\\frac{1}{2}") == "\\(\\frac{1}{2}\\)"
    assert not DELIMITER_TOKENS.search(inline_math("{unbalanced $"))
    assert "\\[\\boxed{x+1}\\]" in boxed_answer_markdown("x+1")
    assert not DELIMITER_TOKENS.search(boxed_answer_markdown("5 \\$"))


def test_arrays_drop_what_katex_lacks_and_keep_the_table():
    text = "$$\\begin{array}{@{}c@{\\;}c} 6 & 7 \\\\ \\cline{1-2} 4 & 2 \\end{array}$$"
    _, blocks = gradio_delimiter_pass(math_markdown(text))
    assert blocks == ["\\[\\begin{array}{cc} 6 &amp; 7 \\\\ \\hline  4 &amp; 2 \\end{array}\\]"]
