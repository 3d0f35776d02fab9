"""Schema migrations: from an empty database, from each earlier version with data in it,
twice in a row, from several processes at once, and against a newer database."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from storage import Store
from storage.engine import build_engine, parse_db_url, write_engine
from storage.formats import read_csv, read_jsonl
from storage.migrations import MIGRATIONS, Migration, applied_migrations, migrate
from tests.storage_worker import (
    check_server_attempt_round_trip,
    make_outcome,
    make_samples,
    make_start,
)

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


def _insert_version_2_data(path: Path) -> None:
    """Rows as the second release (migrations 0001 and 0002) wrote them: with owners."""
    _insert_version_1_data(path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE attempts SET owner = 'elsewhere/1/-'")
        conn.execute(
            "INSERT INTO samples (attempt_id, sample_index, kind, text, answer, cluster, reward, tokens, "
            "finish_reason, mean_logprob) VALUES (?, 1, 'sampled', 'more text', '4', 0, 1.5, 12, 'stop', -0.25)",
            ("a" * 32,),
        )
    conn.close()


# New columns by migration: what each upgrade must add, NULL in every row from before.
ADDED_BY = {
    "0002_attempt_owner": {"attempts": ["owner"]},
    "0003_backend_and_ranking": {
        "attempts": ["backend", "server_url", "rm_index", "scorer"],
        "samples": ["weight"],
    },
    "0004_follow_up_turns": {},  # a new table (tests/test_storage_followups.py checks it)
}


def _rows(path: Path) -> dict[str, list[dict]]:
    """Every row of the log's tables, as plain dicts, in a stable order."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return {
            table: [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")]
            for table in ("sessions", "attempts", "samples", "feedback")
        }
    finally:
        conn.close()


@pytest.mark.parametrize(
    "version,insert", [(1, _insert_version_1_data), (2, _insert_version_2_data)], ids=["from-0001", "from-0002"]
)
def test_an_upgrade_keeps_every_old_value_and_adds_nulls(tmp_db_url, version, insert):
    path = _path(tmp_db_url)
    Store.open(tmp_db_url, migrations=MIGRATIONS[:version], recover=False).close()
    insert(path)
    before = _rows(path)
    missing = [m.name for m in MIGRATIONS[version:]]
    for name in missing:  # really the older schema
        for table, columns in ADDED_BY[name].items():
            assert not set(columns) & set(before[table][0]), (name, table)

    # recover=False: nothing but the migrations may touch the rows here
    with Store.open(tmp_db_url, recover=False) as store, store.engine.connect() as conn:
        assert applied_migrations(conn) == [m.name for m in MIGRATIONS]
    after = _rows(path)
    added = {table: [c for name in missing for c in ADDED_BY[name].get(table, [])] for table in after}
    for table, rows in before.items():
        assert len(after[table]) == len(rows), table
        for old, new in zip(rows, after[table]):
            assert list(new) == list(old) + added[table], table  # new columns come last
            assert {k: new[k] for k in old} == old, table  # every old value kept
            assert all(new[column] is None for column in added[table]), table

    # and the store reads the old rows with the new fields empty, and exports them
    with Store.open(tmp_db_url, recover=False, teacher_password="pw") as store:
        access = store.teacher_login("pw")
        detail = store.teacher_get_attempt(access, "a" * 32)
        assert (detail.status, detail.problem, detail.maj_answer, detail.all_agree) == ("done", "Old problem", "4", True)
        assert (detail.backend, detail.server_url, detail.rm_index, detail.scorer) == (None, None, None, None)
        assert [s.text for s in detail.samples][:1] == ["old text"]
        assert all(s.weight is None for s in detail.samples)
        expected = [store.teacher_get_attempt(access, a.id).to_dict() for a in store.teacher_search(access).items]
        assert read_jsonl(store.teacher_export(access, "jsonl")) == expected
        assert read_csv(store.teacher_export(access, "csv")) == expected


def test_from_version_1_with_data_a_running_attempt_without_owner_is_interrupted(tmp_db_url):
    path = _path(tmp_db_url)
    Store.open(tmp_db_url, migrations=MIGRATIONS[:1], recover=False).close()
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(attempts)")]
    assert "owner" not in columns  # really the first schema
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


def test_from_version_2_with_data_the_new_fields_work_beside_the_old_rows(tmp_db_url):
    path = _path(tmp_db_url)
    Store.open(tmp_db_url, migrations=MIGRATIONS[:2], recover=False).close()
    _insert_version_2_data(path)
    sid = "session-after-upgrade-2"
    with Store.open(tmp_db_url, recover=False) as store:
        check_server_attempt_round_trip(store, sid)
    old = _rows(path)["attempts"]
    assert [(r["id"], r["backend"], r["owner"]) for r in old if r["id"] in ("a" * 32, "b" * 32)] == [
        ("a" * 32, None, "elsewhere/1/-"),
        ("b" * 32, None, "elsewhere/1/-"),
    ]


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
        assert applied_migrations(conn) == [MIGRATIONS[0].name]  # the later ones rolled back with 9999
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
    with caplog.at_level(logging.WARNING, logger="storage"), Store.open(tmp_db_url) as store:
        assert store.start_attempt(make_start("session-newer-db")).ok
    assert "9000_from_the_future" in caplog.text
