"""The session log's schema, pinned: tables, columns, SQLite settings, and the layering rule.

If a test here fails because you changed the schema on purpose: add an Alembic revision in
storage/alembic/versions/ (never edit an old one), update `storage/models.py`, then update the
pinned lists below.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from storage import (
    DEFAULT_DB_URL,
    AttemptDetail,
    AttemptSummary,
    SampleRecord,
    StorageConfigError,
    Store,
    resolve_db_url,
)
from storage.migrations import MIGRATIONS
from storage.models import Base
from tests.storage_worker import make_start

PINNED_COLUMNS = {
    "sessions": ["key", "created_at", "last_seen_at"],
    "attempts": [
        "id", "session_key", "started_at", "finished_at", "status", "problem", "model_id",
        "precision", "device", "params", "n_samples", "temperature", "top_p", "max_new_tokens",
        "seed", "queued_s", "ttft_s", "total_s", "prompt_tokens", "generated_tokens",
        "tokens_per_s", "greedy_answer", "maj_answer", "maj_count", "maj_n", "rm_answer",
        "rm_score", "rm_label", "weighted_answer", "agreement", "all_agree", "error", "owner",
        "backend", "server_url", "rm_index", "scorer", "checked_answer", "checked_count", "checked_kept",
        "checked_fell_back", "checked_agrees", "has_wrong_step", "reasoning_map", "vote_standings",
    ],
    "samples": [
        "id", "attempt_id", "sample_index", "kind", "text", "answer", "cluster", "reward",
        "step_rewards", "tokens", "finish_reason", "mean_logprob", "weight", "claims", "wrong_steps", "tool_calls",
    ],
    "feedback": [
        "id", "attempt_id", "session_key", "created_at", "author", "verdict", "correct_answer",
        "comment", "target", "sample_index",
    ],
    "follow_up_turns": [
        "id", "attempt_id", "sample_index", "turn_index", "role", "text", "started_at", "finished_at",
        "finish_reason", "tokens", "model_id",
    ],
    "work_checks": [
        "id", "session_key", "created_at", "status", "problem", "solution", "steps", "verdicts", "first_wrong_step",
        "judges", "notices", "hints", "message", "model_id",
    ],
    "alembic_version": ["version_num"],
}

NOT_NULL = {
    "sessions": {"key", "created_at", "last_seen_at"},
    "attempts": {"id", "session_key", "started_at", "status", "problem", "model_id", "precision", "device", "params"},
    "samples": {"id", "attempt_id", "sample_index", "kind", "text"},
    "feedback": {"id", "attempt_id", "created_at", "author", "target"},
    "follow_up_turns": {"id", "attempt_id", "sample_index", "turn_index", "role", "text", "started_at"},
    "work_checks": {"id", "session_key", "created_at", "status", "problem", "solution", "steps", "verdicts", "judges",
                    "notices", "hints"},
    "alembic_version": {"version_num"},
}


@pytest.fixture()
def store(tmp_db_url):
    with Store.open(tmp_db_url) as opened:
        yield opened


def test_open_creates_the_folder_and_the_file(tmp_db_url):
    path = Path(tmp_db_url.removeprefix("sqlite:///"))
    assert not path.parent.exists()
    with Store.open(tmp_db_url) as store:
        assert store.health().ok
    assert path.is_file()


def test_columns_are_pinned(store):
    inspector = inspect(store.engine)
    assert set(inspector.get_table_names()) == set(PINNED_COLUMNS)
    for table, columns in PINNED_COLUMNS.items():
        found = inspector.get_columns(table)
        assert [c["name"] for c in found] == columns, table
        assert {c["name"] for c in found if not c["nullable"]} | _primary_keys(inspector, table) == NOT_NULL[table], table


def _primary_keys(inspector, table):
    return set(inspector.get_pk_constraint(table)["constrained_columns"])


def test_models_match_the_migrated_database(store):
    """The ORM classes (used to read and write) and the migrations (which create) agree."""
    inspector = inspect(store.engine)
    for table in Base.metadata.sorted_tables:
        found = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(found) == {c.name for c in table.columns}, table.name
        for column in table.columns:
            assert found[column.name]["nullable"] == (column.nullable and not column.primary_key), (table.name, column.name)
        assert {tuple(fk["constrained_columns"]) for fk in inspector.get_foreign_keys(table.name)} == {
            (fk.parent.name,) for fk in table.foreign_keys
        }, table.name
        model_indexes = {i.name for i in table.indexes}
        assert model_indexes <= {i["name"] for i in inspector.get_indexes(table.name)}, table.name


def test_the_database_is_at_the_last_revision(store):
    with store.engine.connect() as conn:
        assert conn.scalars(text("SELECT version_num FROM alembic_version")).all() == [MIGRATIONS[-1].revision]


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_db_url):
    with Store.open(tmp_db_url, busy_timeout_s=0.75) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 750
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_the_constraints_hold_in_the_database(store):
    """CHECK and FOREIGN KEY constraints are enforced by SQLite itself, not only by Python."""
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(text("INSERT INTO samples (attempt_id, sample_index, kind, text) VALUES ('nope', 0, 'greedy', '')"))
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(text("INSERT INTO sessions VALUES ('k', '2024-01-01', '2024-01-01')"))
        conn.execute(
            text(
                "INSERT INTO attempts (id, session_key, started_at, status, problem, model_id, precision, device, params) "
                "VALUES ('a', 'k', '2024-01-01', 'thinking', 'p', 'm', 'bf16', 'cpu', '{}')"
            )
        )


def test_a_stored_solution_has_the_model_layers_shape():
    """`SampleRecord` is `judgements.solution.Solution` name for name, in order (one shape),
    then the step checker's verdicts on it."""
    from judgements.solution import Solution

    assert [f.name for f in fields(SampleRecord)] == [f.name for f in fields(Solution)] + ["claims", "wrong_steps"]
    detail_only = [f.name for f in fields(AttemptDetail)][len(fields(AttemptSummary)):]
    assert detail_only == ["reasoning_map", "samples", "turns"]  # the feedback is on a summary too


def test_storage_imports_no_model_or_ui_library():
    code = (
        "import sys, storage, storage.export, storage.store\n"
        "bad = [m for m in ('torch', 'transformers', 'gradio', 'model') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_urls(monkeypatch, tmp_path):

    assert resolve_db_url(None, environ={}) == DEFAULT_DB_URL == "sqlite:///data/mathapp.sqlite3"
    assert resolve_db_url(None, environ={"MATHAPP_DB_URL": "sqlite:///x.sqlite3"}) == "sqlite:///x.sqlite3"
    assert resolve_db_url("sqlite:///given.sqlite3", environ={"MATHAPP_DB_URL": "sqlite:///x.sqlite3"}) == "sqlite:///given.sqlite3"
    for memory in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(StorageConfigError, match="in-memory"):
            Store.open(memory)
    with pytest.raises(StorageConfigError) as error:
        Store.open("postgres ql://user:hunter2@host/db")
    assert "hunter2" not in str(error.value)
    # the default is relative to the working directory
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MATHAPP_DB_URL", raising=False)
    with Store.open() as store:
        assert store.start_attempt(make_start("default-url-session")).ok
    assert (tmp_path / "data" / "mathapp.sqlite3").is_file()
