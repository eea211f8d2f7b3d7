"""A federation in one process: real NATS servers (a JetStream cluster on loopback, ports of
our own) and real nodes, each on its own database, each a validator reading the shared stream.

The nodes run in this process so that tests can look inside them (summaries, evidence) and
stop them; ``lien serve`` processes of the same federation are tested through the demo.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nacl.signing

from lien.federation.federation import Federation, FederationConfig
from lien.federation.natsd import NatsCluster
from lien.ledger.crypto import new_signing_key
from lien.node.genesis import Genesis, make_genesis
from lien.node.node import Node, NodeSettings, Status, wall_clock_ms
from lien.ordering.jetstream import Connection
from lien.store import Store
from lien.wallet import Member, TxMaker
from server_support import poll


@dataclass
class FedNode:
    name: str
    directory: Path
    url: str  #: its database
    key: nacl.signing.SigningKey
    server: str  #: the NATS server it connects to
    node: Node | None = None
    federation: Federation | None = None
    #: the validator's other keys (a key rotation: ``Node(more_validator_keys=...)``)
    more_keys: tuple[nacl.signing.SigningKey, ...] = ()

    def config(self, replicas: int = 3) -> FederationConfig:
        return FederationConfig(
            connection=Connection(servers=(self.server,), name=self.name), replicas=replicas,
            consumer=self.name, peers=(), local_server=None)

    def start(self, replicas: int = 3) -> Node:
        config = self.config(replicas)
        self.federation = Federation(config, self.directory, _chain_of(self.url))
        self.node = Node(Store(self.url), validator_key=self.key, ordering=self.federation.log,
                         signing_record=self.directory / "signing.json",
                         settings=NodeSettings(block_interval_ms=20),
                         more_validator_keys=self.more_keys)
        self.federation.attach(self.node)
        self.node.start()
        return self.node

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()
            self.node.store.dispose()
        if self.federation is not None:
            self.federation.close()
        self.node = self.federation = None


def _chain_of(url: str) -> str:
    store = Store(url, read_only=True)
    try:
        return store.config().chain_id
    finally:
        store.dispose()


@dataclass
class Federated:
    """A genesis with one validator per node, the NATS cluster and the nodes."""

    genesis: Genesis
    cluster: NatsCluster
    nodes: list[FedNode]
    maker: TxMaker = field(init=False)

    def __post_init__(self) -> None:
        self.maker = TxMaker(self.genesis.config.chain_id, wall_clock_ms)

    def running(self) -> list[Node]:
        return [n.node for n in self.nodes if n.node is not None]

    def submit(self, node: Node, txs: list) -> list[Status]:  # type: ignore[type-arg]
        return node.run(txs)

    def wait_executed(self, height: int, timeout_s: float = 60.0) -> None:
        for node in self.running():
            poll(lambda node=node: node.summary.height >= height, timeout_s,
                 f"height {height} on a node")

    def wait_final(self, height: int, nodes: list[Node] | None = None,
                   timeout_s: float = 60.0) -> None:
        for node in nodes or self.running():
            poll(lambda node=node: node.final_height >= height, timeout_s,
                 f"final height {height} on a node")


def federation(tmp_path: Path, size: int = 3) -> Iterator[Federated]:
    """``size`` nodes, one NATS server each (a cluster of ``size``), genesis executed."""
    keys = tuple(new_signing_key() for _ in range(size))
    genesis = make_genesis("federation", wall_clock_ms(), validators=keys)
    cluster = NatsCluster(tmp_path / "nats", size)
    cluster.start()
    nodes = []
    for i, (key, server) in enumerate(zip(keys, cluster.urls, strict=True)):
        directory = tmp_path / f"node{i + 1}"
        directory.mkdir()
        url = f"sqlite:///{directory / 'node.db'}"
        store = Store(url)
        store.create(genesis.config)
        store.dispose()
        nodes.append(FedNode(f"node{i + 1}", directory, url, key, server))
    fed = Federated(genesis, cluster, nodes)
    try:
        for n in nodes:
            n.start(replicas=min(3, size))
        yield fed
    finally:
        for n in nodes:
            n.stop()
        cluster.stop()


def people(fed: Federated, count: int) -> list[Member]:
    return [Member.new("personal", f"person {i}") for i in range(count)]
