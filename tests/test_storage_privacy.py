"""A session only ever reads its own attempts, through every query; nothing a person typed
becomes SQL; the database never holds a session's id (only its hash)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text

from storage import AttemptQuery, FeedbackInput, Store, new_session_id
from storage.formats import read_csv, read_jsonl
from tests.storage_worker import make_outcome, make_samples, make_start

PASSWORD = "teacher-password-1"


@pytest.fixture()
def store(tmp_db_url):
    with Store.open(tmp_db_url, teacher_password=PASSWORD) as opened:
        yield opened


def _everything_a_session_can_read(store: Store, sid: str, other_ids: list[str]) -> set[str]:
    """Every attempt id reachable with `sid` through every session-scoped read."""
    seen: set[str] = set()
    for query in (None, AttemptQuery(), AttemptQuery(text="secret"), AttemptQuery(feedback="any"), AttemptQuery(all_agree=False)):
        seen |= {a.id for a in store.history(sid, page=1, page_size=500, query=query).items}
    for attempt_id in other_ids:
        detail = store.get_attempt(attempt_id, session_id=sid)
        if detail is not None:
            seen.add(detail.id)
    seen |= {r["id"] for r in read_jsonl(store.export_session(sid, "jsonl"))}
    seen |= {r["id"] for r in read_csv(store.export_session(sid, "csv"))}
    return seen


def test_one_session_cannot_read_anothers_attempts(store):
    alice, bob = new_session_id(), new_session_id()
    alices = [store.start_attempt(make_start(alice, f"alice's secret {i}")).attempt_id for i in range(3)]
    bobs = [store.start_attempt(make_start(bob, f"bob's secret {i}")).attempt_id for i in range(2)]
    for attempt_id in alices + bobs:
        store.finish_attempt(attempt_id, make_outcome(), make_samples(2))
    store.add_feedback(bobs[0], session_id=bob, feedback=FeedbackInput("wrong"))

    assert _everything_a_session_can_read(store, alice, bobs) == set(alices)
    assert _everything_a_session_can_read(store, bob, alices) == set(bobs)
    stranger = new_session_id()
    assert _everything_a_session_can_read(store, stranger, alices + bobs) == set()


def test_feedback_on_someone_elses_attempt_is_refused(store):
    alice, mallory = new_session_id(), new_session_id()
    attempt_id = store.start_attempt(make_start(alice)).attempt_id
    status = store.add_feedback(attempt_id, session_id=mallory, feedback=FeedbackInput("wrong", comment="spam"))
    assert not status.ok and "no such attempt" in status.message
    assert status.pending == 0
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM feedback")).scalar() == 0


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("privacy") / "log.sqlite3"
    with Store.open(f"sqlite:///{path}") as opened:
        yield opened


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(owners=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=8))
def test_property_every_read_stays_inside_its_session(shared_store, owners):
    store = shared_store
    sessions = [new_session_id() for _ in range(4)]
    ids_by_session: dict[int, set[str]] = {i: set() for i in range(4)}
    for owner in owners:
        attempt_id = store.start_attempt(make_start(sessions[owner], "secret problem")).attempt_id
        store.finish_attempt(attempt_id, make_outcome(), make_samples(1))
        ids_by_session[owner].add(attempt_id)
    all_ids = set().union(*ids_by_session.values())
    for index, sid in enumerate(sessions):
        others = sorted(all_ids - ids_by_session[index])
        assert _everything_a_session_can_read(store, sid, others) == ids_by_session[index]


MARK = "ZQXJ-user-typed"


def test_nothing_a_person_typed_is_ever_part_of_the_sql(store):
    statements: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many):
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    sid = new_session_id() + MARK
    hostile = f"{MARK} '); DROP TABLE attempts; -- \" % _ \\"
    attempt_id = store.start_attempt(
        make_start(sid, hostile, model_id=f"{MARK}/model", params={"n": 1, "note": hostile})
    ).attempt_id
    store.finish_attempt(attempt_id, make_outcome(agreement=hostile, error=hostile), make_samples(2, tag=hostile))
    store.add_feedback(attempt_id, session_id=sid, feedback=FeedbackInput("wrong", hostile, hostile))
    access = store.teacher_login(PASSWORD)
    query = AttemptQuery(text=hostile, model_id=f"{MARK}/model")
    store.history(sid, query=query)
    store.get_attempt(attempt_id + MARK, session_id=sid)
    store.get_attempt(attempt_id, session_id=sid)
    store.teacher_search(access, query)
    store.teacher_get_attempt(access, attempt_id + MARK)
    store.export_session(sid, "csv", query=query)
    store.teacher_export(access, "jsonl", query=query)
    event.remove(store.engine, "before_cursor_execute", record)

    assert statements
    assert not [s for s in statements if MARK in s or "DROP" in s]
    # and the hostile text went in and came back verbatim
    page = store.teacher_search(access, AttemptQuery(text=hostile))
    assert [a.problem for a in page.items] == [hostile]
    detail = store.get_attempt(attempt_id, session_id=sid)
    assert detail.params["note"] == hostile and detail.feedback[0].comment == hostile


def test_the_database_never_holds_a_session_id(tmp_db_url):
    sid = new_session_id()
    with Store.open(tmp_db_url) as store:
        attempt_id = store.start_attempt(make_start(sid)).attempt_id
        store.finish_attempt(attempt_id, make_outcome(), make_samples(1))
        store.add_feedback(attempt_id, session_id=sid, feedback=FeedbackInput("right"))
        exported = store.export_session(sid, "jsonl") + store.export_session(sid, "csv")
    raw = b"".join(p.read_bytes() for p in Path(tmp_db_url.removeprefix("sqlite:///")).parent.iterdir())
    assert sid.encode() not in raw
    assert sid not in exported
    assert json.loads(exported.splitlines()[0])["session"] != sid
