"""Time in the queue is not thinking time (issue 23, item 9): the running app, driven through
gradio_client, generating through a fake OpenAI-compatible server that starts each reply only
after 3 s (its own queue is full) and then writes a word every 0.1 s. While the solve streams,
its status line gives the wait in the queue, the time from the start of decoding to the first
token, and the speed, apart; it read "first token 3.05 s" for a run that waited 3 s."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from gradio_client import Client

from tests.serve import FakeServer
from tests.servers import start_app

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "assets" / "bundled-model"
WAIT_S = 3.0
SCRIPT = " ".join(["We", "count", "one", "step", "at", "a", "time"] * 4) + " and get \\boxed{5}."


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    fake = FakeServer(model=str(BUNDLED_DIR.resolve()), script=SCRIPT, delay_s=0.1, open_delay_s=WAIT_S).start()
    root = tmp_path_factory.mktemp("queue-app")
    running = start_app(BUNDLED_DIR, root / "app.sqlite3", server_url=fake.url, server_timeout=20.0)
    yield running
    running.close()
    fake.stop()


def test_the_status_gives_queue_first_token_and_speed_apart_while_streaming(app):
    client = Client(app.url, verbose=False)
    job = client.submit("What is 2 + 3?", 2, 1.0, 0.9, 256, 1, "queue-time-0123456789abcdef", api_name="/solve")
    final = job.result(timeout=60)[0]
    statuses = [outputs[0] for outputs in job.outputs()]
    live = [s for s in statuses if "first token" in s and "tokens in" not in s]
    assert live, f"no live status line while the solve streamed: {statuses}"
    for line in live[-1:] + [final]:
        queued = float(re.search(r"queued (\d+\.\d) s", line).group(1))
        first_token = float(re.search(r"first token (\d+\.\d+) s", line).group(1))
        assert queued >= WAIT_S - 0.2
        assert first_token < 1.0  # from the start of decoding, not from the click
        assert re.search(r"[\d.]+ tok/s", line)
        assert line.index("queued") < line.index("first token") < line.index("tok/s")
