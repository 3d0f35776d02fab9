"""Exception types raised by the storage layer.

Every message is written for a person: it says what went wrong and what to do about it.
Only the UI turns these into banners; writes of the session log never raise them at the UI
(they return a `LogStatus` instead, so that a logging failure cannot stop an answer), reads
and the teacher view do.
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
