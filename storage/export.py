"""The operator's export from the command line (it needs the database, not the teacher password):

    python -m storage.export --db-url sqlite:///data/mathapp.sqlite3 --format csv \\
        --from 2025-01-01 --to 2025-01-31 --text triangle --disagree --out january.csv
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date, datetime

from storage.errors import StorageError
from storage.formats import CSV_HEADER, WRITERS, read_csv, read_jsonl
from storage.records import FEEDBACK_FILTERS, AttemptQuery
from storage.store import Store

# Reading exports back lives in storage.formats; these names stay here, where the README points.
__all__ = ["CSV_HEADER", "build_arg_parser", "main", "read_csv", "read_jsonl"]


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
    parser.add_argument("--format", required=True, choices=tuple(WRITERS))
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
    asked = parser.add_mutually_exclusive_group()
    asked.add_argument("--follow-ups", dest="has_follow_ups", action="store_const", const=True, help="only attempts with follow-up questions")
    asked.add_argument("--no-follow-ups", dest="has_follow_ups", action="store_const", const=False, help="only attempts without follow-up questions")
    parser.add_argument("--session", help="only this browser session (its id, as the browser holds it)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the export; 0 on success, 1 when the log cannot be read (the reason on stderr)."""
    args = build_arg_parser().parse_args(argv)
    query = AttemptQuery(
        date_from=args.date_from,
        date_to=args.date_to,
        text=args.text,
        all_agree=args.all_agree,
        model_id=args.model_id,
        feedback=args.feedback,
        status=args.status,
        has_follow_ups=args.has_follow_ups,
    )
    try:
        # recover=False: an export must not change the log; create=False: nor invent one.
        store = Store.open(args.db_url, recover=False, create=False, strict=True)
        try:
            if args.out == "-":
                sys.stdout.write(store.operator_export(args.format, session_id=args.session, query=query))
                target = "standard output"
            else:
                target = store.operator_export(args.format, session_id=args.session, query=query, out=args.out)
        finally:
            store.close()
    except (StorageError, ValueError) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    print(f"exported to {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
