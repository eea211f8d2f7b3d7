"""The demo federation: 3 NATS servers and 3 nodes on loopback, each node a validator of a
different association, sharing one chain with the demo's members and history.

``lien federation demo --dir DIR`` builds it once (``DemoFederation.create``) and runs it; run
again, it starts the same federation from DIR. Layout::

    DIR/federation.json   names, ports, databases (what ``open`` starts again)
    DIR/nats/n1..n3/      the NATS servers (configuration, log, JetStream storage)
    DIR/a, DIR/b, DIR/c   the nodes' directories (``lien serve --dir DIR/a``, ...); a holds
                          the demo members' logins (personal data is node-local)

The demo's history is made once, at creation, by node ``a`` in this process over the shared
stream — the other nodes execute it from the stream when they start, and sign it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..ledger.crypto import new_signing_key
from ..node.genesis import Genesis, make_genesis
from ..node.node import Node, NodeSettings, wall_clock_ms
from ..node.setup import (DEMO_KDF, DEMO_PASSWORD, WEB_SECRET, NodeDir, create_database,
                          expect_ok, make_demo, write_genesis, write_secret)
from ..store import Store
from ..wallet import keystore
from .federation import Federation, federation_config
from .natsd import NatsCluster, free_ports

NAMES = ("a", "b", "c", "d", "e")
ASSOCIATIONS = {"a": "Le LIEN (Saint-Étienne)", "b": "association B", "c": "association C",
                "d": "association D", "e": "association E"}
#: NATS servers of a demo cluster (a node beyond the third connects to them too)
NATS_SERVERS = 3
#: how long a started node may take to answer
serve_timeout_s = 60.0


@dataclass
class DemoNode:
    name: str
    directory: Path
    http_port: int
    database: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_file(self) -> Path:
        return self.directory / "serve.log"

    def start(self) -> None:
        lien = Path(sys.executable).parent / "lien"
        log = self.log_file.open("ab")
        try:
            self.process = subprocess.Popen(
                [str(lien), "serve", "--dir", str(self.directory), "--port",
                 str(self.http_port), "--no-verify-in-background"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        finally:
            log.close()

    def serving(self) -> bool:
        try:
            return httpx.get(f"{self.url}/api/v1/chain", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_serving(self, timeout_s: float = serve_timeout_s) -> None:
        deadline = time.monotonic() + timeout_s
        delay_s = 0.02
        while not self.serving():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited ({self.process.returncode}); "
                                   f"see {self.log_file}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {self.name} not serving after {timeout_s} s")
            time.sleep(delay_s)  # waiting for another process: no event to wait on
            delay_s = min(2 * delay_s, 0.2)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM: the node stops cleanly; returns its exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGCONT)
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """``kill -9``."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def pause(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)


def _node_toml(chain_id: str, database: str, name: str, servers: Sequence[str],
               peers: Sequence[str], replicas: int) -> str:
    quoted = ", ".join(f'"{s}"' for s in servers)
    peer_list = ", ".join(f'"{p}"' for p in peers)
    return (f'chain_id = "{chain_id}"\n'
            f'database = "{database}"\n'
            'validator_key = "validator.key"\n\n'
            "[ordering]\n"
            'backend = "jetstream"\n'
            f"servers = [{quoted}]\n"
            f"replicas = {replicas}\n"
            f'consumer = "{name}"\n\n'
            "[federation]\n"
            f"peers = [{peer_list}]\n")


class DemoFederation:
    """The NATS cluster and the nodes of a demo federation in one directory."""

    #: the name of the chain ``create`` makes (its id adds the genesis digest)
    chain_name = "federation-demo"

    def __init__(self, directory: Path, cluster: NatsCluster, nodes: list[DemoNode]) -> None:
        self.directory = directory
        self.cluster = cluster
        self.nodes = nodes

    @property
    def manifest(self) -> Path:
        return self.directory / "federation.json"

    @classmethod
    def open(cls, directory: Path) -> DemoFederation:
        """A demo federation made earlier in ``directory`` (not started)."""
        data = json.loads((directory / "federation.json").read_text())
        cluster = NatsCluster(directory / "nats", len(data["nats_ports"]) // 3,
                              ports=data["nats_ports"])
        nodes = [DemoNode(n["name"], directory / n["name"], n["http_port"], n["database"])
                 for n in data["nodes"]]
        return cls(directory, cluster, nodes)

    @classmethod
    def create(cls, directory: Path, *, nodes: int = 3, databases: dict[str, str] | None = None,
               http_ports: Sequence[int] | None = None, payments: int = 120,
               progress: Callable[[str], None] = lambda message: None) -> DemoFederation:
        """Build a new demo federation in ``directory`` (which must not hold one): genesis
        with one validator per node, the NATS cluster (left running), the nodes' directories,
        and the demo's members and history (made through node ``a`` over the stream).
        ``databases``: a node's database URL (PostgreSQL, say) instead of its SQLite file.
        ``nodes``: 3 by default; 4 validators tolerate one down (more than 2/3 is 3 of 4,
        where 3 validators need all 3)."""
        if not 1 <= nodes <= len(NAMES):
            raise ValueError(f"a demo federation has 1 to {len(NAMES)} nodes")
        names = NAMES[:nodes]
        if (directory / "federation.json").exists():
            raise FileExistsError(f"{directory} already holds a demo federation")
        directory.mkdir(parents=True, exist_ok=True)
        keys = tuple(new_signing_key() for _ in names)
        genesis = make_genesis(cls.chain_name, wall_clock_ms(), validators=keys)
        chain_id = genesis.config.chain_id
        size = min(nodes, NATS_SERVERS)
        nats_ports = free_ports(3 * size)
        ports = list(http_ports) if http_ports is not None else free_ports(nodes)
        cluster = NatsCluster(directory / "nats", size, ports=nats_ports)
        progress("NATS cluster")
        cluster.start()
        members: list[DemoNode] = []
        try:
            for i, name in enumerate(names):
                node_path = directory / name
                node_path.mkdir()
                database = (databases or {}).get(name, "sqlite:///node.db")
                write_genesis(node_path, genesis.config)
                write_secret(node_path / "validator.key", bytes(keys[i]).hex())
                write_secret(node_path / WEB_SECRET, os.urandom(32).hex())
                own = i % size
                servers = [cluster.urls[own]] + [u for j, u in enumerate(cluster.urls)
                                                 if j != own]
                peers = [f"http://127.0.0.1:{p}" for j, p in enumerate(ports) if j != i]
                (node_path / "node.toml").write_text(
                    _node_toml(chain_id, database, name, servers, peers, size))
                create_database(node_path, database, genesis.config)
                members.append(DemoNode(name, node_path, ports[i], database))
            fed = cls(directory, cluster, members)
            progress("genesis and demo members, through node a")
            fed._make_history(genesis, payments)
            fed.manifest.write_text(json.dumps({
                "chain_id": chain_id, "nats_ports": nats_ports,
                "nodes": [{"name": n.name, "http_port": n.http_port, "database": n.database,
                           "association": ASSOCIATIONS[n.name]} for n in members],
            }, indent=2) + "\n")
            return fed
        except BaseException:
            cluster.stop()
            raise

    def _make_history(self, genesis: Any, payments: int) -> None:
        """Node ``a`` in this process, on the shared stream: genesis, founders' keystores, the
        demo's members and payments. It executes them; the validators certify them once their
        nodes run."""
        path = self.nodes[0].directory
        settings = NodeDir(path).settings()
        config = federation_config(path, settings, "a")
        assert config is not None
        federation = Federation(config, path, genesis.config.chain_id)
        node = Node(Store(NodeDir(path).database_url), validator_key=genesis.validator,
                    ordering=federation.log, signing_record=NodeDir(path).signing_record,
                    settings=NodeSettings(block_interval_ms=20))
        federation.attach(node)
        node.start()
        try:
            expect_ok(node.run(genesis.bootstrap), "genesis")
            self._history(node, genesis, path, payments)
        finally:
            node.stop()
            node.store.dispose()
            federation.close()

    def _history(self, node: Node, genesis: Genesis, path: Path, payments: int) -> None:
        """What follows genesis, made by ``node`` (node ``a``, directory ``path``): the
        founders' keystores and the demo's members and payments. (``lien bench
        --federation`` makes its own: funded members.)"""
        founders = {"governor": genesis.governor, "association": genesis.association,
                    "comptoir": genesis.comptoir,
                    **{f"admin-{i + 1}": a for i, a in enumerate(genesis.admins)}}
        for name, member in founders.items():
            keystore.write(path / "keys" / f"{name}.json",
                           keystore.seal(member.key, DEMO_PASSWORD, member.kind, DEMO_KDF))
        make_demo(node, genesis, path, payments=payments)

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> None:
        """The NATS servers (if stopped), then every node; returns once all serve."""
        if not all(s.running for s in self.cluster.servers):
            self.cluster.start()
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_serving()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.cluster.stop()

    def heights(self) -> list[dict[str, Any]]:
        """Each node's chain summary as it answers (None for a node that does not)."""
        out = []
        for node in self.nodes:
            try:
                out.append(httpx.get(f"{node.url}/api/v1/chain", timeout=2.0).json())
            except (httpx.HTTPError, ValueError):
                out.append({})
        return out
