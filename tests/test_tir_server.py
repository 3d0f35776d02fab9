"""Reasoning with Python through the server backend: each round is a completion request with
```output among its stop strings; the cell runs and the row goes on with a new request for the
prompt plus its text so far. Against a real `transformers serve` (which streams past stop
strings: the client cuts there) and against small fake servers that honour the stop (as vLLM
does, naming it in `stop_reason`) or stream past it within one piece."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from model.backends.server import ServerBackend
from model.backends.server_rounds import RoundCut, stopped_for_code
from model.params import SamplingParams
from model.solver import Solver
from model.tools import LIMIT_NOTE
from model.types import Delta
from tests.serve import FakeServer, serving_available, start_transformers_serve
from tests.optional import require
from tests.tir_parts import CELL, Runner, build_coding_model

ROUND = "Let me compute." + CELL + "```output\n42\n```\n"


def test_the_round_cut_holds_back_what_may_start_the_stop():
    cut = RoundCut()
    assert cut.feed("x = 1\n``") == ("x = 1\n", False)
    assert cut.feed("`\n``") == ("```\n", False)  # held only while it could start the stop
    cut = RoundCut()
    shown = [cut.feed(piece) for piece in ("print(1)\n```\n", "```out", "put\n1\n```\nmore")]
    assert "".join(text for text, _ in shown) == "print(1)\n```\n```output" and shown[-1][1]
    assert RoundCut().feed("no stop here") == ("no stop here", False)


def test_a_server_stop_is_read_from_stop_reason_or_a_closed_cell():
    assert stopped_for_code("anything", "```output")
    assert not stopped_for_code("x```python\nprint(1)\n```\n", "<|im_end|>")
    assert stopped_for_code("x\n```python\nprint(1)\n```\n", None)
    assert not stopped_for_code("So \\boxed{1}.", None)


@pytest.fixture(scope="module")
def coding_dir(tmp_path_factory, tiny_tokenizer):
    return build_coding_model(tiny_tokenizer, tmp_path_factory.mktemp("coding-served"))


def test_transformers_serve_rounds_up_to_the_limit(coding_dir, tmp_path):
    """transformers serve ignores the stop string: the client cuts each round there, runs the
    cell and sends the next request, 4 times, then the model finishes after the limit note."""
    require(serving_available(), "transformers serve (transformers[serving])")
    server = start_transformers_serve(coding_dir, tmp_path)
    runner = Runner()
    solver = Solver(ServerBackend(server.url, timeout_s=60, tools=runner))
    try:
        assert solver.info.tools
        result = solver.solve("What is 6 times 7?", SamplingParams(n=1, max_new_tokens=300, seed=1, tir=True))
    finally:
        solver.close()
        server.stop()
    for solution in result.solutions:
        assert solution.text == ROUND * 4 + LIMIT_NOTE
        assert solution.finish_reason == "stop" and len(solution.tool_calls) == 4
    assert sorted(len(cells) for cells in runner.runs) == sorted([1, 2, 3, 4] * 2)


@dataclass
class RoundServer(FakeServer):
    """Answers each streamed request by what its prompt holds: `first` before any output block,
    `then` after one; each reply is (text pieces, stop_reason sent with the finish)."""

    first: tuple[tuple[str, ...], str | None] = (("Let me compute.\n", CELL), "```output")
    then: tuple[tuple[str, ...], str | None] = (("So the answer is \\boxed{42}.",), None)
    prompts: list[str] = field(default_factory=list)

    def _stream(self, handler: Any, body: dict[str, Any]) -> None:
        self.prompts.append(body["prompt"])
        pieces, stop_reason = self.then if "```output" in body["prompt"] else self.first
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()

        def send(choice: dict[str, Any]) -> None:
            chunk = {"id": "c", "object": "text_completion", "created": 0, "model": self.model, "choices": [choice]}
            data = f"data: {json.dumps(chunk)}\n\n".encode()
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()

        try:
            for piece in pieces:
                send({"index": 0, "text": piece, "finish_reason": None})
                time.sleep(self.delay_s)
            send({"index": 0, "text": "", "finish_reason": "stop", "stop_reason": stop_reason})
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.hangups.append(time.monotonic())
            handler.close_connection = True


@pytest.mark.parametrize("honours", [True, False])
def test_a_round_ends_at_the_stop_whether_or_not_the_server_honours_it(tiny_model_dir, honours):
    if honours:
        server = RoundServer(model=str(tiny_model_dir)).start()
    else:  # the stop and what follows it arrive in one piece, as from a server that ignores stops
        server = RoundServer(model=str(tiny_model_dir),
                             first=(("Let me compute.\n", CELL + "```output\n99\n```\nSo 99."), None)).start()
    solver = Solver(ServerBackend(server.url, timeout_s=10, tools=Runner()))
    try:
        result = solver.solve("What is 6 times 7?", SamplingParams(n=0, max_new_tokens=200, seed=1, tir=True))
    finally:
        solver.close()
        server.stop()
    text = "Let me compute.\n" + CELL + "```output\n42\n```\n"
    assert result.greedy.text == text + "So the answer is \\boxed{42}."
    assert result.greedy.answer == "42" and [c.output for c in result.greedy.tool_calls] == ["42"]
    requests = server.stream_requests
    assert len(requests) == 2 and all("```output" in r["stop"] for r in requests)
    assert server.prompts[1] == server.prompts[0] + text  # the prompt plus the row's text so far


def test_stop_while_the_cell_runs_ends_the_rows_at_once(tiny_model_dir):
    server = RoundServer(model=str(tiny_model_dir)).start()
    runner = Runner(hold=True)
    solver = Solver(ServerBackend(server.url, timeout_s=10, tools=runner))
    cancel = threading.Event()
    try:
        stream = solver.stream("What is 6 times 7?", SamplingParams(n=2, max_new_tokens=200, seed=1, tir=True),
                               cancel=cancel)
        for event in stream:
            if isinstance(event, Delta) and runner.started.is_set():
                break
        assert runner.started.wait(10)
        stopped = time.perf_counter()
        cancel.set()
        result = list(stream)[-1].result
        took = time.perf_counter() - stopped
    finally:
        runner.release()
        solver.close()
        server.stop()
    assert took < 2.0 and result.cancelled
    assert all(s.finish_reason == "cancelled" for s in result.solutions)
