"""The JSONL and CSV export formats: writing an export, and reading one back exactly.

JSONL is one `AttemptDetail.to_dict()` per line; CSV is one row per solution, with cells a
spreadsheet would run as formulas escaped, and the attempt's feedback and follow-up turns as
JSON lists in its own columns, its reasoning map as JSON on its first row only (it can be
large). docs/storage.md describes both, cell by cell.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from storage.errors import InvalidInputError
from storage.records import DETAIL_ONLY, AttemptDetail, AttemptSummary, SampleRecord

Writer = Callable[[Iterable[AttemptDetail], TextIO], int]

# Characters that make a spreadsheet treat a cell as a formula, plus our own escape mark.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def _kind(hint: Any) -> str:
    """A field's type hint reduced to how its CSV cell is written and read."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        hint = members[0]
    origin = typing.get_origin(hint) or hint
    if origin is str:
        return "opt_text" if optional else "text"
    if origin is bool:
        return "bool"
    if origin is int:
        return "int"
    if origin is float:
        return "float"
    if origin is datetime:
        return "datetime"
    return "json"  # dicts and lists


def _field_kinds(cls: type) -> list[tuple[str, str]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, _kind(hints[f.name])) for f in fields(cls) if f.name not in DETAIL_ONLY]


ATTEMPT_COLUMNS: list[tuple[str, str]] = _field_kinds(AttemptSummary) + [
    ("feedback", "json"), ("turns", "json"), ("reasoning_map", "json")]
SAMPLE_COLUMNS: list[tuple[str, str]] = [(f"sample_{name}", kind) for name, kind in _field_kinds(SampleRecord)]
CSV_HEADER: list[str] = [name for name, _ in ATTEMPT_COLUMNS + SAMPLE_COLUMNS]
# Columns that exports written before them lack, with the cell they are read as: follow-up
# turns (migration 0004), the run's analysis (0005), code runs (0007), the votes' standings
# (0008). Such exports are still read.
LATER_COLUMNS: dict[str, str] = {
    "turns": "[]", "checked_answer": "", "checked_count": "", "checked_kept": "", "checked_fell_back": "",
    "checked_agrees": "", "has_wrong_step": "", "reasoning_map": "", "sample_claims": "", "sample_wrong_steps": "",
    "sample_tool_calls": "", "vote_standings": "",
}
# The headers of exports written before the run's analysis was logged (0005), and before
# follow-up turns were (0004).
CSV_HEADER_BEFORE_ANALYSIS: list[str] = [name for name in CSV_HEADER if name == "turns" or name not in LATER_COLUMNS]
CSV_HEADER_BEFORE_TURNS: list[str] = [name for name in CSV_HEADER if name not in LATER_COLUMNS]


# ------------------------------------------------------------------------------ writing


def write_jsonl(details: Iterable[AttemptDetail], handle: TextIO) -> int:
    """One attempt per line; returns how many were written."""
    count = 0
    for detail in details:
        handle.write(json.dumps(detail.to_dict(), ensure_ascii=False, allow_nan=False))
        handle.write("\n")
        count += 1
    return count


def write_csv(details: Iterable[AttemptDetail], handle: TextIO) -> int:
    """One row per solution (see the module doc); returns how many attempts were written."""
    # RFC 4180 line ends: the writer then quotes every cell holding a \r or \n.
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    count = 0
    for detail in details:
        record = detail.to_dict()
        attempt_cells = [_cell(record[name], kind) for name, kind in ATTEMPT_COLUMNS]
        samples = record["samples"] or [None]
        for row, sample in enumerate(samples):
            if sample is None:
                sample_cells = [""] * len(SAMPLE_COLUMNS)
            else:
                sample_cells = [_cell(sample[name[len("sample_"):]], kind) for name, kind in SAMPLE_COLUMNS]
            writer.writerow(attempt_cells + sample_cells)
            if row == 0:
                attempt_cells[_MAP_CELL] = ""  # the map once per attempt, on its first row
        count += 1
    return count


_MAP_CELL = [name for name, _ in ATTEMPT_COLUMNS].index("reasoning_map")

# The formats by name, as `--format` and the store's export methods take them.
WRITERS: dict[str, Writer] = {"jsonl": write_jsonl, "csv": write_csv}


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("text", "opt_text"):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return repr(value) if kind == "float" else str(value)  # repr: floats round-trip exactly


def check_format(fmt: str) -> None:
    """Raise `InvalidInputError` unless `fmt` names a format."""
    if fmt not in WRITERS:
        raise InvalidInputError(f"export format must be one of {', '.join(WRITERS)}; got {fmt!r}")


def write_export(details: Iterable[AttemptDetail], fmt: str, out: str | Path | None) -> str:
    """The export in format `fmt`: its text, or the path written when `out` is given."""
    writer = WRITERS[fmt]
    return to_text(writer, details) if out is None else str(to_file(writer, details, Path(out)))


def to_text(writer: Writer, details: Iterable[AttemptDetail]) -> str:
    """An export as one string."""
    buffer = io.StringIO()
    writer(details, buffer)
    return buffer.getvalue()


def to_file(writer: Writer, details: Iterable[AttemptDetail], path: Path) -> Path:
    """An export written to `path` (its folder created); a half-written file never replaces it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer(details, handle)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


# ------------------------------------------------------------------------------ reading


def read_jsonl(handle: TextIO | str) -> list[dict[str, Any]]:
    """The attempts of a JSONL export, as the dicts `AttemptDetail.to_dict()` gives."""
    text = handle if isinstance(handle, str) else handle.read()
    # Split on "\n" only: str.splitlines() would also split on U+2028, \x85 and others,
    # which json.dumps(ensure_ascii=False) leaves unescaped inside strings.
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def read_csv(handle: TextIO | str) -> list[dict[str, Any]]:
    """The attempts of a CSV export, as the same dicts `read_jsonl` gives."""
    stream = io.StringIO(handle) if isinstance(handle, str) else handle
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None or [name for name in CSV_HEADER if name in header] != header \
            or not set(CSV_HEADER) - set(header) <= set(LATER_COLUMNS):
        raise ValueError("not a session log CSV export: the header differs")
    records: list[dict[str, Any]] = []
    for row in reader:
        cells = {**LATER_COLUMNS, **dict(zip(header, row))}
        attempt = {name: _value(cells[name], kind) for name, kind in ATTEMPT_COLUMNS}
        if not records or records[-1]["id"] != attempt["id"]:
            details = {name: attempt.pop(name) for name in ("reasoning_map", "feedback", "turns")}
            records.append({**attempt, "reasoning_map": details["reasoning_map"], "samples": [],
                            "feedback": details["feedback"], "turns": details["turns"]})
        if cells["sample_index"] != "":
            sample = {name[len("sample_"):]: _value(cells[name], kind) for name, kind in SAMPLE_COLUMNS}
            records[-1]["samples"].append(sample)
    return records


def _value(cell: str, kind: str) -> Any:
    if kind == "text":
        return cell.removeprefix("'")
    if cell == "":
        return None
    if kind == "opt_text":
        return cell.removeprefix("'")
    if kind == "int":
        return int(cell)
    if kind == "float":
        return float(cell)
    if kind == "bool":
        return cell == "true"
    if kind == "json":
        return json.loads(cell)
    datetime.fromisoformat(cell)  # a malformed date fails here, not later
    return cell
