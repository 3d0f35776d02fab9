"""Follow-up turns in the session log: the 0004 migration from the previous schema with data in
it, questions and answers written and read back in order, privacy (another session is refused
exactly as for opening the attempt), bad input, the has-follow-ups filter, the exports, the
HTML transcript, and writes that fail and are saved later."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, inspect

from storage import AttemptQuery, FeedbackInput, FollowUpAnswer, Store, new_session_id
from storage.formats import CSV_HEADER, read_csv, read_jsonl
from storage.migrations import MIGRATIONS, applied_migrations
from storage.turns import NO_SUCH_ATTEMPT
from tests.storage_worker import make_outcome, make_samples, make_start


def _path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _solved(store: Store, sid: str, problem: str = "What is 12 + 7?") -> str:
    started = store.start_attempt(make_start(sid, problem))
    assert store.finish_attempt(started.attempt_id, make_outcome(), make_samples(4)).ok
    return started.attempt_id


def _answer(text: str = "Because $12 + 7 = 19$.", reason: str = "stop") -> FollowUpAnswer:
    return FollowUpAnswer(text=text, finish_reason=reason, tokens=9, model_id="Qwen/Qwen2-Math-1.5B-Instruct")


def _exchange(store: Store, attempt_id: str, sid: str, question: str, sample_index: int = 0, answer: str = "Because.") -> None:
    asked = store.add_question(attempt_id, session_id=sid, sample_index=sample_index, text=question)
    assert asked.ok, asked.message
    answered = store.add_answer(attempt_id, asked.turn_id, session_id=sid, answer=_answer(answer))
    assert answered.ok, answered.message


@pytest.fixture()
def store(tmp_db_url):
    with Store.open(tmp_db_url, teacher_password="pw") as opened:
        yield opened


# ----------------------------------------------------------------------- the migration


def _rows(path: Path, tables=("sessions", "attempts", "samples", "feedback")) -> dict[str, list[dict]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return {table: [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")] for table in tables}
    finally:
        conn.close()


def test_the_migration_upgrades_a_database_from_the_previous_schema_with_data_in_it(tmp_db_url):
    before_turns = MIGRATIONS[:[m.name for m in MIGRATIONS].index("0004_follow_up_turns")]
    path = _path(tmp_db_url)
    sid = new_session_id()
    # the schema before follow-ups (0001-0003), with attempts, solutions and feedback in it
    with Store.open(tmp_db_url, migrations=before_turns, recover=False) as old:
        attempt_id = _solved(old, sid)
        _solved(old, new_session_id(), "Another session's problem")
        assert old.add_feedback(attempt_id, session_id=sid, feedback=FeedbackInput(verdict="right")).ok
        assert not inspect(old.engine).has_table("follow_up_turns")
    before = _rows(path)

    with Store.open(tmp_db_url, recover=False) as store:
        with store.engine.connect() as conn:
            assert applied_migrations(conn) == [m.name for m in MIGRATIONS]
        columns = [c["name"] for c in inspect(store.engine).get_columns("follow_up_turns")]
        assert columns[:6] == ["id", "attempt_id", "sample_index", "turn_index", "role", "text"]
        after = _rows(path)  # every old row as it was (later revisions may add columns, NULL in it)
        assert {t: [{k: row[k] for k in old_row} for row, old_row in zip(after[t], before[t])] for t in before} == before
        assert [len(after[t]) for t in before] == [len(before[t]) for t in before]
        assert _rows(path, ("follow_up_turns",)) == {"follow_up_turns": []}
        # an attempt from before the upgrade takes follow-ups, and reads back with them
        detail = store.get_attempt(attempt_id, session_id=sid)
        assert detail.turns == () and len(detail.samples) == 4 and detail.feedback[0].verdict == "right"
        _exchange(store, attempt_id, sid, "Why add?")
        detail = store.get_attempt(attempt_id, session_id=sid)
        assert [(t.role, t.text) for t in detail.turns] == [("student", "Why add?"), ("assistant", "Because.")]


# ------------------------------------------------------------------- writes and reads


def test_questions_and_answers_are_kept_in_order_per_solution(store):
    sid = new_session_id()
    attempt_id = _solved(store, sid)
    _exchange(store, attempt_id, sid, "Why is step 1 true?", answer="Because 12 + 7 = 19.")
    _exchange(store, attempt_id, sid, "Explain it without algebra.", answer="Count on from 12.")
    _exchange(store, attempt_id, sid, "Check my answer: 20", sample_index=3, answer="20 is not right.")
    detail = store.get_attempt(attempt_id, session_id=sid)
    greedy = detail.turns_about(0)
    assert [(t.turn_index, t.role) for t in greedy] == [(0, "student"), (1, "assistant"), (2, "student"), (3, "assistant")]
    assert detail.exchanges(0) == [("Why is step 1 true?", "Because 12 + 7 = 19."), ("Explain it without algebra.", "Count on from 12.")]
    assert detail.exchanges(3) == [("Check my answer: 20", "20 is not right.")]
    assert [t.turn_index for t in detail.turns_about(3)] == [0, 1]
    question, answer = greedy[0], greedy[1]
    assert question.started_at == question.finished_at and question.finish_reason is None and question.tokens is None
    assert (answer.finish_reason, answer.tokens, answer.model_id) == ("stop", 9, "Qwen/Qwen2-Math-1.5B-Instruct")
    assert answer.started_at == question.started_at <= answer.finished_at  # no start given: when it was asked
    assert all(t.started_at.tzinfo == timezone.utc for t in detail.turns)


def test_two_questions_before_an_answer_keep_the_answers_places(store):
    sid = new_session_id()
    attempt_id = _solved(store, sid)
    first = store.add_question(attempt_id, session_id=sid, sample_index=0, text="First?")
    second = store.add_question(attempt_id, session_id=sid, sample_index=0, text="Second?")  # another tab
    started = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert store.add_answer(attempt_id, second.turn_id, session_id=sid,
                            answer=FollowUpAnswer("Two.", "length", 3, started_at=started)).ok
    assert store.add_answer(attempt_id, first.turn_id, session_id=sid, answer=_answer("One.", "cancelled")).ok
    turns = store.get_attempt(attempt_id, session_id=sid).turns
    assert [(t.turn_index, t.text, t.finish_reason) for t in turns] == [
        (0, "First?", None), (1, "One.", "cancelled"), (2, "Second?", None), (3, "Two.", "length")
    ]
    assert turns[3].started_at == started
    again = store.add_answer(attempt_id, first.turn_id, session_id=sid, answer=_answer("One again."))
    assert not again.ok and "already has an answer" in again.message


def test_a_question_without_an_answer_is_shown_but_not_sent_to_the_model_again(store):
    sid = new_session_id()
    attempt_id = _solved(store, sid)
    assert store.add_question(attempt_id, session_id=sid, sample_index=0, text="Lost answer?").ok
    _exchange(store, attempt_id, sid, "Next?", answer="Yes.")
    detail = store.get_attempt(attempt_id, session_id=sid)
    assert [t.text for t in detail.turns] == ["Lost answer?", "Next?", "Yes."]
    assert detail.exchanges(0) == [("Next?", "Yes.")]


def test_a_question_about_a_solution_the_attempt_does_not_have_is_refused(store):
    sid = new_session_id()
    attempt_id = _solved(store, sid)
    status = store.add_question(attempt_id, session_id=sid, sample_index=9, text="Why?")
    assert not status.ok and "no solution #9" in status.message
    assert store.get_attempt(attempt_id, session_id=sid).turns == ()


# ------------------------------------------------------------------------------ privacy


def test_another_session_is_refused_exactly_as_for_an_attempt_that_does_not_exist(store):
    alice, mallory = new_session_id(), new_session_id()
    attempt_id = _solved(store, alice)
    asked = store.add_question(attempt_id, session_id=alice, sample_index=0, text="Why?")
    assert store.get_attempt(attempt_id, session_id=mallory) is None  # opening: refused
    assert store.get_attempt("0" * 32, session_id=mallory) is None  # the same as no attempt at all

    foreign = store.add_question(attempt_id, session_id=mallory, sample_index=0, text="Let me in")
    missing = store.add_question("0" * 32, session_id=mallory, sample_index=0, text="Let me in")
    assert not foreign.ok and not missing.ok
    assert foreign.message == missing.message == NO_SUCH_ATTEMPT
    hijack = store.add_answer(attempt_id, asked.turn_id, session_id=mallory, answer=_answer("Overwritten"))
    assert not hijack.ok and hijack.message == NO_SUCH_ATTEMPT
    assert (foreign.pending, hijack.pending) == (0, 0)  # refused, never kept for a retry

    assert [t.text for t in store.get_attempt(attempt_id, session_id=alice).turns] == ["Why?"]
    assert store.history(mallory).total == 0  # mallory has no attempts of their own


# -------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "text,message",
    [("", "the question is empty"), ("   ", "the question is empty"), ("x" * 100_001, "at most 100,000"),
     ("why\x00", "NUL"), (None, "must be text")],
)
def test_a_bad_question_is_refused_with_a_clear_message_and_nothing_stored(store, text, message):
    sid = new_session_id()
    attempt_id = _solved(store, sid)
    status = store.add_question(attempt_id, session_id=sid, sample_index=0, text=text)
    assert not status.ok and message in status.message and status.message.startswith("Your question was not saved")
    assert store.get_attempt(attempt_id, session_id=sid).turns == ()


def test_markup_is_stored_as_typed_and_the_transcript_shows_it_as_text(store):
    from ui.transcript import transcript_html

    sid = new_session_id()
    attempt_id = _solved(store, sid)
    question = "<script>alert(1)</script> why is $x = 3$? <img src=x onerror=alert(2)>"
    _exchange(store, attempt_id, sid, question, answer="Because <b>$2x = 6$</b>.")
    _exchange(store, attempt_id, sid, "And sample 2?", sample_index=2, answer="It says \\boxed{19}.")
    detail = store.get_attempt(attempt_id, session_id=sid)
    assert detail.turns[0].text == question  # the log keeps text, never HTML
    page = transcript_html(detail)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x" in page and "&lt;b&gt;" in page
    assert page.count("<h3>Follow-up questions</h3>") == 2
    assert "<math" in page and "And sample 2?" in page
    # the sample's conversation sits in its own card
    card = page[page.index("<summary>#2 "):]
    assert card.index("And sample 2?") < card.index("</details>")
    assert page.index("<summary>#1 ") < page.index("</details>") < page.index("<summary>#2 ")


# -------------------------------------------------------- teacher, filter and exports


def test_the_teacher_sees_turns_and_filters_attempts_with_follow_ups(store):
    sid = new_session_id()
    asked_about = _solved(store, sid, "Asked about")
    quiet = _solved(store, sid, "Never asked about")
    _exchange(store, asked_about, sid, "Why?")
    access = store.teacher_login("pw")
    detail = store.teacher_get_attempt(access, asked_about)
    assert [(t.role, t.text) for t in detail.turns] == [("student", "Why?"), ("assistant", "Because.")]
    assert [a.id for a in store.teacher_search(access, AttemptQuery(has_follow_ups=True)).items] == [asked_about]
    assert [a.id for a in store.teacher_search(access, AttemptQuery(has_follow_ups=False)).items] == [quiet]
    assert store.teacher_search(access).total == 2
    assert [a.id for a in store.history(sid, query=AttemptQuery(has_follow_ups=True)).items] == [asked_about]
    with pytest.raises(ValueError, match="has_follow_ups"):
        store.teacher_search(access, AttemptQuery(has_follow_ups="yes"))


def test_exports_carry_the_conversation_and_read_back_exactly(store):
    sid = new_session_id()
    attempt_id = _solved(store, sid)
    _solved(store, sid, "No follow-ups here")
    _exchange(store, attempt_id, sid, "=1+1 looks like a formula, why?", answer="-it is not one")
    _exchange(store, attempt_id, sid, "And #3?", sample_index=3, answer="Yes.\nOn two lines.")
    expected = [store.get_attempt(a.id, session_id=sid).to_dict() for a in store.history(sid).items]
    assert [len(r["turns"]) for r in expected] == [0, 4]
    assert expected[1]["turns"][0]["text"] == "=1+1 looks like a formula, why?"
    assert read_jsonl(store.export_session(sid, "jsonl")) == expected
    csv_text = store.export_session(sid, "csv")
    assert read_csv(csv_text) == expected
    assert "turns" in CSV_HEADER and CSV_HEADER.index("turns") == CSV_HEADER.index("feedback") + 1
    filtered = store.export_session(sid, "jsonl", query=AttemptQuery(has_follow_ups=True))
    assert [r["id"] for r in read_jsonl(filtered)] == [attempt_id]


def test_a_csv_export_from_before_follow_ups_still_reads(store):
    import csv
    import io

    sid = new_session_id()
    _solved(store, sid)
    rows = list(csv.reader(io.StringIO(store.export_session(sid, "csv"))))
    drop = rows[0].index("turns")
    old = io.StringIO()
    csv.writer(old, lineterminator="\r\n").writerows([r[:drop] + r[drop + 1:] for r in rows])
    assert rows[0][:drop] + rows[0][drop + 1:] == [name for name in CSV_HEADER if name != "turns"]
    records = read_csv(old.getvalue())
    assert records == read_csv(store.export_session(sid, "csv")) and records[0]["turns"] == []


def test_the_operator_export_filters_on_follow_ups(tmp_db_url):
    from storage.export import main

    sid = new_session_id()
    with Store.open(tmp_db_url) as store:
        asked = _solved(store, sid)
        _solved(store, sid, "Quiet")
        _exchange(store, asked, sid, "Why?")
    out = _path(tmp_db_url).parent / "asked.jsonl"
    assert main(["--db-url", tmp_db_url, "--format", "jsonl", "--follow-ups", "--out", str(out)]) == 0
    assert [r["id"] for r in read_jsonl(out.read_text(encoding="utf-8"))] == [asked]


# ------------------------------------------------------------------ writes that fail


def _refuse_writes(store: Store):
    def query_only(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA query_only = ON")

    event.listen(store.engine, "connect", query_only)
    store.engine.dispose()
    return query_only


def _heal(store: Store, listener) -> None:
    event.remove(store.engine, "connect", listener)
    store.engine.dispose()


def test_turns_that_cannot_be_written_wait_in_memory_and_land_in_order(tmp_db_url):
    sid = new_session_id()
    with Store.open(tmp_db_url, write_budget_s=1) as store:
        attempt_id = _solved(store, sid)
        listener = _refuse_writes(store)
        asked = store.add_question(attempt_id, session_id=sid, sample_index=0, text="Why?")
        answered = store.add_answer(attempt_id, asked.turn_id, session_id=sid, answer=_answer())
        assert not asked.ok and not answered.ok and answered.pending == 2 and asked.turn_id
        _heal(store, listener)
        assert store.flush_pending().ok
        assert store.get_attempt(attempt_id, session_id=sid).exchanges(0) == [("Why?", "Because $12 + 7 = 19$.")]


def test_an_answer_writes_its_question_when_the_questions_own_write_was_lost(tmp_db_url):
    sid = new_session_id()
    with Store.open(tmp_db_url, write_budget_s=1, max_pending=0) as store:
        attempt_id = _solved(store, sid)
        listener = _refuse_writes(store)
        asked = store.add_question(attempt_id, session_id=sid, sample_index=0, text="Why?")
        assert not asked.ok and store.pending_writes == 0  # nothing may wait: the write is lost
        _heal(store, listener)
        assert store.add_answer(attempt_id, asked.turn_id, session_id=sid, answer=_answer()).ok
        turns = store.get_attempt(attempt_id, session_id=sid).turns
        assert [(t.turn_index, t.role, t.text) for t in turns] == [(0, "student", "Why?"), (1, "assistant", "Because $12 + 7 = 19$.")]
