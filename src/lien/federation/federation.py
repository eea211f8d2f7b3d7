"""A node's place in a federation: its NATS connection, its log on the shared stream, its votes.

``node.toml`` chooses the ordering backend::

    [ordering]
    backend = "jetstream"             # "embedded" (the default): one node, no server
    servers = ["nats://127.0.0.1:4301", "nats://127.0.0.1:4302", "nats://127.0.0.1:4303"]
    replicas = 3                      # the stream's replicas (3 or 5)
    consumer = "asso-a"               # this node's durable consumer (default: its key)
    # user = "lien"; password_file = "nats.password"; creds_file = "lien.creds"
    # tls_ca_file = "ca.pem"; tls_cert_file = "node.pem"; tls_key_file = "node-key.pem"

    [nats]                            # optional: `lien serve` starts and supervises this
    name = "a"                        # node's own server of the cluster (``natsd``)
    client_port = 4301
    cluster_port = 6301
    monitor_port = 8301
    routes = ["127.0.0.1:6302", "127.0.0.1:6303"]
    store_dir = "nats"                # relative to the node directory

    [federation]
    peers = ["http://127.0.0.1:8002", "http://127.0.0.1:8003"]   # other nodes' APIs

``Federation.open`` starts the local server if asked, connects, and opens the log (the node
is then opened with it); ``attach`` joins the node's votes to the federation's.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..node.finality import Equivocation
from ..node.node import Node
from ..node.setup import SetupError, peers_from
from ..ordering.jetstream import Connection, JetStreamLog, NatsLink, StreamSettings
from .natsd import NatsError, NatsServer, ServerSpec
from .votes import VoteChannel


log = logging.getLogger("lien.federation")
#: how often a node checks that the NATS server it supervises still runs
supervise_interval_s = 1.0


class FederationConfigError(ValueError):
    """``node.toml``'s [ordering], [nats] or [federation] table is not valid."""


@dataclass(frozen=True)
class FederationConfig:
    connection: Connection
    replicas: int
    consumer: str
    peers: tuple[str, ...]
    local_server: ServerSpec | None
    #: no block sooner than this after the previous one (the node's ``block_gap_ms_min``):
    #: in a federation each block costs every node its votes, syncs and signatures, so under
    #: load fewer, bigger blocks carry more payments (an idle node still ticks at once)
    block_gap_ms_min: int = 200


def _strings(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FederationConfigError(f"[{where}] {key}: a list of strings")
    return tuple(value)


def _int(table: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = table.get(key, default)
    if type(value) is not int or value < 1:
        raise FederationConfigError(f"[{where}] {key}: a positive integer")
    return value


def _path(directory: Path, table: dict[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FederationConfigError(f"{key}: a file name")
    return str(directory / value)


def federation_config(directory: Path, settings: dict[str, Any],
                      default_consumer: str) -> FederationConfig | None:
    """The federation settings of a node directory's ``node.toml`` (``settings``); None for
    an embedded node."""
    ordering = settings.get("ordering", {})
    if not isinstance(ordering, dict):
        raise FederationConfigError("[ordering] must be a table")
    backend = ordering.get("backend", "embedded")
    if backend == "embedded":
        return None
    if backend != "jetstream":
        raise FederationConfigError('[ordering] backend: "embedded" or "jetstream"')
    servers = _strings(ordering, "servers", "ordering")
    if not servers:
        raise FederationConfigError("[ordering] servers: at least one nats:// address")
    password_file = _path(directory, ordering, "password_file")
    password = Path(password_file).read_text().strip() if password_file else None
    connection = Connection(
        servers=servers, name=str(ordering.get("consumer", default_consumer)),
        user=ordering.get("user"), password=password,
        creds_file=_path(directory, ordering, "creds_file"),
        tls_ca_file=_path(directory, ordering, "tls_ca_file"),
        tls_cert_file=_path(directory, ordering, "tls_cert_file"),
        tls_key_file=_path(directory, ordering, "tls_key_file"))
    try:
        peers = peers_from(settings, directory / "node.toml")  # the checks catch-up makes
    except SetupError as exc:
        raise FederationConfigError(str(exc)) from None
    return FederationConfig(
        connection=connection,
        replicas=_int(ordering, "replicas", "ordering", 3),
        consumer=str(ordering.get("consumer", default_consumer)),
        peers=tuple(peers),
        local_server=_local_server(directory, settings.get("nats")),
        block_gap_ms_min=_int(ordering, "block_gap_ms_min", "ordering", 200),
    )


def _local_server(directory: Path, table: Any) -> ServerSpec | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        raise FederationConfigError("[nats] must be a table")
    name = table.get("name", "lien")
    if not isinstance(name, str) or not name.isidentifier():
        raise FederationConfigError("[nats] name: letters, digits and _")
    return ServerSpec(
        name=name, client_port=_int(table, "client_port", "nats"),
        cluster_port=_int(table, "cluster_port", "nats"),
        monitor_port=_int(table, "monitor_port", "nats"),
        store_dir=directory / str(table.get("store_dir", "nats")),
        host=str(table.get("host", "127.0.0.1")),
        routes=_strings(table, "routes", "nats"))


def read_evidence(path: Path) -> list[Equivocation]:
    """The equivocations kept in ``path`` (a line that does not parse is reported, skipped)."""
    if not path.exists():
        return []
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            data = json.loads(line)
            first, second = data["signatures"]
            found.append(Equivocation(data["height"], data["key"],
                                      (first["hash"], bytes.fromhex(first["sig"])),
                                      (second["hash"], bytes.fromhex(second["sig"]))))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("%s line %d: not evidence (%s)", path, number, exc)
    return found


def keep_evidence(path: Path, evidence: Equivocation) -> None:
    with path.open("a") as f:
        f.write(json.dumps(evidence.to_json()) + "\n")
        f.flush()
        os.fsync(f.fileno())


class Federation:
    """The federation side of one node (see the module doc)."""

    def __init__(self, config: FederationConfig, directory: Path, chain_id: str,
                 server: NatsServer | None = None) -> None:
        self.config = config
        self.directory = directory
        self.server = server
        self.link = NatsLink(config.connection)
        try:
            self.log = JetStreamLog(
                self.link, StreamSettings.for_chain(chain_id, replicas=config.replicas),
                consumer=config.consumer, identity_file=directory / "stream.json")
        except BaseException:
            self.link.close()
            raise
        self.votes: VoteChannel | None = None
        self._closing = threading.Event()
        self._watch: threading.Thread | None = None
        if server is not None:
            self._watch = threading.Thread(target=self._supervise, args=(server,),
                                           name="lien-natsd", daemon=True)
            self._watch.start()

    def _supervise(self, server: NatsServer) -> None:
        """Start this node's NATS server again whenever it dies (``kill -9``, a crash)."""
        while not self._closing.wait(supervise_interval_s):  # a period, not a synchronisation
            if server.running:
                continue
            log.warning("the local NATS server %s exited (%s): starting it again",
                        server.spec.name,
                        server.process.returncode if server.process else "not started")
            try:
                server.start()
                server.wait_ready()
            except NatsError as exc:
                log.error("the local NATS server did not start again: %s", exc)

    @classmethod
    def open(cls, config: FederationConfig, directory: Path, chain_id: str,
             nats_binary: str | None = None) -> Federation:
        """Start this node's own NATS server when ``[nats]`` asks for one, then connect."""
        server = None
        if config.local_server is not None:
            server = NatsServer(config.local_server, directory / "nats", nats_binary)
            server.start()
            server.wait_ready()
        try:
            return cls(config, directory, chain_id, server)
        except BaseException:
            if server is not None:
                server.stop()
            raise

    def attach(self, node: Node) -> None:
        """Join ``node``'s votes to the federation's (after it was opened with ``self.log``);
        the evidence of equivocations it finds is kept in ``DIR/evidence.jsonl`` (one JSON
        object a line, appended and synced) and shown again after a restart."""
        node.evidence.extend(read_evidence(self.evidence_file))
        node.on_evidence = lambda evidence: keep_evidence(self.evidence_file, evidence)
        self.votes = VoteChannel(self.link, node, replicas=self.config.replicas)
        self.votes.start()

    @property
    def evidence_file(self) -> Path:
        return self.directory / "evidence.jsonl"

    @property
    def peers(self) -> Sequence[str]:
        return self.config.peers

    def close(self) -> None:
        """After the node stopped: leave the votes, close the connection, stop our server."""
        self._closing.set()
        if self._watch is not None:
            self._watch.join()
        if self.votes is not None:
            self.votes.close()
        self.link.close()
        if self.server is not None:
            self.server.stop()
