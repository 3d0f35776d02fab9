"""Browser session ids, and the hash of one that the log stores in its place.

Whoever knows a session id can read that session's history; the database, its backups and
its exports only hold `session_key(id)`, from which the id cannot be recovered.
"""

from __future__ import annotations

import hashlib
import secrets

from storage.errors import InvalidInputError

MIN_SESSION_ID = 8
MAX_SESSION_ID = 512


def new_session_id() -> str:
    """A fresh, unguessable browser session id (192 random bits)."""
    return secrets.token_urlsafe(24)


def session_key(session_id: str) -> str:
    """The key a session's attempts are stored under: a hash, so the log never holds the id."""
    if not isinstance(session_id, str) or not MIN_SESSION_ID <= len(session_id) <= MAX_SESSION_ID:
        raise InvalidInputError(
            f"A session id must be text of {MIN_SESSION_ID} to {MAX_SESSION_ID} characters "
            "(use storage.new_session_id())."
        )
    return hashlib.sha256(b"mathapp-session\x00" + session_id.encode("utf-8")).hexdigest()
