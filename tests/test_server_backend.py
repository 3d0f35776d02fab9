"""The `openai` server backend, driven through the Solver.

Against a real `transformers serve` on the bundled model (CPU): what the server honours, the
greedy row equal to the local backend's, N sampled rows that stream and differ, cancel, the
server down at start and coming up, the server killed mid-run. Against a small fake server
(`tests.serve.FakeServer`), the faults real servers rarely produce on demand: a stall, a reply
cut short or dropped, a malformed piece, an error event, HTTP errors, a refused API key, a
looping row; and what a server that honours `n` and log-probs is sent.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from model.backends.protocol import BackendUnavailable
from settings import AppConfig
from model.params import SamplingParams
from model.loading import BUNDLED_DIR, load_model
from model.repetition import RepetitionGuard
from model.solver import Solver
from model.types import Delta, RowDone, RunDone, Started
from tests.optional import require
from tests.serve import FakeServer, TransformersServe, free_port, serving_available, start_transformers_serve

PROBLEM = "Tom has 12 apples and buys 7 more. How many apples does he have?"
GREEDY = SamplingParams(n=0, include_greedy=True, max_new_tokens=256, seed=1)
NO_LOOP_GUARD = RepetitionGuard(min_span=10**9, same_boxed=10**9)
SECRET = "sk-test-Zq8vN3-never-shown"


def require_client() -> None:
    require(importlib.util.find_spec("openai") is not None, "the openai client (pip install openai)")


def require_serving() -> None:
    require_client()
    require(serving_available(), "transformers serve (pip install 'transformers[serving]')")


def backend(url: str, **options):
    from model.backends.server import ServerBackend

    return ServerBackend(url, **options)


@dataclass
class Run:
    """What a Solver stream yielded: the deltas per row, the finished rows, the result."""

    events: list = field(default_factory=list)
    texts: dict = field(default_factory=lambda: defaultdict(str))
    done: dict = field(default_factory=dict)
    result: object = None

    def add(self, event) -> None:
        self.events.append(event)
        if isinstance(event, Delta):
            self.texts[event.row] += event.text
        elif isinstance(event, RowDone):
            assert event.solution.index not in self.done, "a row finished twice"
            self.done[event.solution.index] = event.solution
        elif isinstance(event, RunDone):
            self.result = event.result


def run(solver: Solver, problem: str, params: SamplingParams) -> Run:
    out = Run()
    for event in solver.stream(problem, params):
        out.add(event)
    return out


def assert_whole(out: Run, rows) -> None:
    """Every row finished once, its deltas join to its text; RunDone last."""
    assert isinstance(out.events[-1], RunDone)
    assert sorted(out.done) == sorted(rows)
    for row, solution in out.done.items():
        assert solution.text == out.texts.get(row, ""), row


def stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "server-backend-stream" and t.is_alive()]


def wait_streams_gone(timeout_s: float = 3.0) -> None:
    """No request thread outlives its run for long (none hangs)."""
    deadline = time.monotonic() + timeout_s
    while stream_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not stream_threads(), "a request thread is still running"


# ------------------------------------------------------------------ a real transformers serve


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    require_serving()
    server = start_transformers_serve(BUNDLED_DIR, tmp_path_factory.mktemp("serve"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server_solver(served):
    solver = Solver(backend(served.url, timeout_s=60))
    yield solver
    solver.close()


@pytest.fixture(scope="module")
def local_solver():
    from model.backends.local import LocalBackend

    solver = Solver(LocalBackend(load_model(AppConfig(model="bundled"))))
    yield solver
    solver.close()


def test_connects_and_says_what_transformers_serve_honours(server_solver, served):
    info = server_solver.info
    assert info.kind == "server" and info.source == "server"
    assert info.model == str(BUNDLED_DIR.resolve())
    assert info.server == served.url and info.device == f"server 127.0.0.1:{served.port}"
    assert info.precision == "served" and info.family == "qwen2-math" and info.context_length == 4096
    # transformers serve ignores n and logprobs, refuses top_k & co (HTTP 422), seeds one global RNG.
    caps = server_solver.backend.capabilities
    assert (caps.n, caps.logprobs, caps.extra_fields) == (False, False, False)
    assert info.logprobs is False and info.seeds is False
    assert any("top_k" in note and "own defaults" in note for note in info.notes)
    assert server_solver.backend.health() is None


def test_greedy_row_equals_the_local_backend(server_solver, local_solver):
    problems = [PROBLEM, "A shop sells 3 boxes of 8 pencils. How many pencils is that?"]
    for problem in problems:
        served = server_solver.solve(problem, GREEDY).greedy
        local = local_solver.solve(problem, GREEDY).greedy
        assert served.text == local.text
        assert served.finish_reason == local.finish_reason == "stop"
        assert served.tokens == local.tokens
        assert served.answer == local.answer and served.answer


def test_greedy_row_stops_at_the_budget_like_the_local_backend(server_solver, local_solver):
    params = SamplingParams(n=0, include_greedy=True, max_new_tokens=12, seed=1)
    served = server_solver.solve(PROBLEM, params).greedy
    local = local_solver.solve(PROBLEM, params).greedy
    assert served.finish_reason == local.finish_reason == "length"
    assert served.text == local.text and served.tokens == local.tokens == 12


def test_sampled_rows_stream_differ_and_vote(server_solver):
    params = SamplingParams(n=4, temperature=1.0, top_p=0.9, max_new_tokens=400, seed=11)
    out = run(server_solver, PROBLEM, params)
    assert isinstance(out.events[0], Started)
    assert_whole(out, range(5))
    result = out.result
    assert result.error is None and not result.cancelled
    assert all(s.finish_reason in ("stop", "length") for s in result.solutions)
    assert all(s.tokens > 0 and s.mean_logprob is None for s in result.solutions)  # no log-probs from this server
    deltas = defaultdict(int)
    for event in out.events:
        if isinstance(event, Delta):
            deltas[event.row] += 1
    assert all(deltas[row] > 3 for row in range(5)), "every row streams in pieces"
    texts = [s.text for s in result.samples]
    assert len(set(texts)) > 1, "samples at temperature 1 should differ"
    assert all(s.answer for s in result.samples)
    assert result.vote is not None and result.vote.total == 4


def test_cancel_ends_the_run_promptly_and_the_server_serves_on(server_solver):
    params = SamplingParams(n=8, temperature=1.0, top_p=0.9, max_new_tokens=1024, seed=5)
    cancel = threading.Event()
    out = Run()
    after_cancel = None
    for event in server_solver.stream(PROBLEM, params, cancel=cancel):
        out.add(event)
        if isinstance(event, Delta):
            if after_cancel is None:
                cancel.set()
                after_cancel = 0
            else:
                after_cancel += 1
    # Every stream was hung up at once: at most a piece already on its way per row, not the
    # 1,024-token budget the rows had left.
    assert after_cancel is not None and after_cancel <= 2 * 9, after_cancel
    assert_whole(out, range(9))
    assert out.result.cancelled and out.result.error is None
    assert any(s.finish_reason == "cancelled" for s in out.result.solutions)
    wait_streams_gone()
    # The hung-up requests do not jam the server: the next solve runs.
    again = server_solver.solve(PROBLEM, GREEDY)
    assert again.error is None and again.greedy.finish_reason == "stop"


def test_the_api_key_is_never_shown(served, caplog):
    caplog.set_level(logging.DEBUG)
    server = backend(served.url, api_key=SECRET)
    try:
        assert server.health() is None
        solver = Solver(server)
        result = solver.solve(PROBLEM, GREEDY)
        assert result.error is None
        shown = [repr(server), repr(server.info), server.info.describe(), str(server.health())]
        assert not any(SECRET in text for text in shown)
        assert SECRET not in caplog.text
    finally:
        server.close()


# ------------------------------------------------------------------ down, up, killed


def test_server_down_at_start_then_up_then_killed_mid_run(tmp_path):
    require_serving()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    server_backend = backend(url, timeout_s=30, health_ttl_s=0.3)
    solver = Solver(server_backend)
    server = TransformersServe(BUNDLED_DIR.resolve(), port, tmp_path / "serve.log")
    try:
        # Down at start: no exception; the page says so; a solve is refused in plain words.
        message = server_backend.health()
        assert message == f"The model server at {url} is not answering (connection refused). Solves start as soon as it answers."
        assert server_backend.info.kind == "server" and server_backend.info.server == url
        with pytest.raises(BackendUnavailable, match="is not answering"):
            server_backend.ready()
        with pytest.raises(BackendUnavailable, match="is not answering"):
            solver.prepare(PROBLEM, GREEDY)

        # It comes up: the next ready() connects and solves run.
        server.start()
        server_backend.ready()
        assert server_backend.health() is None
        first = solver.solve(PROBLEM, GREEDY)
        assert first.error is None and first.greedy.finish_reason == "stop"

        # Killed mid-run: the rows that finished stay, the streaming ones keep their text.
        params = SamplingParams(n=8, temperature=1.0, top_p=0.9, max_new_tokens=1024, seed=9)
        out = Run()
        finished_before: dict[int, str] = {}
        for event in solver.stream(PROBLEM, params):
            out.add(event)
            if (
                not finished_before
                and isinstance(event, Delta)
                and out.done
                and event.row not in out.done
                and len(out.texts[event.row]) > 10
            ):
                finished_before = {row: s.finish_reason for row, s in out.done.items()}
                server.kill()
        assert finished_before, "the run ended before the server could be killed"
        result = out.result
        assert result.error and result.error.startswith("The model server stopped answering mid-run (")
        assert_whole(out, range(9))
        for row, reason in finished_before.items():
            assert out.done[row].finish_reason == reason == "stop"
        broken = [s for s in result.solutions if s.finish_reason == "error"]
        assert broken and any(s.text for s in broken), "the text that streamed is kept"
        wait_streams_gone()
        time.sleep(0.4)
        assert "is not answering" in server_backend.health()
    finally:
        server.stop()
        solver.close()


# ------------------------------------------------------------------ faults, on a fake server


@pytest.fixture
def fake():
    require_client()
    server = FakeServer(model=str(BUNDLED_DIR.resolve())).start()
    yield server
    server.stop()


TWO = SamplingParams(n=1, temperature=1.0, top_p=0.9, max_new_tokens=64, seed=1)


def test_a_server_that_honours_n_and_logprobs_gets_every_sampling_field(fake):
    fake.honour_n = fake.honour_logprobs = True
    fake.owned_by = "vllm"
    solver = Solver(backend(fake.url))
    params = SamplingParams(n=3, temperature=0.7, top_p=0.8, max_new_tokens=64, seed=42)
    prepared = solver.prepare(PROBLEM, params)
    out = Run()
    for event in solver.stream(prepared):
        out.add(event)
    caps = solver.backend.capabilities
    assert (caps.n, caps.logprobs, caps.extra_fields) == (True, True, True)
    assert solver.info.seeds is True and solver.info.logprobs is True
    assert_whole(out, range(4))
    assert out.result.error is None
    for solution in out.result.solutions:
        assert solution.text == fake.script and solution.finish_reason == "stop" and solution.answer == "5"
        assert solution.tokens == len(fake.script.split(" ")) and solution.mean_logprob == pytest.approx(-0.25)
    greedy, samples = sorted(fake.stream_requests, key=lambda body: body["n"])
    common = {"prompt": prepared.request.prompt_text, "max_tokens": 64, "stop": ["<|im_end|>", "<|endoftext|>"],
              "frequency_penalty": 0.0, "presence_penalty": 0.0, "logprobs": 1, "top_k": -1, "min_p": 0.0,
              "repetition_penalty": 1.0, "model": fake.model, "stream": True}
    for body in (greedy, samples):
        assert {key: body.get(key) for key in common} == common
    assert (greedy["n"], greedy["temperature"], greedy["seed"]) == (1, 0.0, 42)
    assert (samples["n"], samples["temperature"], samples["top_p"], samples["seed"]) == (3, 0.7, 0.8, 42)
    solver.close()


def test_without_n_each_sample_is_a_request_with_its_own_seed(fake):
    solver = Solver(backend(fake.url))
    result = solver.solve(PROBLEM, SamplingParams(n=3, max_new_tokens=64, seed=100))
    assert result.error is None and [s.text for s in result.solutions] == [fake.script] * 4
    bodies = fake.stream_requests
    assert len(bodies) == 4 and all(body["n"] == 1 for body in bodies)
    assert sorted(body["seed"] for body in bodies if body["temperature"] > 0) == [101, 102, 103]
    assert solver.info.seeds is False and solver.info.logprobs is False
    solver.close()


def test_a_slow_server_times_out_with_the_text_kept(fake):
    fake.mode, fake.pieces, fake.delay_s = "stall", 3, 5.0
    solver = Solver(backend(fake.url, timeout_s=0.5))
    out = run(solver, PROBLEM, TWO)  # the server would finish after 5 s; the error says we did not wait
    assert out.result.error == f"The model server at {fake.url} did not answer within 0.5 s (raise --server-timeout for a slow server)."
    assert_whole(out, range(2))
    assert all(s.finish_reason == "error" and s.text == "We add 2" for s in out.result.solutions)
    wait_streams_gone()
    solver.close()


def test_a_reply_cut_short_ends_its_rows_with_an_error(fake):
    fake.mode = "cut"
    solver = Solver(backend(fake.url))
    out = run(solver, PROBLEM, TWO)
    assert_whole(out, range(2))
    assert out.result.error == "The model server's reply was cut off before the solution ended."
    assert all(s.finish_reason == "error" and s.text == "We add 2" and s.answer is None for s in out.result.solutions)
    wait_streams_gone()
    solver.close()


def test_a_dropped_connection_mid_reply_ends_the_run(fake):
    fake.mode = "drop"
    solver = Solver(backend(fake.url))
    out = run(solver, PROBLEM, TWO)
    assert_whole(out, range(2))
    assert out.result.error.startswith("The model server stopped answering mid-run (")
    assert any(s.text for s in out.result.solutions)
    wait_streams_gone()
    solver.close()


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("malformed", "The model server sent a malformed reply ("),
        ("error_event", "The model server reported an error: the engine fell over"),
    ],
)
def test_a_bad_piece_ends_its_rows_with_a_plain_error(fake, mode, error):
    fake.mode = mode
    solver = Solver(backend(fake.url))
    out = run(solver, PROBLEM, TWO)
    assert_whole(out, range(2))
    assert out.result.error.startswith(error)
    assert all(s.finish_reason == "error" and s.text == "We add 2" for s in out.result.solutions)
    wait_streams_gone()
    solver.close()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, "answered HTTP 400: the engine fell over"),
        (503, "is not answering (HTTP 503: the engine fell over)"),
    ],
)
def test_an_http_error_on_a_run_carries_the_servers_words(fake, status, expected):
    fake.mode, fake.status = "status", status
    solver = Solver(backend(fake.url))
    out = run(solver, PROBLEM, TWO)
    assert_whole(out, range(2))
    assert expected in out.result.error and fake.url in out.result.error
    assert all(s.finish_reason == "error" for s in out.result.solutions)
    solver.close()


def test_a_refused_api_key_is_said_plainly_and_never_shown(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.api_key = "the-right-key"
    wrong = backend(fake.url, api_key=SECRET)
    expected = f"The model server at {fake.url} refused the API key (set MATHAPP_SERVER_API_KEY)."
    assert wrong.health() == expected
    with pytest.raises(BackendUnavailable) as refused:
        wrong.ready()
    assert str(refused.value) == expected
    assert SECRET not in repr(wrong) + repr(wrong.info) + caplog.text
    wrong.close()
    right = Solver(backend(fake.url, api_key="the-right-key"))
    assert right.solve(PROBLEM, TWO).error is None
    right.close()


def test_a_looping_row_stops_as_repetition_and_its_request_is_hung_up(fake):
    fake.mode, fake.delay_s = "forever", 0.002
    solver = Solver(backend(fake.url))
    result = solver.solve(PROBLEM, SamplingParams(n=1, max_new_tokens=2000, seed=1))
    assert [s.finish_reason for s in result.solutions] == ["repetition", "repetition"]
    assert all(0 < s.tokens < 2000 for s in result.solutions)
    deadline = time.monotonic() + 2.0
    while len(fake.hangups) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(fake.hangups) == 2, "each looping row's request is closed"
    solver.close()


@pytest.mark.parametrize("how", ["cancel", "close"])
def test_cancel_or_closing_the_iterator_hangs_up_every_request(fake, how):
    fake.mode, fake.delay_s = "forever", 0.02
    solver = Solver(backend(fake.url, guard=NO_LOOP_GUARD))
    cancel = threading.Event()
    events = solver.stream(PROBLEM, SamplingParams(n=3, max_new_tokens=2000, seed=1), cancel=cancel)
    out = Run()
    seen: set[int] = set()
    for event in events:
        out.add(event)
        if isinstance(event, Delta):
            seen.add(event.row)
        if len(seen) == 4:
            break
    if how == "cancel":
        cancel.set()
        late = 0
        for event in events:
            out.add(event)
            late += isinstance(event, Delta)
        assert late <= 4  # at most a piece already on its way per row
        assert_whole(out, range(4))
        assert [s.finish_reason for s in out.result.solutions] == ["cancelled"] * 4
    else:
        events.close()
    deadline = time.monotonic() + 2.0
    while len(fake.hangups) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(fake.hangups) == 4, "every request is closed"
    wait_streams_gone()
    solver.close()


def test_urls_are_shown_without_credentials():
    require_client()
    from model.backends.server import api_url, display_url

    assert api_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert api_url("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000/v1"
    assert display_url("https://user:pw@example.org:8443/v1?key=abc") == "https://example.org:8443/v1"
