"""The `openai` backend: generation on an OpenAI-compatible server over `/v1/completions`.

Any server that speaks the OpenAI completions API will do: vLLM, SGLang, TGI, llama.cpp,
`transformers serve`. The app still builds the prompt itself with the model's own chat
template, so this backend loads the served model's tokenizer locally (tokenizer files only,
never the weights) and sends the rendered prompt text.

Connecting (`model.backends.server_connect`) happens at construction, again on
`ready()`/`health()` until it works: a server down at construction is not an error, `health()`
says so and solves start once it answers. Servers fill unset fields from the model's
generation_config (Qwen2-Math's: top_k 20, repetition_penalty 1.05), so every sampling field
is sent explicitly (`model.backends.server_wire`).

A run is one streaming request for the greedy row and one with `n=N` for the samples when the
server honours `n`; otherwise N+1 requests of one row each (sample i seeded `seed + i`). Each
request streams in a thread of its own into one queue; the caller's thread reads the queue,
checks the cancel event between reads, applies the repetition guard, and yields the protocol's
events (`model.backends.protocol`). Cancelling or closing the iterator hangs up every request at once.

Reasoning with Python (`request.tir`, with a code runner handed in): every row is a request of its
own; a round ends at the code stop (`model.backends.server_rounds`: honoured by the server, or
cut here when the server streams past it), the cell runs on `model.tools.CodeBench`'s threads
while the other rows stream on, and the row continues with a new completion request for the
prompt plus its text so far, output included. Stop ends a row waiting for its code at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import openai

from model.backends.protocol import (
    BackendError,
    BackendEvent,
    BackendInfo,
    BackendUnavailable,
    CodeRan,
    Decoding,
    GenerationRequest,
    RowFinished,
    TextDelta,
)
from model.backends.server_connect import (
    Capabilities,
    Connection,
    ServerTarget,
    fetch_tokenizer,
)
from model.backends.server_errors import FailureWords
from model.backends.server_wire import (
    StreamedChoice,
    StreamRequest,
    api_url,
    display_url,
    parse_chunk,
    sampling_fields,
)
from model.prompts import STOP_TOKENS
from model.repetition import RepetitionGuard
from model.backends.server_rounds import RoundCut, round_seed, stopped_for_code
from model.tools import CODE_STOP, CodeBench, CodeRounds, CodeRunner, ToolError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
HEALTH_TIMEOUT_S = 5.0
HEALTH_TTL_S = 5.0  # page loads within this long share one health check
POLL_S = 0.05  # longest wait for the next piece before looking at the cancel event again
# The repetition guard reads the tokens of this much text at the end of a row: more than its
# widest window (max_period * min_repeats + min_span = 832 tokens) at a few characters a token.
GUARD_TAIL_CHARS = 8000
STREAM_THREAD = "server-backend-stream"
CUT_OFF = "The model server's reply was cut off before the solution ended."


@dataclass
class _StreamedRow:
    """What has streamed for one row of a run (its text so far, its log-probabilities)."""

    index: int
    parts: list[str] = field(default_factory=list)
    deltas: int = 0
    logprob_sum: float = 0.0
    logprob_tokens: int = 0
    done: bool = False
    req: StreamRequest | None = None  # the request streaming it now (older ones are hung up)
    # Reasoning with Python: its code runs, the current round's stop cut, the tool output's tokens.
    rounds: CodeRounds | None = None
    cut: RoundCut | None = None
    tool_tokens: int = 0

    @property
    def text(self) -> str:
        return "".join(self.parts)


class ServerBackend:
    """Streams the rows of a run from an OpenAI-compatible server at `url` (e.g.
    `http://127.0.0.1:8000/v1`; a URL without a path gets `/v1`).

    `model` names the served model (default: the one `/v1/models` lists); `api_key` is sent as
    a bearer token and shown nowhere; `timeout_s` bounds connecting and each wait for the next
    piece of a reply; `tokenizer` is a local directory or Hub id of the model's tokenizer
    (default: the served model's name); `context_length` caps prompt + solution tokens;
    `health_ttl_s` is how long one health check answers for.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        tokenizer: str | None = None,
        context_length: int | None = None,
        prompt_family: str = "auto",
        guard: RepetitionGuard | None = None,
        health_ttl_s: float = HEALTH_TTL_S,
        tools: CodeRunner | None = None,
    ) -> None:
        self.target = ServerTarget(display_url(url), model, tokenizer, context_length, prompt_family)
        self.url = self.target.url
        self.timeout_s = float(timeout_s)
        self.guard = guard or RepetitionGuard()
        self.health_ttl_s = health_ttl_s
        self.tools = CodeBench(tools) if tools is not None else None
        self._words = FailureWords(self.url, self.timeout_s, api_key or "")
        # No key: a placeholder, so the client never reads OPENAI_API_KEY from the environment.
        self._client = openai.OpenAI(
            base_url=api_url(url),
            api_key=api_key or "EMPTY",
            max_retries=0,
            timeout=openai.Timeout(self.timeout_s, connect=min(self.timeout_s, CONNECT_TIMEOUT_S)),
        )
        self._health_client = self._client.with_options(timeout=min(self.timeout_s, HEALTH_TIMEOUT_S))
        self._conn: Connection | None = None
        self._connect_lock = threading.Lock()
        self._health_lock = threading.Lock()
        self._health: tuple[float, str | None] | None = None
        self._encode_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._in_flight = 0
        self._closed = False
        self._info = self.target.provisional_info()
        try:
            self._connect()
        except BackendUnavailable as exc:
            log.warning("%s", self._words.scrub(str(exc)))
            self._health = (time.monotonic(), self._words.sentence(exc))

    def __repr__(self) -> str:
        return f"ServerBackend(url={self.url!r}, model={self._info.model!r})"

    # ----------------------------------------------------------------- the protocol

    @property
    def info(self) -> BackendInfo:
        return replace(self._info, tools=self.tools is not None)

    @property
    def tokenizer(self) -> Any:
        return self._connect().tokenizer

    @property
    def capabilities(self) -> Capabilities | None:
        """What the server honours, once connected."""
        return self._conn.capabilities if self._conn else None

    @property
    def queue_length(self) -> int:
        return self._in_flight

    def ready(self) -> None:
        self._connect()

    def health(self) -> str | None:
        """None when the server answers, else a sentence for the top of the page (cached for
        `health_ttl_s` so that page loads do not hammer the server)."""
        if self._closed:
            return "The connection to the model server is closed."
        with self._health_lock:
            now = time.monotonic()
            if self._health is not None and now - self._health[0] < self.health_ttl_s:
                return self._health[1]
            try:
                if self._conn is None:
                    self._connect()
                else:
                    self._health_client.models.list()
                value = None
            except BackendUnavailable as exc:
                value = self._words.sentence(exc)
            except (openai.OpenAIError, ValueError, TypeError) as exc:
                value = self._words.sentence(self._words.unavailable(exc, "GET /models"))
            self._health = (time.monotonic(), value)
            return value

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[BackendEvent]:
        if request.tir and self.tools is None:
            raise BackendUnavailable("Reasoning with Python is off here: no sandbox runs the model's code.")
        with self._count_lock:
            self._in_flight += 1
        try:
            connection = self._connect()
            yield from self._run(connection, request, cancel)
        finally:
            with self._count_lock:
                self._in_flight -= 1

    def close(self) -> None:
        self._closed = True
        self._client.close()
        if self.tools is not None:
            self.tools.close()

    # ----------------------------------------------------------------- connecting

    def _connect(self) -> Connection:
        """The connection, made now if need be; `BackendUnavailable` saying why not."""
        if self._closed:
            raise BackendUnavailable("The connection to the model server is closed.")
        if self._conn is not None:
            return self._conn
        with self._connect_lock:
            if self._conn is None:
                self._conn = self.target.connect(self._client, self._words)
                self._info = self._conn.info
                self._health = (time.monotonic(), None)
            return self._conn

    # ----------------------------------------------------------------- one run

    def _params(self, connection: Connection, request: GenerationRequest, n: int, temperature: float, top_p: float,
                seed: int, *, text: str = "", max_tokens: int | None = None) -> dict[str, Any]:
        """One streaming request's fields: the prompt (and a tool-integrated row's text so far)."""
        caps = connection.capabilities
        return dict(
            sampling_fields(connection.model, n=n, temperature=temperature, top_p=top_p,
                            max_tokens=request.max_new_tokens if max_tokens is None else max_tokens, seed=seed,
                            logprobs=1 if caps.logprobs else None, extra=caps.extra_fields,
                            stop=(CODE_STOP,) if request.tir else ()),
            prompt=request.prompt_text + text, stream=True,
        )

    def _plan(self, connection: Connection, request: GenerationRequest) -> list[StreamRequest]:
        """The requests of a run: greedy row alone; the samples in one request (n=N) when the
        server honours n and the rows use no tools, else one each with seeds seed+1..seed+N."""
        caps = connection.capabilities

        def params(n: int, temperature: float, top_p: float, seed: int) -> dict[str, Any]:
            return self._params(connection, request, n, temperature, top_p, seed)

        plan = []
        if request.greedy:
            plan.append(StreamRequest((0,), params(1, 0.0, 1.0, request.seed)))
        samples = tuple(range(1, request.n + 1))
        if samples and caps.n and not request.tir:
            plan.append(StreamRequest(samples, params(len(samples), request.temperature, request.top_p, request.seed)))
        elif samples:
            for row in samples:
                seed = (request.seed + row) % 2**63
                plan.append(StreamRequest((row,), params(1, request.temperature, request.top_p, seed)))
        return plan

    def _run(
        self, connection: Connection, request: GenerationRequest, cancel: threading.Event
    ) -> Iterator[BackendEvent]:
        tir = request.tir
        rows = {index: _StreamedRow(index, rounds=CodeRounds() if tir else None, cut=RoundCut() if tir else None)
                for index in request.rows}
        if cancel.is_set():
            for row in rows.values():
                yield self._finish(row, "cancelled")
            return
        plan = self._plan(connection, request)
        events: queue.Queue[tuple[str, StreamRequest | None, Any]] = queue.Queue()
        for req in plan:
            for index in req.rows:
                rows[index].req = req
            self._start(req, events)
        decoding = False  # Decoding() was yielded
        streamed = False  # a row event was yielded
        try:
            while not all(row.done for row in rows.values()):
                if cancel.is_set():
                    for row in rows.values():
                        if not row.done:
                            yield self._finish(row, "cancelled")
                    return
                try:
                    kind, req, payload = events.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if kind == "tool":
                    for event in self._on_code(connection, request, rows[payload[0]], payload[1], plan, events):
                        yield event
                    continue
                assert req is not None
                current = [rows[index] for index in req.rows if rows[index].req is req and not rows[index].done]
                if kind == "open":
                    if not decoding:
                        decoding = True
                        yield Decoding()
                elif kind == "chunk":
                    for event in self._on_chunk(req, *payload, rows, events):
                        streamed = True
                        yield event
                elif kind == "end":
                    for row in current:
                        streamed = True
                        yield self._finish(row, "error", detail=CUT_OFF)
                elif kind == "fail" and current:
                    error = self._words.failure(payload, started=streamed)
                    if isinstance(error, BackendError):
                        raise error
                    for row in current:
                        streamed = True
                        yield self._finish(row, "error", detail=error)
        finally:
            # Done, cancelled, failed, or the consumer closed the iterator: hang up every request.
            for req in plan:
                req.close()

    def _start(self, req: StreamRequest, events: queue.Queue[tuple[str, StreamRequest | None, Any]]) -> None:
        threading.Thread(target=self._pump, args=(req, events), name=STREAM_THREAD, daemon=True).start()

    def _pump(self, req: StreamRequest, events: queue.Queue[tuple[str, StreamRequest | None, Any]]) -> None:
        """Thread body: open one streaming request and move its chunks into `events`."""
        try:
            reply = self._client.completions.create(**req.params)
        except Exception as exc:  # noqa: BLE001 - every failure goes to the consumer, which words it
            if not req.closed:
                events.put(("fail", req, exc))
            return
        if not req.attach(reply):
            return
        events.put(("open", req, None))
        try:
            for chunk in reply:
                if req.closed:
                    return
                events.put(("chunk", req, parse_chunk(chunk)))
        except Exception as exc:  # noqa: BLE001 - as above
            if not req.closed:
                events.put(("fail", req, exc))
            return
        finally:
            reply.close()
        events.put(("end", req, None))

    def _on_chunk(
        self, req: StreamRequest, choices: list[StreamedChoice], usage: int | None, rows: dict[int, _StreamedRow],
        events: queue.Queue[tuple[str, StreamRequest | None, Any]],
    ) -> Iterator[BackendEvent]:
        """Deltas and finishes from one chunk of `req`; the guard checks every few deltas; a
        tool-integrated row's round ends at the code stop."""
        for choice in choices:
            if not 0 <= choice.index < len(req.rows):
                detail = f"The model server sent choice {choice.index} of a request for {len(req.rows)}."
                for index in req.rows:
                    if not rows[index].done:
                        yield self._finish(rows[index], "error", detail=detail)
                req.close()
                return
            row = rows[req.rows[choice.index]]
            if row.done or row.req is not req:
                continue  # a row the guard stopped, in a request shared with other rows
            for token, logprob in zip(choice.tokens, choice.logprobs):
                if token not in STOP_TOKENS and logprob is not None:
                    row.logprob_sum += logprob
                    row.logprob_tokens += 1
            text, at_code = row.cut.feed(choice.text) if row.cut is not None else (choice.text, False)
            if row.cut is not None and not at_code and choice.finish_reason is not None:
                text += row.cut.flush()
                if choice.finish_reason == "stop" and stopped_for_code(row.text + text, choice.stop_reason):
                    text, at_code = text + CODE_STOP, True  # the server honoured the stop and left it out
            if text:
                row.parts.append(text)
                row.deltas += 1
                yield TextDelta(row.index, text)
            if at_code:
                req.close()
                row.req = None  # what the old request still had queued is dropped
                yield from self._code_stop(row, events)
            elif choice.finish_reason is not None:
                reason = {"stop": "stop", "length": "length"}.get(choice.finish_reason, "error")
                detail = None
                if reason == "error":
                    detail = f"The model server ended the solution with {choice.finish_reason!r}."
                yield self._finish(row, reason, usage=usage if len(req.rows) == 1 else None, detail=detail)
            elif choice.text and row.deltas % self.guard.check_every == 0 and self._looping(row.text):
                yield self._finish(row, "repetition")
                if len(req.rows) == 1:
                    req.close()

    def _code_stop(self, row: _StreamedRow, events: queue.Queue[tuple[str, StreamRequest | None, Any]]) -> Iterator[BackendEvent]:
        """A round ended at the code stop: the cell goes to the code bench, or, no run left,
        the solution ends there."""
        assert row.rounds is not None and self.tools is not None
        if row.rounds.exhausted:
            yield self._finish(row, "stop")
            return
        text = row.text
        future = self.tools.submit(row.rounds, lambda: text)
        future.add_done_callback(lambda done: events.put(("tool", None, (row.index, done))))

    def _on_code(self, connection: Connection, request: GenerationRequest, row: _StreamedRow, future: Any,
                 plan: list[StreamRequest], events: queue.Queue[tuple[str, StreamRequest | None, Any]]) -> Iterator[BackendEvent]:
        """A row's cell ran: its output joins the row's text and the next round is requested."""
        if row.done:
            return
        try:
            call, suffix = future.result()
        except ToolError as exc:
            yield self._finish(row, "error", detail=str(exc))
            return
        yield CodeRan(row.index, call)
        row.parts.append(suffix)
        row.tool_tokens += len(self._encode(suffix))
        yield TextDelta(row.index, suffix)
        room = request.max_new_tokens - len(self._encode(row.text))
        if room <= 0:
            yield self._finish(row, "length")
            return
        sampled = row.index != 0
        seed = round_seed(request.seed, row.index, len(row.rounds.calls) if row.rounds else 0)
        req = StreamRequest((row.index,), self._params(connection, request, 1, request.temperature if sampled else 0.0,
                                                        request.top_p if sampled else 1.0, seed, text=row.text,
                                                        max_tokens=room))
        plan.append(req)
        row.req = req
        self._start(req, events)

    def _finish(self, row: _StreamedRow, reason: str, *, usage: int | None = None, detail: str | None = None) -> RowFinished:
        """The row's RowFinished. Tokens: from the log-probs when the server sends them, else the
        server's usage, else the local tokenizer's count of the text (less the tool output's);
        the stop token excluded."""
        row.done = True
        text = row.text
        if row.logprob_tokens:
            tokens = row.logprob_tokens
        elif row.rounds is not None:
            tokens = max(len(self._encode(text)) - row.tool_tokens, 0) if text else 0
        elif text:
            encoded = len(self._encode(text))
            tokens = encoded
            if usage is not None:
                # Some servers (transformers serve) count the stop token in the usage.
                tokens = usage - 1 if reason == "stop" and usage > encoded else usage
        else:
            tokens = 0
        mean = row.logprob_sum / row.logprob_tokens if row.logprob_tokens else None
        return RowFinished(row.index, reason, tokens, mean, detail)  # type: ignore[arg-type]

    def _looping(self, text: str) -> bool:
        ids = self._encode(text[-GUARD_TAIL_CHARS:])
        return self.guard.looping(ids, text)

    def _encode(self, text: str) -> list[int]:
        # One encode at a time: a fast tokenizer shared between threads can fail "Already borrowed".
        with self._encode_lock:
            return list(self._connect().tokenizer.encode(text, add_special_tokens=False))


# Capabilities, api_url, display_url, fetch_tokenizer and parse_chunk live next door; named here
# too, where callers and tests have always found them.
__all__ = ["Capabilities", "ServerBackend", "api_url", "display_url", "fetch_tokenizer", "parse_chunk"]
