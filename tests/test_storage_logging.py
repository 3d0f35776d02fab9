"""Logging attempts: written when they start, completed when they finish, never raising."""

from __future__ import annotations

import logging
import math

import pytest
from sqlalchemy import text

from storage import (
    AttemptOutcome,
    AttemptStart,
    SampleRecord,
    Store,
    new_session_id,
    session_key,
)
from tests.storage_worker import PARAMS, make_outcome, make_samples, make_start


@pytest.fixture()
def store(tmp_db_url):
    with Store.open(tmp_db_url) as opened:
        yield opened


def _row(store, attempt_id):
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT * FROM attempts WHERE id = :id"), {"id": attempt_id}).mappings().first()


def test_an_attempt_is_written_running_when_it_starts(store):
    sid = new_session_id()
    status = store.start_attempt(make_start(sid, "Solve 2x + 3 = 11."))
    assert status.ok and status.attempt_id and status.message == ""
    row = _row(store, status.attempt_id)
    assert row["status"] == "running"
    assert row["problem"] == "Solve 2x + 3 = 11."
    assert row["session_key"] == session_key(sid) != sid
    assert (row["n_samples"], row["temperature"], row["top_p"], row["max_new_tokens"], row["seed"]) == (8, 1.0, 0.9, 2048, 1234)
    assert row["owner"] and row["finished_at"] is None
    assert (row["backend"], row["server_url"]) == ("local", None)


def test_finishing_writes_results_and_samples(store):
    sid = new_session_id()
    status = store.start_attempt(make_start(sid))
    done = store.finish_attempt(status.attempt_id, make_outcome(), make_samples(8))
    assert done.ok, done.message
    detail = store.get_attempt(status.attempt_id, session_id=sid)
    assert detail.status == "done" and detail.finished_at >= detail.started_at
    assert (detail.greedy_answer, detail.maj_answer, detail.maj_count, detail.maj_n) == ("20", "19", 5, 8)
    assert (detail.rm_answer, detail.rm_score, detail.rm_label, detail.weighted_answer) == ("19", 1.25, "reward", "19")
    assert (detail.agreement, detail.all_agree) == ("greedy differs", False)
    assert (detail.ttft_s, detail.prompt_tokens, detail.generated_tokens, detail.tokens_per_s) == (0.25, 40, 300, 75.0)
    assert detail.params == PARAMS
    assert [s.index for s in detail.samples] == list(range(8))
    first = detail.samples[0]
    assert (first.kind, first.answer, first.cluster, first.finish_reason) == ("greedy", "20", 1, "length")
    assert first.step_rewards == [0.9, 0.5] and first.mean_logprob == -0.125 and first.tokens == 30
    assert "\\boxed{20}" in first.text
    # one shape in and out: what was given is what comes back
    assert list(detail.samples) == make_samples(8)


def test_backend_and_ranking_round_trip(store):
    sid = new_session_id()
    start = make_start(sid, backend="server", server_url="http://gpu-box:8000/v1")
    attempt_id = store.start_attempt(start).attempt_id
    running = store.get_attempt(attempt_id, session_id=sid)
    assert (running.backend, running.server_url, running.rm_index, running.scorer) == (
        "server", "http://gpu-box:8000/v1", None, None
    )
    outcome = make_outcome(rm_index=7, scorer="policy log-probability", rm_label="confidence")
    assert store.finish_attempt(attempt_id, outcome, make_samples(8)).ok
    detail = store.get_attempt(attempt_id, session_id=sid)
    assert (detail.backend, detail.server_url) == ("server", "http://gpu-box:8000/v1")
    assert (detail.rm_index, detail.scorer, detail.rm_label) == (7, "policy log-probability", "confidence")
    assert [s.weight for s in detail.samples] == [(i + 1) / 64 for i in range(8)]
    # the pick is found by index, and it is the sample with the score the outcome gave
    pick = next(s for s in detail.samples if s.index == detail.rm_index)
    assert pick.reward == detail.rm_score and pick.answer == detail.rm_answer
    assert store.history(sid).items[0].scorer == "policy log-probability"


def test_a_local_attempt_without_a_ranking_stores_none(store):
    sid = new_session_id()
    attempt_id = store.start_attempt(make_start(sid)).attempt_id
    outcome = AttemptOutcome("done", rm_index=None, scorer="")
    assert store.finish_attempt(attempt_id, outcome, [SampleRecord(0, "greedy", "t", weight=None)]).ok
    detail = store.get_attempt(attempt_id, session_id=sid)
    assert (detail.backend, detail.server_url, detail.rm_index, detail.scorer) == ("local", None, None, None)
    assert detail.samples[0].weight is None


@pytest.mark.parametrize(
    "url",
    [
        "http://alice:hunter2@gpu-box:8000/v1",
        "https://hunter2@api.example.com/v1",
        "alice:hunter2@gpu-box:8000",
        "//alice:hunter2@gpu-box/v1",
    ],
)
def test_a_server_url_with_credentials_is_refused_and_not_repeated(store, caplog, url):
    sid = new_session_id()
    with caplog.at_level(logging.DEBUG, logger="storage"):
        status = store.start_attempt(make_start(sid, backend="server", server_url=url))
    assert not status.ok and "credentials" in status.message and status.pending == 0
    assert "hunter2" not in status.message and "hunter2" not in caplog.text
    assert store.history(sid).total == 0


def test_a_server_url_may_hold_an_at_sign_outside_its_host(store):
    sid = new_session_id()
    url = "http://gpu-box:8000/v1/models/team@example?tag=a@b"
    assert store.start_attempt(make_start(sid, backend="server", server_url=url)).ok
    assert store.history(sid).items[0].server_url == url


def test_samples_can_be_logged_as_they_finish(store):
    sid = new_session_id()
    attempt_id = store.start_attempt(make_start(sid)).attempt_id
    assert store.add_samples(attempt_id, make_samples(3)).ok
    assert len(store.get_attempt(attempt_id, session_id=sid).samples) == 3
    # finishing with all 8 replaces the 3 already there instead of duplicating them
    assert store.finish_attempt(attempt_id, make_outcome(), make_samples(8)).ok
    assert [s.index for s in store.get_attempt(attempt_id, session_id=sid).samples] == list(range(8))


@pytest.mark.parametrize("status", ["done", "cancelled", "error"])
def test_every_finished_status(store, status):
    sid = new_session_id()
    attempt_id = store.start_attempt(make_start(sid)).attempt_id
    outcome = make_outcome(status, error="out of memory" if status == "error" else None)
    assert store.finish_attempt(attempt_id, outcome, []).ok
    assert store.get_attempt(attempt_id, session_id=sid).status == status


def test_empty_answers_and_non_finite_numbers_are_stored_as_none(store):
    sid = new_session_id()
    attempt_id = store.start_attempt(make_start(sid)).attempt_id
    sample = SampleRecord(
        0, "sampled", "", answer="", reward=math.nan, step_rewards=[math.inf, 0.5], mean_logprob=-math.inf, weight=math.nan
    )
    outcome = AttemptOutcome("done", maj_answer="", rm_score=math.nan, scorer="")
    assert store.finish_attempt(attempt_id, outcome, [sample]).ok
    detail = store.get_attempt(attempt_id, session_id=sid)
    assert (detail.maj_answer, detail.rm_score, detail.scorer) == (None, None, None)
    assert detail.samples[0].text == "" and detail.samples[0].answer is None
    assert detail.samples[0].reward is None and detail.samples[0].mean_logprob is None
    assert detail.samples[0].weight is None
    assert detail.samples[0].step_rewards == [None, 0.5]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda sid: ("start", make_start(sid, problem="   ")), id="blank-problem"),
        pytest.param(lambda sid: ("start", make_start(sid, params={"seed": object()})), id="params-not-json"),
        pytest.param(lambda sid: ("start", make_start("short")), id="session-id-too-short"),
        pytest.param(lambda sid: ("start", make_start(sid, precision="x" * 40)), id="precision-too-long"),
        pytest.param(lambda sid: ("start", make_start(sid, backend="cloud")), id="unknown-backend"),
        pytest.param(lambda sid: ("start", make_start(sid, backend=None)), id="no-backend"),
        pytest.param(lambda sid: ("start", make_start(sid, server_url=8000)), id="server-url-not-text"),
        pytest.param(lambda sid: ("finish", make_outcome("running")), id="finish-as-running"),
        pytest.param(lambda sid: ("finish", make_outcome(rm_label="vibes")), id="unknown-rank-label"),
        pytest.param(lambda sid: ("finish", make_outcome(rm_index=-1)), id="negative-rm-index"),
        pytest.param(lambda sid: ("finish", make_outcome(rm_index=1.5)), id="fractional-rm-index"),
        pytest.param(lambda sid: ("samples", [SampleRecord(0, "beam", "t")]), id="unknown-sample-kind"),
        pytest.param(lambda sid: ("samples", [SampleRecord(1, "sampled", "t"), SampleRecord(1, "sampled", "u")]), id="duplicate-index"),
        pytest.param(lambda sid: ("samples", [SampleRecord(-1, "sampled", "t")]), id="negative-index"),
    ],
)
def test_malformed_input_is_reported_not_raised(store, caplog, bad):
    sid = new_session_id()
    kind, value = bad(sid)
    with caplog.at_level(logging.ERROR, logger="storage"):
        if kind == "start":
            status = store.start_attempt(value)
        else:
            attempt_id = store.start_attempt(make_start(sid)).attempt_id
            if kind == "finish":
                status = store.finish_attempt(attempt_id, value)
            else:
                status = store.add_samples(attempt_id, value)
    assert not status.ok
    assert "not saved" in status.message
    assert status.message in caplog.text
    assert status.pending == 0  # a malformed record would fail again: it is not kept


def test_finishing_an_unknown_attempt_is_reported(store):
    status = store.finish_attempt("0" * 32, make_outcome(), [])
    assert not status.ok and "no attempt" in status.message


def test_ensure_session_records_the_session_without_its_id(store):
    sid = new_session_id()
    assert store.ensure_session(sid).ok
    assert store.ensure_session(sid).ok  # seen again: no duplicate
    with store.engine.connect() as conn:
        keys = conn.execute(text("SELECT key FROM sessions")).scalars().all()
    assert keys == [session_key(sid)]


def test_close_marks_this_processs_unfinished_attempts_interrupted(tmp_db_url):
    sid = new_session_id()
    store = Store.open(tmp_db_url)
    finished = store.start_attempt(make_start(sid)).attempt_id
    store.finish_attempt(finished, make_outcome(), [])
    unfinished = store.start_attempt(make_start(sid)).attempt_id
    store.close()
    with Store.open(tmp_db_url) as again:
        assert again.get_attempt(finished, session_id=sid).status == "done"
        assert again.get_attempt(unfinished, session_id=sid).status == "interrupted"


def test_a_live_stores_running_attempts_survive_another_stores_start_up(tmp_db_url):
    """A second Store opened in the same (live) process must not interrupt the first's work."""
    sid = new_session_id()
    with Store.open(tmp_db_url) as first:
        attempt_id = first.start_attempt(make_start(sid)).attempt_id
        with Store.open(tmp_db_url) as second:
            assert second.get_attempt(attempt_id, session_id=sid).status == "running"
        assert first.finish_attempt(attempt_id, make_outcome(), []).ok


def test_start_records_are_plain_dataclasses():
    start = AttemptStart("s" * 16, "p", "m", "bf16")
    assert start.device == "" and dict(start.params) == {}
    assert (start.backend, start.server_url) == ("local", None)
    sample = SampleRecord(3, "sampled")
    assert (sample.text, sample.tokens, sample.weight) == ("", None, None)
