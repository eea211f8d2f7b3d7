"""Login and sign-up throttling: failures counted per client address and per e-mail, with a
temporary lockout, in memory.

A key (an address, an e-mail) that fails ``failures_max`` times within ``window_ms`` is locked
for ``lockout_ms`` from its last failure; a success clears the e-mail's count (not the
address's: one address trying many e-mails stays counted). Keys are remembered in a bounded
table (``keys_max``, least recently used forgotten first), so a flood of distinct addresses or
e-mails cannot grow memory. The clock is injected (ms): tests move time, never sleep.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrottleRule:
    failures_max: int
    window_ms: int
    lockout_ms: int


class Locked(Exception):
    """Too many failures: retry after ``retry_after_s`` seconds (whole, at least 1)."""

    def __init__(self, what: str, retry_after_s: int) -> None:
        super().__init__(f"too many attempts ({what}); retry in {retry_after_s} s")
        self.what = what
        self.retry_after_s = retry_after_s


class Throttle:
    """Failures per key under one rule."""

    def __init__(self, rule: ThrottleRule, clock: Callable[[], int], keys_max: int) -> None:
        self.rule = rule
        self.clock = clock
        self.keys_max = keys_max
        #: key -> (times of its recent failures, locked until)
        self._keys: OrderedDict[str, tuple[list[int], int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def _state(self, key: str, now: int) -> tuple[list[int], int]:
        times, until = self._keys.get(key, ([], 0))
        times = [t for t in times if now - t < self.rule.window_ms]
        if times or until > now:
            self._keys[key] = (times, until)
            self._keys.move_to_end(key)
        else:
            self._keys.pop(key, None)
        return times, until

    def locked_for_ms(self, key: str) -> int:
        """How long ``key`` stays locked (0: not locked)."""
        with self._lock:
            now = self.clock()
            _times, until = self._state(key, now)
            return max(0, until - now)

    def fail(self, key: str) -> None:
        """One more failure; the ``failures_max``-th within the window locks the key."""
        with self._lock:
            now = self.clock()
            times, until = self._state(key, now)
            times = [*times, now]
            if len(times) >= self.rule.failures_max:
                times, until = [], now + self.rule.lockout_ms
            self._keys[key] = (times, until)
            self._keys.move_to_end(key)
            while len(self._keys) > self.keys_max:
                self._keys.popitem(last=False)

    def clear(self, key: str) -> None:
        """Forget the key's failures (a success); a lockout in force stays."""
        with self._lock:
            now = self.clock()
            _times, until = self._state(key, now)
            if until > now:
                self._keys[key] = ([], until)
            else:
                self._keys.pop(key, None)


def check(throttles: list[tuple[Throttle, str, str]]) -> None:
    """Raise ``Locked`` for the first (throttle, key, what) whose key is locked."""
    for throttle, key, what in throttles:
        wait_ms = throttle.locked_for_ms(key)
        if wait_ms > 0:
            raise Locked(what, max(1, math.ceil(wait_ms / 1000)))
