"""A flood of submissions from one client address, in a process of its own: what a hostile
client does, at full speed, while a test measures what the other clients see.

``Flood`` starts the process (``multiprocessing``, spawned: nothing of the test's threads is
inherited), which signs its transactions first, then keeps ``connections`` keep-alive HTTP/1.1
connections busy from ``source`` (an address of 127/8: all of it is loopback on Linux, so a
second client address needs no network) until it is stopped, counting the answers by status.
A test waits for a condition (``wait_for``: e.g. the first 429s) polled against a deadline,
never for a fixed time.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import time
from dataclasses import dataclass
from typing import Any

from server_support import poll

from lien.ledger import Tx
from lien.wallet import Member, TxMaker

#: The statuses counted one by one (the last slot counts any other).
STATUSES = (200, 202, 400, 429)
KINDS = ("payments", "strangers", "openings")
#: Transactions signed before the flood starts, then sent again in turn (a repeat is still a
#: request to answer: the buckets count it as any other).
PREPARED = 4000


def member(label: str, kind: str = "personal") -> Member:
    return Member.from_seed(hashlib.sha256(f"flood {label}".encode()).digest(), kind, label)


def transactions(kind: str, chain_id: str, attacker: str, payee: str, count: int) -> list[Tx]:
    """``payments``: one member account pays 0,01 again and again; ``strangers``: a key that
    never opened an account does (the attack of issue 6); ``openings``: a new account each."""
    maker = TxMaker(chain_id, lambda: int(time.time() * 1000))
    source = member(attacker)
    if kind in ("payments", "strangers"):
        return [maker.make([source], "transfer", **{"from": source.account}, to=payee,
                           currency="LIEN", amount=1) for _ in range(count)]
    return [maker.open(member(f"{attacker} {i}")) for i in range(count)]


@dataclass(frozen=True)
class FloodReport:
    counts: dict[int, int]  #: answers by status (0: any other)
    duration_s: float  #: from the first request to the stop
    retry_after: tuple[int, ...]  #: the distinct Retry-After values of the 429s
    sample_429: str  #: one 429 body

    @property
    def requests(self) -> int:
        return sum(self.counts.values())

    @property
    def per_s(self) -> float:
        return self.requests / self.duration_s


async def _connection(port: int, source: str, bodies: list[bytes], offset: int,
                      counts: Any, stop: Any, seen: dict[str, Any]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    i = offset
    try:
        while not stop.is_set():
            body = bodies[i % len(bodies)]
            i += 1
            writer.write(b"POST /api/v1/transactions HTTP/1.1\r\nHost: flood\r\n"
                         b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            length, retry_after = 0, None
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"retry-after":
                    retry_after = value.strip().decode()
            answer = await reader.readexactly(length)
            slot = STATUSES.index(status) if status in STATUSES else len(STATUSES)
            counts[slot] += 1  # this process is the only writer
            if status == 429:
                seen["retry_after"].add(retry_after)
                seen.setdefault("sample_429", answer.decode())
    finally:
        writer.close()


def _run(port: int, source: str, kind: str, chain_id: str, attacker: str, payee: str,
         connections: int, counts: Any, stop: Any, ready: Any, report: Any) -> None:
    bodies = [tx.encode() for tx in transactions(kind, chain_id, attacker, payee, PREPARED)]
    seen: dict[str, Any] = {"retry_after": set()}

    async def main() -> None:
        await asyncio.gather(*(
            _connection(port, source, bodies, i * len(bodies) // connections, counts, stop, seen)
            for i in range(connections)))

    ready.set()
    start = time.perf_counter()
    asyncio.run(main())
    report.put((time.perf_counter() - start, sorted(seen["retry_after"]),
                seen.get("sample_429", "")))


class Flood:
    """``connections`` clients at ``source`` submitting ``kind`` transactions, in a process."""

    def __init__(self, port: int, kind: str, chain_id: str, *, attacker: str, payee: str,
                 source: str = "127.0.0.2", connections: int = 16) -> None:
        assert kind in KINDS, kind
        context = multiprocessing.get_context("spawn")
        self.counts: Any = context.Array("q", len(STATUSES) + 1, lock=False)
        self._stop = context.Event()
        self._ready = context.Event()
        self._report: Any = context.Queue()
        self._process = context.Process(
            target=_run, name=f"flood {kind}", daemon=True,
            args=(port, source, kind, chain_id, attacker, payee, connections, self.counts,
                  self._stop, self._ready, self._report))

    def start(self, timeout_s: float = 60.0) -> None:
        self._process.start()
        assert self._ready.wait(timeout_s), "the flood did not start"

    def count(self, status: int) -> int:
        return int(self.counts[STATUSES.index(status)])

    def wait_for(self, status: int, at_least: int, timeout_s: float = 60.0) -> None:
        poll(lambda: self.count(status) >= at_least or not self._process.is_alive(), timeout_s,
             f"{at_least} answers {status} to the flood")
        assert self._process.is_alive(), "the flood process ended"

    def stop(self, timeout_s: float = 30.0) -> FloodReport:
        self._stop.set()
        duration_s, retry_after, sample = self._report.get(timeout=timeout_s)
        self._process.join(timeout_s)
        counts = {status: int(self.counts[i]) for i, status in enumerate(STATUSES)}
        counts[0] = int(self.counts[len(STATUSES)])
        return FloodReport(counts, duration_s, tuple(int(r) for r in retry_after), sample)

    def kill(self) -> None:
        """Whatever happened: the process ends."""
        if self._process.is_alive():
            self._stop.set()
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(10)


__all__ = ["KINDS", "Flood", "FloodReport", "member", "transactions"]
