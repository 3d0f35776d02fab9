"""Surface cleaning: drop what carries no mathematical meaning from an answer.

Delimiters, a whole-answer box, spacing and sizing commands, `\\text{}` wrappers, degrees,
percent signs, currency and trailing units go; aliases (`\\dfrac`, `>=`, `bmatrix`) become one
spelling. The rules are listed in docs/answers.md ("Surface").
"""

from __future__ import annotations

import re
import unicodedata

from judgements.answers.extract import MATH_DELIMS
from judgements.latex import braced_group

_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": "\\times ", "\u22c5": "\\cdot ",
    "\u00b7": "\\cdot ", "\u00f7": "\\div ", "\u03c0": "\\pi ", "\u221e": "\\infty ",
    "\u221a": "\\sqrt", "\u2264": "\\leq ", "\u2265": "\\geq ", "\u2260": "\\neq ",
    "\u00b1": "\\pm ", "\u222a": "\\cup ", "\u2229": "\\cap ", "\u2208": "\\in ",
    "\u03b8": "\\theta ", "\u03b1": "\\alpha ", "\u03b2": "\\beta ", "\u00b0": "^\\circ",
    "\u00bd": "1/2", "\u00bc": "1/4", "\u00be": "3/4", "\u2009": " ", "\u00a0": " ",
    "\u00b2": "^2", "\u00b3": "^3", "\u2044": "/",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))

_TEXT_CMDS = r"text|textbf|textit|textrm|textnormal|textsf|texttt|mathrm|mathbf|mathit|mathsf|mbox|emph|hbox"
_TEXT_UNWRAP_RE = re.compile(r"\\(?:" + _TEXT_CMDS + r")\s*\{([^{}]*)\}")
# Units are looked for in the last _UNIT_WINDOW characters only, which keeps the searches cheap.
_UNIT_WINDOW = 80
_TRAILING_TEXT_UNIT_RE = re.compile(
    r"\\(?:text|mbox|textrm|mathrm|hbox)\s*\{\s*[A-Za-z][A-Za-z .\-/]*\}(?:\^\s*\{?\s*\d\s*\}?)?\s*$"
)
_TRAILING_WORD_UNIT_RE = re.compile(r"\s[A-Za-z]{2,}(?:\.?\s+[A-Za-z]{2,})*\.?(?:\^\s*\{?\s*\d\s*\}?)?\s*$")
_UNIT_BODY_END_RE = re.compile(r"(?:\d|\}|\)|\\pi|\\infty)\s*$")
_SEPARATOR_RE = re.compile(
    r"\\(?:text|mbox|textrm|mathrm)\s*\{\s*(?:and|or|,)\s*\}|\\q?quad|(?<=[\s\d}])(?:and|or)(?=[\s\\\d$(\-])"
)
_DEGREE_RE = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree|\s*degrees?\b", re.IGNORECASE)
_PERCENT_RE = re.compile(r"\\%|%|\s*\bpercent\b", re.IGNORECASE)
# 11,\!111 and 1\!,\!000: thousands glued by negative spaces.
_GLUE_RE = re.compile(r"(?<=[\d,])\\!\s*(?=[\d,])")
_SPACING_RE = re.compile(r"(?<!\\)\\[,;:!> ]|\\(?:displaystyle|textstyle|scriptstyle)\b|~")
_SIZING_RE = re.compile(r"\\(?:left|right)\.|\\(?:left|right|[bB]igg?[lr]?|middle)(?![A-Za-z])\s*")
_ALIASES = (
    (re.compile(r"\\[dt]frac(?![A-Za-z])"), r"\\frac"),
    (re.compile(r"\\[dt]binom(?![A-Za-z])"), r"\\binom"),
    (re.compile(r"\\le(?![A-Za-z])"), r"\\leq"),
    (re.compile(r"\\ge(?![A-Za-z])"), r"\\geq"),
    (re.compile(r"\\ne(?![A-Za-z])"), r"\\neq"),
    (re.compile(r">="), r"\\geq "),
    (re.compile(r"<="), r"\\leq "),
    (re.compile(r"!="), r"\\neq "),
    (re.compile(r"\\gt(?![A-Za-z])"), ">"),
    (re.compile(r"\\lt(?![A-Za-z])"), "<"),
    (re.compile(r"\\begin\{(?:[bB]?matrix|array\}\{[^{}]*)\}"), r"\\begin{pmatrix}"),
    (re.compile(r"\\end\{(?:[bB]?matrix|array)\}"), r"\\end{pmatrix}"),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"\\\$|\\(?:dollars?|euro)\b"), ""),
    (re.compile(r"\$|^USD\s*"), ""),  # a `$` left over: currency, or half of a formula
    (re.compile(r"\+\\infty"), r"\\infty"),
    (re.compile(r"^(?:\\(?:approx|sim|simeq)(?![A-Za-z])|=)\s*"), ""),  # `\approx 2.5`, `= 7`: the value after the sign
    (re.compile(r"\\varnothing(?![A-Za-z])|\\\{\s*\\\}"), r"\\emptyset"),
    (re.compile(r"\binfinity\b", re.IGNORECASE), r"\\infty "),
    (re.compile(r"(?:\\text\s*\{\s*)?\ball real numbers\b(?:\s*\})?", re.IGNORECASE), r"\\mathbb{R}"),
)


def _strip_wrappers(text: str) -> str:
    """Remove delimiters that enclose the whole answer: `$`, `\\(`, `\\[`, `\\boxed{}`, `\\text{}`."""
    while True:
        before = text
        text = text.strip()
        for left, right in MATH_DELIMS:
            if text.startswith(left) and text.endswith(right) and len(text) > len(left) + len(right):
                text = text[len(left) : -len(right)].strip()
        box = re.match(r"^(?:\\(?:boxed|fbox)\s*)?\{", text)
        if box and braced_group(text, box.end() - 1) == len(text) - 1:
            text = text[box.end() : -1]  # a box, or a bare TeX group: {1, 3} is the list 1, 3
        if text == before:
            return text


def surface(text: str) -> str:
    """Drop what carries no mathematical meaning (docs/answers.md, "Surface")."""
    text = unicodedata.normalize("NFKC", _UNICODE_RE.sub(lambda m: _UNICODE[m.group()], text))
    text = re.sub(r"\s+", " ", text)
    text = _strip_wrappers(re.sub(r"(?<!\\)\.\s*$", "", text))  # a full stop ends a sentence, not a unit
    text = _GLUE_RE.sub("", text)
    text = _SPACING_RE.sub(" ", text)
    text = _SIZING_RE.sub("", text)
    for pattern, replacement in _ALIASES:
        text = pattern.sub(replacement, text)
    text = _DEGREE_RE.sub("", text)
    text = _PERCENT_RE.sub("", text)
    text = _SEPARATOR_RE.sub(",", text)
    for _ in range(3):
        text = _drop_unit(text.strip(), _TRAILING_TEXT_UNIT_RE)
    for _ in range(3):
        text, n = _TEXT_UNWRAP_RE.subn(r"\1", text)
        if not n:
            break
    text = _drop_unit(text.strip(), _TRAILING_WORD_UNIT_RE, numeric_body=True)
    text = _strip_wrappers(text).strip().rstrip(".").strip()
    return text


def _drop_unit(text: str, unit_re: re.Pattern[str], numeric_body: bool = False) -> str:
    """`5\\text{ cm}` -> `5`, `12 apples` -> `12`: a unit after a number-like body is dropped.

    With `numeric_body`, the body may hold no letters but those of `\\pi`, `\\frac`, `\\sqrt`
    (so `2 x y` keeps its variables), and a word of two letters is a unit only after a digit
    (`5 cm`, but `2\\pi rh` keeps its variables).
    """
    cut = max(len(text) - _UNIT_WINDOW, 0)
    unit = unit_re.search(text, cut)
    if not unit:
        return text
    body = text[: unit.start()]
    if not _UNIT_BODY_END_RE.search(body):
        return text
    if numeric_body and re.search(r"[A-Za-z]", re.sub(r"\\(?:pi|frac|sqrt|infty)", "", body)):
        return text
    if numeric_body and not body.rstrip()[-1:].isdigit() and len(unit.group().split()[0]) < 3:
        return text  # `2\pi rh`, `\frac{1}{2} ab`: after anything but a digit, 2 letters are variables
    return body
