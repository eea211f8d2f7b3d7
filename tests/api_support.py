"""A real node behind the API, for the API tests: SQLite in tmp_path, a started Node, the
ASGI app called in-process through httpx (or a real uvicorn when a stream is needed).

``Env`` submits through the API and waits on statuses (``wait=executed``), never on sleeps.
``Env.unchanged()`` proves that a refused request changed nothing: after the block it runs, a
*probe* (a payment from the association to an account that was never opened, recorded as
``unknown_account`` and changing no record) must execute alone in the very next block — anything wrongly queued before
it would be in that block or an earlier one — and the stored state lines must be the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from lien.ledger import Tx
from lien.node.genesis import Genesis, make_genesis
from lien.node.node import Node, NodeSettings, wall_clock_ms
from lien.store import Store
from lien.wallet import Member, TxMaker
from lien.web import ApiSettings, create_app, make_server
from lien.web.connections import HttpLimits

CHAIN = "lien-api-test"
CODE = "LIEN"
API = "/api/v1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def member(label: str, kind: str = "personal") -> Member:
    """A member whose key derives from ``label``: the same account ids on every run."""
    return Member.from_seed(hashlib.sha256(f"api {label}".encode()).digest(), kind, label)


def envelope(tx: Tx) -> bytes:
    return json.dumps(tx.to_json()).encode()


@dataclass
class Env:
    node: Node
    store: Store
    genesis: Genesis
    app: Any
    client: httpx.AsyncClient
    mk: TxMaker
    _probes: int = field(default=0)

    # -- submitting ------------------------------------------------------------------------------
    async def post(self, tx: Tx | bytes, wait: str = "executed") -> httpx.Response:
        content = tx if isinstance(tx, bytes) else envelope(tx)
        return await self.client.post(f"{API}/transactions", params={"wait": wait},
                                      content=content)

    async def run(self, tx: Tx) -> dict[str, Any]:
        """Submit, wait until executed; the status (asserting 200)."""
        response = await self.post(tx)
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()
        assert status["status"] in ("executed", "final"), status
        return status

    async def ok(self, tx: Tx) -> dict[str, Any]:
        status = await self.run(tx)
        assert status["result"]["code"] == "ok", status
        return status

    async def all_ok(self, txs: list[Tx]) -> None:
        """Submit ``txs`` as one batch (executed in order), wait for the last; all must be ok."""
        response = await self.client.post(f"{API}/transactions/batch",
                                          json={"transactions": [t.to_json() for t in txs]})
        assert response.status_code == 200, response.text
        await self.run(txs[-1])
        for tx in txs:
            status = (await self.client.get(f"{API}/transactions/{tx.id}")).json()
            assert status["result"]["code"] == "ok", status

    async def join(self, label: str, nantie: int = 0, kind: str = "personal") -> Member:
        """Open an account in LIEN, have it approved, and issued ``nantie`` at the comptoir."""
        m = member(label, kind)
        txs = [self.mk.open(m), self.mk.approve(self.genesis.admins[0], m)]
        if nantie:
            txs.append(self.mk.issue([self.genesis.comptoir], m, nantie))
        await self.all_ok(txs)
        return m

    # -- looking -----------------------------------------------------------------------------------
    def height(self) -> int:
        last = self.store.last_block()
        return last.header.height if last else 0

    def balance(self, m: Member) -> tuple[int, int]:
        row = self.store.account_row(m.account)
        assert row is not None
        (membership,) = [x for x in row[1] if x.currency == CODE]
        return membership.nantie, membership.credit

    @asynccontextmanager
    async def unchanged(self) -> AsyncIterator[None]:
        height, lines = self.height(), self.store.stored_state_lines()
        yield
        self._probes += 1
        ghost = member(f"never opened {self._probes}")
        probe = await self.run(self.mk.pay(self.genesis.association, ghost, 1))
        assert probe["result"]["code"] == "unknown_account"
        last = self.store.last_block()
        assert last is not None
        assert (last.header.height, last.header.tx_count) == (height + 1, 1)
        assert probe["height"] == height + 1
        assert self.store.stored_state_lines() == lines


@asynccontextmanager
async def api_env(tmp_path: Path, settings: ApiSettings | None = None,
                  node_settings: NodeSettings | None = None,
                  bootstrap: bool = True, healthy: bool = True) -> AsyncIterator[Env]:
    now = wall_clock_ms()
    genesis = make_genesis(CHAIN, now)
    store = Store(f"sqlite:///{tmp_path / 'node.db'}")
    store.create(genesis.config)
    node = Node(store, validator_key=genesis.validator,
                settings=node_settings or NodeSettings())
    node.start()
    app = create_app(node, settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://lien.test") as client:
            env = Env(node, store, genesis, app, client, TxMaker(genesis.config.chain_id, node.clock))
            if bootstrap:
                await env.all_ok(genesis.bootstrap)
            yield env
            assert (node.failure is None) == healthy
    finally:
        app.state.lien.close()
        node.stop()
        store.dispose()


@contextmanager
def listening_socket() -> Iterator[socket.socket]:
    """A bound, listening socket: clients may connect before the server accepts (no race)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield sock
    finally:
        sock.close()


@asynccontextmanager
async def served(app: Any, limits: HttpLimits | None = None,
                 ) -> AsyncIterator[tuple[str, Any, asyncio.Task[None]]]:
    """``app`` on a real uvicorn (for streams): (base url, server, its task)."""
    with listening_socket() as sock:
        host, port = sock.getsockname()
        server = make_server(app, host, port, limits=limits)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            yield f"http://{host}:{port}", server, task
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)


async def next_event(lines: AsyncIterator[str]) -> tuple[str, dict[str, Any], str | None]:
    """The next SSE event (kind, data, id), skipping comments and ``retry`` lines."""
    kind, data, event_id = "message", None, None
    async for line in lines:
        if line == "":
            if data is not None:
                return kind, data, event_id
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            kind = value
        elif name == "data":
            data = json.loads(value)
        elif name == "id":
            event_id = value
    raise AssertionError("the stream ended")
