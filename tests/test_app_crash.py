"""A crash keeps the finished work (issue 23, items 14 and 11): `python app.py` in a process of its
own, generating through a fake OpenAI-compatible server on which six of an N = 8 solve's rows
finish at once and two stream forever; killed with SIGKILL mid-run (no clean-up runs).

- While it streams, each solution is in the log the moment it finishes, and the text of the
  unfinished ones follows every few seconds;
- after the kill the attempt keeps every finished solution, whole, and the unfinished ones as
  far as a few seconds before the kill; the next start-up marks it `interrupted`;
- reopened in History, the interrupted attempt shows what was kept and says that the app
  stopped during the run (no empty chart frame).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from gradio_client import Client

from tests.serve import FakeServer, start_app_process
from tests.servers import start_app
from ui.progress_log import INTERVAL_S

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "assets" / "bundled-model"
BROWSER = "crash-session-0123456789abcdef"
SCRIPT = "We add 2 and 3 and get \\boxed{5}."
# By seed: greedy seed 0 and samples 1..8 seeds 1..8 (seed 0 asked); samples 3 and 6 never finish.
SCRIPTS = (SCRIPT, SCRIPT, SCRIPT, None, SCRIPT, SCRIPT, None, SCRIPT, SCRIPT)
PIECE_S = 0.05  # a numbered piece every 50 ms on the rows that never finish


def rows(db: Path) -> dict[int, tuple[str | None, str]]:
    """The running attempt's logged solutions: index -> (finish reason, text)."""
    with sqlite3.connect(db) as conn:
        found = conn.execute("SELECT sample_index, finish_reason, text FROM samples").fetchall()
    return {index: (reason, text) for index, reason, text in found}


def last_piece(text: str) -> int:
    numbers = re.findall(r"w(\d+)", text)
    return int(numbers[-1]) if numbers else 0


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """Solve with N = 8, kill the app mid-run; the log file, what it held and what had been sent."""
    root = tmp_path_factory.mktemp("crash")
    db = root / "log.sqlite3"
    fake = FakeServer(model=str(BUNDLED_DIR.resolve()), scripts=SCRIPTS, delay_s=PIECE_S).start()
    app = start_app_process(["--server-url", fake.url, "--db-url", f"sqlite:///{db}", "--reward-model", "none",
                             "--no-fallback-to-bundled", "--server-timeout", "30"], root)
    try:
        client = Client(app.url, verbose=False)
        job = client.submit("What is 2 + 3?", 8, 1.0, 0.9, 4000, 0, BROWSER, api_name="/solve")
        # Wait until the six finished solutions are logged and the two others have text in the log.
        deadline = time.monotonic() + 60
        seen_streaming: dict[int, tuple[str | None, str]] = {}
        while time.monotonic() < deadline:
            if db.exists():
                seen_streaming = rows(db)
                finished = [i for i, (reason, _) in seen_streaming.items() if reason is not None]
                if len(finished) == 7 and all(seen_streaming.get(i, (None, ""))[1] for i in (3, 6)):
                    break
            time.sleep(0.2)
        time.sleep(INTERVAL_S * 1.5)  # more text streams after the last save
        assert not job.done(), "the run ended before the kill"
        sent = {seed: count for seed, count in fake.sent.items()}
        os.killpg(app.process.pid, signal.SIGKILL)
        app.process.wait(timeout=30)
        yield {"db": db, "root": root, "during": seen_streaming, "sent": sent}
    finally:
        app.stop()
        fake.stop()


def test_a_killed_app_keeps_every_finished_solution_and_the_recent_text_of_the_rest(crashed):
    during, sent, db = crashed["during"], crashed["sent"], crashed["db"]
    # While the run streamed: the greedy solution and samples 1, 2, 4, 5, 7, 8 were in the log,
    # finished, and the two others' text too (saved as it streamed, before any end of the run).
    assert sorted(i for i, (reason, _) in during.items() if reason is not None) == [0, 1, 2, 4, 5, 7, 8]
    assert during[3][0] is None and during[3][1].startswith(" w1 w2")
    kept = rows(db)
    assert sorted(kept) == list(range(9))
    for index in (0, 1, 2, 4, 5, 7, 8):
        assert kept[index] == ("stop", SCRIPT)  # whole
    with sqlite3.connect(db) as conn:
        answers = dict(conn.execute("SELECT sample_index, answer FROM samples WHERE finish_reason = 'stop'").fetchall())
        status = conn.execute("SELECT status FROM attempts").fetchall()
    assert set(answers.values()) == {"5"}
    assert status == [("running",)]  # nobody has looked yet
    for index, seed in ((3, 3), (6, 6)):
        reason, text = kept[index]
        assert reason is None
        # At most a few seconds behind what the server had sent when the app was killed.
        behind_s = (sent[seed] - last_piece(text)) * PIECE_S
        assert 0 <= behind_s <= INTERVAL_S + 2.5, f"row {index} is {behind_s:.1f} s behind"
        assert text == "".join(f" w{k}" for k in range(1, last_piece(text) + 1))


def test_the_interrupted_attempt_replays_what_was_kept(crashed):
    app = start_app(BUNDLED_DIR, crashed["db"])  # the next start-up: the attempt becomes interrupted
    try:
        with sqlite3.connect(crashed["db"]) as conn:
            assert conn.execute("SELECT status FROM attempts").fetchall() == [("interrupted",)]
        client = Client(app.url, verbose=False)
        table, _ = client.predict(1, BROWSER, api_name="/history")
        assert table["data"][0][-2] == "interrupted"
        head, main, answer, cards, votes, chart, _heatmap, _words, _map = client.predict(
            table["data"][0][-1], BROWSER, api_name="/open_attempt")
        assert "interrupted" in head and "the app stopped during this run" in head
        assert "7 of 9 solutions had finished" in head
        assert "We add 2 and 3" in main and "\\boxed{5}" in answer  # the greedy solution, kept
        assert cards.count("<details class='card") == 8
        assert cards.count("cut off: the app stopped") == 2 and " w1 w2" in cards
        assert "the app stopped first" in votes and "6 of 8 samples had finished" in votes
        assert chart.get("visible") is False  # no empty chart frame
    finally:
        app.close()
