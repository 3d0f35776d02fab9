"""Extraction: the final answer a solution states, found the way Qwen's evaluation parser does.

The last `\\boxed{...}`, else what follows "the answer is", else the last number; also the
input coercion (`as_text`) that every answer function applies first.
"""

from __future__ import annotations

import re

from judgements.answers.limits import MAX_TEXT_CHARS
from judgements.latex import brace_pairs

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_ANSWER_IS_RE = re.compile(r"(?:\bthe|\bfinal)\s+answer\s+is\b\s*:?", re.IGNORECASE)
_NUMBER_RE = re.compile(r"-?\d*\.?\d+")
_THOUSANDS_COMMA_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MATH_DELIMS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
"""Formula delimiters as (left, right), longest first."""


def as_text(value: object) -> str:
    """Coerce what callers hand us (str, bytes, None, anything) to clean text."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    elif not isinstance(value, str):
        value = str(value)
    return _CONTROL_RE.sub("", value)


def _clean_extracted(answer: str) -> str:
    """Tidy an extracted answer for display: one line, no outer `$`, no trailing full stop."""
    answer = re.sub(r"\s*\n\s*", " ", answer).strip()
    answer = answer.strip("*").strip()
    for left, right in MATH_DELIMS:
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
    for left, right in MATH_DELIMS:
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
    body = as_text(text)
    if len(body) > MAX_TEXT_CHARS:
        body = body[-MAX_TEXT_CHARS:]
    for rule in (_last_boxed, _after_answer_is, _last_number):
        found = rule(body)
        if found:
            return found
    return None
