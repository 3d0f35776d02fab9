"""Schema migrations (Alembic revisions in storage/alembic/): from an empty database, from each
earlier schema with data in it, reached through Alembic or left by the hand-written runner that
came before it, twice in a row, from several processes at once, against a newer database, and
from the `alembic` command line.

The helpers above the tests work on SQLite and PostgreSQL alike; test_storage_postgres.py runs
them there. `build_legacy` keeps the hand-written runner's DDL, frozen as it was released, to
build the databases it left behind.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.engine import Connection

from storage import Store
from storage.engine import build_engine, parse_db_url, write_engine
from storage.formats import read_csv, read_jsonl
from storage.migrations import (
    ALEMBIC_DIR,
    LEGACY_TABLE,
    MIGRATIONS,
    MigrationError,
    applied_migrations,
    known_migrations,
    migrate,
)
from tests.storage_worker import (
    check_server_attempt_round_trip,
    make_outcome,
    make_samples,
    make_start,
)
from tests.test_storage_schema import PINNED_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
HEAD = MIGRATIONS[-1].revision
RELEASED = ["0001_initial", "0002_attempt_owner", "0003_backend_and_ranking", "0004_follow_up_turns"]
LOG_TABLES = ("sessions", "attempts", "samples", "feedback", "follow_up_turns")


def _path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


# ------------------------------------------------ the hand-written runner's databases (frozen)


def _legacy_0001(conn: Connection) -> None:
    meta = MetaData()
    Table(
        "sessions", meta,
        Column("key", String(64), primary_key=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("last_seen_at", DateTime(timezone=True), nullable=False),
    )
    attempts = Table(
        "attempts", meta,
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
        *(Column(name, Double) for name in ("queued_s", "ttft_s", "total_s")),
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
        CheckConstraint("status IN ('running', 'done', 'cancelled', 'error', 'interrupted')", name="ck_attempts_status"),
    )
    Index("ix_attempts_session_started", attempts.c.session_key, attempts.c.started_at)
    Index("ix_attempts_started", attempts.c.started_at)
    Table(
        "samples", meta,
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
        "feedback", meta,
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


def _legacy_0002(conn: Connection) -> None:
    conn.execute(text(f"ALTER TABLE attempts ADD COLUMN owner {Text().compile(dialect=conn.dialect)}"))
    Index("ix_attempts_status", Table("attempts", MetaData(), Column("status", String(16))).c.status).create(conn)


def _legacy_0003(conn: Connection) -> None:
    added = (
        ("samples", "weight", Double()),
        ("attempts", "backend", String(16)),
        ("attempts", "server_url", Text()),
        ("attempts", "rm_index", Integer()),
        ("attempts", "scorer", Text()),
    )
    for table, column, column_type in added:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {column_type.compile(dialect=conn.dialect)}"))


def _legacy_0004(conn: Connection) -> None:
    meta = MetaData()
    Table("attempts", meta, Column("id", String(32), primary_key=True))
    Table(
        "follow_up_turns", meta,
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
    ).create(conn)


LEGACY_STEPS = (_legacy_0001, _legacy_0002, _legacy_0003, _legacy_0004)


def build_legacy(url: str, count: int, extra_names: tuple[str, ...] = ()) -> None:
    """A database as the hand-written runner left it after its first `count` migrations: their
    DDL as released, and `schema_migrations` with one row per name, as that runner wrote it."""
    if url.startswith("sqlite:///"):
        _path(url).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    record = Table(
        LEGACY_TABLE, MetaData(),
        Column("name", String(200), primary_key=True),
        Column("applied_at", DateTime(timezone=True), nullable=False),
    )
    with engine.begin() as conn:
        record.create(conn)
        for minute, (name, step) in enumerate(zip(RELEASED[:count], LEGACY_STEPS)):
            step(conn)
            conn.execute(record.insert().values(name=name, applied_at=datetime(2026, 11, 28, 10, minute, tzinfo=timezone.utc)))
        for name in extra_names:
            conn.execute(record.insert().values(name=name, applied_at=datetime(2030, 1, 1, tzinfo=timezone.utc)))
    engine.dispose()


def build_with_alembic(url: str, count: int) -> None:
    """A database brought to the `count`-th revision through Alembic, as that app version did."""
    Store.open(url, migrations=MIGRATIONS[:count], recover=False, strict=True).close()


BUILDERS = {"alembic": build_with_alembic, "legacy": build_legacy}
# Every earlier schema, by each road: (road, how many revisions it has). The hand-written
# runner knew the first four; every Alembic revision but the head is an earlier schema.
EARLIER = [("alembic", k) for k in range(1, len(MIGRATIONS))] + [("legacy", k) for k in range(1, len(RELEASED) + 1)]
EARLIER_IDS = [f"{road}-{MIGRATIONS[k - 1].revision}" for road, k in EARLIER]


# ----------------------------------------------------------------- what a schema and its rows are


def describe_schema(url: str) -> dict[str, Any]:
    """The log's tables as the database reports them: columns in order, keys, indexes, checks."""
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        tables = [t for t in LOG_TABLES if inspector.has_table(t)]
        described: dict[str, Any] = {}
        for table in tables:
            described[table] = {
                "columns": [(c["name"], repr(c["type"]), c["nullable"], c["default"]) for c in inspector.get_columns(table)],
                "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
                "foreign keys": sorted(
                    (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"], fk["options"].get("ondelete"))
                    for fk in inspector.get_foreign_keys(table)
                ),
                "indexes": sorted((i["name"], i["column_names"], bool(i["unique"])) for i in inspector.get_indexes(table)),
                "unique": sorted((u["name"], u["column_names"]) for u in inspector.get_unique_constraints(table)),
                "checks": sorted((c["name"], c["sqltext"]) for c in inspector.get_check_constraints(table)),
            }
        if engine.dialect.name == "sqlite":  # and the very text SQLite keeps for each table and index
            names = ", ".join(f"'{t}'" for t in tables)  # our own table names, not user text
            with engine.connect() as conn:
                query = f"SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN ({names}) ORDER BY name"
                described["sqlite_master"] = [tuple(r) for r in conn.exec_driver_sql(query)]
        return described
    finally:
        engine.dispose()


# Values for the columns that a CHECK, a foreign key or the store's reading constrains.
_FIXED = {
    ("attempts", "session_key"): "k1", ("attempts", "precision"): "bf16", ("attempts", "device"): "cpu",
    ("attempts", "backend"): "server", ("attempts", "server_url"): "http://127.0.0.1:8000/v1",
    ("attempts", "rm_label"): "reward", ("attempts", "owner"): "elsewhere/1/-",
    ("samples", "kind"): "sampled", ("samples", "finish_reason"): "stop",
    ("feedback", "session_key"): "k1", ("feedback", "author"): "student", ("feedback", "verdict"): "wrong",
    ("feedback", "target"): "attempt", ("follow_up_turns", "role"): "student",
    ("follow_up_turns", "finish_reason"): "stop",
}


def _value(table: str, column: dict, row: int) -> Any:
    """A non-NULL value of the column's type, different per row, that the constraints accept."""
    name = column["name"]
    if (table, name) in _FIXED:
        return _FIXED[(table, name)]
    if name == "attempt_id":
        return "a" * 32
    if name == "status":
        return ("done", "running")[row]
    if isinstance(column["type"], JSON):
        return {"n": 2 + row, "seed": 7, "note": "ünï ✓"}
    kind = column["type"].python_type
    if kind is datetime:
        return datetime(2026, 11, 28, 9, row, 30, 123456, tzinfo=timezone.utc)
    if kind is bool:
        return bool(row)
    if kind is int:
        return 2**40 + row if "seed" in name else 3 + row
    if kind is float:
        return 0.25 + row
    width = getattr(column["type"], "length", None) or 32
    return (("a", "b")[row] * 32 if name == "id" else f"{name} {row} ✓")[:width]


def fill(url: str) -> None:
    """Two rows in each log table there is, every column of the schema as it stands non-NULL."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=lambda name, _meta: name in LOG_TABLES)
    with engine.begin() as conn:
        conn.execute(meta.tables["sessions"].insert().values(key="k1", created_at=datetime.now(timezone.utc), last_seen_at=datetime.now(timezone.utc)))
        for table in ("attempts", "samples", "feedback", "follow_up_turns"):
            if table in meta.tables:
                columns = inspect(conn).get_columns(table)
                rows = [{c["name"]: _value(table, c, row) for c in columns} for row in range(2)]
                if table == "attempts":
                    rows[1]["all_agree"] = None  # a NULL survives too
                conn.execute(meta.tables[table].insert(), rows)
    engine.dispose()


def snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of the log's tables, as dicts with the columns in order, by primary key."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=lambda name, _meta: name in LOG_TABLES)
    try:
        with engine.connect() as conn:
            return {
                name: [dict(r._mapping) for r in conn.execute(table.select().order_by(*table.primary_key.columns))]
                for name, table in meta.tables.items()
            }
    finally:
        engine.dispose()


def check_upgrade_keeps_every_value(url: str, road: str, count: int) -> None:
    """Build the `count`-th schema by `road`, fill it, open the store: every old value is kept,
    the new columns come last and are NULL, and the database is at the head revision."""
    BUILDERS[road](url, count)
    fill(url)
    before = snapshot(url)
    legacy_before = _legacy_rows(url)
    with Store.open(url, recover=False, strict=True) as store, store.engine.connect() as conn:
        assert applied_migrations(conn) == [m.name for m in MIGRATIONS]
    after = snapshot(url)
    for table, rows in before.items():
        assert rows and len(after[table]) == len(rows), table
        for old, new in zip(rows, after[table]):
            assert list(new)[: len(old)] == list(old), table  # new columns come last
            assert {k: new[k] for k in old} == old, table  # every old value kept
            assert all(new[k] is None for k in list(new)[len(old) :]), table
    assert set(after) - set(before) <= {"follow_up_turns"}
    assert all(not after[t] for t in set(after) - set(before))
    assert _legacy_rows(url) == legacy_before  # the old record is kept as it was (or never existed)


def _legacy_rows(url: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(LEGACY_TABLE):
                return []
            return [tuple(r) for r in conn.execute(text(f"SELECT name, applied_at FROM {LEGACY_TABLE} ORDER BY name"))]
    finally:
        engine.dispose()


def alembic_cli(*args: str, db_url: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """`alembic ARGS` from the repository root, as an operator runs it (MATHAPP_DB_URL set)."""
    env = {k: v for k, v in os.environ.items() if k != "MATHAPP_DB_URL"}
    if db_url is not None:
        env["MATHAPP_DB_URL"] = db_url
    result = subprocess.run(
        [sys.executable, "-m", "alembic", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


# ------------------------------------------------------------------------------------ tests


def test_the_revisions_are_one_line_named_as_the_hand_written_migrations():
    assert [m.name for m in MIGRATIONS][: len(RELEASED)] == RELEASED
    assert [m.revision for m in MIGRATIONS][: len(RELEASED)] == ["0001", "0002", "0003", "0004"]
    for migration in MIGRATIONS:
        assert migration.name.startswith(f"{migration.revision}_")
        assert (ALEMBIC_DIR / "versions" / f"{migration.name}.py").is_file()


def test_revisions_that_branch_are_refused(tmp_path):
    (tmp_path / "versions").mkdir()
    for revision, down in (("0001", None), ("0002", "0001"), ("0003", "0001")):
        (tmp_path / "versions" / f"{revision}_step.py").write_text(
            f'"""Step."""\nrevision = "{revision}"\ndown_revision = {down!r}\n\n\ndef upgrade():\n    pass\n',
            encoding="utf-8",
        )
    with pytest.raises(MigrationError, match="do not form one line"):
        known_migrations(tmp_path)


def test_from_an_empty_database_every_migration_applies(tmp_db_url):
    path = _path(tmp_db_url)
    path.parent.mkdir(parents=True)
    sqlite3.connect(path).close()  # an empty file: no tables at all
    with Store.open(tmp_db_url) as store:
        with store.engine.connect() as conn:
            assert applied_migrations(conn) == [m.name for m in MIGRATIONS]
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [HEAD]
        status = store.start_attempt(make_start("session-empty-db"))
        assert status.ok, status.message


def test_opening_twice_applies_nothing_the_second_time(tmp_db_url):
    Store.open(tmp_db_url).close()
    engine = build_engine(parse_db_url(tmp_db_url), busy_timeout_s=1, pool_timeout_s=1)
    try:
        assert migrate(write_engine(engine)) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("count", range(1, len(RELEASED) + 1), ids=RELEASED)
def test_alembic_and_the_hand_written_runner_build_the_same_schema(tmp_path, count):
    alembic_url, legacy_url = (f"sqlite:///{tmp_path / name}" for name in ("alembic.sqlite3", "legacy.sqlite3"))
    build_with_alembic(alembic_url, count)
    build_legacy(legacy_url, count)
    assert describe_schema(alembic_url) == describe_schema(legacy_url)


@pytest.mark.parametrize("road,count", EARLIER, ids=EARLIER_IDS)
def test_an_upgrade_keeps_every_old_value_and_adds_nulls(tmp_db_url, road, count, caplog):
    with caplog.at_level(logging.INFO, logger="storage"):
        check_upgrade_keeps_every_value(tmp_db_url, road, count)
    if road == "legacy":
        assert f"as Alembic revision {MIGRATIONS[count - 1].revision}" in caplog.text
    applied = [m.name for m in MIGRATIONS[count:]]
    if applied:
        assert f"Session log schema: applied {', '.join(applied)}" in caplog.text
    # and the store reads the old rows with the new fields empty, and exports them
    with Store.open(tmp_db_url, recover=False, teacher_password="pw") as store:
        access = store.teacher_login("pw")
        detail = store.teacher_get_attempt(access, "a" * 32)
        assert (detail.status, detail.problem, detail.all_agree) == ("done", "problem 0 ✓", False)
        if count < 3:
            assert (detail.backend, detail.server_url, detail.rm_index, detail.scorer) == (None, None, None, None)
            assert all(s.weight is None for s in detail.samples)
        expected = [store.teacher_get_attempt(access, a.id).to_dict() for a in store.teacher_search(access).items]
        assert read_jsonl(store.teacher_export(access, "jsonl")) == expected
        assert read_csv(store.teacher_export(access, "csv")) == expected


def test_from_version_1_with_data_a_running_attempt_without_owner_is_interrupted(tmp_db_url):
    build_with_alembic(tmp_db_url, 1)
    assert "owner" not in {c["name"] for c in inspect(create_engine(tmp_db_url)).get_columns("attempts")}
    fill(tmp_db_url)
    with Store.open(tmp_db_url) as store:
        with store.engine.connect() as conn:
            rows = dict(conn.exec_driver_sql("SELECT id, status FROM attempts").all())
            owners = conn.exec_driver_sql("SELECT owner FROM attempts").scalars().all()
        # Nothing lost; the attempt left running under the old version (no owner) is interrupted.
        assert rows == {"a" * 32: "done", "b" * 32: "interrupted"} and owners == [None, None]
        status = store.start_attempt(make_start("session-after-upgrade"))
        assert store.finish_attempt(status.attempt_id, make_outcome(), make_samples(3)).ok


@pytest.mark.parametrize("road", ["alembic", "legacy"])
def test_from_version_2_with_data_the_new_fields_work_beside_the_old_rows(tmp_db_url, road):
    BUILDERS[road](tmp_db_url, 2)
    fill(tmp_db_url)
    with Store.open(tmp_db_url, recover=False) as store:
        check_server_attempt_round_trip(store, "session-after-upgrade-2")
    old = [r for r in snapshot(tmp_db_url)["attempts"] if r["id"] in ("a" * 32, "b" * 32)]
    assert [(r["backend"], r["owner"]) for r in old] == [(None, "elsewhere/1/-")] * 2


def test_a_failing_revision_applies_nothing(tmp_path, tmp_db_url):
    scripts = tmp_path / "alembic"
    (scripts / "versions").mkdir(parents=True)
    for source in [ALEMBIC_DIR / "env.py", ALEMBIC_DIR / "script.py.mako", *(ALEMBIC_DIR / "versions").glob("*.py")]:
        target = scripts / source.relative_to(ALEMBIC_DIR)
        target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (scripts / "versions" / "9999_broken.py").write_text(
        f'"""Half done, then broken."""\nfrom alembic import op\n\nrevision = "9999"\ndown_revision = "{HEAD}"\n\n\n'
        "def upgrade():\n    op.execute('CREATE TABLE half_done (x INTEGER)')\n    raise RuntimeError('boom')\n",
        encoding="utf-8",
    )
    build_with_alembic(tmp_db_url, 1)
    engine = build_engine(parse_db_url(tmp_db_url), busy_timeout_s=1, pool_timeout_s=1)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            migrate(write_engine(engine), known_migrations(scripts), location=scripts)
        with engine.connect() as conn:
            assert applied_migrations(conn) == [MIGRATIONS[0].name]  # the later ones rolled back with 9999
            assert not inspect(conn).has_table("half_done")
            assert "owner" not in {c["name"] for c in inspect(conn).get_columns("attempts")}
    finally:
        engine.dispose()


@pytest.mark.parametrize("road", ["empty", "legacy"])
def test_several_processes_starting_at_once_migrate_once(tmp_db_url, road):
    if road == "legacy":
        build_legacy(tmp_db_url, 2)
    code = "import sys; from storage import Store; Store.open(sys.argv[1], strict=True).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, tmp_db_url], cwd=ROOT) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    with sqlite3.connect(_path(tmp_db_url)) as conn:
        assert [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")] == [HEAD]
    assert [name for name, _ in _legacy_rows(tmp_db_url)] == (RELEASED[:2] if road == "legacy" else [])


@pytest.mark.parametrize("road", ["alembic", "legacy"])
def test_a_database_from_a_newer_version_still_works(tmp_db_url, caplog, road):
    if road == "alembic":
        Store.open(tmp_db_url).close()
        with sqlite3.connect(_path(tmp_db_url)) as conn:
            conn.execute("UPDATE alembic_version SET version_num = '9000'")
        future = "9000"
    else:
        future = "9000_from_the_future"
        build_legacy(tmp_db_url, len(RELEASED), extra_names=(future,))
    with caplog.at_level(logging.WARNING, logger="storage"), Store.open(tmp_db_url) as store:
        assert store.health().ok
        assert store.start_attempt(make_start("session-newer-db")).ok
    assert f"(migrations {future} are unknown here); carrying on" in caplog.text


def test_a_legacy_record_with_a_gap_is_refused(tmp_db_url):
    build_legacy(tmp_db_url, 3)
    with sqlite3.connect(_path(tmp_db_url)) as conn:
        conn.execute(f"DELETE FROM {LEGACY_TABLE} WHERE name = '0002_attempt_owner'")
    with Store.open(tmp_db_url) as store:
        assert not store.health().ok
        assert "0001_initial, 0003_backend_and_ranking" in store.health().message
    assert not inspect(create_engine(tmp_db_url)).has_table("alembic_version")  # nothing stamped


def test_the_command_line_upgrades_a_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli' / 'log.sqlite3'}"  # the folder is created, as the app does
    alembic_cli("upgrade", "head", db_url=url)
    inspector = inspect(create_engine(url))
    for table, columns in PINNED_COLUMNS.items():
        assert [c["name"] for c in inspector.get_columns(table)] == columns, table
    assert f"{HEAD} (head)" in alembic_cli("current", db_url=url).stdout
    # Alembic's own comparison of the models with the upgraded database finds nothing to add
    assert "No new upgrade operations detected" in alembic_cli("check", db_url=url).stdout
    history = alembic_cli("history", db_url=url).stdout
    assert all(f"-> {m.revision}" in history for m in MIGRATIONS)
    refused = alembic_cli("downgrade", "-1", db_url=url, check=False)
    assert refused.returncode != 0 and "only go forward" in refused.stderr
    with Store.open(url) as store, store.engine.connect() as conn:  # nothing left for the app to do
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD
        assert store.start_attempt(make_start("session-after-cli")).ok


def test_the_command_line_adopts_and_upgrades_a_legacy_file_given_with_x_db_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'legacy.sqlite3'}"
    build_legacy(url, 2)
    fill(url)
    before = snapshot(url)
    result = alembic_cli("-x", f"db_url={url}", "upgrade", "head", db_url="sqlite:////nonexistent/ignored.sqlite3")
    assert "as Alembic revision 0002" in result.stderr and "Running upgrade 0002 -> 0003" in result.stderr
    after = snapshot(url)
    assert all({k: new[k] for k in old} == old for t in before for old, new in zip(before[t], after[t]))
    assert f"{HEAD} (head)" in alembic_cli("-x", f"db_url={url}", "current").stdout
    # the kept schema_migrations is no difference from the models for Alembic's comparison
    assert "No new upgrade operations detected" in alembic_cli("-x", f"db_url={url}", "check").stdout
