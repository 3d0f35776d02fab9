"""The session log's schema history: Alembic revisions (storage/alembic/versions/), applied at
start-up under the database's write lock.

`migrate()` is what `Store.open` runs: it looks first without the write lock (an up-to-date
database is opened without writing anything), then, in one write transaction that also holds
a PostgreSQL advisory lock, adopts a database migrated by the hand-written runner that came
before Alembic (its `schema_migrations` record becomes the matching Alembic revision) and runs
`alembic upgrade` to the target with that connection. The `alembic` command line
(alembic.ini at the repository root) goes through the same lock and adoption in
storage/alembic/env.py. Revisions are append-only; docs/storage.md has the rules.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, select, text
from sqlalchemy.engine import Connection

from storage.engine import WRITE_OPTION
from storage.errors import StorageError

log = logging.getLogger("storage")

# The Alembic script directory: env.py, script.py.mako and versions/.
ALEMBIC_DIR = Path(__file__).resolve().with_name("alembic")

# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises start-ups. The same
# key as the hand-written runner's, so that an older app starting beside this one waits too.
_PG_LOCK_KEY = 0x6D61_7468_6170_7001

# Where the hand-written runner (before Alembic) recorded the names it applied. Kept as it was
# when a database is adopted: a record of when each early migration ran; nothing reads it after.
LEGACY_TABLE = "schema_migrations"
# Alembic's record of the revision a database is at (one row).
VERSION_TABLE = "alembic_version"


class MigrationError(StorageError):
    """The database's record of its schema cannot be matched to this code's revisions."""


@dataclass(frozen=True)
class Migration:
    """One Alembic revision as this code knows it.

    `revision` is Alembic's id ("0004"); `name` is its file's name without `.py`
    ("0004_follow_up_turns"), which is also what the hand-written runner recorded for it.
    """

    revision: str
    name: str


@lru_cache(maxsize=None)
def script_directory(location: Path = ALEMBIC_DIR) -> ScriptDirectory:
    """The revisions in `location` (read once per process)."""
    return ScriptDirectory(str(location))


def known_migrations(location: Path = ALEMBIC_DIR) -> tuple[Migration, ...]:
    """The revisions in `location`, oldest first; `MigrationError` unless they form one line."""
    scripts = script_directory(location)
    revisions = list(scripts.walk_revisions())  # newest first
    if len(scripts.get_heads()) > 1 or any(r.is_merge_point for r in revisions):
        raise MigrationError(
            f"The revisions in {location} do not form one line (several heads or a merge): "
            "give each new revision the previous head as its down_revision."
        )
    return tuple(Migration(r.revision, Path(r.path).stem) for r in reversed(revisions))


# Oldest first. Alembic's files are the source; this is their order, read at import.
MIGRATIONS: tuple[Migration, ...] = known_migrations()


def alembic_config(connection: Connection | None = None, location: Path = ALEMBIC_DIR) -> Config:
    """An Alembic configuration for running commands from code (no alembic.ini needed).

    With `connection`, storage/alembic/env.py runs the revisions on it, inside its transaction.
    """
    config = Config()
    config.set_main_option("script_location", str(location).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def lock_for_migrations(conn: Connection) -> None:
    """Serialise schema changes between processes, until `conn`'s transaction ends.

    SQLite needs nothing more: a write transaction (BEGIN IMMEDIATE, see storage.engine)
    already holds the database's only write lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def current_revision(conn: Connection) -> str | None:
    """The revision in `alembic_version`; None when there is none (or no such table)."""
    # Read directly: Alembic's own MigrationContext logs two INFO lines each time it is made.
    if not conn.dialect.has_table(conn, VERSION_TABLE):
        return None
    table = Table(VERSION_TABLE, MetaData(), Column("version_num", String(32)))
    heads = sorted(conn.scalars(select(table.c.version_num)))
    if len(heads) > 1:
        raise MigrationError(f"The session log records several schema heads ({', '.join(heads)}); expected one.")
    return heads[0] if heads else None


def legacy_names(conn: Connection) -> list[str]:
    """Names the hand-written runner recorded in `schema_migrations`, oldest first; [] without it."""
    if not conn.dialect.has_table(conn, LEGACY_TABLE):
        return []
    table = Table(LEGACY_TABLE, MetaData(), Column("name", String(200)), Column("applied_at", DateTime(timezone=True)))
    # Names start with a zero-padded number, so sorting by name is sorting by age.
    return sorted(conn.scalars(select(table.c.name)))


def applied_migrations(conn: Connection, location: Path = ALEMBIC_DIR) -> list[str]:
    """Names of the revisions the database has, oldest first.

    Read from `alembic_version` (a revision this code does not know is listed by its id), else
    from a not yet adopted `schema_migrations`; [] for an empty database.
    """
    current = current_revision(conn)
    if current is None:
        return legacy_names(conn)
    names = [m.name for m in known_migrations(location)]
    ids = [m.revision for m in known_migrations(location)]
    return names[: ids.index(current) + 1] if current in ids else [current]


def adopt_legacy_record(conn: Connection, location: Path = ALEMBIC_DIR) -> Migration | None:
    """Stamp a database the hand-written runner migrated with the matching Alembic revision.

    Such a database has `schema_migrations` and no `alembic_version`. The last name it lists
    becomes `alembic_version`'s revision (a record only: no table changes), so that an upgrade
    goes on from there. Returns that revision, or None when there was nothing to adopt. Run it
    inside the write transaction that holds `lock_for_migrations`.
    """
    if current_revision(conn) is not None:
        return None
    names = legacy_names(conn)
    known = known_migrations(location)
    by_name = {m.name: m for m in known}
    warn_if_newer(n for n in names if n not in by_name)
    applied = [n for n in names if n in by_name]
    if not applied:
        return None
    if applied != [m.name for m in known[: len(applied)]]:
        raise MigrationError(
            f"The session log's {LEGACY_TABLE} table lists {', '.join(applied)}: not the first "
            f"{len(applied)} of this app's migrations in order, so its schema cannot be told. "
            "Restore a backup, or stamp the right revision by hand (docs/storage.md)."
        )
    adopted = by_name[applied[-1]]
    MigrationContext.configure(conn).stamp(script_directory(location), adopted.revision)
    log.info(
        "Session log schema: adopted the hand-written migrations' record (%s) as Alembic revision %s.",
        ", ".join(applied),
        adopted.revision,
    )
    return adopted


def migrate(
    write_engine: Engine,
    migrations: Sequence[Migration] = MIGRATIONS,
    *,
    location: Path = ALEMBIC_DIR,
) -> list[str]:
    """Bring the database to the last of `migrations` in one transaction under the write lock;
    return the names of the revisions applied.

    `write_engine` must begin write transactions that take the database's write lock at once
    (see `storage.engine`). `migrations` is a prefix of `location`'s revisions, oldest first:
    the tests stop at an older one to check the upgrade from it, or point `location` at
    another script directory. A revision that fails rolls back the whole transaction, so
    nothing is applied. A database at a revision this code does not know (a newer app's) is
    left as it is, with a warning.
    """
    if not migrations:
        raise ValueError("migrate() needs at least one revision to migrate to")
    order = [m.revision for m in known_migrations(location)]
    target = migrations[-1].revision
    if target not in order:
        raise ValueError(f"revision {target!r} is not one of {location}'s")
    # Look first without the write lock: an up-to-date database (the usual case, and the only
    # one a read-only database can be in) is then opened without writing anything.
    with write_engine.execution_options(**{WRITE_OPTION: False}).connect() as conn:
        if _reached(current_revision(conn), order, target):
            return []
    with write_engine.begin() as conn:
        lock_for_migrations(conn)
        adopt_legacy_record(conn, location)
        current = current_revision(conn)  # again: another process may have migrated meanwhile
        if _reached(current, order, target):
            return []
        command.upgrade(alembic_config(conn, location), target)
    start = order.index(current) + 1 if current is not None else 0
    applied = [m.name for m in known_migrations(location)[start : order.index(target) + 1]]
    log.info("Session log schema: applied %s", ", ".join(applied))
    return applied


def _reached(current: str | None, order: list[str], target: str) -> bool:
    """Whether a database at `current` needs nothing to be at `target` (warning if it is newer)."""
    if current is None:
        return False
    if current not in order:
        warn_if_newer([current])
        return True
    return order.index(current) >= order.index(target)


def warn_if_newer(unknown: Iterable[str]) -> None:
    """Say that a newer app upgraded the log; this older code goes on using it."""
    unknown = sorted(unknown)
    if unknown:
        # Migrations are additive, so this older code can go on writing; say so anyway.
        log.warning(
            "The session log was upgraded by a newer version of the app (migrations %s are "
            "unknown here); carrying on, since migrations only ever add.",
            ", ".join(unknown),
        )
