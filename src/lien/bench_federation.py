"""``lien bench --federation``: a federation's throughput, finality latency and failover pause,
next to this machine's Ed25519 baseline measured in the same run.

What runs, all on loopback: 3 NATS servers (one JetStream cluster, the log's stream with 3
replicas, every write synced) and 3 ``lien serve`` processes, each a validator (a block is
final with all 3 signatures), each on its own SQLite database — the demo federation's layout
(``lien.federation.demo``) with funded members instead of the demo's history. Real processes
rather than nodes in this process: each node then has its own interpreter (in one process three
nodes, their HTTP servers and the load would share one GIL, which no deployment does), and the
figures include the path a member's payment takes — HTTP, admission, the stream, execution on
every node, the validators' votes over NATS.

The load: ``clients_per_node`` clients on each node (keep-alive HTTP connections, one payment
per request, pre-signed), each sending its next payment as soon as the previous is answered;
each request asks ``wait=final``, so its answer comes when the payment is final on the node it
was submitted to:

* ``federation_payments_per_s`` — payments answered final during the steady window (after a
  warm-up), per second (target: ≥ 0.04 × the baseline);
* ``federation_final_p50_ms`` / ``federation_final_p99_ms`` — submit → final on the submitting
  node, for the payments sent during that window (target: p99 ≤ 1 s);
* ``federation_failover_pause_ms`` — the load runs again, and the NATS server leading the log's
  stream is killed (``kill -9``): the longest time any node then goes without a new final block
  (each node's ``final_height`` sampled every ``SAMPLE_MS``); ``federation_final_gap_max_ms`` is
  the same measure during the steady window, for comparison, and
  ``federation_failover_blocks_pause_ms`` the longest time without a new *executed* block (the
  part of the pause the log's election takes: the rest is the votes');
* ``federation_cpu_{nodes,nats,load,machine}_pct`` — the CPU the nodes, the NATS servers, the
  load generator (this process) and the whole machine used during the steady window, in % of
  one core (from /proc): on a shared machine, ``machine`` minus the others is what other
  programs took.

At the end the load stops, every node must reach the same height, all of it final, and the
three databases must hold the same blocks (heights and hashes): a run that ends with diverging
nodes, a halted node, a failed payment outside the failover, or finality that does not resume
fails (``FederationBenchFailed``, ``NodesDiverged``) rather than print figures.

The machine runs everything: on 2 cores the 3 NATS servers, the 3 nodes (each executing every
block and verifying again the signatures of the payments the others admitted) and the load
generator share them, so the figures are a floor for a federation whose nodes have machines of
their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvloop

from .bench import BENCH_LIMITS, _fund, ed25519_baseline
from .federation.demo import DemoFederation, DemoNode
from .federation.natsd import NatsError
from .node.genesis import Genesis
from .node.node import Node, wall_clock_ms
from .node.setup import NodeDir
from .ordering.jetstream import Connection, NatsLink, stream_name_for
from .store import Store
from .wallet import Member, TxMaker

#: ratio of the baseline the federation's throughput must reach (issue 7)
FEDERATION_TARGET_RATIO = 0.04
FEDERATION_FINAL_P99_MS_MAX = 1_000
#: how often the monitor samples each node's final height during the load
SAMPLE_MS = 10
#: funds of each member, in minor units (payments are of 1)
MEMBER_FUNDS_MINOR = 250_000
#: how long the nodes may take, after the load, to agree on one final height
CONVERGE_S_MAX = 60.0
#: how long after the fault the load goes on at most, waiting for finality on every node
RESUME_S_MAX = 60.0
#: payments are signed ahead of the run: they expire well after it
PAYMENT_EXPIRY_MS = 30 * 60 * 1000


class FederationBenchFailed(RuntimeError):
    """The federation did not do what the bench measures: a node halted or did not serve,
    a payment failed outside the failover, finality did not resume."""


class NodesDiverged(FederationBenchFailed):
    """The nodes ended the run with different blocks."""


@dataclass(frozen=True)
class LoadShape:
    """How big the run is (``lien bench --federation`` options scale it)."""

    #: the steady window, after the warm-up: payments/s and latencies are measured over it
    seconds: float = 30.0
    #: the load runs this long before the window opens (by default a quarter of the window,
    #: at most 5 s)
    warmup_s: float | None = None
    clients_per_node: int = 96
    accounts: int = 600
    #: the failover run: the load again, the stream's leader killed ``kill_after_s`` into it;
    #: it lasts ``failover_s`` at least (by default the steady window, from 8 s to 20 s), and
    #: until a block has become final on every node since the kill
    failover: bool = True
    failover_s: float | None = None
    kill_after_s: float = 3.0

    @property
    def warmup(self) -> float:
        return self.warmup_s if self.warmup_s is not None else min(5.0, self.seconds / 4)

    @property
    def failover_run_s(self) -> float:
        if self.failover_s is not None:
            return self.failover_s
        return min(20.0, max(8.0, self.seconds))


class BenchFederation(DemoFederation):
    """The demo federation's layout with funded members as its history."""

    chain_name = "federation-bench"
    members: list[Member]

    @classmethod
    def make(cls, directory: Path, accounts: int,
             progress: Callable[[str], None]) -> BenchFederation:
        # ``payments`` of ``create`` is handed to ``_history``: here the members to fund.
        fed = cls.create(directory, payments=accounts, progress=progress)
        assert isinstance(fed, BenchFederation)
        for node in fed.nodes:
            with (node.directory / "node.toml").open("a") as settings:
                settings.write(BENCH_LIMITS)
        return fed

    def _history(self, node: Node, genesis: Genesis, path: Path, payments: int) -> None:
        self.members = [Member.new() for _ in range(payments)]
        _fund(node, genesis, self.members, MEMBER_FUNDS_MINOR)


# -- HTTP on raw keep-alive connections (the load generator must cost the machine little) ------
class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: bench\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode() + body)
        answer = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in answer.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        status = int(answer.split(b" ", 2)[1])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True, slots=True)
class Answer:
    node: int
    sent: float  #: perf_counter seconds
    answered: float
    final: bool  #: 200, final, result ok
    text: str  #: the answer's status line and start, when not final


@dataclass
class Phase:
    """One run of the load: its answers, and each node's final height as it was sampled."""

    answers: list[Answer] = field(default_factory=list)
    #: per node: (perf_counter seconds, final height) at each change seen
    finals: list[list[tuple[float, int]]] = field(default_factory=list)
    #: per node: (perf_counter seconds, height) at each change seen: executed blocks
    heights: list[list[tuple[float, int]]] = field(default_factory=list)
    started: float = 0.0
    #: when the clients stop sending (each then waits for its last answer)
    until: float = 0.0
    ended: float = 0.0
    #: when the fault struck (0: none)
    fault_at: float = 0.0


class Payments:
    """Payments of 1 minor unit between the members, signed ahead (``count``; more are signed
    if the run outlasts them) and handed out in order: the i-th from member i mod n to another
    member, a different one on each round."""

    def __init__(self, chain_id: str, members: list[Member], count: int) -> None:
        self.maker = TxMaker(chain_id, wall_clock_ms, expiry_ms=PAYMENT_EXPIRY_MS)
        self.members = members
        self.bodies: list[bytes] = []
        self.next = 0
        self._sign(count)

    def _sign(self, count: int) -> None:
        n, start = len(self.members), len(self.bodies)
        self.bodies += [
            self.maker.pay(self.members[i % n],
                           self.members[(i + 1 + (i // n) % (n - 1)) % n], 1).encode()
            for i in range(start, start + count)]

    def take(self) -> bytes:
        if self.next == len(self.bodies):
            self._sign(1000)
        body = self.bodies[self.next]
        self.next += 1
        return body


async def _client(conn: Conn, node: int, payments: Payments, phase: Phase) -> None:
    while time.perf_counter() < phase.until:
        body = payments.take()
        sent = time.perf_counter()
        try:
            status, answer = await conn.request("POST", "/api/v1/transactions?wait=final", body)
        except (OSError, asyncio.IncompleteReadError) as exc:
            phase.answers.append(Answer(node, sent, time.perf_counter(), False,
                                        f"connection: {exc}"))
            return
        final = status == 200 and b'"status":"final"' in answer and b'"code":"ok"' in answer
        phase.answers.append(Answer(node, sent, time.perf_counter(), final,
                                    "" if final else f"{status} {answer[:200]!r}"))


async def _monitor(conns: list[Conn], phase: Phase, stop: asyncio.Event) -> None:
    """Sample each node's height and final height every ``SAMPLE_MS`` (a sampling period,
    nothing waits on it); record each change with its time."""
    answering: list[Conn | None] = list(conns)
    while not stop.is_set():
        for i, conn in enumerate(answering):
            if conn is None:
                continue
            try:
                status, body = await conn.request("GET", "/api/v1/chain")
            except (OSError, asyncio.IncompleteReadError):
                answering[i] = None  # the node is gone: its clients say so, and its finals stop
                continue
            if status == 200:
                chain = json.loads(body)
                now = time.perf_counter()
                for series, height in ((phase.finals[i], int(chain["final_height"])),
                                       (phase.heights[i], int(chain["height"]))):
                    if not series or series[-1][1] != height:
                        series.append((now, height))
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_MS / 1000)
        except TimeoutError:
            pass


async def _phase(nodes: list[DemoNode], payments: Payments, clients_per_node: int,
                 seconds: float, fault: tuple[float, Callable[[], float]] | None = None,
                 cpu: tuple[CpuMeter, float] | None = None) -> Phase:
    """The load on every node for ``seconds``, then until every payment sent is answered.
    ``fault`` = (after how many seconds, what): a fault made meanwhile (in a thread; it returns
    when it struck); the load then goes on, past ``seconds`` if need be, until a block has
    become final on every node since, or ``RESUME_S_MAX`` has passed. ``cpu`` = (meter,
    warm-up): the meter samples after the warm-up and when the clients stop."""
    phase = Phase(finals=[[] for _ in nodes], heights=[[] for _ in nodes])
    conns = [[await Conn.open(n.http_port) for _ in range(clients_per_node)] for n in nodes]
    watch = [await Conn.open(n.http_port) for n in nodes]
    stop = asyncio.Event()
    monitor = asyncio.create_task(_monitor(watch, phase, stop))
    phase.started = time.perf_counter()
    phase.until = phase.started + seconds if fault is None else float("inf")
    clients = [asyncio.create_task(_client(c, i, payments, phase))
               for i, node_conns in enumerate(conns) for c in node_conns]
    if cpu is not None:
        meter, warmup_s = cpu
        await asyncio.sleep(warmup_s)  # the window's start
        meter.sample()
        await asyncio.sleep(max(0.0, phase.until - time.perf_counter()))  # its end
        meter.sample()
    if fault is not None:
        delay_s, action = fault
        await asyncio.sleep(delay_s)  # the moment of the fault, into the load
        phase.fault_at = await asyncio.get_running_loop().run_in_executor(None, action)
        while True:
            now = time.perf_counter()
            resumed = all(f and f[-1][0] > phase.fault_at for f in phase.finals)
            if (resumed and now >= phase.started + seconds) or (
                    now > phase.fault_at + RESUME_S_MAX):
                phase.until = now
                break
            await asyncio.sleep(0.05)  # sampling what the monitor records
    await asyncio.gather(*clients)
    phase.ended = time.perf_counter()
    stop.set()
    await monitor
    for conn in [c for node_conns in conns for c in node_conns] + watch:
        conn.close()
    return phase


class CpuMeter:
    """CPU time of the federation's processes and of this one (the load), and of the whole
    machine, from /proc (Linux): where the cores went during the steady window."""

    def __init__(self, fed: DemoFederation) -> None:
        self.groups = {
            "nodes": [n.process.pid for n in fed.nodes if n.process is not None],
            "nats": [s.process.pid for s in fed.cluster.servers if s.process is not None],
            "load": [os.getpid()],
        }
        self.samples: list[tuple[float, dict[str, float]]] = []

    @staticmethod
    def _process_s(pid: int) -> float:
        # utime and stime, fields 14 and 15, after the command's closing parenthesis
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _machine_busy_s() -> float:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = ticks[3] + ticks[4]  # idle, iowait
        return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def sample(self) -> None:
        now = time.perf_counter()
        try:
            used = {group: sum(self._process_s(pid) for pid in pids)
                    for group, pids in self.groups.items()}
            used["machine"] = self._machine_busy_s()
        except (OSError, IndexError, ValueError):
            return  # no /proc: no CPU figures
        self.samples.append((now, used))

    def figures(self) -> dict[str, int]:
        """Percent of one core each group used between the first and last sample."""
        if len(self.samples) < 2:
            return {}
        (t0, first), (t1, last) = self.samples[0], self.samples[-1]
        return {f"federation_cpu_{group}_pct": round(100 * (last[group] - first[group])
                                                     / (t1 - t0))
                for group in first}


def _percentile_ms(values: list[float], p: float) -> int:
    ordered = sorted(values)
    return round(1000 * ordered[max(0, min(len(ordered) - 1, int(p * len(ordered)) - 1))])


def _longest_gap_ms(finals: list[tuple[float, int]], start: float, end: float) -> int:
    """The longest time between consecutive changes of a node's final height within
    [start, end] (from the last change before ``start``, and until ``end``)."""
    times = [t for t, _ in finals if start <= t <= end]
    before = [t for t, _ in finals if t < start]
    points = ([before[-1]] if before else [start]) + times + [end]
    return round(1000 * max(b - a for a, b in zip(points, points[1:], strict=False)))


def _steady_figures(phase: Phase, warmup_s: float) -> dict[str, Any]:
    window_start, window_end = phase.started + warmup_s, phase.until
    failed = [a for a in phase.answers if not a.final]
    if failed:
        raise FederationBenchFailed(f"{len(failed)} payments not final in the steady run, "
                                    f"first: {failed[0].text}")
    sent = [a for a in phase.answers if window_start <= a.sent]
    done = [a for a in phase.answers if window_start <= a.answered <= window_end]
    if not sent or not done:
        raise FederationBenchFailed("no payment in the steady window: run it longer")
    latencies = [a.answered - a.sent for a in sent]
    return {
        "federation_payments": len(done),
        "federation_payments_per_s": round(len(done) / (window_end - window_start)),
        "federation_final_p50_ms": _percentile_ms(latencies, 0.5),
        "federation_final_p99_ms": _percentile_ms(latencies, 0.99),
        "federation_final_max_ms": round(1000 * max(latencies)),
        "federation_final_gap_max_ms": max(
            _longest_gap_ms(f, window_start, window_end) for f in phase.finals),
    }


def _failover_figures(phase: Phase) -> dict[str, Any]:
    for i, finals in enumerate(phase.finals):
        if not any(t > phase.fault_at for t, _ in finals):
            raise FederationBenchFailed(
                f"node {i + 1}: no block became final within {RESUME_S_MAX:g} s after the "
                "stream's leader was killed")
    return {
        "federation_failover_pause_ms": max(
            _longest_gap_ms(f, phase.fault_at, phase.ended) for f in phase.finals),
        # the same for executed blocks: how much of the pause is the log's (no new block)
        "federation_failover_blocks_pause_ms": max(
            _longest_gap_ms(h, phase.fault_at, phase.ended) for h in phase.heights),
        "federation_failover_payments_not_final": sum(not a.final for a in phase.answers),
    }


class Leader:
    """Kills the NATS server leading the log's stream (``kill``: returns when)."""

    def __init__(self, fed: DemoFederation, chain_id: str) -> None:
        self.fed, self.stream = fed, stream_name_for(chain_id)
        self.name = ""

    def kill(self) -> float:
        link = NatsLink(Connection(servers=tuple(self.fed.cluster.urls), name="lien-bench"))
        try:
            info = link.run(link.js.stream_info(self.stream), 10)
        finally:
            link.close()
        if info.cluster is None or not info.cluster.leader:
            raise FederationBenchFailed(f"the stream {self.stream} has no leader to kill")
        self.name = info.cluster.leader
        server = next(s for s in self.fed.cluster.servers if s.spec.name == self.name)
        killed_at = time.perf_counter()
        server.kill()
        return killed_at


def _chain(node: DemoNode) -> dict[str, Any]:
    try:
        answer = httpx.get(f"{node.url}/api/v1/chain", timeout=5.0)
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        raise FederationBenchFailed(f"node {node.name} does not answer ({exc}); see "
                                    f"{node.log_file}") from exc
    chain: dict[str, Any] = answer.json()
    if chain["node"]["halted"]:
        raise FederationBenchFailed(f"node {node.name} halted; see {node.log_file}")
    return chain


def _converge(fed: DemoFederation) -> int:
    """Wait until every node is at one height, all of it final; returns that height."""
    deadline = time.monotonic() + CONVERGE_S_MAX
    delay_s = 0.05
    while True:
        chains = [_chain(n) for n in fed.nodes]
        heights = {(c["height"], c["final_height"]) for c in chains}
        if len(heights) == 1 and chains[0]["height"] == chains[0]["final_height"]:
            return int(chains[0]["height"])
        if time.monotonic() > deadline:
            raise FederationBenchFailed(
                f"the nodes did not agree on one final height within {CONVERGE_S_MAX} s: "
                + ", ".join(f"{n.name} {c['height']} (final {c['final_height']})"
                            for n, c in zip(fed.nodes, chains, strict=True)))
        time.sleep(delay_s)  # other processes' progress: no event to wait on
        delay_s = min(2 * delay_s, 0.5)


def _same_blocks(fed: DemoFederation, height: int) -> None:
    """Every node's database holds the same blocks 1..``height`` (heights and hashes)."""
    chains = []
    for node in fed.nodes:
        store = Store(NodeDir(node.directory).database_url, read_only=True)
        try:
            blocks, after = [], 0
            while batch := store.blocks(after, 500):
                blocks += [(b.header.height, b.header.hash) for b in batch]
                after = batch[-1].header.height
            chains.append(blocks)
        finally:
            store.dispose()
    for node, chain in zip(fed.nodes, chains, strict=True):
        if len(chain) != height:
            raise NodesDiverged(f"node {node.name} holds {len(chain)} blocks, not {height}")
        for (h, mine), (_, theirs) in zip(chain, chains[0], strict=True):
            if mine != theirs:
                raise NodesDiverged(f"block {h}: node {node.name} holds {mine[:16]}…, node "
                                    f"{fed.nodes[0].name} {theirs[:16]}…")


def bench_federation(work: Path, shape: LoadShape,
                     log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """The federation's figures (see the module doc), in ``work``."""
    log(f"federation: 3 NATS servers, 3 nodes, {shape.accounts} funded members")
    try:
        fed = BenchFederation.make(work, shape.accounts, log)
    except (NatsError, RuntimeError, OSError) as exc:
        raise FederationBenchFailed(f"the federation could not be made: {exc}") from exc
    try:
        fed.start()
        chain_id = _chain(fed.nodes[0])["chain_id"]
        _converge(fed)
        total_s = shape.warmup + shape.seconds + (shape.failover_run_s if shape.failover else 0)
        payments = Payments(chain_id, fed.members, int(1500 * total_s))
        clients = 3 * shape.clients_per_node
        log(f"federation: steady load, {clients} clients, {shape.warmup:g} + "
            f"{shape.seconds:g} s")
        meter = CpuMeter(fed)
        steady = uvloop.run(_phase(fed.nodes, payments, shape.clients_per_node,
                                   shape.warmup + shape.seconds, cpu=(meter, shape.warmup)))
        figures: dict[str, Any] = {"federation_nodes": len(fed.nodes),
                                   "federation_clients": clients}
        figures.update(_steady_figures(steady, shape.warmup))
        figures.update(meter.figures())
        if shape.failover:
            leader = Leader(fed, chain_id)
            log(f"federation: failover, the stream's leader killed after "
                f"{shape.kill_after_s:g} s of {shape.failover_run_s:g} s")
            failover = uvloop.run(_phase(fed.nodes, payments, shape.clients_per_node,
                                         shape.failover_run_s, (shape.kill_after_s, leader.kill)))
            figures.update(_failover_figures(failover))
            log(f"federation: {leader.name} killed, finality paused "
                f"{figures['federation_failover_pause_ms']} ms at most")
        log("federation: every node final at one height, same blocks")
        height = _converge(fed)
        _same_blocks(fed, height)
        figures["federation_blocks"] = height
    except FederationBenchFailed:
        _stop(fed, check=False)
        raise
    except (NatsError, RuntimeError, OSError, asyncio.IncompleteReadError) as exc:
        _stop(fed, check=False)  # a node that exited, a server that did not start
        raise FederationBenchFailed(str(exc)) from exc
    except BaseException:
        _stop(fed, check=False)
        raise
    _stop(fed, check=True)
    return figures


def _stop(fed: DemoFederation, check: bool) -> None:
    codes = [node.stop() for node in fed.nodes]
    fed.cluster.stop()
    bad = [(n.name, c) for n, c in zip(fed.nodes, codes, strict=True) if c != 0]
    if check and bad:
        raise FederationBenchFailed(f"nodes did not stop cleanly (name, exit code): {bad}")


def run(shape: LoadShape | None = None,
        log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """``lien bench --federation``: the federation's figures next to this run's baseline."""
    shape = shape or LoadShape()
    work = Path(tempfile.mkdtemp(prefix="lien-bench-federation-"))
    try:
        log("ed25519 baseline")
        before = ed25519_baseline()
        figures: dict[str, Any] = {"cores": os.cpu_count()}
        figures.update(bench_federation(work, shape, log))
        # Measured before and after the workload, the larger kept (``bench.ed25519_baseline``).
        baseline = round(max(before, ed25519_baseline()))
        figures["ed25519_verify_per_s"] = baseline
        ratio = figures["federation_payments_per_s"] / baseline
        figures["federation_payments_per_s_ratio"] = round(ratio, 4)
        figures["federation_payments_per_s_target_ratio"] = FEDERATION_TARGET_RATIO
        figures["federation_final_p99_ms_max"] = FEDERATION_FINAL_P99_MS_MAX
        figures["targets_met"] = (ratio >= FEDERATION_TARGET_RATIO and
                                  figures["federation_final_p99_ms"] <= FEDERATION_FINAL_P99_MS_MAX)
        return figures
    finally:
        shutil.rmtree(work, ignore_errors=True)
