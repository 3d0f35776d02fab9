"""The Teacher tab's login: which client address a request comes from, and the wait before its
password is checked.

Wrong passwords slow down the address they came from (`storage.login_throttle`); a right one
is never refused. The wait is an `asyncio.sleep` in an async handler, so a guesser's waiting
attempts hold no worker thread and the login event needs no concurrency limit: a teacher at
another address is answered at once.

The address is the connection's peer, `request.client.host`, as the ASGI server (uvicorn)
reports it. Uvicorn replaces it with the client's own address from `X-Forwarded-For` only when
the connection comes from an address the operator trusts: `FORWARDED_ALLOW_IPS`, by default
127.0.0.1 and ::1 (a reverse proxy on the same machine). Behind a proxy on another machine, the
operator opts in by setting `FORWARDED_ALLOW_IPS` to the proxy's address; otherwise every
visitor has the proxy's address, and one guesser slows every login down (but locks none out).
This app never reads the header itself: anyone can write it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import gradio as gr

from storage.errors import TeacherAccessError
from ui import lognotes
from ui.mathtext import escape_text
from ui.resources import AppResources


def client_address(request: gr.Request | None) -> str:
    """The address a request came from ("" when the request does not say)."""
    client = getattr(request, "client", None) if request is not None else None
    return str(getattr(client, "host", "") or "")


async def teacher_login(app: AppResources, password: Any, request: gr.Request | None) -> tuple[Any, str]:
    """An access token and a message; no token for a wrong password. Waits first when the
    client's address has been guessing."""
    if app.store is None:
        return None, lognotes.CLASS_LOG_UNAVAILABLE
    address = client_address(request)
    wait = app.store.teacher_throttle.reserve(address)
    if wait > 0:
        await asyncio.sleep(wait)
    try:
        token = app.store.teacher_login(password if isinstance(password, str) else "", address)
    except TeacherAccessError as exc:
        return None, f"<span class='error'>{escape_text(str(exc))}</span>"
    # Logged in even so: reads may still work (a read-only file), and writes are retried.
    return token, "Logged in." if lognotes.log_working(app) else f"Logged in. {lognotes.CLASS_LOG_UNAVAILABLE}"


__all__ = ["client_address", "teacher_login"]
