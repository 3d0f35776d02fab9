"""The `openai` backend: generation on an OpenAI-compatible server over `/v1/completions`.

Any server that speaks the OpenAI completions API will do: vLLM, SGLang, TGI, llama.cpp,
`transformers serve`. The app still builds the prompt itself with the model's own chat
template, so this backend loads the served model's tokenizer locally (tokenizer files only,
never the weights) and sends the rendered prompt text.

Connecting (at construction, again on `ready()`/`health()` until it works):
`GET /v1/models` names the model and, on vLLM, its context length; then a one-token probe
(`n=2`, `logprobs=1`) shows whether the server honours `n` and returns log-probabilities, and
whether it accepts the sampling fields outside the OpenAI schema (`top_k`, `min_p`,
`repetition_penalty`). Servers fill unset fields from the model's generation_config
(Qwen2-Math's: top_k 20, repetition_penalty 1.05), so every sampling field is sent explicitly.
A server down at construction is not an error: `health()` says so and solves start once it
answers.

A run is one streaming request for the greedy row and one with `n=N` for the samples when the
server honours `n`; otherwise N+1 requests of one row each (sample i seeded `seed + i`). Each
request streams in a thread of its own into one queue; the caller's thread reads the queue,
checks the cancel event between reads, applies the repetition guard, and yields the protocol's
events (`model.backend`). Cancelling or closing the iterator hangs up every request at once.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

import openai

from model.backend import (
    BackendError,
    BackendEvent,
    BackendInfo,
    BackendUnavailable,
    Decoding,
    GenerationRequest,
    RowFinished,
    TextDelta,
)
from model.config import MAX_CONTEXT, resolve_model_alias
from model.errors import ModelNotFoundError
from model.loading import HUB_ID
from model.prompts import STOP_TOKENS, detect_family
from model.repetition import RepetitionGuard

log = logging.getLogger(__name__)

API_KEY_HINT = "set MATHAPP_SERVER_API_KEY"
# Sampling fields outside the OpenAI schema that vLLM, SGLang and others read. Unset, a server
# takes them from the model's generation_config; sent, they switch top-k, min-p and the
# repetition penalty off, as the app's own sampler has them.
EXTRA_SAMPLING = {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0}
# Whether the same seed gives the same samples, by the name a server puts in `owned_by` of
# `/v1/models` (vLLM `owned_by: str = "vllm"`, SGLang "sglang", llama.cpp "llamacpp"). vLLM and
# llama.cpp seed a generator per request (vLLM: best effort, batching can change the arithmetic);
# SGLang honours seeds only with --enable-deterministic-inference. Unknown servers: no. Nor
# `transformers serve` ("local" or the Hub organisation): it seeds the one global torch RNG per
# request, so concurrent requests draw from each other's stream.
SERVER_KINDS = {"vllm": "vLLM", "sglang": "SGLang", "llamacpp": "llama.cpp"}
SEEDS_REPRODUCIBLE = {"vllm": True, "llamacpp": True, "sglang": False}
PROBE_PROMPT = "1 + 1 ="
CONNECT_TIMEOUT_S = 5.0
HEALTH_TIMEOUT_S = 5.0
HEALTH_TTL_S = 5.0  # page loads within this long share one health check
POLL_S = 0.05  # longest wait for the next piece before looking at the cancel event again
# The repetition guard reads the tokens of this much text at the end of a row: more than its
# widest window (max_period * min_repeats + min_span = 832 tokens) at a few characters a token.
GUARD_TAIL_CHARS = 8000
MESSAGE_CHARS = 200
STREAM_THREAD = "server-backend-stream"
CUT_OFF = "The model server's reply was cut off before the solution ended."
TOKENIZER_FILES = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "tokenizer.model",
    "*.tiktoken",
]


class _NotAnswering(BackendUnavailable):
    """The server cannot be reached (refused, timed out, 5xx): worth trying again later."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"The model server at {url} is not answering ({reason}). Start it, then try again.")
        self.url = url
        self.reason = reason

    def sentence(self) -> str:
        return f"The model server at {self.url} is not answering ({self.reason}). Solves start as soon as it answers."


class _MalformedReply(Exception):
    """A streamed piece that is not a completion chunk."""


@dataclass(frozen=True)
class Capabilities:
    """What the probe found the server to honour."""

    n: bool
    logprobs: bool
    extra_fields: bool


@dataclass(frozen=True)
class _Connection:
    model: str
    tokenizer: Any
    capabilities: Capabilities
    info: BackendInfo


@dataclass(frozen=True)
class _Choice:
    """One choice of one streamed chunk, checked and copied out of the client's objects."""

    index: int
    text: str
    finish_reason: str | None
    tokens: tuple[str, ...] = ()
    logprobs: tuple[float | None, ...] = ()


@dataclass
class _Row:
    """What has streamed for one row."""

    index: int
    parts: list[str] = field(default_factory=list)
    deltas: int = 0
    logprob_sum: float = 0.0
    logprob_tokens: int = 0
    done: bool = False

    @property
    def text(self) -> str:
        return "".join(self.parts)


class _Request:
    """One streaming request of a run: its parameters, the rows its choices carry (choice i is
    row `rows[i]`), and the open reply, which any thread may hang up."""

    def __init__(self, rows: tuple[int, ...], params: dict[str, Any]) -> None:
        self.rows = rows
        self.params = params
        self.closed = False
        self._reply: Any = None
        self._lock = threading.Lock()

    def attach(self, reply: Any) -> bool:
        with self._lock:
            if not self.closed:
                self._reply = reply
                return True
        hang_up(reply)
        return False

    def close(self) -> None:
        with self._lock:
            self.closed = True
            reply, self._reply = self._reply, None
        if reply is not None:
            hang_up(reply)


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
    ) -> None:
        self.url = display_url(url)
        self.model = model
        self.timeout_s = float(timeout_s)
        self.tokenizer_spec = tokenizer
        self.context_length = context_length
        self.prompt_family = prompt_family
        self.guard = guard or RepetitionGuard()
        self.health_ttl_s = health_ttl_s
        self._secret = api_key or ""
        # No key: a placeholder, so the client never reads OPENAI_API_KEY from the environment.
        self._client = openai.OpenAI(
            base_url=api_url(url),
            api_key=api_key or "EMPTY",
            max_retries=0,
            timeout=openai.Timeout(self.timeout_s, connect=min(self.timeout_s, CONNECT_TIMEOUT_S)),
        )
        self._health_client = self._client.with_options(timeout=min(self.timeout_s, HEALTH_TIMEOUT_S))
        self._conn: _Connection | None = None
        self._connect_lock = threading.Lock()
        self._health_lock = threading.Lock()
        self._health: tuple[float, str | None] | None = None
        self._encode_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._in_flight = 0
        self._closed = False
        self._info = self._provisional_info()
        try:
            self._connect()
        except BackendUnavailable as exc:
            log.warning("%s", self._scrub(str(exc)))
            self._health = (time.monotonic(), self._sentence(exc))

    def __repr__(self) -> str:
        return f"ServerBackend(url={self.url!r}, model={self._info.model!r})"

    # ----------------------------------------------------------------- the protocol

    @property
    def info(self) -> BackendInfo:
        return self._info

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
                value = self._sentence(exc)
            except (openai.OpenAIError, ValueError, TypeError) as exc:
                value = self._sentence(self._unavailable(exc, "GET /models"))
            self._health = (time.monotonic(), value)
            return value

    def stream(self, request: GenerationRequest, cancel: threading.Event) -> Iterator[BackendEvent]:
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

    # ----------------------------------------------------------------- connecting

    def _connect(self) -> _Connection:
        """The connection, made now if need be; `BackendUnavailable` saying why not."""
        if self._closed:
            raise BackendUnavailable("The connection to the model server is closed.")
        if self._conn is not None:
            return self._conn
        with self._connect_lock:
            if self._conn is not None:
                return self._conn
            try:
                listed = list(self._client.models.list())
            except openai.OpenAIError as exc:
                raise self._unavailable(exc, "GET /models") from None
            except (ValueError, TypeError) as exc:
                raise BackendUnavailable(
                    f"The model server at {self.url} sent a malformed model list ({shorten(str(exc))})."
                ) from None
            name, entry = self._choose_model(listed)
            tokenizer, tokenizer_dir = self._load_tokenizer(name)
            capabilities = self._probe(name)
            owner = str(getattr(entry, "owned_by", "") or "").lower()
            info = BackendInfo(
                kind="server",
                model=name,
                family=detect_family(name, tokenizer, self.prompt_family),
                precision="served",
                device=f"server {urlsplit(self.url).netloc}",
                context_length=self._context(entry, tokenizer_dir),
                seeds=SEEDS_REPRODUCIBLE.get(owner, False),
                logprobs=capabilities.logprobs,
                server=self.url,
                source="server",
                notes=self._notes(capabilities, owner),
            )
            self._conn = _Connection(name, tokenizer, capabilities, info)
            self._info = info
            self._health = (time.monotonic(), None)
            log.info(
                "connected to %s at %s (%s; n %s, log-probs %s, top-k/min-p/repetition fields %s)",
                name, self.url, SERVER_KINDS.get(owner, "server kind unknown"),
                "honoured" if capabilities.n else "ignored",
                "returned" if capabilities.logprobs else "not returned",
                "accepted" if capabilities.extra_fields else "refused",
            )
            return self._conn

    def _choose_model(self, listed: list[Any]) -> tuple[str, Any]:
        ids = [str(getattr(m, "id", "")) for m in listed]
        if self.model:
            for entry, name in zip(listed, ids):
                if name == self.model:
                    return name, entry
            # Some servers load models on demand (transformers serve): ask for it anyway.
            return self.model, None
        if len(listed) == 1 and ids[0]:
            return ids[0], listed[0]
        if not listed:
            raise BackendUnavailable(
                f"The model server at {self.url} lists no model; name the one to use with --server-model."
            )
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise BackendUnavailable(
            f"The model server at {self.url} serves several models ({shown}); choose one with --server-model."
        )

    def _load_tokenizer(self, name: str) -> tuple[Any, str]:
        """The served model's tokenizer (whose chat template builds the prompt) and its folder."""
        from transformers import AutoTokenizer

        spec = self.tokenizer_spec or name
        try:
            path = fetch_tokenizer(spec)
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        except (ModelNotFoundError, OSError, ValueError) as exc:
            raise BackendUnavailable(
                f"The model server at {self.url} serves {name!r}, but its tokenizer cannot be loaded here "
                f"({shorten(str(exc))}). The app builds the prompt with the model's own chat template: start it "
                "with --tokenizer DIR (a local copy of the model's tokenizer files) or --tokenizer HUB_ID."
            ) from None
        if not getattr(tokenizer, "chat_template", None):
            raise BackendUnavailable(
                f"The tokenizer of {spec!r} has no chat template (a base model, not an Instruct one?). "
                "Start the app with --tokenizer pointing at the Instruct model's tokenizer."
            )
        return tokenizer, path

    def _probe(self, name: str) -> Capabilities:
        """One-token completions: the first variant the server accepts tells what it honours."""
        refused: openai.APIStatusError | None = None
        for extra in (True, False):
            for n in (2, 1):
                for logprobs in (1, None):
                    params = self._sampling(name, n=n, temperature=1.0, top_p=1.0, max_tokens=1, seed=0,
                                            logprobs=logprobs, extra=extra)
                    try:
                        reply = self._client.completions.create(prompt=PROBE_PROMPT, **params)
                        choices = list(reply.choices or [])
                        indices = {c.index for c in choices}
                        got_logprobs = any(c.logprobs is not None and c.logprobs.token_logprobs for c in choices)
                    except openai.APIStatusError as exc:
                        if 400 <= exc.status_code < 500 and exc.status_code not in (401, 403, 404, 429):
                            refused = exc
                            continue
                        raise self._unavailable(exc, "POST /completions") from None
                    except openai.OpenAIError as exc:
                        raise self._unavailable(exc, "POST /completions") from None
                    except (AttributeError, TypeError, ValueError) as exc:
                        raise BackendUnavailable(
                            f"The model server at {self.url} sent a malformed completion ({shorten(str(exc))})."
                        ) from None
                    return Capabilities(n=n > 1 and len(indices) > 1, logprobs=bool(logprobs and got_logprobs),
                                        extra_fields=extra)
        message = server_message(refused) if refused is not None else "no reason given"
        raise BackendUnavailable(
            f"The model server at {self.url} refused a one-token completion of {name!r} "
            f"(HTTP {refused.status_code if refused is not None else '?'}: {self._scrub(message)})."
        )

    def _context(self, entry: Any, tokenizer_dir: str) -> int:
        """Prompt + solution tokens: the server's limit (vLLM's max_model_len) and the configured
        cap, else the model's max_position_embeddings; never above MAX_CONTEXT."""
        limits: list[int] = []
        served = getattr(entry, "max_model_len", None)
        if isinstance(served, int) and served > 0:
            limits.append(served)
        if self.context_length:
            limits.append(self.context_length)
        if not limits:
            limits.append(model_context(tokenizer_dir) or MAX_CONTEXT)
        return min(min(limits), MAX_CONTEXT)

    def _notes(self, capabilities: Capabilities, owner: str) -> tuple[str, ...]:
        notes = []
        if not capabilities.extra_fields:
            notes.append(
                "The server refuses the top_k, min_p and repetition_penalty fields, so its own defaults "
                "(from the model's generation_config) apply to top-k and the repetition penalty."
            )
        if not capabilities.n:
            notes.append("The server ignores n: each sample is a request of its own.")
        if not capabilities.logprobs:
            notes.append("The server returns no log-probabilities: no confidence ranking without a reward model.")
        if not SEEDS_REPRODUCIBLE.get(owner, False):
            notes.append("On this server the same seed need not give the same samples.")
        return tuple(notes)

    def _provisional_info(self) -> BackendInfo:
        """What is known before the server has answered."""
        name = self.model or "(server not connected yet)"
        return BackendInfo(
            kind="server",
            model=name,
            family=detect_family(self.model or "", None, self.prompt_family),
            precision="served",
            device=f"server {urlsplit(self.url).netloc}",
            context_length=min(self.context_length or MAX_CONTEXT, MAX_CONTEXT),
            seeds=False,
            logprobs=False,
            server=self.url,
            source="server",
            notes=("Not connected to the server yet.",),
        )

    # ----------------------------------------------------------------- one run

    def _sampling(self, name: str, *, n: int, temperature: float, top_p: float, max_tokens: int, seed: int,
                  logprobs: int | None, extra: bool) -> dict[str, Any]:
        """Every sampling field, explicitly (servers fill unset ones from generation_config)."""
        params: dict[str, Any] = dict(
            model=name, n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed,
            stop=list(STOP_TOKENS), frequency_penalty=0.0, presence_penalty=0.0,
        )
        if logprobs:
            params["logprobs"] = logprobs
        if extra:
            params["extra_body"] = dict(EXTRA_SAMPLING)
        return params

    def _plan(self, connection: _Connection, request: GenerationRequest) -> list[_Request]:
        """The requests of a run: greedy row alone; the samples in one request (n=N) when the
        server honours n, else one each with seeds seed+1..seed+N."""
        caps = connection.capabilities

        def params(n: int, temperature: float, top_p: float, seed: int) -> dict[str, Any]:
            return dict(
                self._sampling(connection.model, n=n, temperature=temperature, top_p=top_p,
                               max_tokens=request.max_new_tokens, seed=seed,
                               logprobs=1 if caps.logprobs else None, extra=caps.extra_fields),
                prompt=request.prompt_text, stream=True,
            )

        plan = []
        if request.greedy:
            plan.append(_Request((0,), params(1, 0.0, 1.0, request.seed)))
        samples = tuple(range(1, request.n + 1))
        if samples and caps.n:
            plan.append(_Request(samples, params(len(samples), request.temperature, request.top_p, request.seed)))
        elif samples:
            for row in samples:
                seed = (request.seed + row) % 2**63
                plan.append(_Request((row,), params(1, request.temperature, request.top_p, seed)))
        return plan

    def _run(
        self, connection: _Connection, request: GenerationRequest, cancel: threading.Event
    ) -> Iterator[BackendEvent]:
        rows = {index: _Row(index) for index in request.rows}
        if cancel.is_set():
            for row in rows.values():
                yield self._finish(row, "cancelled")
            return
        plan = self._plan(connection, request)
        events: "queue.Queue[tuple[str, _Request, Any]]" = queue.Queue()
        for req in plan:
            threading.Thread(target=self._pump, args=(req, events), name=STREAM_THREAD, daemon=True).start()
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
                if kind == "open":
                    if not decoding:
                        decoding = True
                        yield Decoding()
                elif kind == "chunk":
                    for event in self._on_chunk(req, *payload, rows):
                        streamed = True
                        yield event
                elif kind == "end":
                    for index in req.rows:
                        if not rows[index].done:
                            streamed = True
                            yield self._finish(rows[index], "error", detail=CUT_OFF)
                elif kind == "fail":
                    error = self._failure(payload, started=streamed)
                    if isinstance(error, BackendError):
                        raise error
                    for index in req.rows:
                        if not rows[index].done:
                            streamed = True
                            yield self._finish(rows[index], "error", detail=error)
        finally:
            # Done, cancelled, failed, or the consumer closed the iterator: hang up every request.
            for req in plan:
                req.close()

    def _pump(self, req: _Request, events: "queue.Queue[tuple[str, _Request, Any]]") -> None:
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
        self, req: _Request, choices: list[_Choice], usage: int | None, rows: dict[int, _Row]
    ) -> Iterator[BackendEvent]:
        """Deltas and finishes from one chunk of `req`; the guard checks every few deltas."""
        for choice in choices:
            if not 0 <= choice.index < len(req.rows):
                detail = f"The model server sent choice {choice.index} of a request for {len(req.rows)}."
                for index in req.rows:
                    if not rows[index].done:
                        yield self._finish(rows[index], "error", detail=detail)
                req.close()
                return
            row = rows[req.rows[choice.index]]
            if row.done:
                continue  # a row the guard stopped, in a request shared with other rows
            for token, logprob in zip(choice.tokens, choice.logprobs):
                if token not in STOP_TOKENS and logprob is not None:
                    row.logprob_sum += logprob
                    row.logprob_tokens += 1
            if choice.text:
                row.parts.append(choice.text)
                row.deltas += 1
                yield TextDelta(row.index, choice.text)
            if choice.finish_reason is not None:
                reason = {"stop": "stop", "length": "length"}.get(choice.finish_reason, "error")
                detail = None
                if reason == "error":
                    detail = f"The model server ended the solution with {choice.finish_reason!r}."
                yield self._finish(row, reason, usage=usage if len(req.rows) == 1 else None, detail=detail)
            elif choice.text and row.deltas % self.guard.check_every == 0 and self._looping(row.text):
                yield self._finish(row, "repetition")
                if len(req.rows) == 1:
                    req.close()

    def _finish(self, row: _Row, reason: str, *, usage: int | None = None, detail: str | None = None) -> RowFinished:
        """The row's RowFinished. Tokens: from the log-probs when the server sends them, else the
        server's usage, else the local tokenizer's count of the text; the stop token excluded."""
        row.done = True
        text = row.text
        if row.logprob_tokens:
            tokens = row.logprob_tokens
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

    # ----------------------------------------------------------------- words for failures

    def _failure(self, exc: BaseException, *, started: bool) -> BackendError | str:
        """What a failed request means: the run's end (an exception to raise) or, for a reply
        that went wrong on its own (an error event, a malformed piece), its rows' error detail."""
        if isinstance(exc, openai.APITimeoutError):
            message = (
                f"The model server at {self.url} did not answer within {self.timeout_s:g} s "
                "(raise --server-timeout for a slow server)."
            )
            return BackendError(message) if started else BackendUnavailable(message)
        if isinstance(exc, openai.APIConnectionError):
            if not started:
                return _NotAnswering(self.url, connection_reason(exc))
            return BackendError(f"The model server stopped answering mid-run ({connection_reason(exc)}).")
        if isinstance(exc, openai.APIStatusError):
            if not started:
                return self._unavailable(exc, "POST /completions")
            return BackendError(self._status_message(exc))
        if isinstance(exc, openai.APIError):
            return f"The model server reported an error: {self._scrub(shorten(server_message(exc)))}"
        return f"The model server sent a malformed reply ({self._scrub(shorten(f'{type(exc).__name__}: {exc}'))})."

    def _unavailable(self, exc: BaseException, what: str) -> BackendUnavailable:
        if isinstance(exc, openai.APITimeoutError):
            return _NotAnswering(self.url, f"no answer within {self.timeout_s:g} s")
        if isinstance(exc, openai.APIConnectionError):
            return _NotAnswering(self.url, connection_reason(exc))
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status >= 500 or status == 429:
                return _NotAnswering(self.url, f"HTTP {status}: {self._scrub(shorten(server_message(exc)))}")
            if status == 404 and what == "GET /models":
                return BackendUnavailable(
                    f"The model server at {self.url} answered HTTP 404 to {what}: is the URL right? "
                    "It should end in /v1, e.g. http://127.0.0.1:8000/v1."
                )
            return BackendUnavailable(self._status_message(exc))
        return BackendUnavailable(f"The model server at {self.url} failed: {self._scrub(shorten(str(exc)))}")

    def _status_message(self, exc: openai.APIStatusError) -> str:
        if exc.status_code in (401, 403):
            return f"The model server at {self.url} refused the API key ({API_KEY_HINT})."
        words = self._scrub(shorten(server_message(exc)))
        return f"The model server at {self.url} answered HTTP {exc.status_code}: {words}"

    def _sentence(self, exc: BackendUnavailable) -> str:
        return exc.sentence() if isinstance(exc, _NotAnswering) else self._scrub(str(exc))

    def _scrub(self, text: str) -> str:
        """Never let the API key through, whatever a server echoes back."""
        return text.replace(self._secret, "***") if self._secret else text


# --------------------------------------------------------------------- helpers


def parse_chunk(chunk: Any) -> tuple[list[_Choice], int | None]:
    """The choices of one streamed completion chunk, checked, and the completion tokens of its
    usage when it carries one (`transformers serve` sends it with the last piece);
    `_MalformedReply` if it is no completion chunk.

    The client builds chunks without validating them, so a server's odd JSON shows up here as
    missing attributes or wrong types.
    """
    try:
        raw_choices = chunk.choices
        if raw_choices is None:
            raw_choices = []
        if not isinstance(raw_choices, list):
            raise TypeError("choices is not a list")
        usage = getattr(chunk, "usage", None)
        completion_tokens = getattr(usage, "completion_tokens", None) if usage is not None else None
        parsed = []
        for choice in raw_choices:
            index, text, finish = choice.index, choice.text or "", choice.finish_reason
            if not isinstance(index, int) or not isinstance(text, str) or not isinstance(finish, (str, type(None))):
                raise TypeError("a choice without an integer index and text")
            tokens: tuple[str, ...] = ()
            logprobs: tuple[float | None, ...] = ()
            lp = getattr(choice, "logprobs", None)
            if lp is not None and getattr(lp, "token_logprobs", None):
                logprobs = tuple(float(v) if v is not None else None for v in lp.token_logprobs)
                tokens = tuple(str(t) for t in (lp.tokens or [""] * len(logprobs)))
            parsed.append(_Choice(index, text, finish, tokens, logprobs))
        return parsed, completion_tokens if isinstance(completion_tokens, int) else None
    except (AttributeError, TypeError, ValueError) as exc:
        raise _MalformedReply(str(exc)) from None


def hang_up(reply: Any) -> None:
    """Close a streaming reply now, also when another thread is blocked reading it: shut the
    socket down first (closing it alone does not wake a blocked read)."""
    import socket

    try:
        network = reply.response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except (AttributeError, OSError, KeyError):
        pass
    try:
        reply.close()
    except Exception:  # closing a broken connection may fail; it is closed either way
        log.debug("closing a reply failed", exc_info=True)


def api_url(url: str) -> str:
    """The base URL for the client: `/v1` added when the URL has no path."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def display_url(url: str) -> str:
    """The URL to show: no user name, password, query or fragment."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") or "/v1", "", ""))


def connection_reason(exc: BaseException) -> str:
    """A few words for why a connection failed: `connection refused`, `server disconnected`."""
    cause: BaseException = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = str(cause) or type(cause).__name__
    if text.startswith("[Errno"):
        text = text.split("]", 1)[-1].strip()
    text = text[:1].lower() + text[1:]
    return shorten(text, 120)


def server_message(exc: openai.APIError) -> str:
    """The server's own words from an error reply, whatever JSON shape it used."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("detail")
            if value:
                return str(value)
    if isinstance(body, str) and body:
        return body
    return str(getattr(exc, "message", "") or exc)


def shorten(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def model_context(directory: str) -> int | None:
    """max_position_embeddings from a model folder's config.json, if it says."""
    try:
        raw = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = raw.get("max_position_embeddings") if isinstance(raw, dict) else None
    return value if isinstance(value, int) and value > 0 else None


def fetch_tokenizer(spec: str) -> str:
    """A local folder with the tokenizer files (and config.json) of `spec`: a local directory as
    it is; a Hub id from the HF cache or, unless offline, downloaded (tokenizer files only,
    never the weights)."""
    spec = resolve_model_alias(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if spec.startswith((".", "/", "~")) or not HUB_ID.match(spec):
        raise ModelNotFoundError(f"{spec!r} is neither a directory here nor a Hugging Face Hub id")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return snapshot_download(spec, allow_patterns=TOKENIZER_FILES, local_files_only=True)
    except LocalEntryNotFoundError:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise ModelNotFoundError(f"{spec} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
    try:
        return snapshot_download(spec, allow_patterns=TOKENIZER_FILES)
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
        raise ModelNotFoundError(f"could not download the tokenizer of {spec}: {type(exc).__name__}") from None


__all__ = ["Capabilities", "ServerBackend", "api_url", "display_url", "fetch_tokenizer", "parse_chunk"]
