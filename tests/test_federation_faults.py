"""Faults in a running federation: real ``lien serve`` processes and real NATS servers.

Four nodes (validators of four associations: more than 2/3 is 3 of 4, so the federation
finalises with one node down) on a cluster of 3 NATS servers; node c keeps its chain in
PostgreSQL. Under a steady load of payments sent to the live nodes: ``kill -9`` of a node, of
the NATS server leading the stream, and a partition (a node and its NATS server stopped with
SIGSTOP). Afterwards: every accepted payment is final on every node exactly once, every node
holds the same blocks, and ``lien verify`` passes on each. The pauses of finality are
measured and printed (docs/results.md records them).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from lien.federation.demo import DemoFederation, DemoNode
from lien.federation.natsd import NatsServer, free_ports
from lien.node.node import wall_clock_ms
from lien.ordering.jetstream import stream_name_for
from lien.wallet import Member, TxMaker, keystore

from pg_support import fresh_database
from server_support import poll

pytestmark = pytest.mark.slow
API = "/api/v1"


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFederation]:
    with fresh_database() as pg:
        federation = DemoFederation.create(tmp_path_factory.mktemp("fed") / "demo", nodes=4,
                                           payments=10, databases={"c": pg})
        try:
            federation.start()
            yield federation
        finally:
            federation.stop()


def chain(node: DemoNode) -> dict[str, Any]:
    return httpx.get(f"{node.url}{API}/chain", timeout=5).json()


def demo_members(fed: DemoFederation) -> list[Member]:
    path = fed.nodes[0].directory
    logins = json.loads((path / "demo.json").read_text())["members"]
    return [Member(keystore.unseal(keystore.read(path / "keys" / f"{m['account']}.json"),
                                   "demo"), m["kind"], m["name"]) for m in logins]


class Load:
    """Payments sent one after another to the live nodes in turn (a refused connection: the
    same payment to the next node, as a wallet retries), and finality sampled on one node."""

    def __init__(self, fed: DemoFederation, chain_id: str) -> None:
        self.fed = fed
        self.members = demo_members(fed)
        self.maker = TxMaker(chain_id, wall_clock_ms)
        self.down: set[str] = set()
        self.accepted: dict[str, str] = {}  #: tx id -> the node that accepted it
        self.samples: list[tuple[float, int]] = []  #: (monotonic time, final height)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True),
                         threading.Thread(target=self._sample, daemon=True)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def live(self) -> list[DemoNode]:
        return [n for n in self.fed.nodes if n.name not in self.down]

    def _send(self) -> None:
        n = 0
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                payer = self.members[n % len(self.members)]
                payee = self.members[(n + 1) % len(self.members)]
                tx = self.maker.pay(payer, payee, 10)
                body = json.dumps(tx.to_json()).encode()
                for attempt in range(len(self.fed.nodes) * 2):
                    targets = self.live()
                    node = targets[(n + attempt) % len(targets)]
                    try:
                        r = client.post(f"{node.url}{API}/transactions", content=body,
                                        params={"wait": "accepted"},
                                        headers={"content-type": "application/json"})
                    except httpx.HTTPError:
                        continue
                    if r.status_code in (200, 202):
                        self.accepted[tx.id] = node.name
                        break
                n += 1
                self._stop.wait(0.02)  # the load's pace, not a synchronisation

    def _sample(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self._stop.is_set():
                node = self.live()[-1]
                try:
                    final = client.get(f"{node.url}{API}/chain").json()["final_height"]
                    self.samples.append((time.monotonic(), final))
                except (httpx.HTTPError, KeyError, ValueError):
                    pass
                self._stop.wait(0.05)  # the sampling period

    def final_now(self) -> int:
        return max((f for _, f in self.samples), default=0)

    def wait_final_beyond(self, height: int, blocks: int = 3, timeout_s: float = 60) -> None:
        poll(lambda: self.final_now() >= height + blocks or None, timeout_s,
             f"finality beyond {height}")

    def longest_pause_ms(self, since: float) -> int:
        """The longest time without a new final block, from ``since`` on."""
        points = [(t, f) for t, f in self.samples if t >= since]
        longest, last_change = 0.0, since
        previous = points[0][1] if points else 0
        for t, f in points:
            if f > previous:
                longest = max(longest, t - last_change)
                last_change, previous = t, f
        return int(longest * 1000)


def stream_leader(fed: DemoFederation, chain_id: str) -> NatsServer:
    async def ask() -> str:
        nc = await nats.connect(fed.cluster.urls)
        try:
            info = await nc.jetstream().stream_info(stream_name_for(chain_id))
            assert info.cluster is not None and info.cluster.leader is not None
            return info.cluster.leader
        finally:
            await nc.close()

    leader = asyncio.run(ask())
    return next(s for s in fed.cluster.servers if s.spec.name == leader)


def converged(fed: DemoFederation, load: Load, timeout_s: float = 120) -> int:
    """Every node final at the same height with the same hash; every accepted payment final
    on every node in the same block. Returns that height."""
    def same() -> int | None:
        views = [chain(n) for n in fed.nodes]
        heights = {(v["height"], v["final_height"], v["last_hash"]) for v in views}
        if len(heights) == 1:
            height, final, _ = heights.pop()
            return final if final == height else None
        return None

    try:
        height = poll(same, timeout_s, "every node final at one height")
    except AssertionError:
        views = [{k: chain(n)[k] for k in ("height", "final_height", "last_hash", "node")}
                 for n in fed.nodes]
        raise AssertionError(f"nodes did not converge: {views}") from None
    for tx_id in list(load.accepted)[:: max(1, len(load.accepted) // 50)]:
        where = {json.dumps(httpx.get(f"{n.url}{API}/transactions/{tx_id}").json(),
                            sort_keys=True) for n in fed.nodes}
        assert len(where) == 1, where
        assert json.loads(where.pop())["status"] == "final"
    return height


def same_blocks(fed: DemoFederation, height: int) -> None:
    def hashes(node: DemoNode) -> list[str]:
        out: list[str] = []
        after = 0
        while after is not None and after < height:
            page = httpx.get(f"{node.url}{API}/blocks", params={"after": after, "limit": 100}
                             ).json()
            out += [b["hash"] for b in page["items"]]
            after = page["next"]
        return out[:height]

    first = hashes(fed.nodes[0])
    assert len(first) == height
    for node in fed.nodes[1:]:
        assert hashes(node) == first


def test_kill9_a_node_then_the_stream_leader_under_load_loses_nothing(
        fed: DemoFederation) -> None:
    chain_id = chain(fed.nodes[0])["chain_id"]
    pauses: dict[str, int] = {}
    with Load(fed, chain_id) as load:
        load.wait_final_beyond(chain(fed.nodes[0])["final_height"])
        # kill -9 node b: the other three (3 of 4 validators) keep finalising
        b = fed.nodes[1]
        load.down.add("b")
        killed = time.monotonic()
        b.kill()
        load.wait_final_beyond(load.final_now())
        pauses["node_kill9"] = load.longest_pause_ms(killed)
        b.start()
        b.wait_serving()
        load.down.discard("b")
        poll(lambda: chain(b)["final_height"] >= load.final_now() or None, 120,
             "node b caught up")
        # kill -9 the NATS server leading the stream: 4-9 s without a leader, then on
        leader = stream_leader(fed, chain_id)
        killed = time.monotonic()
        leader.kill()
        load.wait_final_beyond(load.final_now(), timeout_s=90)
        pauses["nats_leader_kill9"] = load.longest_pause_ms(killed)
        leader.start()
        leader.wait_ready()
        load.wait_final_beyond(load.final_now())
    assert len(load.accepted) > 50
    height = converged(fed, load)
    same_blocks(fed, height)
    print(f"\nfinality pauses (ms): {json.dumps(pauses)}; payments accepted: "
          f"{len(load.accepted)}; height {height}")


def test_a_partitioned_node_never_finalises_alone_and_catches_up(fed: DemoFederation) -> None:
    chain_id = chain(fed.nodes[0])["chain_id"]
    a = fed.nodes[0]
    nats_a = fed.cluster.servers[0]
    with Load(fed, chain_id) as load:
        load.wait_final_beyond(chain(a)["final_height"])
        before = chain(a)
        load.down.add("a")
        a.pause()
        nats_a.pause()
        try:
            load.wait_final_beyond(load.final_now(), blocks=5, timeout_s=90)  # the majority
        finally:
            nats_a.resume()
            a.resume()
        load.down.discard("a")
        poll(lambda: chain(a)["final_height"] >= load.final_now() or None, 120,
             "node a caught up")
    # what a finalised is what the others finalised: the same blocks
    height = converged(fed, load)
    assert height > before["final_height"]
    same_blocks(fed, height)


def test_a_new_node_joins_from_scratch_verifies_everything_and_follows(
        fed: DemoFederation, tmp_path: Path) -> None:
    lien = str(Path(sys.executable).parent / "lien")
    a = fed.nodes[0]
    target = tmp_path / "e"
    done = subprocess.run([lien, "join", "--dir", str(target), "--peer", a.url],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([lien, "verify", "--dir", str(target)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # It follows the federation: it reads the stream from its last block (no validator key:
    # it signs nothing, and counts the validators' votes).
    with (target / "node.toml").open("a") as toml:
        servers = ", ".join(f'"{u}"' for u in fed.cluster.urls)
        toml.write(f'\n[ordering]\nbackend = "jetstream"\nservers = [{servers}]\n'
                   f'replicas = 3\nconsumer = "e"\n')
    joined = DemoNode("e", target, free_ports(1)[0], "sqlite:///node.db")
    joined.start()
    try:
        joined.wait_serving()
        chain_id = chain(a)["chain_id"]
        with Load(fed, chain_id) as load:
            load.wait_final_beyond(chain(a)["final_height"])
        height = converged(fed, load)
        poll(lambda: chain(joined)["final_height"] >= height or None, 120, "node e following")
        assert chain(joined)["last_hash"] == chain(a)["last_hash"] or (
            chain(joined)["height"] > height)
    finally:
        assert joined.stop() == 0


def test_every_node_verifies_its_whole_chain_afterwards(fed: DemoFederation) -> None:
    fed.stop()
    for node in fed.nodes:
        done = subprocess.run([str(Path(sys.executable).parent / "lien"), "verify", "--dir",
                               str(node.directory)], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
