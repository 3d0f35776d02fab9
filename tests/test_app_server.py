"""`python app.py --server-url ...`: the app generating through a real `transformers serve` on the
bundled model, driven through its public API with gradio_client; the server absent at start,
then up; the attempt in the log with the server's model name."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client

from storage.store import Store
from tests.optional import require
from tests.serve import free_port, serving_available, start_app_process, start_transformers_serve

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "assets" / "bundled-model"
PROBLEM = "Tom has 12 apples and buys 7 more. How many apples does he have?"
BROWSER = "server-test-session-0123456789"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    require(serving_available(), "transformers serve (pip install 'transformers[serving]')")
    server = start_transformers_serve(BUNDLED, tmp_path_factory.mktemp("serve-logs"))
    yield server
    server.stop()


def solve(client: Client, problem: str, n: int = 4, seed: int = 3):
    job = client.submit(problem, n, 1.0, 0.9, 96, seed, BROWSER, api_name="/solve")
    outputs = list(job)
    return outputs, job.result()


def test_the_app_solves_through_a_real_server_and_logs_the_servers_model(served, tmp_path):
    db = tmp_path / "log.sqlite3"
    app = start_app_process(["--server-url", served.url, "--db-url", f"sqlite:///{db}", "--reward-model", "none",
                             "--no-fallback-to-bundled"], tmp_path)
    try:
        client = Client(app.url, verbose=False)
        banner = client.predict(api_name="/backend_health")
        assert "not answering" not in str(banner)
        outputs, final = solve(client, PROBLEM)
        status, main, answer, cards, votes, chart, heatmap, reasoning, reasoning_map = final
        assert len(outputs) >= 2  # streamed: a first page at once, then more
        assert "served" in status and "127.0.0.1" in status and "seeds not guaranteed" in status
        assert "\\boxed" in answer and cards.count("<details class='card") == 4
        assert "Maj@4" in votes and "confidence" in votes  # the server sends no log-probs here
    finally:
        app.stop()
    with Store.open(f"sqlite:///{db}", recover=False) as store:
        page = store.history(BROWSER)
        assert page.total == 1
        attempt = store.get_attempt(page.items[0].id, session_id=BROWSER)
    assert attempt.status == "done" and attempt.model_id == str(BUNDLED)
    assert attempt.backend == "server" and attempt.server_url == served.url
    assert [s.index for s in attempt.samples] == [0, 1, 2, 3, 4]
    assert all(s.text and s.finish_reason in ("stop", "length", "repetition") for s in attempt.samples)
    assert attempt.maj_n == 4 and attempt.greedy_answer is not None
    assert attempt.max_new_tokens == 96 and attempt.seed == 3


def test_a_server_absent_at_start_is_said_at_the_top_and_solves_start_once_it_answers(tmp_path):
    require(serving_available(), "transformers serve (pip install 'transformers[serving]')")
    port = free_port()
    db = tmp_path / "log.sqlite3"
    url = f"http://127.0.0.1:{port}/v1"
    app = start_app_process(["--server-url", url, "--server-model", str(BUNDLED), "--db-url", f"sqlite:///{db}",
                             "--reward-model", "none", "--server-timeout", "10"], tmp_path)
    server = None
    try:
        client = Client(app.url, verbose=False)
        banner = str(client.predict(api_name="/backend_health"))
        assert "not answering" in banner and f"127.0.0.1:{port}" in banner
        _, refused = solve(client, PROBLEM)  # said in one calm line in the status, not raised
        assert "class='refusal'" in refused[0] and "not answering" in refused[0]
        server = start_transformers_serve(BUNDLED, tmp_path, port=port)
        _, final = solve(client, PROBLEM, n=2)
        assert "\\boxed" in final[2] and final[3].count("<details class='card") == 2
    finally:
        app.stop()
        if server is not None:
            server.stop()
    with Store.open(f"sqlite:///{db}", recover=False) as store:
        items = store.history(BROWSER).items
    # Nothing lost: the refused solve is in the log as an error, with its reason, beside the one that ran.
    assert sorted(a.status for a in items) == ["done", "error"]
    refused = next(a for a in items if a.status == "error")
    assert "not answering" in refused.error and refused.problem == PROBLEM
