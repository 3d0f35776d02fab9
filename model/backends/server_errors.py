"""Words for what went wrong with the model server, for the page and the log.

`FailureWords` turns the `openai` client's exceptions into the backend's own: `BackendUnavailable`
(the server cannot be used now; `NotAnswering` when trying again later may help) before a run
has streamed anything, `BackendError` once it has, or an error detail for the rows of one reply.
Every message passes through `scrub`, so the API key never shows, whatever a server echoes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import openai

from model.backends.protocol import BackendError, BackendUnavailable
from model.backends.server_wire import connection_reason, server_message, shorten

API_KEY_HINT = "set MATHAPP_SERVER_API_KEY"


class NotAnswering(BackendUnavailable):
    """The server cannot be reached (refused, timed out, 5xx): worth trying again later."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"The model server at {url} is not answering ({reason}). Start it, then try again.")
        self.url = url
        self.reason = reason

    def sentence(self) -> str:
        return f"The model server at {self.url} is not answering ({self.reason}). Solves start as soon as it answers."


@dataclass(frozen=True)
class FailureWords:
    """The messages for the server at `url` (shown), polled with `timeout_s`, keyed with `secret`."""

    url: str
    timeout_s: float
    secret: str = field(default="", repr=False)  # the API key: never shown

    def failure(self, exc: BaseException, *, started: bool) -> BackendError | str:
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
                return NotAnswering(self.url, connection_reason(exc))
            return BackendError(f"The model server stopped answering mid-run ({connection_reason(exc)}).")
        if isinstance(exc, openai.APIStatusError):
            if not started:
                return self.unavailable(exc, "POST /completions")
            return BackendError(self.status_message(exc))
        if isinstance(exc, openai.APIError):
            return f"The model server reported an error: {self.scrub(shorten(server_message(exc)))}"
        return f"The model server sent a malformed reply ({self.scrub(shorten(f'{type(exc).__name__}: {exc}'))})."

    def unavailable(self, exc: BaseException, what: str) -> BackendUnavailable:
        if isinstance(exc, openai.APITimeoutError):
            return NotAnswering(self.url, f"no answer within {self.timeout_s:g} s")
        if isinstance(exc, openai.APIConnectionError):
            return NotAnswering(self.url, connection_reason(exc))
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status >= 500 or status == 429:
                return NotAnswering(self.url, f"HTTP {status}: {self.scrub(shorten(server_message(exc)))}")
            if status == 404 and what == "GET /models":
                return BackendUnavailable(
                    f"The model server at {self.url} answered HTTP 404 to {what}: is the URL right? "
                    "It should end in /v1, e.g. http://127.0.0.1:8000/v1."
                )
            return BackendUnavailable(self.status_message(exc))
        return BackendUnavailable(f"The model server at {self.url} failed: {self.scrub(shorten(str(exc)))}")

    def status_message(self, exc: openai.APIStatusError) -> str:
        if exc.status_code in (401, 403):
            return f"The model server at {self.url} refused the API key ({API_KEY_HINT})."
        words = self.scrub(shorten(server_message(exc)))
        return f"The model server at {self.url} answered HTTP {exc.status_code}: {words}"

    def sentence(self, exc: BackendUnavailable) -> str:
        return exc.sentence() if isinstance(exc, NotAnswering) else self.scrub(str(exc))

    def scrub(self, text: str) -> str:
        """Never let the API key through, whatever a server echoes back."""
        return text.replace(self.secret, "***") if self.secret else text
