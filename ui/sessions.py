"""Which person a request comes from: a random id kept in the browser's local storage
(`gr.BrowserState`) ties a person's history together across reloads; API clients without one
are keyed by their Gradio session.
"""

from __future__ import annotations

import hashlib
import secrets

import gradio as gr

SESSION_STORAGE_KEY = "qwen2_math_studio_session"


def session_of(browser_id: object, request: gr.Request | None) -> str:
    """The session a request belongs to: the browser's stored id, else its Gradio session."""
    if isinstance(browser_id, str) and 16 <= len(browser_id) <= 128 and browser_id.isascii() and browser_id.replace("-", "").replace("_", "").isalnum():
        return browser_id
    hashed = request.session_hash if request is not None and request.session_hash else secrets.token_hex(16)
    return "gr-" + hashlib.sha256(str(hashed).encode()).hexdigest()[:40]


def new_browser_id(current: object) -> str:
    """On page load: keep a valid stored id, else make one."""
    if isinstance(current, str) and 16 <= len(current) <= 128:
        return current
    return secrets.token_urlsafe(24)
