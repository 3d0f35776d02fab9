"""History and the teacher view: newest first, paged, filtered; the teacher password."""

from __future__ import annotations

import dataclasses
import itertools
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from storage import (
    AttemptQuery,
    FeedbackInput,
    InvalidInputError,
    Store,
    TeacherAccess,
    TeacherAccessError,
    new_session_id,
)
from tests.storage_worker import make_outcome, make_samples, make_start

PASSWORD = "correct horse battery staple"


@pytest.fixture()
def store(tmp_db_url):
    with Store.open(tmp_db_url, teacher_password=PASSWORD) as opened:
        yield opened


def _log(store, sid, problem, *, model="Qwen/Qwen2-Math-1.5B-Instruct", agree=True, started=None, status="done"):
    attempt_id = store.start_attempt(make_start(sid, problem, model_id=model)).attempt_id
    if status != "running":
        store.finish_attempt(attempt_id, make_outcome(status, all_agree=agree), make_samples(2))
    if started is not None:
        with store.engine.begin() as conn:
            conn.execute(
                text("UPDATE attempts SET started_at = :at WHERE id = :id"),
                {"at": started.astimezone(timezone.utc).replace(tzinfo=None), "id": attempt_id},
            )
    return attempt_id


def test_history_is_newest_first_and_paged(store):
    sid = new_session_id()
    ids = [_log(store, sid, f"problem {i}") for i in range(7)]
    first = store.history(sid, page=1, page_size=3)
    assert [a.id for a in first.items] == ids[::-1][:3]
    assert (first.total, first.pages) == (7, 3)
    pages = [store.history(sid, page=p, page_size=3).items for p in (1, 2, 3)]
    assert [a.id for a in itertools.chain(*pages)] == ids[::-1]
    assert store.history(sid, page=4, page_size=3).items == []
    empty = store.history(new_session_id())
    assert (empty.items, empty.total, empty.pages) == ([], 0, 1)


@pytest.mark.parametrize("page,page_size", [(0, 10), (1, 0), (1, 10_000), (True, 10)])
def test_bad_paging_is_refused(store, page, page_size):
    with pytest.raises(ValueError):
        store.history(new_session_id(), page=page, page_size=page_size)


def test_get_attempt_has_its_samples_in_order_and_its_feedback(store):
    sid = new_session_id()
    attempt_id = store.start_attempt(make_start(sid)).attempt_id
    store.add_samples(attempt_id, list(reversed(make_samples(5))))
    store.finish_attempt(attempt_id, make_outcome())
    assert store.add_feedback(attempt_id, session_id=sid, feedback=FeedbackInput("wrong", "19", "greedy slipped", "greedy")).ok
    detail = store.get_attempt(attempt_id, session_id=sid)
    assert [s.index for s in detail.samples] == [0, 1, 2, 3, 4]
    (feedback,) = detail.feedback
    assert (feedback.author, feedback.verdict, feedback.correct_answer, feedback.comment, feedback.target) == (
        "student", "wrong", "19", "greedy slipped", "greedy",
    )
    assert detail.summary.id == attempt_id and not hasattr(detail.summary, "samples")
    assert store.get_attempt("f" * 32, session_id=sid) is None


@pytest.mark.parametrize(
    "feedback",
    [FeedbackInput(), FeedbackInput(verdict="meh"), FeedbackInput("right", target="sample"), FeedbackInput("right", target="elsewhere")],
)
def test_malformed_feedback_is_refused_with_a_message(store, feedback):
    sid = new_session_id()
    attempt_id = _log(store, sid, "p")
    status = store.add_feedback(attempt_id, session_id=sid, feedback=feedback)
    assert not status.ok and status.message


def test_teacher_view_is_off_without_a_password(tmp_db_url):
    with Store.open(tmp_db_url) as store:
        assert not store.teacher_enabled
        for password in ("", "anything", None):
            with pytest.raises(TeacherAccessError, match="off"):
                store.teacher_login(password)


def test_teacher_login(store):
    assert store.teacher_enabled
    with pytest.raises(TeacherAccessError, match="Wrong"):
        store.teacher_login(PASSWORD + " ")
    with pytest.raises(TeacherAccessError):
        store.teacher_search(TeacherAccess(expires_at=datetime.now(timezone.utc) + timedelta(days=1), proof=b"x" * 32))
    with pytest.raises(TeacherAccessError):
        store.teacher_search(None)
    access = store.teacher_login(PASSWORD)
    assert store.teacher_search(access).total == 0
    # the expiry is covered by the proof: it cannot be extended by hand
    longer = dataclasses.replace(access, expires_at=access.expires_at + timedelta(days=365))
    with pytest.raises(TeacherAccessError):
        store.teacher_search(longer)
    assert PASSWORD not in repr(access) and PASSWORD not in repr(store.__dict__)


def test_a_token_from_another_store_is_refused(store, tmp_path):
    with (
        Store.open(f"sqlite:///{tmp_path / 'other.sqlite3'}", teacher_password=PASSWORD) as other,
        pytest.raises(TeacherAccessError),
    ):
        store.teacher_search(other.teacher_login(PASSWORD))


def test_teacher_access_expires(tmp_db_url):
    with Store.open(tmp_db_url, teacher_password=PASSWORD, teacher_ttl_s=0.001) as store:
        access = store.teacher_login(PASSWORD)
        time.sleep(0.01)
        with pytest.raises(TeacherAccessError, match="expired"):
            store.teacher_search(access)


def test_password_guessing_is_slowed_down(store):
    waits = []
    for _ in range(10):
        waits.append(store.teacher_throttle.wait_s("203.0.113.7"))
        with pytest.raises(TeacherAccessError, match="Wrong"):
            store.teacher_login("guess", "203.0.113.7")
    assert waits[0] == 0.0 and waits[-1] > waits[4] > 0.0  # the guessing address waits longer and longer
    assert store.teacher_throttle.wait_s("198.51.100.4") == 0.0  # nobody else waits
    store.teacher_login(PASSWORD, "198.51.100.4")  # never locked out
    store.teacher_login(PASSWORD, "203.0.113.7")  # not even the guesser, once it knows the password


@pytest.fixture()
def classroom(store):
    """Two students' attempts over three days, varied enough for every filter."""
    alice, bob = new_session_id(), new_session_id()
    day = datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)
    ids = {
        "triangle": _log(store, alice, "Find the area of the TRIANGLE with sides 3, 4, 5.", started=day),
        "percent": _log(store, alice, "What is 50% of 80_000?", agree=False, started=day + timedelta(days=1)),
        "big": _log(store, bob, "Solve x^2 = 4 over a triangle of reals", model="Qwen/Qwen2-Math-7B-Instruct", started=day + timedelta(days=2)),
        "running": _log(store, bob, "Unfinished triangle", status="running", started=day + timedelta(days=2, hours=1)),
        "cancelled": _log(store, bob, "Stopped", status="cancelled", agree=None, started=day - timedelta(days=1)),
    }
    access = store.teacher_login(PASSWORD)
    store.teacher_add_feedback(access, ids["triangle"], FeedbackInput("right"))
    store.add_feedback(ids["percent"], session_id=alice, feedback=FeedbackInput("wrong", correct_answer="40000"))
    store.teacher_add_feedback(access, ids["big"], FeedbackInput(comment="look at step 2"))
    return store, access, ids


@pytest.mark.parametrize(
    "query,expected",
    [
        (AttemptQuery(), ["running", "big", "percent", "triangle", "cancelled"]),
        (AttemptQuery(date_from=date(2025, 3, 10), date_to=date(2025, 3, 11)), ["percent", "triangle"]),
        (AttemptQuery(date_from=datetime(2025, 3, 12, 12, 30, tzinfo=timezone.utc)), ["running"]),
        (AttemptQuery(date_to=datetime(2025, 3, 10, 12, 0)), ["triangle", "cancelled"]),  # naive = UTC, inclusive
        (AttemptQuery(text="triangle"), ["running", "big", "triangle"]),  # case-insensitive
        (AttemptQuery(text="50%"), ["percent"]),  # % and _ are literal
        (AttemptQuery(text="0_0"), ["percent"]),
        (AttemptQuery(text="%"), ["percent"]),
        (AttemptQuery(text="_"), ["percent"]),
        (AttemptQuery(all_agree=False), ["percent"]),
        (AttemptQuery(all_agree=True), ["big", "triangle"]),
        (AttemptQuery(model_id="Qwen/Qwen2-Math-7B-Instruct"), ["big"]),
        (AttemptQuery(feedback="any"), ["big", "percent", "triangle"]),
        (AttemptQuery(feedback="none"), ["running", "cancelled"]),
        (AttemptQuery(feedback="right"), ["triangle"]),
        (AttemptQuery(feedback="wrong"), ["percent"]),
        (AttemptQuery(feedback="corrected"), ["percent"]),
        (AttemptQuery(status="cancelled"), ["cancelled"]),
        (AttemptQuery(text="triangle", all_agree=True, model_id="Qwen/Qwen2-Math-1.5B-Instruct"), ["triangle"]),
        (AttemptQuery(problem="What is 50% of 80_000?"), ["percent"]),  # the whole text, exactly
        (AttemptQuery(problem="what is 50% of 80_000?"), []),
        (AttemptQuery(problem="What is 50% of 80_000"), []),
        (AttemptQuery(problem="Unfinished triangle", status="running"), ["running"]),
    ],
)
def test_teacher_filters(classroom, query, expected):
    store, access, ids = classroom
    page = store.teacher_search(access, query, page_size=50)
    names = {v: k for k, v in ids.items()}
    assert [names[a.id] for a in page.items] == expected
    assert page.total == len(expected)


def test_teacher_sees_any_attempt_in_full(classroom):
    store, access, ids = classroom
    detail = store.teacher_get_attempt(access, ids["percent"])
    assert len(detail.samples) == 2 and detail.feedback[0].correct_answer == "40000"
    assert store.teacher_get_attempt(access, "0" * 32) is None


@pytest.mark.parametrize("query", [AttemptQuery(feedback="maybe"), AttemptQuery(status="thinking"), AttemptQuery(date_from="yesterday"),
                                   AttemptQuery(problem=["a list"])])
def test_bad_filters_are_refused(classroom, query):
    store, access, _ids = classroom
    with pytest.raises(ValueError):
        store.teacher_search(access, query)


def test_bad_session_ids_are_refused(store):
    for bad in ("", "short", None, 42, "x" * 600):
        with pytest.raises(InvalidInputError):
            store.history(bad)
