"""Final answers: extract them from a solution, normalise them, compare them, vote on them.

Four phases, each a pure function of its input (plus caches that never change a result):

- `extract_answer(text)` follows Qwen's evaluation parser: the content of the last
  `\\boxed{...}` (or `\\fbox{...}`, or `\\boxed 5`), else what follows the last "the answer is" /
  "final answer is", else the last number; `None` when there is none.
- `normalize_answer(text)` gives a cheap canonical key: equal keys mean equivalent answers
  (the converse needs `equivalent`).
- `equivalent(a, b)` decides mathematical equivalence. The structure of an answer (tuple,
  interval, set, unordered list of roots) is ours; the value of each scalar part is compared
  exactly for plain numbers and with HF math-verify (sympy) for everything else.
- `cluster_answers` / `majority_vote` group N sampled answers and pick Maj@N.

Rules of equivalence (the tests pin each of them):

- Surface: `$`, `\\(...\\)`, `\\[...\\]`, a whole-answer `\\boxed{}`, `\\left`/`\\right`, LaTeX
  spacing, `\\displaystyle`, `\\text{}`-style wrappers, `^\\circ`/degrees, `\\$`, and units
  after a number (`5\\text{ cm}`, `12 apples`) are dropped; `\\dfrac`/`\\tfrac` = `\\frac`,
  `>=` = `\\geq`, `bmatrix`/`array` = `pmatrix`, `{1, 3}` (a bare TeX group) = `1, 3`;
  `1,000` = `1000` and `11,\\!111` = `11111` (only a whole answer that is one
  thousands-grouped number: `1,000` is never the list 1, 0, and `1, 234` stays a list).
- Assignments: `x=3` = `3` (a variable of up to three letters, a Greek letter, or `f(x)` on
  the left); `x \\in S` = `S`. Other equations and inequalities never equal a bare value
  (`2x+z=1` != `1`), but may equal each other (`2x+4y-3=0` = `y=-\\frac{1}{2}x+\\frac{3}{4}`)
  or a set (`x > 2` = `(2, \\infty)`).
- Numbers: compared exactly (`\\frac{3}{4}` = `0.75` = `3/4`; `2\\frac{1}{2}` is the mixed
  number 5/2). When either side is written as a decimal they are equal when both round to
  the same 6 decimal places (math-verify's `float_rounding`), so `0.333333` = `1/3` but
  `0.33` != `1/3` and `3.14` != `\\pi`.
- Percent: the percent sign is dropped, so `50\\%` = `50` and `50\\%` != `0.5`. This is Qwen's
  rule (its evaluation strips `%`), and it keeps equivalence transitive, which "either
  reading" would not (50 = 50% = 0.5 but 50 != 0.5).
- Multiple choice: `(B)` = `B` = `\\text{(B)}` = `B)`; letters A-E, upper case only.
- Text answers (words only) compare case-insensitively: `\\text{Yes}` = `yes`.
- Tuples and intervals: `(a, b)`, `[a, b)`, ... compare element by element, in order, and the
  brackets must match: `(1,2)` != `(2,1)`, `[0,1)` != `[0,1]`.
- Sets and unordered lists: `\\{1,2\\}` = `\\{2,1\\}` = `2, 1` = `x=1, x=2` = `x = 1 \\text{ or } x = 2`
  = `1, 2, 2` (duplicates are dropped); `\\pm a` is the list `a, -a`; a one-element set is its
  element. An unordered list never equals a tuple: `1, 2` != `(1, 2)`.
- Everything else (radicals, pi, symbolic expressions, matrices, unions, relations) is decided
  by math-verify: `2\\sqrt2` = `\\sqrt8`, `x^2+2x+1` = `(x+1)^2`, `x > 2` = `(2, \\infty)`.

Bounded work. math-verify's own timeouts use `signal.alarm`, which raises in any thread but
the main one (Gradio calls handlers from worker threads), so they are switched off
(`parsing_timeout=None`, `timeout_seconds=None`) and the work is bounded here instead:

1. Size: an answer longer than `MAX_SYMPY_CHARS` after normalisation is compared by its key
   only; text longer than `MAX_TEXT_CHARS` is cut before extraction and normalisation.
2. Magnitude, before sympy evaluates anything: a parsed expression is walked and rejected
   when an upper bound of the size of a number it could produce (`9^{9^{9^9}}`, `10^6!`,
   `(x+1)^{10^9}`, `\\binom{10^9}{...}`) exceeds `MAX_RESULT_BITS`; before parsing, a textual
   check turns away exponent towers and big binomials, which the parser itself would
   evaluate. Such numbers would be computed inside single C calls that nothing can interrupt.
3. Wall clock, from any thread: sympy runs in a short-lived daemon thread; the caller waits
   at most the remaining budget (`timeout_s`, default `DEFAULT_TIMEOUT_S` for `equivalent`
   and `VOTE_TIMEOUT_S` for a whole vote) and then falls back to comparing keys. The
   abandoned thread is stopped by an exception raised into it (`PyThreadState_SetAsyncExc`,
   a `BaseException` that sympy's and math-verify's `except Exception` do not swallow).
   One lock serialises all sympy work, since the ANTLR parser behind math-verify is not
   documented as thread-safe. Work stuck inside a single C call cannot be interrupted (rule
   2 is there to keep it from starting); until it returns, later comparisons time out and
   fall back to keys.

Parsed forms and comparison results are cached by normalised key, so voting on 64 answers
parses each distinct key once and calls sympy only between distinct keys that the cheap
paths (equal keys, exact numbers, text) cannot settle.
"""

from __future__ import annotations

import ctypes
import logging
import math
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 200_000
"""Text longer than this is cut (keeping its end, where the answer is) before extraction."""

MAX_NORMALIZE_CHARS = 2_000
"""Answers longer than this get a whitespace-collapsed key and no further normalisation."""

MAX_SYMPY_CHARS = 300
"""Scalar answers with a longer key are compared by key only, never parsed by sympy."""

MAX_RESULT_BITS = 1 << 20
"""Largest number (in bits, about 315,000 digits) that an expression may make sympy compute."""

MAX_NUMBER_DIGITS = 1_000
"""Numbers with more digits than this are compared as text, not converted to fractions."""

DEFAULT_TIMEOUT_S = 1.5
"""Wall-clock budget of one `equivalent` call, in seconds."""

VOTE_TIMEOUT_S = 3.0
"""Wall-clock budget of all sympy work in one `cluster_answers` / `majority_vote` call."""

_CACHE_SIZE = 4096
_FLOAT_DECIMALS = 6  # math-verify's default float_rounding

# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_ANSWER_IS_RE = re.compile(r"(?:\bthe|\bfinal)\s+answer\s+is\b\s*:?", re.IGNORECASE)
_NUMBER_RE = re.compile(r"-?\d*\.?\d+")
_THOUSANDS_COMMA_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MATH_DELIMS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))


def _as_text(value: object) -> str:
    """Coerce what callers hand us (str, bytes, None, anything) to clean text."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    elif not isinstance(value, str):
        value = str(value)
    return _CONTROL_RE.sub("", value)


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


def _braced_group(text: str, open_at: int) -> int | None:
    """Index of the `}` closing the `{` at `open_at`, or None when it is never closed."""
    return brace_pairs(text).get(open_at)


def _clean_extracted(answer: str) -> str:
    """Tidy an extracted answer for display: one line, no outer `$`, no trailing full stop."""
    answer = re.sub(r"\s*\n\s*", " ", answer).strip()
    answer = answer.strip("*").strip()
    for left, right in _MATH_DELIMS:
        if answer.startswith(left) and answer.endswith(right) and len(answer) > len(left) + len(right):
            answer = answer[len(left) : -len(right)].strip()
            break
    answer = answer.lstrip(":").strip()
    while answer.endswith((".", ",", ";")) and not answer.endswith("\\."):
        answer = answer[:-1].rstrip()
    if answer.endswith("/") and not answer.endswith("//"):
        answer = answer[:-1].rstrip()
    return answer


def _last_boxed(text: str) -> str | None:
    """Content of the last complete, non-empty `\\boxed`/`\\fbox` in `text`."""
    matches = list(_BOX_RE.finditer(text))
    pairs = brace_pairs(text) if matches else {}
    for match in reversed(matches):
        i = match.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            close = pairs.get(i)
            if close is None:
                continue  # cut off mid-box (e.g. the length limit): not a final answer
            content = _clean_extracted(text[i + 1 : close])
        else:
            # `\boxed 5`: up to the end of the formula or the line, as Qwen's parser does.
            rest = re.split(r"\$|\\\]|\\\)|\n", text[i:], maxsplit=1)[0]
            content = _clean_extracted(rest)
        if content:
            return content
    return None


def _after_answer_is(text: str) -> str | None:
    """What follows the last "the answer is" / "final answer is", up to the end of the sentence."""
    matches = list(_ANSWER_IS_RE.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end() :].lstrip(" \t*")
    for left, right in _MATH_DELIMS:
        if rest.startswith(left):
            end = rest.find(right, len(left))
            if end > len(left):
                return _clean_extracted(rest[len(left) : end]) or None
    line = rest.split("\n", 1)[0]
    sentence = re.split(r"\.(?=\s|$)", line, maxsplit=1)[0]
    return _clean_extracted(sentence) or None


def _last_number(text: str) -> str | None:
    """The last number in `text` (Qwen's `-?\\d*\\.?\\d+`), thousands commas removed."""
    numbers = _NUMBER_RE.findall(_THOUSANDS_COMMA_RE.sub("", text))
    return numbers[-1] if numbers else None


def extract_answer(text: str) -> str | None:
    """The final answer of a solution, as written there, or None when it states none.

    Qwen's evaluation parser, in this order:

    1. the content of the last complete `\\boxed{...}` or `\\fbox{...}` (braces balanced, `\\{`
       and `\\}` ignored), or of `\\boxed 5` (up to the closing `$`, `\\]`, `\\)` or the end of
       the line); empty boxes and a last box cut off before its closing brace are skipped;
    2. else what follows the last "the answer is" / "final answer is" (case-insensitive): a
       whole `$...$`, `\\(...\\)` or `\\[...\\]` formula if one starts there, else the rest of the
       sentence;
    3. else the last number in the text.

    Deviations from Qwen's parser, on purpose: only thousands commas are removed before the
    last-number search (Qwen drops every comma, turning `1, 2` into `12`), and an unclosed
    last box is skipped instead of running to the end of the text.

    The result is tidied for display (one line, outer `$` and a trailing full stop removed)
    but not normalised; see `normalize_answer`.
    """
    body = _as_text(text)
    if len(body) > MAX_TEXT_CHARS:
        body = body[-MAX_TEXT_CHARS:]
    for rule in (_last_boxed, _after_answer_is, _last_number):
        found = rule(body)
        if found:
            return found
    return None


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------

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
_GLUE_RE = re.compile(r"(?<=[\d,])\\!\s*(?=\d)")  # 11,\!111 (thousands glued by a negative space)
_SPACING_RE = re.compile(r"(?<!\\)\\[,;:!> ]|\\(?:displaystyle|textstyle|scriptstyle)\b|~")
_SIZING_RE = re.compile(r"\\(?:left|right)\.|\\(?:left|right|[bB]igg?[lr]?|middle)(?![A-Za-z])\s*")
_CMD_SPACE_RE = re.compile(r"(\\[A-Za-z]+) +(?=[A-Za-z0-9])")
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
    (re.compile(r"^\$|^USD\s*"), ""),
    (re.compile(r"\+\\infty"), r"\\infty"),
)
_FRAC_SHORT_RE = re.compile(r"\\frac\s*(\d)\s*(\d)")
_FRAC_HALF_SHORT_RE = re.compile(r"\\frac\s*(\{[^{}]*\})\s*(\d)|\\frac\s*(\d)\s*(\{[^{}]*\})")
_SQRT_SHORT_RE = re.compile(r"\\sqrt\s*(\d)|\\sqrt\s+([A-Za-z])")
_MC_RE = re.compile(r"^\(?([A-E])\)?[.:]?$|^\(([A-E])\)\s*\S.*$")
_THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_DECIMAL_RE = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)$")
_FRACTION_RE = re.compile(r"^([-+]?)\\frac\{([-+]?\d+)\}\{([-+]?\d+)\}$|^([-+]?\d+)/([-+]?\d+)$")
_MIXED_RE = re.compile(r"^([-+]?)(\d+)\\frac\{(\d+)\}\{(\d+)\}$")
_WORDS_RE = re.compile(r"^[A-Za-z]+(?: [A-Za-z]+)*$")
_GREEK = (
    r"alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|kappa|lambda|mu|nu|xi|rho|sigma|tau|phi|varphi"
    r"|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Sigma|Phi|Psi|Omega"
)
_SUBSCRIPT = r"(?:_(?:\{[A-Za-z0-9]+\}|[A-Za-z0-9]))?"
_VARIABLE = r"(?:[A-Za-z]{1,3}" + _SUBSCRIPT + r"(?:\([A-Za-z]\))?|\\(?:" + _GREEK + r")(?![A-Za-z])" + _SUBSCRIPT + ")"
_ASSIGNMENT_RE = re.compile(r"^(" + _VARIABLE + r")\s*=\s*(?P<rhs>.+)$")
_MEMBERSHIP_RE = re.compile(r"^(" + _VARIABLE + r")\s*\\in\s*(?P<rhs>.+)$")
_OPEN, _CLOSE = "([{", ")]}"
_MATRIX_RE = re.compile(r"^\\begin\{pmatrix\}.*\\end\{pmatrix\}$", re.DOTALL)


@dataclass(frozen=True)
class _Form:
    """The parsed shape of one normalised answer (internal).

    `scalar`: one value, compared by number, text or sympy. `ordered`: a tuple, point,
    interval or vector written with brackets; `brackets` holds the opening and closing
    characters. `unordered`: a set or a bare list; `items` are deduplicated and sorted by key.
    """

    kind: Literal["scalar", "ordered", "unordered"]
    key: str
    latex: str = ""
    number: Fraction | None = None
    approximate: bool = False
    text: bool = False
    choice: bool = False
    brackets: str = ""
    items: tuple[_Form, ...] = ()


def _top_level_split(text: str, sep: str = ",") -> list[str]:
    """Split at `sep` outside every (), [], {} and `\\{ \\}` (mismatched pairs such as `[0,1)` count)."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if text.startswith("\\{", i):
                depth += 1
            elif text.startswith("\\}", i):
                depth -= 1
            elif text.startswith("\\begin", i):
                depth += 1
            elif text.startswith("\\end", i):
                depth -= 1
            i += 2
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _wrapped(text: str) -> tuple[str, str, str] | None:
    """(open, inner, close) when a single bracket pair encloses the whole text."""
    if text.startswith("\\{") and text.endswith("\\}"):
        open_, close, inner = "\\{", "\\}", text[2:-2]
    elif len(text) >= 2 and text[0] in "([" and text[-1] in ")]":
        open_, close, inner = text[0], text[-1], text[1:-1]
    else:
        return None
    # The opening bracket must close at the very end, not earlier as in "(1,2)\cup(3,4)".
    depth = 0
    i = 0
    while i < len(inner):
        c = inner[i]
        if c == "\\":
            if inner.startswith("\\{", i):
                depth += 1
            elif inner.startswith("\\}", i):
                depth -= 1
            i += 2
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth < 0:
                return None
        i += 1
    return (open_, inner, close) if depth == 0 else None


def _strip_wrappers(text: str) -> str:
    """Remove delimiters that enclose the whole answer: `$`, `\\(`, `\\[`, `\\boxed{}`, `\\text{}`."""
    while True:
        before = text
        text = text.strip()
        for left, right in _MATH_DELIMS:
            if text.startswith(left) and text.endswith(right) and len(text) > len(left) + len(right):
                text = text[len(left) : -len(right)].strip()
        box = re.match(r"^(?:\\(?:boxed|fbox)\s*)?\{", text)
        if box and _braced_group(text, box.end() - 1) == len(text) - 1:
            text = text[box.end() : -1]  # a box, or a bare TeX group: {1, 3} is the list 1, 3
        if text == before:
            return text


def _surface(text: str) -> str:
    """Drop what carries no mathematical meaning (module docstring, "Surface")."""
    text = unicodedata.normalize("NFKC", _UNICODE_RE.sub(lambda m: _UNICODE[m.group()], text))
    text = re.sub(r"\s+", " ", text)
    text = _strip_wrappers(text)
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
    (so `2 x y` keeps its variables).
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
    return body


def _compact(text: str) -> str:
    """Remove spaces, except one between a LaTeX command and a following letter or digit."""
    text = _CMD_SPACE_RE.sub("\\1\x00", text)
    return text.replace(" ", "").replace("\x00", " ")


def _number(text: str) -> tuple[Fraction, bool] | None:
    """(exact value, written as a decimal?) of a plain number, fraction or mixed number."""
    if len(text) > MAX_NUMBER_DIGITS:
        return None
    if _DECIMAL_RE.match(text):
        return Fraction(text), "." in text
    frac = _FRACTION_RE.match(text)
    if frac:
        sign, num, den = (frac.group(1), frac.group(2), frac.group(3)) if frac.group(2) else ("", frac.group(4), frac.group(5))
        if int(den) == 0:
            return None
        value = Fraction(int(num), int(den))
        return (-value if sign == "-" else value), False
    mixed = _MIXED_RE.match(text)
    if mixed and int(mixed.group(4)) != 0:
        value = int(mixed.group(2)) + Fraction(int(mixed.group(3)), int(mixed.group(4)))
        return (-value if mixed.group(1) == "-" else value), False
    return None


def _number_key(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _unassign(text: str) -> str:
    """`x=3` -> `3`, `x = 1+2 = 3` -> `3`, `x \\in [0,1)` -> `[0,1)`; other text unchanged."""
    member = _MEMBERSHIP_RE.match(text)
    if member:
        return member.group("rhs").strip()
    assignment = _ASSIGNMENT_RE.match(text)
    if assignment:
        return assignment.group("rhs").split("=")[-1].strip() or text
    return text


def _scalar(text: str) -> _Form:
    text = _FRAC_SHORT_RE.sub(r"\\frac{\1}{\2}", text)
    text = _FRAC_HALF_SHORT_RE.sub(
        lambda m: f"\\frac{m.group(1)}{{{m.group(2)}}}" if m.group(1) else f"\\frac{{{m.group(3)}}}{m.group(4)}", text
    )
    text = _SQRT_SHORT_RE.sub(lambda m: "\\sqrt{" + (m.group(1) or m.group(2)) + "}", text)
    key = _compact(text)
    if text.startswith("+") and not text.startswith("+-"):
        key = key[1:]
    number = _number(key)
    if number is not None:
        value, approximate = number
        return _Form("scalar", _number_key(value), latex=key, number=value, approximate=approximate)
    choice = _MC_RE.match(text.strip())
    if choice:
        letter = choice.group(1) or choice.group(2)
        return _Form("scalar", letter, latex=letter, choice=True)
    words = " ".join(text.split())
    if _WORDS_RE.match(words) and len(words) >= 3:
        return _Form("scalar", words.casefold(), latex=key, text=True)
    return _Form("scalar", key, latex=key)


def _collection(kind: Literal["ordered", "unordered"], parts: Sequence[_Form], brackets: str = "") -> _Form:
    if kind == "unordered":
        unique = {part.key: part for part in parts}
        items = tuple(unique[k] for k in sorted(unique))
        if len(items) == 1:
            return items[0]
        return _Form("unordered", "\\{" + ",".join(f.key for f in items) + "\\}", items=items)
    items = tuple(parts)
    key = brackets[0] + ",".join(f.key for f in items) + brackets[1:]
    return _Form("ordered", key, brackets=brackets, items=items)


def _plus_minus(text: str) -> list[str] | None:
    """`1\\pm\\sqrt2` -> [`1+\\sqrt2`, `1-\\sqrt2`] when there is exactly one `\\pm`."""
    if text.count("\\pm") != 1 or "\\pmatrix" in text:
        return None
    head, tail = text.split("\\pm")
    return [f"{head}+{tail}", f"{head}-{tail}"]


def _build_form(text: str, depth: int = 0, unassign: bool = True) -> _Form:
    """Parse a surface-cleaned answer into its `_Form` (sets, tuples, lists, scalars).

    `unassign=False` keeps `x=1` as an equation (items of a list that assigns several
    variables, such as `x=1, y=2`).
    """
    text = text.strip()
    if depth > 8 or not text:
        return _Form("scalar", _compact(text), latex=_compact(text))
    if _THOUSANDS_RE.match(text):
        return _scalar(text.replace(",", ""))
    if _MC_RE.match(text):
        return _scalar(text)
    wrapped = _wrapped(text)
    if wrapped is not None:
        open_, inner, close = wrapped
        parts = [p.strip() for p in _top_level_split(inner)]
        if open_ == "\\{":
            return _unordered_form(parts, depth)
        if len(parts) == 1 and open_ != "\\{":
            parts = [p.strip() for p in _top_level_split(inner, ";")]  # (0;-2;6)
        if len(parts) >= 2 and all(parts):
            return _collection("ordered", [_build_form(p, depth + 1) for p in parts], open_ + close)
        if len(parts) == 1 and (open_ + close == "()" or _MATRIX_RE.match(inner)):
            return _build_form(inner, depth + 1, unassign)
    parts = [p.strip() for p in _top_level_split(text)]
    if len([p for p in parts if p]) >= 2:
        return _unordered_form(parts, depth)
    single = parts[0] if parts else ""
    if unassign:
        stripped = _unassign(single)
        if stripped != single:
            value = _build_form(stripped, depth + 1)
            if value.kind == "scalar" and value.number is None and not (value.text or value.choice):
                # Same key as the bare value (y=2x+3 ~ 2x+3), but sympy sees the equation, so
                # that y=-x/2+3/4 still equals 2x+4y-3=0.
                return replace(value, latex=_compact(single))
            return value
    expanded = _plus_minus(single)
    if expanded is not None:
        return _collection("unordered", [_scalar(p) for p in expanded])
    return _scalar(single)


def _unordered_form(parts: list[str], depth: int) -> _Form:
    """A set or bare list; `x=` is stripped only when every item assigns the same variable."""
    parts = [p for p in parts if p]
    names = set()
    for part in parts:
        match = _ASSIGNMENT_RE.match(part) or _MEMBERSHIP_RE.match(part)
        names.add(match.group(1) if match else None)
    same_variable = len(names) == 1 and None not in names
    items = [_unassign(p) if same_variable else p for p in parts]
    return _collection("unordered", [_build_form(p, depth + 1, unassign=False) for p in items])


@lru_cache(maxsize=_CACHE_SIZE)
def _form(text: str) -> _Form:
    """The cached `_Form` of an answer; cheap and deterministic."""
    clean = _as_text(text)
    if len(clean) > MAX_NORMALIZE_CHARS:
        key = " ".join(clean.split())
        return _Form("scalar", key, latex=key)
    return _build_form(_surface(clean))


def normalize_answer(text: str) -> str:
    """Canonical key of an answer: cheap (no sympy), deterministic, never raises.

    Equal keys mean equivalent answers; different keys may still be equivalent (`0.333333`
    and `\\frac{1}{3}`, `2\\sqrt2` and `\\sqrt8`), which `equivalent` decides. Exact numbers
    become `p/q` or `p` (`\\frac{6}{8}`, `0.75` -> `3/4`), unordered lists and sets become a
    sorted `\\{...\\}`, multiple-choice answers their letter, text answers lower case; an
    empty or missing answer gives `""`.
    """
    return _form(_as_text(text)).key


# ---------------------------------------------------------------------------------------------
# Bounded sympy work
# ---------------------------------------------------------------------------------------------


class _Abandoned(BaseException):
    """Raised inside a sympy thread whose caller stopped waiting.

    A BaseException so that the `except Exception` clauses of sympy and math-verify let it
    through and the thread actually stops.
    """


class _MathVerifyTimeoutNotice(logging.Filter):
    """Drops math-verify's one-time warning that its (signal-based) timeout is disabled."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_MathVerifyTimeoutNotice())

_SYMPY_LOCK = threading.Lock()
_TIMED_OUT = object()


def _interrupt(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise `exc` asynchronously in another thread (None clears a pending one). CPython only."""
    try:
        payload = ctypes.py_object(exc) if exc is not None else None
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), payload)
    except (AttributeError, OSError, TypeError):  # not CPython: the thread runs to its end
        logger.debug("cannot interrupt a sympy thread on this interpreter", exc_info=True)


class _Job:
    """One piece of sympy work on its own daemon thread; see `_run_bounded`."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.started = False
        self.finished = False
        self.cancelled = False
        self.value: Any = None
        self.thread = threading.Thread(target=self.run, name="answers-sympy", daemon=True)

    def run(self) -> None:
        try:
            with _SYMPY_LOCK:
                with self.lock:
                    if self.cancelled:
                        return
                    self.started = True
                try:
                    value = self.fn()
                except Exception:  # a library failure is a failed parse or comparison
                    logger.debug("sympy work failed", exc_info=True)
                    value = None
                with self.lock:
                    self.finished = True
                    self.value = value
                self.done.set()
                _interrupt(threading.get_ident(), None)
        except _Abandoned:
            pass

    def cancel(self) -> bool:
        """Stop waiting; interrupt the thread if it runs. True when the work had started."""
        with self.lock:
            self.cancelled = True
            started = self.started and not self.finished
        if started:
            threading.Thread(target=self._reap, name="answers-reaper", daemon=True).start()
        return started

    def _reap(self) -> None:
        # Re-raise until the thread is gone: a bare `except:` somewhere may swallow one.
        for _ in range(200):
            with self.lock:
                if self.finished or not self.thread.is_alive():
                    return
                _interrupt(self.thread.ident or 0, _Abandoned)
            self.thread.join(0.05)


def _run_bounded(fn: Callable[[], Any], deadline: float) -> Any:
    """fn() on a worker thread, or `_TIMED_OUT` if it has not returned by `deadline`.

    Works from any thread (no signals). Returns None when fn raised.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return _TIMED_OUT
    job = _Job(fn)
    job.thread.start()
    if job.done.wait(remaining):
        return job.value
    with job.lock:
        if job.finished:
            return job.value
    job.cancel()
    return _TIMED_OUT


class _LRU:
    """A small thread-safe LRU map."""

    def __init__(self, size: int) -> None:
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Any, default: Any = None) -> Any:
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


_PARSED = _LRU(_CACHE_SIZE)
_COMPARED = _LRU(_CACHE_SIZE * 4)
_UNPARSEABLE = object()


def _size_bits(expr: Any, budget: list[int]) -> float:
    """Upper bound of log2 of the largest number evaluating `expr` could build.

    `budget` counts visited nodes; past it the expression counts as too big.
    """
    import sympy

    budget[0] -= 1
    if budget[0] < 0:
        return math.inf
    if isinstance(expr, sympy.MatrixBase):
        return max((_size_bits(e, budget) for e in expr), default=1.0)
    if not isinstance(expr, sympy.Basic):
        return 64.0
    if isinstance(expr, sympy.Integer):
        return float(max(int(expr).bit_length(), 1))
    if isinstance(expr, sympy.Rational):
        return float(max(expr.p.bit_length(), expr.q.bit_length(), 1))
    if isinstance(expr, sympy.Float):
        magnitude = abs(float(expr))
        return math.log2(magnitude + 1.0) + 1.0 if math.isfinite(magnitude) else math.inf
    if not expr.args:
        return 8.0  # symbols, pi, E, oo
    args = [_size_bits(a, budget) for a in expr.args]
    if isinstance(expr, sympy.Pow):
        base, exponent = args[0], args[1]
        return math.inf if exponent > 60 else base * 2.0**exponent
    if isinstance(expr, (sympy.factorial, sympy.gamma, sympy.subfactorial, sympy.factorial2)):
        return math.inf if args[0] > 60 else 2.0 ** args[0] * max(args[0], 1.0)
    if isinstance(expr, sympy.binomial):
        return math.inf if args[0] > 60 else 2.0 ** args[0]
    if isinstance(expr, (sympy.Sum, sympy.Product)):
        limits = max(args[1:], default=1.0)
        return math.inf if limits > 60 else 2.0**limits * (args[0] + 1.0)
    if isinstance(expr, sympy.Mul):
        return sum(args)
    return max(args) + math.log2(len(args) + 1)


# An exponent that holds another power (a tower) or a literal of 7 or more digits.
_TOWER_RE = re.compile(r"(?:\^|\*\*)\s*(?:\{[^{}]*(?:\^|\*\*)|\(?[-+]?\d{7})")


def _latex_guard(latex: str) -> bool:
    """Cheap textual checks before parsing: the parser itself evaluates some things (binomials)."""
    if len(latex) > MAX_SYMPY_CHARS or not latex.strip():
        return False
    if _TOWER_RE.search(latex):
        return False
    if re.search(r"binom|choose", latex) and ("^" in latex or any(len(d) > 4 for d in re.findall(r"\d+", latex))):
        return False
    return latex.count("{") == latex.count("}")


def _parse(latex: str) -> Any:
    """math-verify's parse of one answer, or `_UNPARSEABLE` (runs on a worker thread)."""
    from math_verify import LatexExtractionConfig, parse

    parsed = parse(
        "\\boxed{" + latex + "}",
        extraction_config=[LatexExtractionConfig()],
        parsing_timeout=None,  # type: ignore[arg-type]
    )
    if not parsed:
        return _UNPARSEABLE
    bounded = [p for p in parsed if isinstance(p, str) or _size_bits(p, [5000]) <= MAX_RESULT_BITS]
    if len(bounded) < len(parsed) or not any(not isinstance(p, str) for p in bounded):
        return _UNPARSEABLE
    return bounded


# Positive, irregular points: inside the domains of sqrt and log, unlikely to be special.
_PROBES = (0.5731, 1.3127, 0.8419)


def _plain_expressions(a: Any, b: Any) -> bool:
    """Both sides are ordinary scalar expressions (no relations, sets, tuples or matrices)."""
    import sympy

    def plain(x: Any) -> bool:
        return isinstance(x, sympy.Expr) and not isinstance(x, (sympy.MatrixBase, sympy.MatrixExpr))

    return all(plain(x) for x in a if not isinstance(x, str)) and all(plain(x) for x in b if not isinstance(x, str))


def _differ_at_a_point(a: Any, b: Any) -> bool:
    """True when two expressions surely differ: their values disagree at a fixed point.

    A cheap rejection before math-verify's `simplify`, which dominates the cost of comparing
    different symbolic answers. Inconclusive (False) whenever evaluation is not a finite real.
    """
    import sympy

    expr_a = next(x for x in a if not isinstance(x, str))
    expr_b = next(x for x in b if not isinstance(x, str))
    symbols = sorted(expr_a.free_symbols | expr_b.free_symbols, key=str)
    if not symbols:
        return False
    for shift in range(2):
        point = {s: _PROBES[(i + shift) % len(_PROBES)] + i for i, s in enumerate(symbols)}
        try:
            va = complex(expr_a.evalf(30, subs=point))
            vb = complex(expr_b.evalf(30, subs=point))
        except (TypeError, ValueError, ArithmeticError, sympy.SympifyError):
            return False
        if not all(math.isfinite(v.real) and math.isfinite(v.imag) for v in (va, vb)):
            return False
        if abs(va - vb) > 1e-6 * (1.0 + abs(va) + abs(vb)):
            return True
    return False


def _lone_equation(a: Any, b: Any) -> bool:
    """`a` is an equation or inequality that is not an assignment, and `b` is a plain value.

    math-verify reads such a prediction by its right-hand side (`2x+z=1` as `1`); between two
    samples that would be wrong, so the pair is unequal. A relation still meets a set
    (`x > 2` and `(2, \\infty)`), and an assignment its value (`y=2x+3` and `2x+3`).
    """
    import sympy
    from math_verify.grader import is_assignment_relation, is_relation

    exprs_a = [x for x in a if not isinstance(x, str)]
    exprs_b = [x for x in b if not isinstance(x, str)]
    return (
        any(is_relation(x) and not is_assignment_relation(x) for x in exprs_a)
        and not any(is_relation(x) or isinstance(x, sympy.Set) for x in exprs_b)
    )


def _verify_both(a: Any, b: Any) -> bool:
    """Symmetric math-verify: either side may be the 'gold' (runs on a worker thread).

    math-verify is asymmetric only for relations and sets; two plain expressions are
    compared once, after a cheap numeric probe has had the chance to tell them apart.
    """
    from math_verify import verify

    if _lone_equation(a, b) or _lone_equation(b, a):
        return False
    if _plain_expressions(a, b):
        if _differ_at_a_point(a, b):
            return False
        return bool(verify(a, b, timeout_seconds=None))  # type: ignore[arg-type]
    for gold, pred in ((a, b), (b, a)):
        if verify(gold, pred, timeout_seconds=None, allow_set_relation_comp=True):  # type: ignore[arg-type]
            return True
    return False


def _import_math_verify() -> None:
    """Import math-verify (and sympy) in the calling thread, outside any time bound.

    An import interrupted half-way by `_Abandoned` could leave sympy half-initialised, so
    the one-off import cost (about a second) is never charged to a budget.
    """
    import math_verify  # noqa: F401


def _parsed(latex: str, deadline: float) -> Any:
    """Cached parse of `latex`; `_UNPARSEABLE` when it fails, is too big, or times out."""
    cached = _PARSED.get(latex)
    if cached is not None:
        return cached
    if not _latex_guard(latex):
        _PARSED.put(latex, _UNPARSEABLE)
        return _UNPARSEABLE
    _import_math_verify()
    result = _run_bounded(lambda: _parse(latex), deadline)
    if result is _TIMED_OUT:
        return _UNPARSEABLE  # not cached: the time may have gone waiting for another thread
    result = _UNPARSEABLE if result is None else result
    _PARSED.put(latex, result)
    return result


def _sympy_equal(a: str, b: str, deadline: float) -> bool:
    """math-verify equivalence of two scalar LaTeX strings, bounded and cached."""
    pair = (a, b) if a <= b else (b, a)
    cached = _COMPARED.get(pair)
    if cached is not None:
        return bool(cached)
    parsed_a = _parsed(a, deadline)
    parsed_b = _parsed(b, deadline)
    if parsed_a is _UNPARSEABLE or parsed_b is _UNPARSEABLE:
        return False
    result = _run_bounded(lambda: _verify_both(parsed_a, parsed_b), deadline)
    if result is _TIMED_OUT:
        return False
    _COMPARED.put(pair, bool(result))
    return bool(result)


# ---------------------------------------------------------------------------------------------
# Equivalence
# ---------------------------------------------------------------------------------------------


def _numbers_equal(a: _Form, b: _Form) -> bool:
    assert a.number is not None and b.number is not None
    if a.number == b.number:
        return True
    if a.approximate or b.approximate:
        return round(a.number, _FLOAT_DECIMALS) == round(b.number, _FLOAT_DECIMALS)
    return False


def _match_unordered(a: Sequence[_Form], b: Sequence[_Form], deadline: float) -> bool:
    if len(a) != len(b):
        return False
    unused = list(b)
    for item in a:
        for j, other in enumerate(unused):
            if _forms_equal(item, other, deadline):
                del unused[j]
                break
        else:
            return False
    return True


def _forms_equal(a: _Form, b: _Form, deadline: float) -> bool:
    if not a.key or not b.key:
        return False
    if a.key == b.key:
        return True
    if a.kind != b.kind:
        if "scalar" not in (a.kind, b.kind):
            return False  # a tuple is never an unordered list of roots
        if a.choice or b.choice or a.text or b.text:
            return False
        return _sympy_equal(_latex_of(a), _latex_of(b), deadline)
    if a.kind == "ordered":
        return (
            a.brackets == b.brackets
            and len(a.items) == len(b.items)
            and all(_forms_equal(x, y, deadline) for x, y in zip(a.items, b.items))
        )
    if a.kind == "unordered":
        return _match_unordered(a.items, b.items, deadline)
    if a.number is not None and b.number is not None:
        return _numbers_equal(a, b)
    if a.choice or b.choice or a.text or b.text:
        return False
    return _sympy_equal(a.latex, b.latex, deadline)


def _latex_of(form: _Form) -> str:
    """LaTeX that math-verify can parse for a form (collections are rebuilt from their items)."""
    if form.kind == "scalar":
        return form.latex
    inner = ",".join(_latex_of(item) for item in form.items)
    return "\\{" + inner + "\\}" if form.kind == "unordered" else form.brackets[0] + inner + form.brackets[1:]


def equivalent(a: str, b: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """True when two answers are mathematically equivalent (rules in the module docstring).

    Symmetric, never raises, returns within about `timeout_s` seconds from any thread (plus,
    once per process, the import of math-verify); when the time runs out the parts not yet
    decided are compared by normalised key. A missing or empty answer is equivalent to
    nothing, not even another empty one.
    """
    form_a, form_b = _form(_as_text(a)), _form(_as_text(b))
    _import_math_verify()
    deadline = time.monotonic() + timeout_s
    return _forms_equal(form_a, form_b, deadline)


def warm_up() -> None:
    """Import and exercise sympy/math-verify once, so the first real vote is not the slow one."""
    equivalent("x^2+2x+1", "(x+1)^2", timeout_s=30.0)


# ---------------------------------------------------------------------------------------------
# Votes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """Answers judged equivalent to each other.

    `members` are indices into the list given to `cluster_answers`/`majority_vote`, ascending.
    `answer` is the text shown for the cluster: the answer string written most often among
    its members (exactly as given), the earliest such member on a tie. `key` is
    `normalize_answer(answer)`, kept separate from the text shown.
    """

    key: str
    answer: str
    members: tuple[int, ...]

    @property
    def count(self) -> int:
        """How many samples gave this answer."""
        return len(self.members)

    @property
    def first(self) -> int:
        """Index of the earliest member: the tie-break."""
        return self.members[0]


@dataclass(frozen=True)
class Vote:
    """The Maj@N result of one run.

    `clusters` come winner first, then by count (descending), then by the index of their
    first member (ascending). `assignments[i]` is the position in `clusters` of sample i's
    cluster, or None when sample i had no answer.
    """

    answer: str | None
    count: int
    total: int
    clusters: tuple[Cluster, ...]
    assignments: tuple[int | None, ...] = ()

    @property
    def winner(self) -> Cluster | None:
        """The winning cluster, or None when no sample had an answer."""
        return self.clusters[0] if self.clusters else None

    @property
    def answered(self) -> int:
        """Samples that had an answer (the sum of the cluster counts)."""
        return sum(c.count for c in self.clusters)

    @property
    def share(self) -> float:
        """The winner's count over all samples, answered or not (0.0 for no samples)."""
        return self.count / self.total if self.total else 0.0

    @property
    def tied(self) -> bool:
        """Whether another cluster has as many members as the winner."""
        return len(self.clusters) > 1 and self.clusters[1].count == self.count


def shown_answer(answers: Sequence[str | None], members: Sequence[int]) -> str:
    """The text shown for a cluster: its members' most frequent answer, the earliest on a tie."""
    texts = {i: answers[i] if isinstance(answers[i], str) else _as_text(answers[i]) for i in members}
    tally: dict[str, int] = {}
    for i in members:
        tally[texts[i]] = tally.get(texts[i], 0) + 1
    best = max(tally.values())
    return next(texts[i] for i in members if tally[texts[i]] == best)


def cluster_answers(answers: Sequence[str | None], *, timeout_s: float = VOTE_TIMEOUT_S) -> list[Cluster]:
    """Group answers by equivalence; None and empty answers join no cluster.

    Method: answers are first grouped by `normalize_answer` key (no sympy). The key groups
    are then taken in the order of their first occurrence; each joins the first existing
    cluster whose *first* key group is `equivalent` to it, or starts a new cluster. Comparing
    against each cluster's first member (never against later ones) keeps an imperfectly
    transitive equivalence from chaining clusters together (0.3 ~ 1/3 ~ 0.333333 does not
    merge 0.3 with 0.333333 through 1/3), at the price that the clusters can depend on which
    answer came first when equivalence is not transitive.

    Sympy work shares one budget of `timeout_s` seconds; after it, key groups are compared
    by key only. Returned in the order of `Vote.clusters`.
    """
    _import_math_verify()
    deadline = time.monotonic() + timeout_s
    groups: dict[str, list[int]] = {}
    forms: dict[str, _Form] = {}
    for i, raw in enumerate(answers):
        if raw is None:
            continue
        form = _form(_as_text(raw))
        if not form.key:
            continue
        groups.setdefault(form.key, []).append(i)
        forms.setdefault(form.key, form)
    built: list[list[str]] = []
    for key in groups:
        for cluster_keys in built:
            if _forms_equal(forms[cluster_keys[0]], forms[key], deadline):
                cluster_keys.append(key)
                break
        else:
            built.append([key])
    clusters = []
    for cluster_keys in built:
        members = tuple(sorted(i for k in cluster_keys for i in groups[k]))
        shown = shown_answer(answers, members)
        clusters.append(Cluster(key=normalize_answer(shown), answer=shown, members=members))
    clusters.sort(key=lambda c: (-c.count, c.first))
    return clusters


def majority_vote(answers: Sequence[str | None], *, timeout_s: float = VOTE_TIMEOUT_S) -> Vote:
    """Maj@N: the largest cluster of equivalent answers wins.

    Tie-break: among clusters of equal size, the one whose first member has the lowest
    index wins (the answer that was given first). Samples without an answer (None or empty)
    vote for nothing but count in `total`; when no sample has an answer the vote is
    `Vote(answer=None, count=0, total=len(answers), clusters=())`.
    """
    clusters = tuple(cluster_answers(answers, timeout_s=timeout_s))
    assignments: list[int | None] = [None] * len(answers)
    for position, cluster in enumerate(clusters):
        for i in cluster.members:
            assignments[i] = position
    winner = clusters[0] if clusters else None
    return Vote(
        answer=winner.answer if winner else None,
        count=winner.count if winner else 0,
        total=len(answers),
        clusters=clusters,
        assignments=tuple(assignments),
    )
