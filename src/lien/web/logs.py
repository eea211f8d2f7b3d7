"""Warnings a client can repeat thousands of times a second, logged without flooding the log.

A connection flood cuts thousands of connections; one line each would fill the disk and bury
the line that matters. ``SummarisedLog`` writes the first event of each kind at once (so the
operator sees what happens, with an example), counts the next ones, and writes one summary line
per interval with those counts::

    connection closed [slow_headers]: 127.0.0.1:40312: request head incomplete after ...
    connection closed: 1202 more in the last 10 s (evicted 204, slow_headers 998)

It runs on the event loop (its summary is a timer of that loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter


class SummarisedLog:
    """At most one line per kind, plus one summary line, per ``interval_s``."""

    def __init__(self, logger: logging.Logger, what: str, interval_s: float) -> None:
        self.logger = logger
        self.what = what
        self.interval_s = interval_s
        #: every event since the start, by kind (for tests and figures)
        self.totals: Counter[str] = Counter()
        self._window: Counter[str] = Counter()
        self._flush: asyncio.TimerHandle | None = None

    def warn(self, kind: str, message: str) -> None:
        """One event of ``kind``; ``message`` is written only if it is the first of the window."""
        self.totals[kind] += 1
        if not self._window[kind]:
            self.logger.warning("%s [%s]: %s", self.what, kind, message)
        self._window[kind] += 1
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.interval_s, self._summary)

    def _summary(self) -> None:
        self._flush = None
        more = {kind: n - 1 for kind, n in sorted(self._window.items()) if n > 1}
        self._window.clear()
        if more:
            counts = ", ".join(f"{kind} {n}" for kind, n in more.items())
            self.logger.warning("%s: %d more in the last %g s (%s)",
                                self.what, sum(more.values()), self.interval_s, counts)
