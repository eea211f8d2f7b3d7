"""Resuming a federation on a new stream, after its stream was lost (every NATS server's
storage wiped, the stream recreated: its sequences restart at 1).

Every node halts when it finds the stream reset (``lien.ordering.jetstream.StreamReset``),
keeping every block it holds. Once the NATS cluster runs again, each node's operator runs
``lien federation resume --dir DIR`` with the node stopped:

1. the node fetches from its peers the certified blocks it lacks (``catchup``), so that every
   node continues from the same block — the last one the federation certified;
2. it refuses to go on if its own last block is not certified: that block was cut from
   entries of the lost stream, which no other node may have (rebuild such a node from a peer:
   ``lien join``);
3. it records the new stream's identity, and that the new stream's sequence 1 follows the
   position of its last block (``base``): it reads the new stream from its start.

History is never rewritten: no block is removed or replaced. What the lost stream held after
the last block — transactions accepted and not yet in a block — is lost with it; their ids
were never executed, so their wallets may submit them again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..chain import ValidatorSchedule
from ..node.setup import NodeDir, open_store
from ..ordering.jetstream import (NatsLink, StreamSettings, ensure_stream, stream_config,
                                  write_identity)
from ..store import NodeStore
from .catchup import catch_up
from .federation import FederationConfig, federation_config

#: how long resuming waits for the cluster to answer
resume_timeout_ms = 30_000


class ResumeRefused(Exception):
    """The node cannot continue on the new stream (the message says why and what to do)."""


@dataclass(frozen=True)
class ResumeReport:
    height: int  #: the block the node continues from
    base: int  #: the log position of the new stream's sequence 0
    stream_created: str
    fetched: int  #: certified blocks fetched from peers first

    def lines(self) -> list[str]:
        return [f"continues from block {self.height} on the stream created {self.stream_created}",
                f"{self.fetched} certified block(s) fetched from peers first",
                "transactions accepted after that block and not in a block were lost with the "
                "old stream: their wallets may submit them again"]


def resume_stream(store: NodeStore, config: FederationConfig, identity_file: Path,
                  peers: Sequence[str] = ()) -> ResumeReport:
    """Steps 1-3 of the module doc on ``store`` (the node stopped)."""
    fetched = 0
    if peers:
        report = catch_up(store, peers)
        fetched = report.blocks
    chain = store.config()
    last = store.last_block()
    if last is not None:
        schedule = ValidatorSchedule(chain.validators, store.validator_changes())
        if not schedule.at(last.header.height).is_final(last.header.hash, last.signatures):
            raise ResumeRefused(
                f"this node's last block {last.header.height} is not certified: it was cut "
                "from entries of the lost stream that other nodes may not hold; give this "
                "node peers that hold it certified ([federation] peers), or make the node "
                "again from a peer (lien join)")
    base = last.log_position if last is not None else 0
    link = NatsLink(config.connection)
    try:
        settings = StreamSettings.for_chain(chain.chain_id, replicas=config.replicas)
        info = link.run(ensure_stream(link.js, stream_config(settings),
                                      time.monotonic() + resume_timeout_ms / 1000),
                        resume_timeout_ms / 1000 + 5)
    finally:
        link.close()
    created = info.created.isoformat() if info.created else ""
    if identity_file.exists():
        known = json.loads(identity_file.read_text())
        if known.get("created") == created:
            raise ResumeRefused("this node already reads this stream: nothing to resume")
    write_identity(identity_file, settings.name, created, base)
    return ResumeReport(last.header.height if last else 0, base, created, fetched)


def resume(directory: Path) -> ResumeReport:
    """``resume_stream`` for the node directory ``directory`` (its node.toml's federation)."""
    node_dir = NodeDir(directory)
    settings = node_dir.settings()
    config = federation_config(directory, settings, default_consumer=directory.resolve().name)
    if config is None:
        raise ResumeRefused("this node orders with its embedded log: there is no stream")
    store = open_store(directory)
    try:
        store.claim()  # never under a running node
        try:
            return resume_stream(store, config, directory / "stream.json", node_dir.peers())
        finally:
            store.release()
    finally:
        store.dispose()
