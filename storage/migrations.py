"""Append-only, named schema migrations, applied at start-up under the database's write lock.

Never edit a released migration: add one at the end of `MIGRATIONS` (docs/storage.md has the rules).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.engine import Connection

from storage.engine import WRITE_OPTION
from storage.models import SchemaMigration, utcnow

log = logging.getLogger("storage")

# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises start-ups.
_PG_LOCK_KEY = 0x6D61_7468_6170_7001


@dataclass(frozen=True)
class Migration:
    """One named step from the previous schema to the next."""

    name: str
    apply: Callable[[Connection], None]


def _m0001_initial(conn: Connection) -> None:
    """Sessions, attempts, samples and feedback as first released."""
    meta = MetaData()
    Table(
        "sessions",
        meta,
        Column("key", String(64), primary_key=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("last_seen_at", DateTime(timezone=True), nullable=False),
    )
    attempts = Table(
        "attempts",
        meta,
        Column("id", String(32), primary_key=True),
        Column("session_key", String(64), ForeignKey("sessions.key", ondelete="CASCADE"), nullable=False),
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("finished_at", DateTime(timezone=True)),
        Column("status", String(16), nullable=False),
        Column("problem", Text, nullable=False),
        Column("model_id", Text, nullable=False),
        Column("precision", String(16), nullable=False),
        Column("device", String(32), nullable=False),
        Column("params", JSON, nullable=False),
        Column("n_samples", Integer),
        Column("temperature", Double),
        Column("top_p", Double),
        Column("max_new_tokens", Integer),
        Column("seed", BigInteger),
        Column("queued_s", Double),
        Column("ttft_s", Double),
        Column("total_s", Double),
        Column("prompt_tokens", Integer),
        Column("generated_tokens", Integer),
        Column("tokens_per_s", Double),
        Column("greedy_answer", Text),
        Column("maj_answer", Text),
        Column("maj_count", Integer),
        Column("maj_n", Integer),
        Column("rm_answer", Text),
        Column("rm_score", Double),
        Column("rm_label", String(16)),
        Column("weighted_answer", Text),
        Column("agreement", Text),
        Column("all_agree", Boolean(create_constraint=False)),
        Column("error", Text),
        CheckConstraint(
            "status IN ('running', 'done', 'cancelled', 'error', 'interrupted')",
            name="ck_attempts_status",
        ),
    )
    Index("ix_attempts_session_started", attempts.c.session_key, attempts.c.started_at)
    Index("ix_attempts_started", attempts.c.started_at)
    Table(
        "samples",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("attempt_id", String(32), ForeignKey("attempts.id", ondelete="CASCADE"), nullable=False),
        Column("sample_index", Integer, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("text", Text, nullable=False),
        Column("answer", Text),
        Column("cluster", Integer),
        Column("reward", Double),
        Column("step_rewards", JSON),
        Column("tokens", Integer),
        Column("finish_reason", String(16)),
        Column("mean_logprob", Double),
        UniqueConstraint("attempt_id", "sample_index", name="uq_samples_attempt_index"),
        CheckConstraint("kind IN ('greedy', 'sampled')", name="ck_samples_kind"),
    )
    feedback = Table(
        "feedback",
        meta,
        Column("id", String(32), primary_key=True),
        Column("attempt_id", String(32), ForeignKey("attempts.id", ondelete="CASCADE"), nullable=False),
        Column("session_key", String(64), ForeignKey("sessions.key", ondelete="SET NULL")),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("author", String(16), nullable=False),
        Column("verdict", String(16)),
        Column("correct_answer", Text),
        Column("comment", Text),
        Column("target", String(16), nullable=False),
        Column("sample_index", Integer),
        CheckConstraint("verdict IS NULL OR verdict IN ('right', 'wrong')", name="ck_feedback_verdict"),
        CheckConstraint("author IN ('student', 'teacher')", name="ck_feedback_author"),
    )
    Index("ix_feedback_attempt", feedback.c.attempt_id)
    meta.create_all(conn)


def _m0002_attempt_owner(conn: Connection) -> None:
    """Record which process runs an attempt, so that start-up only interrupts dead ones' work.

    Attempts that were `running` before this migration have no owner; start-up treats them
    as interrupted (no process of this version can be running them).
    """
    owner_type = Text().compile(dialect=conn.dialect)
    # DDL takes no bound parameters; the names here are constants, never user text.
    conn.execute(text(f"ALTER TABLE attempts ADD COLUMN owner {owner_type}"))
    attempts = Table("attempts", MetaData(), Column("status", String(16)))
    Index("ix_attempts_status", attempts.c.status).create(conn)


def _m0003_backend_and_ranking(conn: Connection) -> None:
    """Record where the text was generated and what ranked the samples.

    `attempts`: `backend` (`local` or `server`), `server_url` (an OpenAI-compatible server's
    URL, never with credentials), `rm_index` (the `sample_index` of the RM@N pick, so that a
    reopened attempt finds it by index rather than by matching a float) and `scorer` (the name
    of what ranked the samples). `samples`: `weight` (its weight in the reward-weighted vote).
    All nullable: rows from before stay as they were, with NULL in each new column. No CHECK
    on `backend`: SQLite cannot relax one later without rebuilding the table, and the store
    validates it anyway.
    """
    added = (
        ("samples", "weight", Double()),
        ("attempts", "backend", String(16)),
        ("attempts", "server_url", Text()),
        ("attempts", "rm_index", Integer()),
        ("attempts", "scorer", Text()),
    )
    for table, column, column_type in added:
        compiled = column_type.compile(dialect=conn.dialect)
        # DDL takes no bound parameters; the names here are constants, never user text.
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {compiled}"))


def _m0004_follow_up_turns(conn: Connection) -> None:
    """Follow-up conversations: `follow_up_turns`, one row per question or answer.

    Tied to the attempt (deleted with it) and to one of its solutions by `sample_index`
    (greedy = 0, samples 1..N, as in `samples`); a question at an even `turn_index`, its
    answer at the next odd one, unique per attempt and solution. Ownership is the attempt's
    session, as for its samples. A new table only: the rows from before are untouched.
    """
    meta = MetaData()
    # Only for the foreign key to resolve; `create` below makes the new table alone.
    Table("attempts", meta, Column("id", String(32), primary_key=True))
    turns = Table(
        "follow_up_turns",
        meta,
        Column("id", String(32), primary_key=True),
        Column("attempt_id", String(32), ForeignKey("attempts.id", ondelete="CASCADE"), nullable=False),
        Column("sample_index", Integer, nullable=False),
        Column("turn_index", Integer, nullable=False),
        Column("role", String(16), nullable=False),
        Column("text", Text, nullable=False),
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("finished_at", DateTime(timezone=True)),
        Column("finish_reason", String(16)),
        Column("tokens", Integer),
        Column("model_id", Text),
        UniqueConstraint("attempt_id", "sample_index", "turn_index", name="uq_follow_up_turns_position"),
        CheckConstraint("role IN ('student', 'assistant')", name="ck_follow_up_turns_role"),
    )
    turns.create(conn)


# Append only. The order is the order of application.
MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_initial", _m0001_initial),
    Migration("0002_attempt_owner", _m0002_attempt_owner),
    Migration("0003_backend_and_ranking", _m0003_backend_and_ranking),
    Migration("0004_follow_up_turns", _m0004_follow_up_turns),
)


def _bookkeeping_table() -> Table:
    """`schema_migrations` as first released (frozen, like a migration's own tables)."""
    return Table(
        "schema_migrations",
        MetaData(),
        Column("name", String(200), primary_key=True),
        Column("applied_at", DateTime(timezone=True), nullable=False),
    )


def applied_migrations(conn: Connection) -> list[str]:
    """Names recorded in `schema_migrations`, oldest first; [] when the table does not exist."""
    if not conn.dialect.has_table(conn, "schema_migrations"):
        return []
    # Names start with a zero-padded number, so sorting by name is sorting by age.
    return sorted(conn.scalars(select(SchemaMigration.name)))


def migrate(write_engine: Engine, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the missing migrations in one transaction under the write lock; return their names.

    `write_engine` must begin write transactions that take the database's write lock at once
    (see `storage.engine`). `migrations` is there for the tests, which stop at an older
    version to check the upgrade from it.
    """
    names = [m.name for m in migrations]
    if len(set(names)) != len(names):
        raise ValueError("migration names must be unique")
    # Look first without the write lock: an up-to-date database (the usual case, and the only
    # one a read-only database can be in) is then opened without writing anything.
    with write_engine.execution_options(**{WRITE_OPTION: False}).connect() as conn:
        if set(names) <= set(applied_migrations(conn)):
            _warn_if_newer(applied_migrations(conn), names)
            return []
    with write_engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        _bookkeeping_table().create(conn, checkfirst=True)
        done = set(applied_migrations(conn))
        _warn_if_newer(done, names)
        applied: list[str] = []
        for migration in migrations:
            if migration.name in done:
                continue
            migration.apply(conn)
            conn.execute(
                SchemaMigration.__table__.insert().values(name=migration.name, applied_at=utcnow())
            )
            applied.append(migration.name)
    if applied:
        log.info("Session log schema: applied %s", ", ".join(applied))
    return applied


def _warn_if_newer(done: Iterable[str], known: Sequence[str]) -> None:
    unknown = sorted(set(done) - set(known))
    if unknown:
        # Migrations are additive, so this older code can go on writing; say so anyway.
        log.warning(
            "The session log was upgraded by a newer version of the app (migrations %s are "
            "unknown here); carrying on, since migrations only ever add.",
            ", ".join(unknown),
        )
