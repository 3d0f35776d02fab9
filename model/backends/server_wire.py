"""The HTTP side of the server backend: what goes into a `/v1/completions` request and what
comes out of its stream.

The sampling fields every request sends, the checked copy of a streamed chunk, one streaming
request that any thread may hang up (socket shut down, so a blocked read wakes), and the few
words a failed connection or an error reply boils down to. No run logic here.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai

from model.prompts import STOP_TOKENS

log = logging.getLogger(__name__)

# Sampling fields outside the OpenAI schema that vLLM, SGLang and others read. Unset, a server
# takes them from the model's generation_config; sent, they switch top-k, min-p and the
# repetition penalty off, as the app's own sampler has them.
EXTRA_SAMPLING = {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0}
MESSAGE_CHARS = 200


def sampling_fields(name: str, *, n: int, temperature: float, top_p: float, max_tokens: int, seed: int,
                    logprobs: int | None, extra: bool, stop: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every sampling field, explicitly (servers fill unset ones from generation_config);
    `stop`: stop strings besides the end-of-turn tokens."""
    params: dict[str, Any] = {
        "model": name, "n": n, "temperature": temperature, "top_p": top_p, "max_tokens": max_tokens,
        "seed": seed, "stop": [*STOP_TOKENS, *stop], "frequency_penalty": 0.0, "presence_penalty": 0.0,
    }
    if logprobs:
        params["logprobs"] = logprobs
    if extra:
        params["extra_body"] = dict(EXTRA_SAMPLING)
    return params


class MalformedReply(Exception):
    """A streamed piece that is not a completion chunk."""


@dataclass(frozen=True)
class StreamedChoice:
    """One choice of one streamed chunk, checked and copied out of the client's objects."""

    index: int
    text: str
    finish_reason: str | None
    tokens: tuple[str, ...] = ()
    logprobs: tuple[float | None, ...] = ()
    stop_reason: str | None = None  # the stop string that ended it, where the server says (vLLM)


class StreamRequest:
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


def parse_chunk(chunk: Any) -> tuple[list[StreamedChoice], int | None]:
    """The choices of one streamed completion chunk, checked, and the completion tokens of its
    usage when it carries one (`transformers serve` sends it with the last piece);
    `MalformedReply` if it is no completion chunk.

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
            stop_reason = getattr(choice, "stop_reason", None)
            parsed.append(StreamedChoice(index, text, finish, tokens, logprobs,
                                         stop_reason if isinstance(stop_reason, str) else None))
        return parsed, completion_tokens if isinstance(completion_tokens, int) else None
    except (AttributeError, TypeError, ValueError) as exc:
        raise MalformedReply(str(exc)) from None


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
    """`text` on one line, cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
