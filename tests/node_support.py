"""A chain made by a real node and left on disk, for the tests that reopen it (a restart)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lien.node.genesis import Genesis, make_genesis
from lien.node.node import Node, NodeSummary, Status, wall_clock_ms
from lien.store import Store


@dataclass(frozen=True)
class StoppedChain:
    genesis: Genesis
    url: str  #: the SQLite database, the node that made it stopped and disposed
    bootstrap: list[Status]  #: the bootstrap transactions' statuses, as first answered
    summary: NodeSummary  #: the read model when the node stopped


def bootstrapped_chain(tmp_path: Path, name: str) -> StoppedChain:
    """A chain (named ``name``) whose node executed its genesis bootstrap, then stopped."""
    genesis = make_genesis(name, wall_clock_ms())
    url = f"sqlite:///{tmp_path / 'node.db'}"
    created = Store(url)
    created.create(genesis.config)
    created.dispose()
    node = Node(Store(url), validator_key=genesis.validator)
    node.start()
    try:
        statuses = node.run(genesis.bootstrap)
    finally:
        node.stop()
        node.store.dispose()
    return StoppedChain(genesis, url, statuses, node.summary)
