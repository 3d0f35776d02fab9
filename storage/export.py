"""Export attempts as JSONL or CSV, read such exports back, and the operator's command line.

JSONL: one attempt per line, `AttemptDetail.to_dict()`: the attempt's fields, `samples` (a
list, by index) and `feedback` (a list, oldest first); datetimes are ISO 8601 with offset.

CSV: one row per solution, the attempt's fields repeated on each of its rows, the solution's
fields prefixed `sample_` (an attempt without solutions has one row with those cells empty).
`params`, `feedback` and `sample_step_rewards` are JSON text. An empty cell is "none".
A text cell that a spreadsheet would run as a formula (starting with = + - @, a tab or a
carriage return), or that starts with an apostrophe, is written with one apostrophe in front
(OWASP's advice against CSV injection, since problems are typed by anyone); `read_csv`
removes it again, so both formats round-trip exactly.

Command line (the operator's own export; it needs the database, not the teacher password):

    python -m storage.export --db-url sqlite:///data/mathapp.sqlite3 --format csv \\
        --from 2025-01-01 --to 2025-01-31 --text triangle --disagree --out january.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import types
import typing
from dataclasses import fields
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TextIO

from storage.records import FEEDBACK_FILTERS, AttemptDetail, AttemptQuery, AttemptSummary, SampleRecord

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
    return [(f.name, _kind(hints[f.name])) for f in fields(cls) if f.name not in ("samples", "feedback")]


ATTEMPT_COLUMNS: list[tuple[str, str]] = _field_kinds(AttemptSummary) + [("feedback", "json")]
SAMPLE_COLUMNS: list[tuple[str, str]] = [(f"sample_{name}", kind) for name, kind in _field_kinds(SampleRecord)]
CSV_HEADER: list[str] = [name for name, _ in ATTEMPT_COLUMNS + SAMPLE_COLUMNS]


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
        for sample in samples:
            if sample is None:
                sample_cells = [""] * len(SAMPLE_COLUMNS)
            else:
                sample_cells = [_cell(sample[name[len("sample_"):]], kind) for name, kind in SAMPLE_COLUMNS]
            writer.writerow(attempt_cells + sample_cells)
        count += 1
    return count


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
    if header != CSV_HEADER:
        raise ValueError("not a session log CSV export: the header differs")
    records: list[dict[str, Any]] = []
    for row in reader:
        cells = dict(zip(header, row))
        attempt = {name: _value(cells[name], kind) for name, kind in ATTEMPT_COLUMNS}
        if not records or records[-1]["id"] != attempt["id"]:
            feedback = attempt.pop("feedback")
            records.append({**attempt, "samples": [], "feedback": feedback})
        if cells["sample_index"] != "":
            sample = {name[len("sample_"):]: _value(cells[name], kind) for name, kind in SAMPLE_COLUMNS}
            records[-1]["samples"].append(sample)
    return records


def _value(cell: str, kind: str) -> Any:
    if kind == "text":
        return cell[1:] if cell.startswith("'") else cell
    if cell == "":
        return None
    if kind == "opt_text":
        return cell[1:] if cell.startswith("'") else cell
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


# -------------------------------------------------------------------------- command line


def _day_or_time(text: str) -> date | datetime:
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or an ISO date-time, got {text!r}") from None


def build_arg_parser() -> argparse.ArgumentParser:
    """The command line of `python -m storage.export`."""
    parser = argparse.ArgumentParser(
        prog="python -m storage.export",
        description="Export the session log (all sessions, or one) as JSONL or CSV.",
    )
    parser.add_argument("--db-url", help="SQLAlchemy URL of the log [env MATHAPP_DB_URL; default sqlite:///data/mathapp.sqlite3]")
    parser.add_argument("--format", required=True, choices=("jsonl", "csv"))
    parser.add_argument("--out", required=True, help="file to write ('-' for standard output)")
    parser.add_argument("--from", dest="date_from", type=_day_or_time, help="first day (YYYY-MM-DD, UTC) or instant")
    parser.add_argument("--to", dest="date_to", type=_day_or_time, help="last day (inclusive) or instant")
    parser.add_argument("--text", help="only problems containing this text (case-insensitive)")
    agree = parser.add_mutually_exclusive_group()
    agree.add_argument("--agree", dest="all_agree", action="store_const", const=True, help="only attempts whose answers all agree")
    agree.add_argument("--disagree", dest="all_agree", action="store_const", const=False, help="only attempts whose answers differ")
    parser.add_argument("--model", dest="model_id", help="only this model id")
    parser.add_argument("--feedback", choices=FEEDBACK_FILTERS, help="only attempts with this kind of feedback")
    parser.add_argument("--status", help="only attempts with this status")
    parser.add_argument("--session", help="only this browser session (its id, as the browser holds it)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the export; 0 on success, 1 when the log cannot be read (the reason on stderr)."""
    from storage.errors import StorageError
    from storage.queries import Scope
    from storage.store import Store, session_key

    args = build_arg_parser().parse_args(argv)
    query = AttemptQuery(
        date_from=args.date_from,
        date_to=args.date_to,
        text=args.text,
        all_agree=args.all_agree,
        model_id=args.model_id,
        feedback=args.feedback,
        status=args.status,
    )
    try:
        # recover=False: an export must not change the log; create=False: nor invent one.
        store = Store.open(args.db_url, recover=False, create=False, strict=True)
        try:
            scope = Scope.of_session(session_key(args.session)) if args.session else Scope.everyone()
            if args.out == "-":
                sys.stdout.write(store._export(scope, args.format, query, None))
                target = "standard output"
            else:
                target = store._export(scope, args.format, query, args.out)
        finally:
            store.close()
    except (StorageError, ValueError) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    print(f"exported to {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
