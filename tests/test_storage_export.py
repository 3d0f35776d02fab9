"""Exports: JSONL and CSV round-trip exactly, respect filters and scope, write files
atomically, and run from the command line."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import (
    AttemptOutcome,
    AttemptQuery,
    FeedbackInput,
    SampleRecord,
    Store,
    new_session_id,
)
from storage.formats import CSV_HEADER, read_csv, read_jsonl
from tests.storage_worker import make_outcome, make_samples, make_start

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "export-password"


@pytest.fixture()
def store(tmp_db_url):
    with Store.open(tmp_db_url, teacher_password=PASSWORD) as opened:
        yield opened


def _fill(store):
    sid = new_session_id()
    ids = []
    for number, problem in enumerate(["=1+1 (a formula?)", "Plain, with \"quotes\", commas\nand lines", "'quoted"]):
        backend = {"backend": "server", "server_url": "http://gpu-box:8000/v1"} if number == 1 else {}
        attempt_id = store.start_attempt(make_start(sid, problem, **backend)).attempt_id
        if number < 2:
            store.finish_attempt(attempt_id, make_outcome(maj_answer="-3"), make_samples(3))
        ids.append(attempt_id)
    store.add_feedback(ids[0], session_id=sid, feedback=FeedbackInput("right", comment="@teacher see this"))
    return sid, ids


def _expected(store, access, query=None):
    page = store.teacher_search(access, query, page_size=500)
    return [store.teacher_get_attempt(access, a.id).to_dict() for a in page.items]


@pytest.mark.parametrize("fmt,reader", [("jsonl", read_jsonl), ("csv", read_csv)])
def test_exports_round_trip(store, fmt, reader):
    _fill(store)
    access = store.teacher_login(PASSWORD)
    exported = store.teacher_export(access, fmt)
    records = reader(exported)
    assert records == _expected(store, access)
    # the backend, the ranking and the vote weights are in the export, not only equal to None
    server, local = records[1], records[2]  # newest first: the second and first attempts
    assert (server["backend"], server["server_url"]) == ("server", "http://gpu-box:8000/v1")
    assert (local["backend"], local["server_url"]) == ("local", None)
    assert (local["rm_index"], local["scorer"]) == (7, "bundled reward model")
    assert [s["weight"] for s in local["samples"]] == [1 / 64, 2 / 64, 3 / 64]


def test_csv_is_one_row_per_solution_and_safe_in_a_spreadsheet(store):
    _sid, ids = _fill(store)
    access = store.teacher_login(PASSWORD)
    rows = list(csv.DictReader(io.StringIO(store.teacher_export(access, "csv"))))
    assert list(rows[0]) == CSV_HEADER
    assert {"backend", "server_url", "rm_index", "scorer", "sample_weight"} <= set(CSV_HEADER)
    assert len(rows) == 3 + 3 + 1  # the unfinished attempt has one row without a solution
    formula = [r for r in rows if r["id"] == ids[0]]
    assert formula[0]["problem"] == "'=1+1 (a formula?)" and formula[0]["maj_answer"] == "'-3"
    assert next(r for r in rows if r["id"] == ids[2])["problem"] == "''quoted"
    risky = [c for row in rows for c in row.values() if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert risky and all(_is_number(c) for c in risky)  # negative numbers only: never a formula


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_export_follows_the_query(store):
    _fill(store)
    access = store.teacher_login(PASSWORD)
    query = AttemptQuery(text="quotes")
    records = read_jsonl(store.teacher_export(access, "jsonl", query=query))
    assert [r["problem"] for r in records] == ["Plain, with \"quotes\", commas\nand lines"]
    assert records == _expected(store, access, query)


def test_export_to_a_file(store, tmp_path):
    sid, _ids = _fill(store)
    target = tmp_path / "exports" / "mine.csv"
    written = store.export_session(sid, "csv", out=target)
    assert written == str(target)
    assert target.read_bytes().decode("utf-8") == store.export_session(sid, "csv")
    assert [p.name for p in target.parent.iterdir()] == ["mine.csv"]  # no temporary left behind


def test_unknown_format_is_refused(store):
    with pytest.raises(ValueError):
        store.export_session(new_session_id(), "xlsx")


_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
_floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64))


@st.composite
def _attempts(draw):
    samples = [
        SampleRecord(
            index=i,
            kind=draw(st.sampled_from(["greedy", "sampled"])),
            text=draw(_texts),
            answer=draw(st.one_of(st.none(), _texts)),
            cluster=draw(st.one_of(st.none(), st.integers(-5, 5))),
            reward=draw(_floats),
            step_rewards=draw(st.one_of(st.none(), st.lists(_floats, max_size=3))),
            tokens=draw(st.one_of(st.none(), st.integers(0, 5000))),
            finish_reason=draw(st.sampled_from([None, "stop", "length"])),
            mean_logprob=draw(_floats),
            weight=draw(_floats),
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    outcome = AttemptOutcome(
        status=draw(st.sampled_from(["done", "cancelled", "error"])),
        greedy_answer=draw(st.one_of(st.none(), _texts)),
        maj_answer=draw(st.one_of(st.none(), _texts)),
        maj_count=draw(st.one_of(st.none(), st.integers(0, 64))),
        rm_score=draw(_floats),
        rm_index=draw(st.one_of(st.none(), st.integers(0, 64))),
        scorer=draw(st.one_of(st.none(), _texts)),
        agreement=draw(st.one_of(st.none(), _texts)),
        all_agree=draw(st.sampled_from([None, True, False])),
        error=draw(st.one_of(st.none(), _texts)),
    )
    problem = draw(_texts.filter(lambda t: t.strip()))
    comment = draw(_texts.filter(lambda t: t.strip()))
    seed = draw(st.integers(0, 2**63 - 1))
    backend = {
        "backend": draw(st.sampled_from(["local", "server"])),
        "server_url": draw(st.one_of(st.none(), _texts.filter(lambda t: "@" not in t))),
    }
    return problem, seed, backend, outcome, samples, comment


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "log.sqlite3"
    with Store.open(f"sqlite:///{path}", teacher_password=PASSWORD) as opened:
        yield opened


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attempt=_attempts())
def test_property_any_attempt_round_trips_through_both_formats(shared_store, attempt):
    store = shared_store
    problem, seed, backend, outcome, samples, comment = attempt
    sid = new_session_id()
    start = make_start(sid, problem, params={"n": len(samples), "seed": seed}, **backend)
    attempt_id = store.start_attempt(start).attempt_id
    assert store.finish_attempt(attempt_id, outcome, samples).ok
    assert store.add_feedback(attempt_id, session_id=sid, feedback=FeedbackInput(comment=comment)).ok
    expected = [store.get_attempt(attempt_id, session_id=sid).to_dict()]
    assert read_jsonl(store.export_session(sid, "jsonl")) == expected
    assert read_csv(store.export_session(sid, "csv")) == expected
    assert expected[0]["problem"] == problem and expected[0]["seed"] == seed


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "storage.export", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )


def test_command_line_export(store, tmp_db_url, tmp_path):
    sid, ids = _fill(store)
    access = store.teacher_login(PASSWORD)
    out = tmp_path / "all.jsonl"
    result = _cli("--db-url", tmp_db_url, "--format", "jsonl", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert read_jsonl(out.read_text(encoding="utf-8")) == _expected(store, access)

    result = _cli("--db-url", tmp_db_url, "--format", "csv", "--text", "formula", "--feedback", "right", "--out", "-")
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in read_csv(result.stdout)] == [ids[0]]

    result = _cli("--db-url", tmp_db_url, "--format", "jsonl", "--session", new_session_id(), "--out", "-")
    assert result.returncode == 0 and result.stdout == ""
    result = _cli("--db-url", tmp_db_url, "--format", "jsonl", "--session", sid, "--from", "2000-01-01", "--to", "2999-12-31", "--out", "-")
    assert {r["id"] for r in read_jsonl(result.stdout)} == set(ids)


def test_command_line_export_of_a_missing_database_fails_cleanly(tmp_path):
    missing = tmp_path / "nowhere" / "log.sqlite3"
    result = _cli("--db-url", f"sqlite:///{missing}", "--format", "csv", "--out", str(tmp_path / "x.csv"))
    assert result.returncode == 1 and "does not exist" in result.stderr
    assert not missing.exists() and not (tmp_path / "x.csv").exists()
