"""Schema migrations: from an empty database, from the previous version with data in it,
twice in a row, from several processes at once, and against a newer database."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect

from storage import Store
from storage.engine import build_engine, parse_db_url, write_engine
from storage.migrations import MIGRATIONS, Migration, applied_migrations, migrate
from tests.storage_worker import make_outcome, make_samples, make_start

ROOT = Path(__file__).resolve().parents[1]


def _path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def test_from_an_empty_database_every_migration_applies(tmp_db_url):
    path = _path(tmp_db_url)
    path.parent.mkdir(parents=True)
    sqlite3.connect(path).close()  # an empty file: no tables at all
    with Store.open(tmp_db_url) as store:
        with store.engine.connect() as conn:
            assert applied_migrations(conn) == [m.name for m in MIGRATIONS]
        status = store.start_attempt(make_start("session-empty-db"))
        assert status.ok, status.message


def test_opening_twice_applies_nothing_the_second_time(tmp_db_url, caplog):
    Store.open(tmp_db_url).close()
    engine = build_engine(parse_db_url(tmp_db_url), busy_timeout_s=1, pool_timeout_s=1)
    try:
        assert migrate(write_engine(engine)) == []
    finally:
        engine.dispose()


def _insert_version_1_data(path: Path) -> None:
    """Rows as the first release (migration 0001 only) wrote them, with plain SQL."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO sessions VALUES ('k1', '2024-05-01 10:00:00.000000', '2024-05-01 10:00:00.000000')")
        for attempt_id, status in (("a" * 32, "done"), ("b" * 32, "running")):
            conn.execute(
                "INSERT INTO attempts (id, session_key, started_at, finished_at, status, problem, model_id, "
                "precision, device, params, n_samples, seed, maj_answer, maj_count, maj_n, all_agree) "
                "VALUES (?, 'k1', '2024-05-01 10:00:00.000000', NULL, ?, 'Old problem', 'm', 'bf16', 'cpu', "
                "'{\"n\": 2, \"seed\": 7}', 2, 7, '4', 2, 2, 1)",
                (attempt_id, status),
            )
        conn.execute(
            "INSERT INTO samples (attempt_id, sample_index, kind, text, answer, step_rewards) "
            "VALUES (?, 0, 'greedy', 'old text', '4', '[0.5]')",
            ("a" * 32,),
        )
        conn.execute(
            "INSERT INTO feedback VALUES ('f' || hex(randomblob(15)), ?, 'k1', '2024-05-01 11:00:00.000000', "
            "'student', 'right', NULL, 'ok', 'attempt', NULL)",
            ("a" * 32,),
        )
    conn.close()


def test_from_the_previous_version_with_data(tmp_db_url):
    path = _path(tmp_db_url)
    previous = MIGRATIONS[:-1]
    Store.open(tmp_db_url, migrations=previous, recover=False).close()
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(attempts)")]
    assert "owner" not in columns  # really the previous schema
    _insert_version_1_data(path)

    with Store.open(tmp_db_url) as store:
        with store.engine.connect() as conn:
            assert applied_migrations(conn) == [m.name for m in MIGRATIONS]
        assert "owner" in {c["name"] for c in inspect(store.engine).get_columns("attempts")}
        engine = store.engine
        with engine.connect() as conn:
            rows = dict(conn.exec_driver_sql("SELECT id, status FROM attempts").all())
            samples = conn.exec_driver_sql("SELECT text, step_rewards FROM samples").all()
            feedback = conn.exec_driver_sql("SELECT comment FROM feedback").scalars().all()
        # Nothing lost; the attempt left running under the old version (no owner) is interrupted.
        assert rows == {"a" * 32: "done", "b" * 32: "interrupted"}
        assert samples == [("old text", "[0.5]")]
        assert feedback == ["ok"]
        # and the upgraded database is fully usable
        status = store.start_attempt(make_start("session-after-upgrade"))
        assert store.finish_attempt(status.attempt_id, make_outcome(), make_samples(3)).ok


def test_a_failing_migration_applies_nothing(tmp_db_url):
    def broken(conn):
        conn.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    Store.open(tmp_db_url, migrations=MIGRATIONS[:1], recover=False).close()
    store = Store.open(tmp_db_url, migrations=(*MIGRATIONS, Migration("9999_broken", broken)), recover=False)
    try:
        assert not store.health().ok
    finally:
        store.close()
    engine = create_engine(tmp_db_url)
    with engine.connect() as conn:
        assert applied_migrations(conn) == [MIGRATIONS[0].name]  # 0002 rolled back with 9999
        assert not engine.dialect.has_table(conn, "half_done")
    engine.dispose()


def test_several_processes_starting_at_once_migrate_once(tmp_db_url):
    code = "import sys; from storage import Store; Store.open(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, tmp_db_url], cwd=ROOT) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    with sqlite3.connect(_path(tmp_db_url)) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    assert names == [m.name for m in MIGRATIONS]


def test_a_database_from_a_newer_version_still_works(tmp_db_url, caplog):
    Store.open(tmp_db_url).close()
    with sqlite3.connect(_path(tmp_db_url)) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES ('9000_from_the_future', '2030-01-01 00:00:00')")
    with caplog.at_level(logging.WARNING, logger="storage"):
        with Store.open(tmp_db_url) as store:
            assert store.start_attempt(make_start("session-newer-db")).ok
    assert "9000_from_the_future" in caplog.text
