"""A running attempt's solutions saved as they stand (issue 23, item 14: `Store.add_samples`):
a finished solution replaces its row; the text of an unfinished one (no finish reason) replaces
only an unfinished row, and a failed save of it is not kept for later; once the attempt has
ended, nothing lands, so a late save never undoes its finish."""

from __future__ import annotations

from dataclasses import replace

from storage import SampleRecord, Store
from tests.storage_worker import make_outcome, make_samples, make_start

SESSION = "progress-session-0123456789"


def texts(store: Store, attempt_id: str) -> dict[int, tuple[str | None, str]]:
    detail = store.get_attempt(attempt_id, session_id=SESSION)
    return {s.index: (s.finish_reason, s.text) for s in detail.samples}


def unfinished(index: int, text: str) -> SampleRecord:
    return SampleRecord(index=index, kind="sampled", text=text)


def test_saves_as_a_run_streams_never_undo_a_finish(tmp_db_url):
    with Store.open(tmp_db_url) as store:
        attempt = store.start_attempt(make_start(SESSION)).attempt_id
        finished = make_samples(3)
        assert store.add_samples(attempt, [unfinished(1, "Step 1"), unfinished(2, "Step")]).ok
        assert store.add_samples(attempt, [finished[1]]).ok  # row 1 finishes
        assert store.add_samples(attempt, [unfinished(1, "Step 1: 12"), unfinished(2, "Step 1: 12 + 7")]).ok
        saved = texts(store, attempt)
        assert saved[1] == (finished[1].finish_reason, finished[1].text)  # the late text left it whole
        assert saved[2] == (None, "Step 1: 12 + 7")  # the unfinished one follows the stream

        assert store.finish_attempt(attempt, make_outcome(), finished).ok
        assert store.add_samples(attempt, [unfinished(2, "Step"), replace(finished[0], text="late")]).ok
        assert texts(store, attempt) == {s.index: (s.finish_reason, s.text) for s in finished}  # the finish stands


def test_a_failed_save_of_unfinished_text_is_not_kept_for_later(tmp_db_url, monkeypatch):
    with Store.open(tmp_db_url) as store:
        attempt = store.start_attempt(make_start(SESSION)).attempt_id

        def unavailable(*_args, **_kwargs):
            from storage.errors import LogUnavailable

            raise LogUnavailable("the disk is full", 1)

        with monkeypatch.context() as patched:
            patched.setattr(store, "_run", unavailable)
            assert not store.add_samples(attempt, [unfinished(1, "Step")]).ok
            assert store.pending_writes == 0  # newer text comes with the next save
            assert not store.add_samples(attempt, make_samples(2)[1:]).ok
            assert store.pending_writes == 1  # a finished solution is kept until it is saved
        assert store.flush_pending().ok
        assert texts(store, attempt)[1][1] == make_samples(2)[1].text
