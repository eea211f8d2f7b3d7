"""``lien join``: a new node directory for a chain that other nodes already run.

    1. the genesis document: from the first peer that serves one (GET /api/v1/chain), or the
       first line of a ``lien export``; with ``chain_id``, only that chain's (the genesis is
       what every later check rests on: pin the chain id the federation publishes)
    2. a new directory (``node.setup.build_directory``: complete, or absent): genesis.json,
       web.secret, the database holding the genesis
    3. the certified blocks, from the peers (``catchup.catch_up``) or from the export
       (``catchup.catch_up_from_export``), each verified and re-executed as it is committed
    4. ``lien verify``'s full verification from genesis (``node.verify.verify_store``), on
       what was committed
    5. node.toml, last: no ``validator_key`` (this node signs no block) and the
       ``[federation] peers`` it catches up from later (``lien catch-up``)

A failure at any step leaves no directory (a PostgreSQL database keeps what was written to it:
drop it before trying again). ``JoinError`` says why; ``CatchUpAlarm`` comes through as it is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from ..ledger import ChainConfig, GenesisInvalid
from ..node.setup import (
    WEB_SECRET,
    build_directory,
    create_database,
    write_genesis,
    write_secret,
    write_settings,
)
from ..node.verify import VerifyReport, verify_store
from ..store import Store
from .catchup import (
    CatchUpReport,
    CatchUpSettings,
    PeerRefused,
    catch_up,
    catch_up_from_export,
    export_genesis,
    get_json,
)

#: Where a node serves its chain and genesis document, under a peer's base URL.
CHAIN_PATH = "/api/v1/chain"


class JoinError(Exception):
    """No node directory was made: no peer served the genesis document, or blocks that
    verify; the export is not one."""


class JoinVerifyFailed(JoinError):
    """No node directory was made: the full verification of what was committed failed."""


@dataclass(frozen=True)
class JoinReport:
    chain_id: str
    catch_up: CatchUpReport
    verify: VerifyReport


def join(
    path: Path,
    *,
    peers: Sequence[str] = (),
    export: Path | None = None,
    database: str = "sqlite:///node.db",
    chain_id: str | None = None,
    settings: CatchUpSettings | None = None,
    transport: httpx.BaseTransport | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> JoinReport:
    """Make the node directory ``path`` for the chain of ``peers`` (or of ``export``, a
    ``lien export`` file; ``peers`` are then only written to node.toml), caught up and
    verified (module doc)."""
    settings = settings or CatchUpSettings()
    if export is not None:
        with export.open("rb") as lines:
            config = _genesis_of_export(lines, chain_id)
    else:
        if not peers:
            raise JoinError("no peer to join: give at least one --peer URL")
        with httpx.Client(timeout=httpx.Timeout(settings.timeout_s), transport=transport) as client:
            config = _genesis_of_peers(client, peers, chain_id, settings)

    def build(building: Path) -> JoinReport:
        write_genesis(building, config)
        write_secret(building / WEB_SECRET, os.urandom(32).hex())
        store = Store(create_database(building, database, config))
        try:
            progress("catching up")
            if export is not None:
                with export.open("rb") as lines:
                    lines.readline()  # the genesis, read above
                    caught = catch_up_from_export(store, lines, str(export), settings=settings)
            else:
                caught = catch_up(store, peers, settings=settings, transport=transport)
            if not caught.answered:
                raise JoinError("no peer served blocks that verify:\n" + "\n".join(caught.lines()))
            progress("verifying from genesis")
            verified = verify_store(store)
            if not verified.ok:
                raise JoinVerifyFailed(f"the full verification failed: {verified.problem}")
        finally:
            store.dispose()
        write_settings(building, config.chain_id, database, peers=peers)
        return JoinReport(config.chain_id, caught, verified)

    return build_directory(path, build)


def _genesis_of_peers(client: httpx.Client, peers: Sequence[str], chain_id: str | None,
                      settings: CatchUpSettings) -> ChainConfig:
    """The genesis document of the first peer that serves a valid one (of ``chain_id``)."""
    problems = []
    for peer in peers:
        try:
            data = get_json(client, f"{peer.rstrip('/')}{CHAIN_PATH}", {}, settings)
            if not isinstance(data, dict):
                raise PeerRefused("its chain is not a JSON object")
            config = _genesis(data.get("genesis"), chain_id)
            if data.get("chain_id") != config.chain_id:
                raise PeerRefused("its chain id is not its genesis document's")
            return config
        except (PeerRefused, JoinError) as exc:
            problems.append(f"{peer}: {exc}")
    raise JoinError("no peer served the genesis document: " + "; ".join(problems))


def _genesis_of_export(lines: BinaryIO, chain_id: str | None) -> ChainConfig:
    try:
        return _genesis(export_genesis(lines.readline()), chain_id)
    except ValueError as exc:
        raise JoinError(f"not a `lien export` file: {exc}") from None


def _genesis(document: Any, chain_id: str | None) -> ChainConfig:
    try:
        config = ChainConfig.from_json(document)
    except GenesisInvalid as exc:
        raise JoinError(f"the genesis document is not valid: {exc}") from None
    if chain_id is not None and config.chain_id != chain_id:
        raise JoinError(f"it is the chain {config.chain_id}, not {chain_id}")
    return config


__all__ = ["CHAIN_PATH", "JoinError", "JoinReport", "JoinVerifyFailed", "join"]
