"""Checked work in the session log (`storage.work_log`, revision 0006): written and read back,
a session reads only its own, hints appended only to one's own, the teacher's view behind the
password, which step goes wrong most, the export; and the migration from 0005 keeps the rows."""

from __future__ import annotations

import json

import pytest

from storage import Store
from storage.errors import TeacherAccessError
from storage.migrations import MIGRATIONS
from storage.work_log import (
    CheckLog,
    add_hint,
    export_checks,
    get_check,
    log_check,
    session_checks,
    teacher_checks,
    teacher_get_check,
    wrong_step_counts,
)

ALICE = "alice-session-0123456789abcdef"
BOB = "bob-session-0123456789abcdef00"
RESULT = {"steps": ["2 + 3 = 6", "\\boxed{6}"], "first_wrong_step": 0, "message": "Step 1 looks wrong",
          "verdicts": [{"step": 0, "verdict": "wrong", "reasons": ["step checker: 2 + 3 is not 6"]},
                       {"step": 1, "verdict": "unsure", "reasons": []}],
          "judges": [{"name": "step checker", "used": True, "said": "a wrong calculation in step 1"}], "notices": []}


@pytest.fixture()
def store(tmp_db_url):
    with Store.open(tmp_db_url, teacher_password="pw") as opened:
        yield opened


def test_a_check_is_logged_with_its_verdicts_and_hints_for_its_session_only(store):
    status = log_check(store, ALICE, CheckLog("What is $2+3$? <b>x</b>", "2 + 3 = 6\n\\boxed{6}", RESULT, model_id="m"))
    assert status.ok and status.attempt_id
    check_id = status.attempt_id
    assert add_hint(store, ALICE, check_id, "Count on from 2.").ok
    add_hint(store, BOB, check_id, "not Bob's to add")  # another session's: nothing written
    [mine] = session_checks(store, ALICE)
    assert (mine.problem, mine.solution, mine.first_wrong_step, mine.status) == \
        ("What is $2+3$? <b>x</b>", "2 + 3 = 6\n\\boxed{6}", 0, "checked")
    assert mine.verdicts == RESULT["verdicts"] and mine.judges == RESULT["judges"] and mine.hints == ["Count on from 2."]
    assert get_check(store, BOB, check_id) is None and session_checks(store, BOB) == []
    assert get_check(store, ALICE, check_id).id == check_id


def test_the_teacher_sees_every_check_and_where_students_go_wrong_most(store):
    for session, first in ((ALICE, 0), (BOB, 0), (BOB, 1)):
        log_check(store, session, CheckLog("What is $2+3$?", "work", {**RESULT, "first_wrong_step": first}))
    log_check(store, ALICE, CheckLog("Other", "work", {**RESULT, "first_wrong_step": None}))
    with pytest.raises(TeacherAccessError):
        teacher_checks(store, "not a token")
    access = store.teacher_login("pw")
    checks = teacher_checks(store, access)
    assert len(checks) == 4 and len(teacher_checks(store, access, text="2+3")) == 3
    assert wrong_step_counts(checks)["What is $2+3$?"].most_common(1) == [(1, 2)]
    assert teacher_get_check(store, access, checks[0].id).id == checks[0].id
    rows = [json.loads(line) for line in export_checks(checks).splitlines()]
    assert len(rows) == 4 and all(r["kind"] == "checked work" and "verdicts" in r for r in rows)


def test_bad_input_is_refused_not_raised(store):
    assert not log_check(store, "short", CheckLog("p", "s", RESULT)).ok
    assert not log_check(store, ALICE, CheckLog("p", "s", RESULT, status="exploded")).ok
    assert not add_hint(store, ALICE, None, "x").ok  # type: ignore[arg-type]


def test_the_migration_adds_the_table_and_keeps_the_rows_before(tmp_db_url):
    from tests.test_storage_migrations import build_with_alembic
    from tests.storage_worker import make_start

    mine = [m.name for m in MIGRATIONS].index("0006_work_checks")
    build_with_alembic(tmp_db_url, mine)  # the schema at 0005, empty
    with Store.open(tmp_db_url, recover=False) as store:
        assert store.start_attempt(make_start(ALICE)).ok
        assert store.history(ALICE).total == 1
        assert log_check(store, ALICE, CheckLog("p", "s", RESULT)).ok and len(session_checks(store, ALICE)) == 1
