"""Extraction: the final answer a solution states, found the way Qwen's evaluation parser does.

The last `\\boxed{...}`, else what follows "the answer is", else the last number; also the
input coercion (`as_text`) that every answer function applies first.
"""

from __future__ import annotations

import re

from judgements.answers.limits import MAX_TEXT_CHARS
from judgements.latex import brace_pairs

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_ANSWER_IS_RE = re.compile(
    r"(?:\bthe|\bfinal)\s+answer\s+is\b\s*:?|(?P<label>(?:^[#> \t]*|\bfinal\s+)\**answer\**\s*:\**)",
    re.IGNORECASE | re.MULTILINE,
)
# What may part boxes that state one answer together: `\boxed{2}, \boxed{3}`, `$\boxed{1}$ and $\boxed{2}$`.
_BOX_SEPARATOR_RE = re.compile(
    r"(?:[ \t]|[,;$]|\\[,;:()\[\] ]|\\q?quad\b|\\text\{\s*(?:and|or|,)?\s*\}|\b(?:and|or)\b){0,12}\Z"
)
_PROSE_RE = re.compile(r"\b[A-Za-z]{2,}\s+[A-Za-z]{2,}\b")  # two words in a row: a sentence, not an answer
# A number, a fraction `3/4` or a `\frac{3}{4}` of integers (Qwen's `-?\d*\.?\d+`, plus fractions).
_NUMBER_RE = re.compile(r"-?\\[dt]?frac\{\d+\}\{\d+\}|-?\d*\.?\d+(?:/\d+(?!\.?\d))?")
# A `$` that is no formula delimiter: escaped (`\$5`), or a currency sign after a space (` $5`).
_NOT_DELIM_DOLLAR_RE = re.compile(r"(?<=\\)\$|(?<=\s)\$(?=\d)")
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


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every complete `\\boxed`/`\\fbox`, in order; content may be empty."""
    matches = list(_BOX_RE.finditer(text))
    pairs = brace_pairs(text) if matches else {}
    found = []
    for match in matches:
        i = match.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            close = pairs.get(i)
            if close is None:
                continue  # cut off mid-box (e.g. the length limit): not a final answer
            found.append((match.start(), close + 1, _clean_extracted(text[i + 1 : close])))
        else:
            # `\boxed 5`: up to the end of the formula or the line, as Qwen's parser does.
            rest = re.split(r"\$|\\\]|\\\)|\n", text[i:], maxsplit=1)[0]
            found.append((match.start(), i + len(rest), _clean_extracted(rest)))
    return found


def _last_boxed(text: str) -> str | None:
    """Content of the last complete, non-empty box, with the boxes just before it that only
    separators part from it (`\\boxed{2} and \\boxed{3}` -> `2, 3`)."""
    boxes = [box for box in _boxes(text) if box[2]]
    if not boxes:
        return None
    start, _, content = boxes[-1]
    parts = [content]
    for prev_start, prev_end, prev_content in reversed(boxes[:-1]):
        between = text[prev_end:start]
        # Only a separator that says "list" (`,`, `and`, `\quad`...): `\boxed{1} \boxed{2}` is the last box.
        if prev_end > start or not _BOX_SEPARATOR_RE.match(between) or not re.search(r"[,;]|and|or|quad", between):
            break
        parts.insert(0, prev_content)
        start = prev_start
    return ", ".join(parts)


def _closing(text: str, right: str, start: int) -> int:
    """Index of the delimiter `right` closing a formula opened before `start`, or -1.

    A `$` is skipped when escaped or when it is a currency sign (`$18. She spends $5`).
    """
    end = text.find(right, start)
    while right == "$" and end >= 0 and _NOT_DELIM_DOLLAR_RE.match(text, end):
        end = text.find(right, end + 1)
    return end


def _after_answer_is(text: str) -> str | None:
    """What follows the last "the answer is" / "Answer:", up to the end of the sentence.

    After "Answer:", a sentence ("The largest $n$ is 34.") gives what follows its last " is ",
    or else its last number.
    """
    matches = list(_ANSWER_IS_RE.finditer(text))
    if not matches:
        return None
    found = _formula_or_sentence(text[matches[-1].end() :])
    if found and matches[-1].group("label") and _PROSE_RE.search(re.sub(r"\$[^$]*\$", " ", found)):
        tail = re.split(r"\s(?:is|are|was|were|equals)\s", found)
        stated = _clean_extracted(re.sub(r"(?<!\\)\$", "", tail[-1])) if len(tail) > 1 else None
        return stated or _last_number(found)
    return found


def _formula_or_sentence(rest: str) -> str | None:
    """The formula that `rest` starts with, else its first sentence, tidied."""
    rest = rest.lstrip(" \t*")
    for left, right in MATH_DELIMS:
        if rest.startswith(left):
            end = _closing(rest, right, len(left))
            if end > len(left):
                return _clean_extracted(rest[len(left) : end]) or None
    line = rest.split("\n", 1)[0]
    sentence = re.split(r"\.(?=\s|$)", line, maxsplit=1)[0]
    return _clean_extracted(sentence) or None


def _last_number(text: str) -> str | None:
    """The last number in `text` (Qwen's `-?\\d*\\.?\\d+`, or a fraction), thousands commas removed."""
    numbers = _NUMBER_RE.findall(_THOUSANDS_COMMA_RE.sub("", text))
    return numbers[-1] if numbers else None


def extract_answer(text: str) -> str | None:
    """The final answer of a solution, as written there, or None when it states none.

    Qwen's evaluation parser, in this order:

    1. the content of the last complete `\\boxed{...}` or `\\fbox{...}` (braces balanced, `\\{`
       and `\\}` ignored), or of `\\boxed 5` (up to the closing `$`, `\\]`, `\\)` or the end of
       the line); empty boxes and a last box cut off before its closing brace are skipped;
       boxes just before it that nothing but separators (`,`, `and`, `or`, `\\quad`, `$`, space)
       on the same line part from it, one of them a `,`, `and`, `or` or `\\quad`, join it as a
       list (`\\boxed{2} and \\boxed{3}` -> `2, 3`, but `\\boxed{1} \\boxed{2}` -> `2`);
    2. else what follows the last "the answer is" / "final answer is" / "Answer:" at the start
       of a line / "Final Answer:" (case-insensitive, `**` allowed around "Answer"): a whole
       `$...$`, `\\(...\\)` or `\\[...\\]` formula if one starts there (a `$` before a digit
       after a space is a currency sign, not the closing `$`), else the rest of the sentence;
    3. else the last number in the text (a fraction `3/4` or `\\frac{3}{4}` counts as one).

    Deviations from Qwen's parser, on purpose: only thousands commas are removed before the
    last-number search (Qwen drops every comma, turning `1, 2` into `12`), a fraction is one
    number there (Qwen reads `3/4` as `4`), "Answer:" lines count, and an unclosed last box is
    skipped instead of running to the end of the text.

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
