"""Which process runs an attempt (`host/pid/start`), and whether that process is still alive.

A store interrupts only the running attempts whose owner is gone; docs/storage.md has the rules.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

OwnerState = Literal["alive", "gone", "unknown"]


@dataclass(frozen=True)
class ProcessOwner:
    """A process, as recorded on the attempts it runs."""

    host: str
    pid: int
    start: str

    def token(self) -> str:
        """The text stored in `attempts.owner`."""
        return f"{self.host}/{self.pid}/{self.start}"

    @classmethod
    def parse(cls, token: str | None) -> ProcessOwner | None:
        """The owner a token names, or None if there is none or it cannot be read."""
        if not token:
            return None
        # Host names cannot contain '/', pids and start ticks are digits.
        parts = token.rsplit("/", 2)
        if len(parts) != 3 or not parts[0] or not parts[1].isdigit():
            return None
        return cls(host=parts[0], pid=int(parts[1]), start=parts[2])


def _proc_stat(pid: int | str) -> tuple[str, str] | None:
    """(state, start ticks) of a process from /proc, or None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            raw = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]  # field 3 = state, field 22 = starttime


@lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname() or "localhost"


def current_owner() -> ProcessOwner:
    """This process."""
    stat = _proc_stat("self")
    return ProcessOwner(host=_host(), pid=os.getpid(), start=stat[1] if stat else "-")


def owner_state(owner: ProcessOwner | None) -> OwnerState:
    """Whether the process that owns a running attempt is still there (see the module doc)."""
    if owner is None:
        return "gone"
    me = current_owner()
    if owner.host != me.host or os.name != "posix":
        # On Windows os.kill(pid, 0) would terminate the process: never probe there.
        return "unknown"
    if owner.pid == me.pid:
        return "alive" if owner.start == me.start else "gone"
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        pass  # it exists, under another user
    stat = _proc_stat(owner.pid)
    if stat is None:
        if os.path.isdir("/proc"):
            return "gone"  # its /proc entry vanished after the probe: it just exited
        return "alive"  # no /proc (macOS): the signal probe is all there is
    state, start = stat
    if state in ("Z", "X"):  # killed but not yet reaped by its parent
        return "gone"
    if owner.start != "-" and start != owner.start:
        return "gone"  # the pid now belongs to another process
    return "alive"


def is_orphan(owner: str | None, started_at: datetime, now: datetime, stale_after: timedelta) -> bool:
    """Whether a running attempt's process is gone (or, when that cannot be told, it is stale)."""
    state = owner_state(ProcessOwner.parse(owner))
    if state == "unknown":
        return now - started_at > stale_after
    return state == "gone"
