"""Rate limits of the API: token buckets per client address, per account, and for sign-ups.

    POST /transactions[/batch]
      ─▶ the client address's bucket: one token per transaction (before the body is read)
      ─▶ node admission: freshness, signer, signatures ─▶ the gate, for what passed:
           (a transaction new to the node; a known id costs its signer nothing)
           signed by an active member ─▶ that account's bucket
           anything else — an opening, what an account not yet approved signs, a governor's —
           is a *sign-up*: the address's sign-up bucket, then the node's sign-up budget
      ─▶ the queue

Past a limit the request is answered 429 ``rate_limited`` with ``Retry-After`` (whole seconds)
and nothing of it is queued. The address is counted before the body is even read, so turning a
flood away costs the node little (about 25 µs of the app's time a request, measured in
process): other clients keep being served (figures: tests/test_admission_limits.py).

Why this bounds the chain: a key without an account cannot submit at all (``unknown_signer``);
whatever an account that no admin has approved signs counts against the node's sign-up budget
(``signups_per_hour``, by default 200 transactions of ~1 KB an hour, about 5 MB a day, however
many addresses or accounts an attacker uses); an approved member is limited per account
(``account_per_s``), and an admin who locks an abusive account stops it at admission
(``signer_not_active``).

A bucket holds up to ``burst`` tokens and gains ``per_s`` a second. A request for ``n`` tokens
passes when the bucket holds ``min(n, burst)`` of them — a batch larger than the burst passes
from a full bucket and leaves it in debt — else it is told how long to wait. Buckets are
remembered in bounded tables (``buckets_max`` each, least recently used forgotten first), so a
flood of distinct addresses or accounts cannot grow memory; a forgotten bucket starts full
again, as an idle one would be. IPv6 clients are counted per /64 (what one subscriber gets);
an IPv4 client seen by a dual-stack listener (``::ffff:a.b.c.d``) as its IPv4 address.
Behind a reverse proxy every client has the proxy's address unless the server trusts its
forwarded headers (``make_server(proxy_headers=True)``).
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from starlette.requests import Request

from ..ledger.signers import Signer


@dataclass(frozen=True)
class Limits:
    """The rates and bursts of the API, configurable from the ``[limits]`` table of node.toml
    (docs/operations.md). Sized for people: a till takes a payment every few seconds, a
    business sends its salaries as one batch, a sign-up stall registers a few dozen people."""

    #: Transactions one client address may submit, a second, sustained.
    address_per_s: float = 50.0
    #: ... and at once (a batch counts its transactions).
    address_burst: int = 1000
    #: Transactions signed by one active member account, a second, sustained.
    account_per_s: float = 2.0
    #: ... and at once.
    account_burst: int = 500
    #: Sign-ups (openings, and what accounts not yet approved sign) from one address, an hour.
    signups_per_address_per_hour: float = 20.0
    #: ... and at once.
    signups_per_address_burst: int = 20
    #: Sign-ups the whole node takes, an hour (the bound of the chain's growth by strangers).
    signups_per_hour: float = 200.0
    #: ... and at once.
    signups_burst: int = 200
    #: Buckets remembered per table (client addresses, accounts, sign-up addresses).
    buckets_max: int = 50_000
    #: False: no rate limit at all (a benchmark's node, or one behind a limiting proxy).
    enabled: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "enabled" and not (isinstance(value, int | float) and value > 0
                                            and math.isfinite(value)):
                raise ValueError(f"limits: {f.name} must be a finite number above 0, "
                                 f"not {value!r}")

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> Limits:
        """From the ``[limits]`` table of node.toml: any of the fields; ``ValueError`` names
        an unknown key or a bad value."""
        defaults = cls()
        unknown = sorted(set(table) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"[limits]: unknown setting {unknown[0]!r} (known: "
                             f"{', '.join(f.name for f in fields(cls))})")
        for name, value in table.items():
            kind = type(getattr(defaults, name))
            number = (int, float) if kind is float else int
            if isinstance(value, bool) != (kind is bool) or not isinstance(value, number):
                raise ValueError(f"[limits]: {name} must be {kind.__name__}, not {value!r}")
        return cls(**table)


class RateLimited(Exception):
    """Past a rate limit: retry after ``retry_after_s`` whole seconds (HTTP 429)."""

    def __init__(self, what: str, retry_after_s: int) -> None:
        super().__init__(f"too many {what}; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Buckets:
    """Token buckets by key, in a bounded table (least recently used forgotten first). Not
    thread-safe by itself: ``RateLimits`` holds the lock."""

    def __init__(self, per_s: float, burst: int, keys_max: int) -> None:
        self.per_s = per_s
        self.burst = burst
        self.keys_max = keys_max
        #: key -> [tokens, time of that count]; tokens may be negative (a batch's debt)
        self._table: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def wait_s(self, key: str, n: int, now: float) -> float:
        """Seconds before ``n`` tokens may be taken for ``key`` (0: now). Refills the bucket."""
        bucket = self._table.get(key)
        if bucket is None:
            bucket = self._table[key] = [float(self.burst), now]
            if len(self._table) > self.keys_max:
                self._table.popitem(last=False)
        else:
            self._table.move_to_end(key)
            bucket[0] = min(float(self.burst), bucket[0] + (now - bucket[1]) * self.per_s)
            bucket[1] = now
        missing = min(n, self.burst) - bucket[0]
        return missing / self.per_s if missing > 0 else 0.0

    def take(self, key: str, n: int) -> None:
        """Take ``n`` tokens (after ``wait_s`` said 0)."""
        self._table[key][0] -= n


#: One request for tokens: (buckets, key, tokens, what it counts — for the message).
Want = tuple[Buckets, str, int, str]


class RateLimits:
    """Every bucket of one API, behind one lock (the event loop and the admission threads both
    take tokens; each taking is a few dictionary operations)."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        keys_max = limits.buckets_max
        self.addresses = Buckets(limits.address_per_s, limits.address_burst, keys_max)
        self.accounts = Buckets(limits.account_per_s, limits.account_burst, keys_max)
        self.signup_addresses = Buckets(limits.signups_per_address_per_hour / 3600,
                                        limits.signups_per_address_burst, keys_max)
        self.signups = Buckets(limits.signups_per_hour / 3600, limits.signups_burst, 1)
        self._lock = threading.Lock()

    def take(self, wants: Sequence[Want]) -> None:
        """Take every one of ``wants``, or none: raise ``RateLimited`` with the longest wait."""
        if not self.limits.enabled or not wants:
            return
        with self._lock:
            now = self.clock()
            waits = [(buckets.wait_s(key, n, now), what) for buckets, key, n, what in wants]
            wait_s, what = max(waits)
            if wait_s > 0:
                raise RateLimited(what, max(1, math.ceil(wait_s)))
            for buckets, key, n, _ in wants:
                buckets.take(key, n)

    def submissions(self, address: str, n: int = 1) -> None:
        """``n`` transactions submitted from ``address``."""
        self.take([(self.addresses, address_key(address), n, "submissions from this address")])

    def gate(self, address: str) -> Callable[[Sequence[Signer]], None]:
        """The node's admission gate for one request from ``address`` (``Node.submit_many``)."""

        def gate(signers: Sequence[Signer]) -> None:
            counts: dict[str | None, int] = {}
            for signer in signers:
                key = signer.account if signer.member else None  # None: a sign-up
                counts[key] = counts.get(key, 0) + 1
            wants: list[Want] = [(self.accounts, key, n, "transactions from this account")
                                 for key, n in counts.items() if key is not None]
            signups = counts.get(None, 0)
            if signups:
                wants += [(self.signup_addresses, address_key(address), signups,
                           "sign-ups from this address"),
                          (self.signups, "", signups, "sign-ups on this node")]
            self.take(wants)

        return gate


def client_address(request: Request) -> str:
    """The client's address (the proxy's, behind a proxy whose headers are not trusted)."""
    return request.client.host if request.client is not None else ""


def address_key(host: str) -> str:
    """The bucket of a client address: itself for IPv4 (also when a dual-stack listener sees
    it IPv4-mapped, ``::ffff:a.b.c.d``), its /64 for IPv6."""
    if ":" not in host:
        return host
    try:
        mapped = ipaddress.IPv6Address(host).ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.IPv6Network(f"{host}/64", strict=False))
    except ValueError:
        return host
