"""Exception types of the storage layer, each message written for a person to act on.

Reads and the teacher view raise the public ones; writes never raise at the caller (they
return a `LogStatus`). The two internal ones travel between the store's parts and never leave it.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class for every error the storage layer raises on purpose."""


class StorageConfigError(StorageError, ValueError):
    """The database URL or a storage option is invalid (an operator's mistake, not the disk's)."""


class DatabaseUnavailableError(StorageError):
    """The database could not be read or written, even after waiting and retrying."""


class TeacherAccessError(StorageError):
    """The teacher view is disabled, the password is wrong, or the access token has expired."""


class InvalidInputError(StorageError, ValueError):
    """A value handed to the store is malformed (a programming error in the caller)."""


class LogUnavailable(Exception):
    """Internal: the database could not be used, after retrying where that made sense."""

    def __init__(self, reason: str, tries: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tries = tries


class WriteRejected(Exception):
    """Internal: a write that must not happen (unknown attempt, not this session's)."""
