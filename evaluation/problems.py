"""Reading a problem file: JSON Lines in the common formats of public math sets.

Each line becomes a `Problem` (text and reference answer) or a `SkippedLine` with its reason;
the accepted field names and how a reference is read are in docs/evaluation.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgements.answers import extract_answer
from model.errors import ModelError

PROBLEM_FIELDS = ("problem", "question")
ID_FIELDS = ("id", "unique_id", "idx")
GSM8K_MARK = "####"


class DatasetError(ModelError, ValueError):
    """The problem file cannot be read at all."""


@dataclass(frozen=True)
class Problem:
    """One problem with a known answer; `line` is its 1-based line in the file."""

    line: int
    text: str
    reference: str
    id: str | None = None


@dataclass(frozen=True)
class SkippedLine:
    line: int
    reason: str


@dataclass(frozen=True)
class Dataset:
    path: str
    problems: list[Problem]
    skipped: list[SkippedLine]


def _fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """Keys lower-cased; an exact lower-case key wins over a differently cased one."""
    lowered: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(key, str) and (key.lower() not in lowered or key == key.lower()):
            lowered[key.lower()] = value
    return lowered


def _after_mark(text: str) -> str | None:
    """N in a GSM8K solution `... #### N`, or None when there is no mark."""
    if GSM8K_MARK not in text:
        return None
    return text.rsplit(GSM8K_MARK, 1)[1].strip() or None


def _answer_field(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    if isinstance(value, str):
        if GSM8K_MARK in value:
            return _after_mark(value)
        return value.strip() or None
    return None


def _solution_field(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if GSM8K_MARK in value:
        return _after_mark(value)
    if "\\boxed" in value or "\\fbox" in value:
        return extract_answer(value)
    return None


def reference_answer(record: Mapping[str, Any]) -> str | None:
    """The reference answer of one record (see the module docstring), or None."""
    fields = _fields(record)
    return _answer_field(fields.get("answer")) or _solution_field(fields.get("solution"))


def problem_text(record: Mapping[str, Any]) -> str | None:
    fields = _fields(record)
    for name in PROBLEM_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def parse_line(line_no: int, raw: bytes) -> Problem | SkippedLine | None:
    """One line of the file: a problem, a skipped line with its reason, or None (blank)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return SkippedLine(line_no, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return SkippedLine(line_no, f"not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(record, dict):
        return SkippedLine(line_no, f"a JSON {type(record).__name__}, not an object")
    problem = problem_text(record)
    if problem is None:
        return SkippedLine(line_no, "no `problem` or `question` text")
    reference = reference_answer(record)
    if reference is None:
        return SkippedLine(line_no, "no usable answer (`answer`, or `#### N` / `\\boxed{}` in `solution`)")
    fields = _fields(record)
    ident = next((fields[k] for k in ID_FIELDS if isinstance(fields.get(k), (str, int)) and not isinstance(fields.get(k), bool)), None)
    return Problem(line=line_no, text=problem, reference=reference, id=None if ident is None else str(ident))


def read_problems(path: str | Path, *, limit: int | None = None) -> Dataset:
    """Problems from a JSONL file, stopping after `limit` usable ones; bad lines are skipped."""
    path = Path(path)
    problems: list[Problem] = []
    skipped: list[SkippedLine] = []
    try:
        with path.open("rb") as handle:
            for line_no, raw in enumerate(handle, 1):
                if limit is not None and len(problems) >= limit:
                    break
                if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                parsed = parse_line(line_no, raw)
                if isinstance(parsed, Problem):
                    problems.append(parsed)
                elif isinstance(parsed, SkippedLine):
                    skipped.append(parsed)
    except OSError as exc:
        raise DatasetError(f"Cannot read the problem file {path}: {exc.strerror or exc}.") from None
    return Dataset(str(path), problems, skipped)
