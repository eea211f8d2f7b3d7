"""Standing orders' schedule: when an order is due, pure integer calendar arithmetic in UTC.

An order's due times are numbered k = 0, 1, 2… from its ``first_due_ms`` (the anchor):

* ``once``    — only k = 0;
* ``weekly``  — ``first_due_ms + k * WEEK_MS``;
* ``monthly`` — the same day of the month and time of day (UTC) as the anchor, k calendar
  months later, the day clamped to the month's last day (an order anchored on 31 January is
  due on 28 or 29 February, then on 31 March: always computed from the anchor, so it never
  drifts).

After a run at block time ``t`` the order moves to its first due time strictly after ``t``:
a run that was refused is not retried in the same period, and periods missed while the chain
made no block are skipped, never charged in bulk. The order finishes when that time is past
``until_ms`` (when set) or after ``order_due_ms_max``, when ``count_max`` runs are made (when
set), and a ``once`` order after its run.

No clock and no time zone database: the same numbers on every node, whatever its locale.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from . import limits
from .state import Order

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
_EPOCH = date(1970, 1, 1)


def _split(time_ms: int) -> tuple[date, int]:
    """The UTC calendar day of ``time_ms`` and the milliseconds into that day."""
    days, into_day_ms = divmod(time_ms, DAY_MS)
    return _EPOCH + timedelta(days=days), into_day_ms


def add_months(anchor_ms: int, months: int) -> int:
    """``anchor_ms`` moved ``months`` calendar months on (UTC), the day clamped to the month's
    last day. Raises OverflowError beyond year 9999."""
    day, into_day_ms = _split(anchor_ms)
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    if year > 9999:
        raise OverflowError("after year 9999")
    clamped = date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
    return (clamped - _EPOCH).days * DAY_MS + into_day_ms


def _months_between(anchor_ms: int, time_ms: int) -> int:
    a, _ = _split(anchor_ms)
    b, _ = _split(time_ms)
    return (b.year - a.year) * 12 + b.month - a.month


def due_after(order: Order, time_ms: int) -> int | None:
    """The order's first due time strictly after ``time_ms`` (by its period alone, ignoring
    its bounds), or None when there is none (``once``, or past year 9999)."""
    first = order.first_due_ms
    if first > time_ms:
        return first
    if order.period == "weekly":
        return first + ((time_ms - first) // WEEK_MS + 1) * WEEK_MS
    if order.period == "monthly":
        k = max(_months_between(first, time_ms), 1)
        try:
            while (due := add_months(first, k)) <= time_ms:
                k += 1
        except OverflowError:
            return None
        return due
    return None


def next_due(order: Order, time_ms: int) -> int | None:
    """Where ``order`` moves after a run at block time ``time_ms``: its next due time, or
    None when it has finished (its bounds are reached)."""
    if order.count_max and order.runs >= order.count_max:
        return None
    due = due_after(order, time_ms)
    if due is None or due > limits.order_due_ms_max:
        return None
    if order.until_ms and due > order.until_ms:
        return None
    return due
