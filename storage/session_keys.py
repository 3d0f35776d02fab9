"""Browser session ids, and the hash of one that the log stores in its place.

Whoever knows a session id can read that session's history; the database, its backups and
its exports only hold `session_key(id)`, from which the id cannot be recovered. The browser
keeps its id encrypted under a key that must outlive restarts (`browser_key`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

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


BROWSER_KEY_FILE = "browser-state.key"


def browser_key_path(db_url: str) -> Path:
    """Where the browser key is kept: beside a SQLite log file, else under `data/`."""
    try:
        url = make_url(db_url)
    except ArgumentError:
        url = None
    if url is not None and url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent / BROWSER_KEY_FILE
    return Path("data").resolve() / BROWSER_KEY_FILE


def browser_key(db_url: str, configured: str | None = None) -> tuple[str, str | None]:
    """The key the browser's stored session id is encrypted under, and a note when it will
    not survive a restart. A configured key wins; else one is generated once and kept in a
    private file (mode 600) beside the log; if that file cannot be written, a key for this run
    only, with the reason."""
    if configured:
        return configured, None
    path = browser_key_path(db_url)
    try:
        key = path.read_text(encoding="ascii").strip()
        if len(key) >= 16:
            return key, None
        return secrets.token_urlsafe(32), f"the browser key at {path} is too short (delete it to make a new one)"
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        return secrets.token_urlsafe(32), f"the browser key at {path} could not be read ({type(exc).__name__})"
    key = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
    except FileExistsError:  # another copy of the app wrote it first: use theirs
        return browser_key(db_url, configured) if path.stat().st_size else (key, f"the browser key at {path} is being written by another process")
    except OSError as exc:
        return key, f"the browser key could not be stored at {path} ({exc.strerror or type(exc).__name__})"
    return key, None
