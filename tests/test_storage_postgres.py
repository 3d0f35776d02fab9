"""The same session log on PostgreSQL, when a server is at hand: the schema, the upgrade from
each earlier schema with data in it (through Alembic and from the hand-written runner's
databases), start-ups racing on the advisory lock, the `alembic` command line, and the store.

Set `MATHAPP_TEST_PG_URL` to a URL of a role that may create databases, e.g.
`postgresql+psycopg://postgres@/postgres?host=/tmp/pg&port=5432`; each test gets a fresh
database and drops it afterwards. Without it (and `psycopg`) these tests skip, unless
`MATHAPP_TEST_STRICT=1` makes that a failure.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import create_engine, inspect, text

from storage import AttemptQuery, FeedbackInput, FollowUpAnswer, Store, new_session_id
from storage.formats import read_csv, read_jsonl
from storage.migrations import MIGRATIONS, applied_migrations
from tests.optional import require
from tests.test_storage_migrations import (
    EARLIER,
    EARLIER_IDS,
    RELEASED,
    ROOT,
    alembic_cli,
    build_legacy,
    build_with_alembic,
    check_upgrade_keeps_every_value,
    describe_schema,
)
from tests.storage_worker import (
    check_server_attempt_round_trip,
    make_outcome,
    make_samples,
    make_start,
)
from tests.test_storage_schema import PINNED_COLUMNS

ADMIN_URL = os.environ.get("MATHAPP_TEST_PG_URL")


@contextmanager
def _fresh_database() -> Iterator[str]:
    """A new, empty database on the test server (dropped afterwards); its URL."""
    # Skips on a user's machine without a server; `.ci/run` starts one and makes this strict.
    require(bool(ADMIN_URL), "a PostgreSQL server (set MATHAPP_TEST_PG_URL)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        require(False, "the psycopg driver")
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"mathapp_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))  # a name we made, not user text
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def pg_url():
    with _fresh_database() as url:
        yield url


@pytest.fixture()
def other_pg_url():
    with _fresh_database() as url:
        yield url


def test_schema_and_migrations_on_postgres(pg_url):
    with Store.open(pg_url) as store:
        inspector = inspect(store.engine)
        assert set(inspector.get_table_names()) == set(PINNED_COLUMNS)
        for table, columns in PINNED_COLUMNS.items():
            assert [c["name"] for c in inspector.get_columns(table)] == columns
        with store.engine.connect() as conn:
            assert applied_migrations(conn) == [m.name for m in MIGRATIONS]
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == MIGRATIONS[-1].revision


@pytest.mark.parametrize("count", range(1, len(RELEASED) + 1), ids=RELEASED)
def test_alembic_and_the_hand_written_runner_build_the_same_schema_on_postgres(pg_url, other_pg_url, count):
    build_with_alembic(pg_url, count)
    build_legacy(other_pg_url, count)
    assert describe_schema(pg_url) == describe_schema(other_pg_url)


@pytest.mark.parametrize("road,count", EARLIER, ids=EARLIER_IDS)
def test_an_upgrade_keeps_every_old_value_and_adds_nulls_on_postgres(pg_url, road, count):
    check_upgrade_keeps_every_value(pg_url, road, count)


@pytest.mark.parametrize("road", ["empty", "legacy"])
def test_several_processes_starting_at_once_migrate_once_on_postgres(pg_url, road):
    """The advisory lock: four start-ups at once, one upgrade (or one adoption, then one upgrade)."""
    if road == "legacy":
        build_legacy(pg_url, 2)
    code = "import sys; from storage import Store; Store.open(sys.argv[1], strict=True).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], cwd=ROOT) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [MIGRATIONS[-1].revision]
    engine.dispose()


def test_a_database_from_a_newer_version_still_works_on_postgres(pg_url, caplog):
    Store.open(pg_url).close()
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9000'"))
    engine.dispose()
    with caplog.at_level(logging.WARNING, logger="storage"), Store.open(pg_url) as store:
        assert store.health().ok and store.start_attempt(make_start(new_session_id())).ok
    assert "(migrations 9000 are unknown here); carrying on" in caplog.text


def test_the_command_line_upgrades_postgres(pg_url):
    build_legacy(pg_url, 1)
    result = alembic_cli("upgrade", "head", db_url=pg_url)
    assert "as Alembic revision 0001" in result.stderr
    inspector = inspect(create_engine(pg_url))
    for table, columns in PINNED_COLUMNS.items():
        assert [c["name"] for c in inspector.get_columns(table)] == columns, table
    assert f"{MIGRATIONS[-1].revision} (head)" in alembic_cli("current", db_url=pg_url).stdout
    assert "No new upgrade operations detected" in alembic_cli("check", db_url=pg_url).stdout


def test_upgrade_from_the_previous_version_on_postgres(pg_url):
    Store.open(pg_url, migrations=MIGRATIONS[:-1], recover=False).close()
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sessions VALUES ('k1', now(), now())"))
        conn.execute(
            text(
                "INSERT INTO attempts (id, session_key, started_at, status, problem, model_id, precision, device, params) "
                "VALUES (:id, 'k1', now(), 'running', 'old', 'm', 'bf16', 'cpu', '{}')"
            ),
            {"id": "b" * 32},
        )
    engine.dispose()
    with Store.open(pg_url) as store:
        with store.engine.connect() as conn:
            old = conn.execute(
                text("SELECT status, problem, backend, server_url, rm_index, scorer FROM attempts")
            ).one()
        # the old row keeps its values (its run interrupted: no owner) and has NULL in 0003's columns
        assert tuple(old) == ("interrupted", "old", None, None, None, None)
        sid = new_session_id()
        check_server_attempt_round_trip(store, sid)


def test_logging_queries_privacy_and_export_on_postgres(pg_url):
    with Store.open(pg_url, teacher_password="teacher-password") as store:
        alice, bob = new_session_id(), new_session_id()
        mine = store.start_attempt(make_start(alice, "What is 50% of a TRIANGLE?")).attempt_id
        theirs = store.start_attempt(make_start(bob, "bob's problem")).attempt_id
        for attempt_id in (mine, theirs):
            assert store.finish_attempt(attempt_id, make_outcome(), make_samples(3)).ok
        assert store.add_feedback(mine, session_id=alice, feedback=FeedbackInput("wrong", "40")).ok
        assert not store.add_feedback(theirs, session_id=alice, feedback=FeedbackInput("wrong")).ok
        assert [a.id for a in store.history(alice).items] == [mine]
        assert store.get_attempt(theirs, session_id=alice) is None
        access = store.teacher_login("teacher-password")
        query = AttemptQuery(text="50%", all_agree=False, feedback="corrected", date_from=date(2020, 1, 1), date_to=date(2999, 1, 1))
        assert [a.id for a in store.teacher_search(access, query).items] == [mine]
        expected = [store.get_attempt(mine, session_id=alice).to_dict()]
        assert read_jsonl(store.export_session(alice, "jsonl")) == expected
        assert read_csv(store.export_session(alice, "csv")) == expected


def test_threads_lose_nothing_on_postgres(pg_url):
    with Store.open(pg_url) as store:
        sessions = [new_session_id() for _ in range(20)]
        barrier = threading.Barrier(20)

        def solve(thread):
            barrier.wait()
            for number in range(10):
                started = store.start_attempt(make_start(sessions[thread], f"{thread}/{number}"))
                assert store.finish_attempt(started.attempt_id, make_outcome(), make_samples(8)).ok

        with ThreadPoolExecutor(20) as pool:
            list(pool.map(solve, range(20)))
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM samples")).scalar() == 200 * 8


def test_follow_ups_on_postgres(pg_url):
    """Questions asked at once from several threads take distinct places (the attempt's row is
    locked), their answers the places after them; privacy, the filter and exports as on SQLite."""
    with Store.open(pg_url, teacher_password="teacher-password") as store:
        alice, bob = new_session_id(), new_session_id()
        mine = store.start_attempt(make_start(alice)).attempt_id
        quiet = store.start_attempt(make_start(alice, "quiet")).attempt_id
        for attempt_id in (mine, quiet):
            assert store.finish_attempt(attempt_id, make_outcome(), make_samples(3)).ok
        barrier = threading.Barrier(8)

        def ask(number):
            barrier.wait()
            asked = store.add_question(mine, session_id=alice, sample_index=0, text=f"Question {number}?")
            assert asked.ok, asked.message
            answer = FollowUpAnswer(f"Answer {number}.", "stop", 3, model_id="m")
            assert store.add_answer(mine, asked.turn_id, session_id=alice, answer=answer).ok

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(ask, range(8)))
        detail = store.get_attempt(mine, session_id=alice)
        assert [t.turn_index for t in detail.turns] == list(range(16))
        assert sorted(detail.exchanges(0)) == sorted((f"Question {n}?", f"Answer {n}.") for n in range(8))
        refused = store.add_question(mine, session_id=bob, sample_index=0, text="Let me in")
        missing = store.add_question("0" * 32, session_id=bob, sample_index=0, text="Let me in")
        assert not refused.ok and refused.message == missing.message
        access = store.teacher_login("teacher-password")
        assert [a.id for a in store.teacher_search(access, AttemptQuery(has_follow_ups=True)).items] == [mine]
        expected = [store.get_attempt(a.id, session_id=alice).to_dict() for a in store.history(alice).items]
        assert read_jsonl(store.export_session(alice, "jsonl")) == expected
        assert read_csv(store.export_session(alice, "csv")) == expected


def test_an_unreachable_server_leaves_solving_working():
    try:
        import psycopg  # noqa: F401
    except ImportError:
        require(False, "the psycopg driver")
    url = "postgresql+psycopg://mathapp@127.0.0.1:1/mathapp"  # nothing listens on port 1
    store = Store.open(url, write_budget_s=1)
    try:
        assert not store.health().ok
        status = store.start_attempt(make_start(new_session_id()))
        assert not status.ok and status.pending == 1 and "not saved" in status.message
    finally:
        store.close()
