"""The log's SQLite file: created once, and checked to still be the file the store opened.

SQLite would quietly create a new, empty database where the log vanished, and pooled
connections would go on writing into a deleted file; both would lose rows while saying "ok".
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL

from storage.errors import LogUnavailable

log = logging.getLogger("storage")


class FileVanished(LogUnavailable):
    """Internal: the database file is gone (deleted, moved, or its disk unmounted)."""


class SqliteFile:
    """The path of the log's file and the identity (device, inode) it had when the store opened it."""

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().absolute()
        self.identity: tuple[int, int] | None = None  # None until the store has opened it once

    def exists(self) -> bool:
        return self.path.exists()

    def create(self) -> None:
        """Create the file and its folder, in WAL mode."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(f"file:{quote(str(self.path))}?mode=rwc", uri=True)
            try:
                connection.execute("PRAGMA journal_mode = WAL")  # writes the header: the file exists
            finally:
                connection.close()
        except (OSError, sqlite3.Error) as exc:
            raise LogUnavailable(f"cannot create the database file {self.path}: {exc}") from None
        log.info("Session log: created %s", self.path)

    def remember(self) -> None:
        """Take the file as it is now as the one the store uses."""
        self.identity = _identity(self.path)

    def current(self) -> tuple[int, int]:
        """The identity of whatever file is at the path now; `FileVanished` if there is none."""
        try:
            return _identity(self.path)
        except FileNotFoundError:
            raise FileVanished(
                f"the database file {self.path} has vanished (deleted, moved, or its disk "
                "unmounted); restore it, or restart the app to start a new, empty log"
            ) from None
        except OSError as exc:
            raise LogUnavailable(f"the database file {self.path} cannot be reached: {exc}") from None


def engine_url(url: URL, file: SqliteFile | None) -> URL:
    """The URL the engine connects with.

    A plain SQLite file URL becomes `file:PATH?mode=rw`, so that SQLite never creates a
    database on its own; the store creates the file itself, once.
    """
    if file is None or url.query or os.name != "posix":
        return url
    return url.set(database=f"file:{quote(str(file.path))}?mode=rw", query={"uri": "true"})


def _identity(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino
