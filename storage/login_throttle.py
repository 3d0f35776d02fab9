"""Slowing password guessing down per client address, without ever refusing the right password.

Each address has its own count of recent wrong passwords. The first `free_guesses` cost
nothing; from then on every attempt from that address waits before its password is checked,
`first_wait_s` doubling with each further wrong one, up to `max_wait_s`. Attempts from one
address that arrive together are spaced out by the same wait (each takes its own turn), but no
single attempt waits longer than `max_wait_s`: a person who knows the password gets in, at
worst after that wait, even from an address someone else has been guessing from. Other
addresses are not affected at all. An address's count is forgotten `forget_after_s` after its
last wrong password, and at once after a right one.

The caller decides what an address is (`ui` takes the connection's peer, or X-Forwarded-For
where the operator trusts a proxy) and does the waiting (without holding a thread); this
module only counts and decides. Times are `time.monotonic()` seconds unless a test passes its own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class _Address:
    failures: int = 0
    last_failure: float = 0.0
    next_turn: float = 0.0  # when the next attempt from this address may be checked


@dataclass
class GuessThrottle:
    """Per-address waits before a password is checked. Thread-safe."""

    free_guesses: int = 3
    first_wait_s: float = 0.25
    max_wait_s: float = 4.0
    forget_after_s: float = 600.0
    max_addresses: int = 10_000  # the oldest are forgotten beyond this many (bounded memory)
    _table: OrderedDict[str, _Address] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait_s(self, address: str, now: float | None = None) -> float:
        """The wait the next attempt from `address` would get, without taking a turn."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._current(address, now)
            return 0.0 if entry is None else self._turn(entry, now)[1]

    def reserve(self, address: str, now: float | None = None) -> float:
        """Take the next turn of `address`: the seconds to wait before checking its password."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._current(address, now)
            if entry is None:
                return 0.0
            turn, wait = self._turn(entry, now)
            entry.next_turn = turn + self._step(entry.failures)
            return wait

    def failed(self, address: str, now: float | None = None) -> None:
        """A wrong password came from `address`."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._current(address, now) or _Address()
            entry.failures += 1
            entry.last_failure = now
            self._table[address] = entry
            self._table.move_to_end(address)
            while len(self._table) > self.max_addresses:
                self._table.popitem(last=False)

    def succeeded(self, address: str) -> None:
        """The right password came from `address`: its count starts again."""
        with self._lock:
            self._table.pop(address, None)

    def _current(self, address: str, now: float) -> _Address | None:
        """The address's entry, None when it has no wrong password to remember."""
        entry = self._table.get(address)
        if entry is not None and now - entry.last_failure > self.forget_after_s:
            del self._table[address]
            return None
        return entry

    def _step(self, failures: int) -> float:
        """The wait after `failures` wrong passwords: 0 for the free ones, then doubling, capped."""
        if failures < self.free_guesses:
            return 0.0
        return min(self.max_wait_s, self.first_wait_s * 2 ** min(failures - self.free_guesses, 32))

    def _turn(self, entry: _Address, now: float) -> tuple[float, float]:
        """When the next attempt is checked and how long it waits for that (never over the cap)."""
        step = self._step(entry.failures)
        turn = min(max(now + step, entry.next_turn), now + self.max_wait_s)
        return turn, max(0.0, turn - now)


__all__ = ["GuessThrottle"]
