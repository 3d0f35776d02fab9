"""Alembic's environment for the session log: how the revisions in versions/ reach a database.

Two callers:
- the app (`storage.migrations.migrate`) hands over a Connection in
  `config.attributes["connection"]`, already inside the write transaction that holds the
  start-up lock and after adopting a pre-Alembic database; the revisions run in that
  transaction and it commits;
- the `alembic` command line (alembic.ini at the repository root) connects to
  `-x db_url=...`, else `MATHAPP_DB_URL`, else alembic.ini's `sqlalchemy.url`, with the app's
  own SQLite settings, takes the same lock, adopts a database the hand-written runner
  migrated, and runs the revisions in one transaction (`--sql` writes them out instead).
Batch mode on SQLite, whose ALTER TABLE cannot change or drop a column in place.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from storage.engine import DB_URL_ENV, DEFAULT_DB_URL, build_engine, parse_db_url, sqlite_file, write_engine
from storage.migrations import LEGACY_TABLE, adopt_legacy_record, lock_for_migrations
from storage.models import Base

config = context.config


def not_the_legacy_record(name: str | None, type_: str, _parent_names: object) -> bool:
    """Autogenerate leaves alone the pre-Alembic `schema_migrations` kept in adopted databases."""
    return not (type_ == "table" and name == LEGACY_TABLE)


def run_on(conn: Connection) -> None:
    """Run the command's revisions on `conn` (in the caller's transaction when it has one)."""
    context.configure(
        connection=conn,
        # What `alembic check` and `alembic revision --autogenerate` compare the database with.
        target_metadata=Base.metadata,
        include_name=not_the_legacy_record,
        render_as_batch=conn.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def command_line_url() -> str:
    """`-x db_url=...`, else `MATHAPP_DB_URL`, else alembic.ini's `sqlalchemy.url`."""
    given = context.get_x_argument(as_dictionary=True).get("db_url")
    return given or os.environ.get(DB_URL_ENV) or config.get_main_option("sqlalchemy.url") or DEFAULT_DB_URL


def run_from_command_line() -> None:
    """Connect as the app does, lock, adopt a pre-Alembic record, then run the revisions."""
    url = parse_db_url(command_line_url())
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, render_as_batch=url.get_backend_name() == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    # A running app holds SQLite's write lock only for a moment: wait for it up to 30 s.
    engine = build_engine(url, busy_timeout_s=30.0, pool_timeout_s=30.0)
    try:
        with write_engine(engine).begin() as conn:
            lock_for_migrations(conn)
            adopt_legacy_record(conn)
            run_on(conn)
    finally:
        engine.dispose()


given_connection = config.attributes.get("connection")
if given_connection is not None:
    run_on(given_connection)
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    run_from_command_line()
