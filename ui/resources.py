"""What the app opens at start-up and its handlers share: the Solver, the session log, the
sandbox for reasoning with Python (`ui.code_sandbox`), the solves in flight and the folder for
downloads.

`open_resources(config)` opens them; a log that cannot be opened is not fatal (the app answers
without it; the operator reads why in the server's log, and the page says in plain words that
work is not being saved, `ui.lognotes`). Nothing here knows about components.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from settings import AppConfig
from model.solver import Solver, open_solver
from storage.errors import StorageError
from storage.store import Store
from ui.code_sandbox import CodeOffer, open_sandbox

log = logging.getLogger(__name__)


class RunsInFlight:
    """The cancel event of each session's solve in flight: one solve per session (a second one
    cancels the first); Stop sets it."""

    def __init__(self) -> None:
        self._cancels: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session_id: str) -> threading.Event:
        """The new solve's cancel event; the session's previous solve, if any, is cancelled."""
        cancel = threading.Event()
        with self._lock:
            previous = self._cancels.get(session_id)
            if previous is not None:
                previous.set()
            self._cancels[session_id] = cancel
        return cancel

    def finish(self, session_id: str, cancel: threading.Event) -> None:
        """Forget a solve that ended (unless a newer one of the session has replaced it)."""
        with self._lock:
            if self._cancels.get(session_id) is cancel:
                del self._cancels[session_id]

    def stop(self, session_id: str) -> bool:
        """Cancel the session's solve; False when none is running."""
        with self._lock:
            cancel = self._cancels.get(session_id)
        if cancel is None:
            return False
        cancel.set()
        return True


@dataclass
class AppResources:
    """The Solver (backend and reward scorer), the session log (None when it is off), the solves
    and the follow-up questions in flight and the download folder; `scorer_note` says how the
    ranking did not start as configured, for the page's banner; `code` whether reasoning with
    Python is offered (and why not), `sandbox` the sandbox running the model's code."""

    config: AppConfig
    solver: Solver
    store: Store | None
    scorer_note: str | None = None
    runs: RunsInFlight = field(default_factory=RunsInFlight)
    follow_ups: RunsInFlight = field(default_factory=RunsInFlight)  # apart: a question never stops a solve
    downloads: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mathapp-")))
    code: CodeOffer = field(default_factory=lambda: CodeOffer(False, "Reasoning with Python is not set up here."))
    sandbox: Any = None

    def close(self) -> None:
        """Stop the Solver and the sandbox and close the log."""
        self.solver.close()
        if self.sandbox is not None:
            self.sandbox.close()
        if self.store is not None:
            self.store.close()


def zero_gpu() -> bool:
    """True on a Hugging Face ZeroGPU Space."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")


def open_resources(config: AppConfig) -> AppResources:
    """Open the sandbox, the Solver (backend, handed the sandbox, and reward scorer) and the log."""
    sandbox, code = open_sandbox(config)
    try:
        solver, scorer_note = open_solver(config, inline=zero_gpu(), tools=sandbox)
    except BaseException:
        if sandbox is not None:
            sandbox.close()
        raise
    store: Store | None
    try:
        # A database that cannot be used opens degraded: the store logs why, and retries at each write.
        store = Store.open(config.db_url, teacher_password=config.teacher_password)
    except StorageError as exc:  # a malformed URL: the operator's to fix, no traceback needed
        log.error("The session log is off: %s", exc)
        store = None
    return AppResources(config, solver, store, scorer_note, code=code, sandbox=sandbox)
