"""The token buckets of the API (``lien.web.ratelimit``), on a clock the test moves: rates,
bursts, a batch's debt, all-or-nothing taking, bounded memory, and the ``[limits]`` table."""

from __future__ import annotations

import re
import tomllib
import tracemalloc
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from lien.ledger.signers import Signer
from lien.web.ratelimit import Buckets, Limits, RateLimited, RateLimits, address_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limits_with(clock: Clock, **settings: Any) -> RateLimits:
    return RateLimits(Limits(**settings), clock)


def refused(call: Any, *args: Any) -> int:
    """The Retry-After (seconds) of a refused call."""
    with pytest.raises(RateLimited) as info:
        call(*args)
    return info.value.retry_after_s


def test_a_burst_then_the_sustained_rate() -> None:
    clock = Clock()
    limits = limits_with(clock, address_per_s=2.0, address_burst=5)
    for _ in range(5):
        limits.submissions("10.0.0.1")
    assert refused(limits.submissions, "10.0.0.1") == 1  # half a second, rounded up
    limits.submissions("10.0.0.2")  # another address has its own bucket
    clock.now += 0.5
    limits.submissions("10.0.0.1")
    assert refused(limits.submissions, "10.0.0.1") == 1
    clock.now += 60  # an idle bucket refills to its burst, no further
    for _ in range(5):
        limits.submissions("10.0.0.1")
    assert refused(limits.submissions, "10.0.0.1") == 1


def test_a_batch_larger_than_the_burst_passes_from_a_full_bucket_and_leaves_a_debt() -> None:
    clock = Clock()
    limits = limits_with(clock, address_per_s=10.0, address_burst=100)
    limits.submissions("10.0.0.1", 1000)  # a full batch: never refused for its size alone
    # 900 tokens owed, then one more wanted: (900 + 1) / 10 s
    assert refused(limits.submissions, "10.0.0.1") == 91
    clock.now += 90.2
    limits.submissions("10.0.0.1")
    assert refused(limits.submissions, "10.0.0.1", 1000) == 10  # a full bucket again
    clock.now += 10
    limits.submissions("10.0.0.1", 1000)


def test_the_wait_is_in_whole_seconds_and_at_least_one() -> None:
    clock = Clock()
    limits = limits_with(clock, signups_per_hour=60.0, signups_burst=1)
    gate = limits.gate("10.0.0.1")
    gate([Signer(None, False)])
    assert refused(gate, [Signer(None, False)]) == 60
    clock.now += 59.5
    assert refused(gate, [Signer(None, False)]) == 1


def test_the_gate_counts_members_per_account_and_the_rest_as_sign_ups() -> None:
    clock = Clock()
    limits = limits_with(clock, account_per_s=1.0, account_burst=3,
                         signups_per_address_per_hour=3600.0, signups_per_address_burst=2,
                         signups_per_hour=3600.0, signups_burst=3)
    gate = limits.gate("10.0.0.1")
    gate([Signer("A", True)] * 3)
    assert refused(gate, [Signer("A", True)]) == 1
    gate([Signer("B", True)] * 3)  # another account
    # a pending account, an opening, a governor: sign-ups, counted per address and node-wide
    gate([Signer("C", False), Signer(None, False)])
    assert refused(gate, [Signer(None, False)]) == 1  # this address's two
    limits.gate("10.0.0.2")([Signer(None, False)])  # another address: the node's third
    assert refused(limits.gate("10.0.0.3"), [Signer(None, False)]) == 1  # the node's budget


def test_taking_is_all_or_nothing() -> None:
    """A batch refused for one account's tokens takes nobody's (a retry is not charged twice)."""
    clock = Clock()
    limits = limits_with(clock, account_per_s=1.0, account_burst=2)
    gate = limits.gate("10.0.0.1")
    gate([Signer("A", True)] * 2)
    assert refused(gate, [Signer("B", True), Signer("B", True), Signer("A", True)]) == 1
    gate([Signer("B", True)] * 2)  # B's tokens are all still there


def test_switched_off_nothing_is_counted() -> None:
    limits = limits_with(Clock(), address_burst=1, enabled=False)
    for _ in range(100):
        limits.submissions("10.0.0.1")
        limits.gate("10.0.0.1")([Signer(None, False)])


def test_the_tables_are_bounded_whatever_the_number_of_addresses() -> None:
    limits = limits_with(Clock(), address_per_s=1.0, address_burst=1, buckets_max=1000)
    tracemalloc.start()
    try:
        for i in range(100_000):
            limits.submissions(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}")
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(limits.addresses) == 1000
    assert size < 1000 * 1024  # well under 1 KB a bucket, after a hundred times as many


def test_buckets_forget_the_least_recently_used() -> None:
    buckets = Buckets(per_s=1.0, burst=1, keys_max=2)
    for key in ("a", "b"):
        assert buckets.wait_s(key, 1, 0.0) == 0
        buckets.take(key, 1)
    assert buckets.wait_s("a", 1, 0.0) == 1.0  # used again: now the most recent
    assert buckets.wait_s("c", 1, 0.0) == 0  # forgets b, not a
    assert buckets.wait_s("a", 1, 0.0) == 1.0
    assert buckets.wait_s("b", 1, 0.0) == 0  # b starts full again
    assert len(buckets) == 2


@pytest.mark.parametrize("host, key", [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::99", "2001:db8:1:2::/64"),
    ("testclient", "testclient"),
    ("", ""),
])
def test_an_ipv6_client_is_counted_per_64(host: str, key: str) -> None:
    assert address_key(host) == key


@pytest.mark.parametrize("host, key", [
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("::ffff:198.51.100.1", "198.51.100.1"),
])
def test_an_ipv4_client_of_a_dual_stack_listener_is_counted_as_itself(host: str, key: str) -> None:
    """``lien serve --host ::`` takes IPv4 clients too, seen as IPv4-mapped IPv6 addresses,
    all in ``::ffff:0:0/96``: counted per /64 they would share one bucket (``::/64``), and one
    IPv4 client's flood would answer every other IPv4 client 429."""
    assert address_key(host) == key


def test_the_limits_table_of_node_toml() -> None:
    assert Limits.from_table({}) == Limits()
    assert Limits.from_table({"account_per_s": 5, "account_burst": 50, "enabled": False}) == (
        Limits(account_per_s=5.0, account_burst=50, enabled=False))
    for table, message in [
        ({"acount_per_s": 5}, "unknown setting 'acount_per_s'"),
        ({"account_burst": 2.5}, "account_burst must be int"),
        ({"account_burst": True}, "account_burst must be int"),
        ({"account_per_s": "5"}, "account_per_s must be float"),
        ({"enabled": 1}, "enabled must be bool"),
        ({"account_per_s": 0}, "account_per_s must be a finite number above 0"),
        ({"buckets_max": -1}, "buckets_max must be a finite number above 0"),
        ({"account_per_s": float("inf")}, "account_per_s must be a finite number above 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            Limits.from_table(table)


def test_operations_md_shows_every_setting_with_its_default() -> None:
    """The ``[limits]`` example of docs/operations.md is the defaults, every one of them."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text()
    section = doc[doc.index("### Rate limits and spam"):]
    block = re.search(r"```toml\n(\[limits\]\n.*?)```", section, re.S)
    assert block is not None
    table = tomllib.loads(block.group(1))["limits"]
    assert list(table) == [f.name for f in fields(Limits)]
    assert Limits.from_table(table) == Limits()
