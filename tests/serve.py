"""Model servers for the server-backend tests.

`TransformersServe` runs a real `transformers serve` (the `transformers[serving]` extra) on a
model folder, on the CPU, in a process group of its own, so that a test can stop it, or kill
it mid-reply. `FakeServer` is a tiny OpenAI-compatible server in a thread that speaks just
enough of `/v1/models` and `/v1/completions` to misbehave on demand (stall, cut a reply short,
send a malformed piece, an error event or an HTTP error, loop, stream forever) and records what
it was sent and when each reply's connection went away.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving_available() -> bool:
    """Whether `transformers serve` can run here (the `transformers[serving]` extra)."""
    if not all(importlib.util.find_spec(name) for name in ("fastapi", "uvicorn", "openai")):
        return False
    from transformers.utils.import_utils import is_serve_available

    return is_serve_available()


# ------------------------------------------------------------------ transformers serve


@dataclass
class TransformersServe:
    """One `transformers serve <model_dir> --device cpu --port P` process."""

    model_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, wait_s: float = 120.0) -> "TransformersServe":
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
        command = [
            sys.executable, "-c", "from transformers.cli.transformers import main; main()",
            "serve", str(self.model_dir), "--device", "cpu", "--host", "127.0.0.1", "--port", str(self.port),
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.wait_healthy(wait_s)
        return self

    def wait_healthy(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"transformers serve did not answer /health within {wait_s:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: the server dies mid-reply, as a crashed one does."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=10)

    def _signal(self, sig: int) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)  # the group that start_new_session made
        except ProcessLookupError:
            pass
        if sig == signal.SIGKILL:
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_transformers_serve(model_dir: Path, log_dir: Path, port: int | None = None) -> TransformersServe:
    port = port or free_port()
    return TransformersServe(Path(model_dir).resolve(), port, log_dir / f"serve-{port}.log").start()


# ------------------------------------------------------------------ a server that misbehaves


@dataclass
class FakeServer:
    """An OpenAI-compatible server in a thread, serving `model` (a name whose tokenizer the
    backend can load, e.g. a local model folder).

    `mode` decides how a streamed completion goes:
    - `script`: `script` in word pieces, then finish `stop` (n choices when `honour_n`);
    - `stall`: `pieces` pieces, then nothing for `delay_s`;
    - `cut`: `pieces` pieces, then the reply ends cleanly without a finish reason;
    - `drop`: `pieces` pieces, then the connection drops mid-reply;
    - `malformed`: `pieces` pieces, then a piece that is not JSON;
    - `error_event`: `pieces` pieces, then an error event `{"error": {"message": ...}}`;
    - `status`: HTTP `status` with an OpenAI-style error body (the probe still succeeds);
    - `forever`: a piece every `delay_s`, never finishing (until the client hangs up).
    `scripts`, when given, pick each request's script by its seed (`scripts[seed % len]`; the app
    seeds greedy `seed` and sample k `seed + k` when `n` is not honoured), a None script
    streaming numbered pieces (" w1", " w2", ...) every `delay_s` forever; `sent[seed]` counts
    the pieces sent so far for each such request. `open_delay_s`: each streamed reply starts
    only after this long (a server whose own queue is full).
    With `api_key` set, every request without `Bearer <api_key>` gets HTTP 401.
    """

    model: str
    mode: str = "script"
    script: str = "We add 2 and 3 and get \\boxed{5}."
    pieces: int = 3
    delay_s: float = 0.02
    status: int = 500
    message: str = "the engine fell over"
    honour_n: bool = False
    honour_logprobs: bool = False
    scripts: tuple[str | None, ...] = ()
    open_delay_s: float = 0.0
    api_key: str | None = None
    owned_by: str = "fake"
    requests: list[dict[str, Any]] = field(default_factory=list)
    hangups: list[float] = field(default_factory=list)  # monotonic times a client went away mid-reply
    sent: dict[int, int] = field(default_factory=dict)  # seed -> numbered pieces sent (`scripts`' None)
    _httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> "FakeServer":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if not fake._authorised(self):
                    return
                if self.path.rstrip("/").endswith("/v1/models"):
                    entry = {"id": fake.model, "object": "model", "created": 0, "owned_by": fake.owned_by}
                    fake._json(self, 200, {"object": "list", "data": [entry]})
                else:
                    fake._json(self, 404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not fake._authorised(self):
                    return
                if not self.path.rstrip("/").endswith("/v1/completions"):
                    fake._json(self, 404, {"detail": "Not Found"})
                    return
                fake.requests.append(body)
                if not body.get("stream"):
                    fake._probe_reply(self, body)
                elif fake.mode == "status":
                    fake._json(self, fake.status, {"error": {"message": fake.message, "type": "server_error"}})
                else:
                    fake._stream(self, body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai-server", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def stream_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("stream")]

    # -------------------------------------------------------------- replies

    def _authorised(self, handler: BaseHTTPRequestHandler) -> bool:
        if self.api_key is None or handler.headers.get("authorization") == f"Bearer {self.api_key}":
            return True
        self._json(handler, 401, {"error": {"message": "Invalid API key", "type": "invalid_request_error"}})
        return False

    def _json(self, handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _choices(self, body: dict[str, Any]) -> int:
        return int(body.get("n") or 1) if self.honour_n else 1

    def _probe_reply(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        choices = []
        for index in range(self._choices(body)):
            logprobs = None
            if self.honour_logprobs and body.get("logprobs"):
                logprobs = {"tokens": [" 2"], "token_logprobs": [-0.5], "top_logprobs": None, "text_offset": [0]}
            choices.append({"index": index, "text": " 2", "finish_reason": "length", "logprobs": logprobs})
        self._json(handler, 200, {"id": "probe", "object": "text_completion", "created": 0, "model": self.model,
                                  "choices": choices, "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}})

    def _piece(self, body: dict[str, Any], index: int, text: str, finish: str | None = None) -> bytes:
        logprobs = None
        if self.honour_logprobs and body.get("logprobs") and text:
            logprobs = {"tokens": [text], "token_logprobs": [-0.25], "top_logprobs": None, "text_offset": [0]}
        chunk = {"id": "cmpl", "object": "text_completion", "created": 0, "model": self.model,
                 "choices": [{"index": index, "text": text, "finish_reason": finish, "logprobs": logprobs}]}
        return f"data: {json.dumps(chunk)}\n\n".encode()

    def _stream(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        time.sleep(self.open_delay_s)
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()

        def send(data: bytes) -> None:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()

        seed = int(body.get("seed") or 0)
        script = self.scripts[seed % len(self.scripts)] if self.scripts else self.script
        words = (script or "").split(" ")
        words = [w if i == 0 else " " + w for i, w in enumerate(words)]
        n = self._choices(body)
        try:
            if self.scripts and script is None:
                while True:
                    count = self.sent.get(seed, 0) + 1
                    for index in range(n):
                        send(self._piece(body, index, f" w{count}"))
                    self.sent[seed] = count
                    time.sleep(self.delay_s)
            elif self.mode == "script":
                for word in words:
                    for index in range(n):
                        send(self._piece(body, index, word))
                    time.sleep(self.delay_s)
                for index in range(n):
                    send(self._piece(body, index, "", "stop"))
                send(b"data: [DONE]\n\n")
            elif self.mode == "forever":
                while True:
                    for index in range(n):
                        send(self._piece(body, index, " and"))
                    time.sleep(self.delay_s)
            else:
                for word in (words * 10)[: self.pieces]:
                    for index in range(n):
                        send(self._piece(body, index, word))
                if self.mode == "stall":
                    time.sleep(self.delay_s)
                    return
                if self.mode == "drop":
                    handler.wfile.flush()
                    handler.connection.shutdown(socket.SHUT_RDWR)  # no closing chunk: a broken reply
                    handler.close_connection = True
                    return
                if self.mode == "malformed":
                    send(b"data: {\"choices\": [{\"index\": 0, \"text\": \n\n")
                elif self.mode == "error_event":
                    send(f"data: {json.dumps({'error': {'message': self.message}})}\n\n".encode())
            handler.wfile.write(b"0\r\n\r\n")  # the reply ends cleanly
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.hangups.append(time.monotonic())
            handler.close_connection = True


# ------------------------------------------------------------------ the app itself, as users start it


@dataclass
class AppProcess:
    """`python app.py ARGS` on its own port, as an operator starts it (a process of its own)."""

    args: list[str]
    port: int
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, wait_s: float = 180.0) -> "AppProcess":
        root = Path(__file__).resolve().parents[1]
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
        command = [sys.executable, "app.py", "--port", str(self.port), *self.args]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=1) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"app.py did not answer within {wait_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_app_process(args: list[str], log_dir: Path) -> AppProcess:
    port = free_port()
    return AppProcess(args, port, log_dir / f"app-{port}.log").start()
