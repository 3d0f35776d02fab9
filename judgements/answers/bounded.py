"""Bounded work: run a function on a daemon thread, stop waiting at a deadline, stop the thread.

Works from any thread, without signals (Gradio calls handlers from worker threads, where
`signal.alarm` cannot be used). Also the small thread-safe LRU map the sympy caches use.
Why and how the abandoned thread is stopped: docs/answers.md ("Bounded work").
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


class _Abandoned(BaseException):
    """Raised inside a sympy thread whose caller stopped waiting.

    A BaseException so that the `except Exception` clauses of sympy and math-verify let it
    through and the thread actually stops.
    """


# One job at a time: the ANTLR parser behind math-verify is not documented as thread-safe.
_SYMPY_LOCK = threading.Lock()
TIMED_OUT = object()
"""What `run_bounded` returns when the deadline came first."""


def _interrupt(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise `exc` asynchronously in another thread (None clears a pending one). CPython only."""
    try:
        payload = ctypes.py_object(exc) if exc is not None else None
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), payload)
    except (AttributeError, OSError, TypeError):  # not CPython: the thread runs to its end
        logger.debug("cannot interrupt a sympy thread on this interpreter", exc_info=True)


class _Job:
    """One piece of sympy work on its own daemon thread; see `run_bounded`."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.started = False
        self.finished = False
        self.cancelled = False
        self.value: Any = None
        self.thread = threading.Thread(target=self.run, name="answers-sympy", daemon=True)

    def run(self) -> None:
        try:
            with _SYMPY_LOCK:
                with self.lock:
                    if self.cancelled:
                        return
                    self.started = True
                try:
                    value = self.fn()
                except Exception:  # a library failure is a failed parse or comparison
                    logger.debug("sympy work failed", exc_info=True)
                    value = None
                with self.lock:
                    self.finished = True
                    self.value = value
                self.done.set()
                _interrupt(threading.get_ident(), None)
        except _Abandoned:
            pass

    def cancel(self) -> bool:
        """Stop waiting; interrupt the thread if it runs. True when the work had started."""
        with self.lock:
            self.cancelled = True
            started = self.started and not self.finished
        if started:
            threading.Thread(target=self._reap, name="answers-reaper", daemon=True).start()
        return started

    def _reap(self) -> None:
        # Re-raise until the thread is gone: a bare `except:` somewhere may swallow one.
        for _ in range(200):
            with self.lock:
                if self.finished or not self.thread.is_alive():
                    return
                _interrupt(self.thread.ident or 0, _Abandoned)
            self.thread.join(0.05)


def run_bounded(fn: Callable[[], Any], deadline: float) -> Any:
    """fn() on a worker thread, or `TIMED_OUT` if it has not returned by `deadline`.

    Works from any thread (no signals). Returns None when fn raised.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return TIMED_OUT
    job = _Job(fn)
    job.thread.start()
    if job.done.wait(remaining):
        return job.value
    with job.lock:
        if job.finished:
            return job.value
    job.cancel()
    return TIMED_OUT


class LRU:
    """A small thread-safe LRU map."""

    def __init__(self, size: int) -> None:
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Any, default: Any = None) -> Any:
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)
