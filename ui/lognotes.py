"""What students and teachers are told when the session log fails: plain words, never the
storage layer's own messages.

The storage layer's messages are written for the operator: they name the database, its file
paths and the settings to change. The store already logs each of them (with a traceback only
for an unexpected error), so the operator finds them in the server's log; the page says only
what a person can act on: that their work is not being saved, or that History (or the class
log) is unavailable on this server. Errors about a person's own input or login
(`InvalidInputError`, `TeacherAccessError`) are written for them and pass through unchanged.
"""

from __future__ import annotations

from storage.errors import InvalidInputError, StorageError, TeacherAccessError
from storage.records import LogStatus
from ui.resources import AppResources

UNSAVED = "Your work is not being saved right now. Your answers are not affected."
"""Said where a solve, a follow-up or feedback could not be written to the log."""

HISTORY_UNAVAILABLE = "History is unavailable on this server right now."
CLASS_LOG_UNAVAILABLE = "The class log is unavailable on this server right now."


def log_working(app: AppResources) -> bool:
    """Whether the session log is there and its last write went through."""
    return app.store is not None and app.store.health().ok


def start_note(app: AppResources, key_trouble: bool) -> str | None:
    """The banner at the top of the page about the log, if any: nothing about where it is."""
    if not log_working(app):
        return f"{UNSAVED} History is unavailable on this server."
    if key_trouble:
        return "History on this server may not be kept when the server restarts."
    return None


def unsaved(status: LogStatus) -> str | None:
    """The note for a write that failed (the store has logged why), None when it went through."""
    return None if status.ok else UNSAVED


def read_failure(app: AppResources, exc: StorageError, *, teacher: bool = False) -> str:
    """What to say when reading the log failed: the person's own mistake as it is; a log that
    works but stumbled, to try again; a log that is not working, that History (for a teacher,
    the class log) is unavailable."""
    if isinstance(exc, (InvalidInputError, TeacherAccessError)):
        return str(exc)
    if log_working(app):
        return f"{'The class log' if teacher else 'History'} could not be read just now. Try again in a moment."
    return CLASS_LOG_UNAVAILABLE if teacher else HISTORY_UNAVAILABLE


__all__ = [
    "CLASS_LOG_UNAVAILABLE",
    "HISTORY_UNAVAILABLE",
    "UNSAVED",
    "log_working",
    "read_failure",
    "start_note",
    "unsaved",
]
