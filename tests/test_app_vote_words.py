"""A "majority" of one is no majority (issue 23, item 7): the running app, driven through
gradio_client, generating through a fake OpenAI-compatible server whose samples give the answers
a test picks (by their seeds), says "no majority" when every sample answers differently and
names a tie and how it was broken, in the Maj@N box, in the checked vote and when reopened."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client

from tests.serve import FakeServer
from tests.servers import start_app

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "assets" / "bundled-model"
BROWSER = "vote-words-session-0123456789"


def boxed(value: int) -> str:
    return f"We work it out and get \\boxed{{{value}}}."


@pytest.fixture(scope="module")
def fake():
    # seed 0: greedy; sample k gets seed k (the app seeds greedy 0, sample k 0 + k). Nine scripts:
    # samples 1..8 answer 11..18, every one a different answer.
    server = FakeServer(model=str(BUNDLED_DIR.resolve()), delay_s=0.0,
                        scripts=tuple(boxed(10 + k) for k in range(9))).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app(fake, tmp_path_factory):
    root = tmp_path_factory.mktemp("vote-words")
    running = start_app(BUNDLED_DIR, root / "app.sqlite3", server_url=fake.url, server_timeout=20.0)
    yield running
    running.close()


def solve(client: Client, n: int, seed: int) -> list:
    return client.predict("What is the number?", n, 1.0, 0.9, 64, seed, BROWSER, api_name="/solve")


def reopen(client: Client) -> list:
    table, _ = client.predict(1, BROWSER, api_name="/history")
    return client.predict(table["data"][0][-1], BROWSER, api_name="/open_attempt")


def test_eight_different_answers_are_no_majority(app, fake):
    client = Client(app.url, verbose=False)
    votes = solve(client, 8, 0)[4]
    assert "Maj@8" in votes
    assert "no majority" in votes and "8 different answers" in votes
    assert "1 of 8 votes" not in votes
    # The checked vote (every sample unflagged here) says the same, not "1 of 8".
    checked = votes[votes.index("Checked vote"):]
    assert "no majority" in checked and "1 of 8" not in checked
    replayed = reopen(client)[4]
    assert "no majority" in replayed and "8 different answers" in replayed and "1 of 8 votes" not in replayed


def test_a_tie_is_named_with_its_tie_break(app):
    # Five scripts, by seed: greedy (seed 0) says 7, samples 1..4 say 12, 10, 10, 12.
    tie = FakeServer(model=str(BUNDLED_DIR.resolve()), delay_s=0.0,
                     scripts=(boxed(7), boxed(12), boxed(10), boxed(10), boxed(12))).start()
    root = Path(app.config.db_url.removeprefix("sqlite:///")).parent
    second = start_app(BUNDLED_DIR, root / "tie.sqlite3", server_url=tie.url, server_timeout=20.0)
    try:
        client = Client(second.url, verbose=False)
        votes = solve(client, 4, 0)[4]  # samples 1..4: 12, 10, 10, 12
        assert "tie between" in votes and "(2 votes each)" in votes
        assert "broken by the answer given first (#1)" in votes
        assert "2 of 4 votes" not in votes
        replayed = reopen(client)[4]
        assert "tie between" in replayed and "broken by the answer given first (#1)" in replayed
        # A clear win is still a plain count.
        votes = solve(client, 3, 1)[4]  # samples 1..3 get seeds 2, 3, 4: 10, 10, 12
        assert "2 of 3 votes" in votes and "tie" not in votes and "no majority" not in votes
    finally:
        second.close()
        tie.stop()
