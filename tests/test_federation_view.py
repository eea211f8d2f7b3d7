"""A node's view of its federation (``GET /api/v1/federation`` and the home page's Fédération):
on a served embedded node, on a node of a real federation (3 NATS servers, 3 nodes) with real
peers, and the peers' watch against real HTTP servers that answer badly."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import nacl.signing
import pytest
from api_support import listening_socket
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)
from cli_support import ServedNode
from federation_support import Federated, federation, people
from server_support import poll
from test_api_docs import example_after
from test_api_docs import keys as shape

from lien.chain import sign_header
from lien.federation import peers as peers_module
from lien.federation.peers import PeerWatch
from lien.ledger.crypto import BLOCK_DOMAIN
from lien.node.finality import Vote
from lien.node.node import Node, Status
from lien.web import make_server
from lien.web.api import FederationInfo, create_app

API = "/api/v1"


def key_of(signing_key: nacl.signing.SigningKey) -> str:
    return bytes(signing_key.verify_key).hex()


# -- an embedded node, served by `lien serve` ------------------------------------------------------
def test_an_embedded_node_is_alone_and_final_at_once(node: ServedNode) -> None:
    chain = httpx.get(f"{node.url}{API}/chain", timeout=10).json()
    view = httpx.get(f"{node.url}{API}/federation", timeout=10).json()
    assert view["ordering"] == {"backend": "embedded", "stream": None, "replicas": None}
    assert view["chain_id"] == chain["chain_id"] and view["height"] == chain["height"] > 0
    assert view["final_height"] == view["height"]
    assert view["finality_lag"] == {"blocks": 0, "ms": 0}
    (validator,) = chain["validators"]
    assert view["quorum"] == 1
    assert view["validators"] == [{"key": validator, "this_node": True,
                                   "signed": len(view["recent_blocks"]),
                                   "last_signed_height": view["height"]}]
    assert [b["height"] for b in view["recent_blocks"]] == list(
        range(view["height"], max(0, view["height"] - 10), -1))
    assert all(b["final"] and b["signers"] == [validator] for b in view["recent_blocks"])
    assert view["peers"] == [] and view["evidence"] == [] and view["evidence_count"] == 0
    home = httpx.get(f"{node.url}/", timeout=10).text
    assert "par ce seul nœud : chaque bloc est final dès son exécution" in home
    assert 'id="federation"' not in home and "home.js" not in home


# -- a node of a federation --------------------------------------------------------------------
@pytest.fixture
def fed(tmp_path: Path) -> Iterator[Federated]:
    yield from federation(tmp_path, 3)


@contextmanager
def served_app(node: Node, info: FederationInfo | None = None) -> Iterator[str]:
    """``node``'s web app on a real uvicorn in a thread of its own; its base URL."""
    app = create_app(node, federation=info)
    with listening_socket() as sock:
        host, port = sock.getsockname()
        server = make_server(app, host, port)
        thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                                  name="peer-uvicorn", daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.should_exit = True
            thread.join(20)
            app.state.lien.close()


def closed_port_url() -> str:
    """The URL of a port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def settled(app: Any) -> bool:
    """Every peer asked once (the watch of ``app``)."""
    views = app.state.lien.peers.views()
    return all(v.status != "pending" for v in views)


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_federated_node_shows_its_peers_finality_signatures_and_evidence(
        fed: Federated, node: ServedNode) -> None:
    a, b, _c = fed.running()
    g, mk = fed.genesis, fed.maker
    keys = [key_of(n.key) for n in fed.nodes]
    ok(a.run(g.bootstrap))
    fed.wait_final(a.summary.height)  # b checks signers against the bootstrap's accounts
    alice, bob = people(fed, 2)
    ok(b.run([mk.open(m) for m in (alice, bob)]
             + [mk.approve(g.admins[0], m) for m in (alice, bob)]))
    fed.wait_final(max(n.summary.height for n in fed.running()))
    federation_a = fed.nodes[0].federation
    assert federation_a is not None
    stream = federation_a.log.settings.name
    assert FederationInfo.of(federation_a) == FederationInfo("jetstream", stream, 3, ())
    unreachable = closed_port_url()
    with served_app(b) as b_url:
        info = FederationInfo("jetstream", stream, 3, (b_url, unreachable, node.url))
        app = create_app(a, federation=info)
        try:
            poll(lambda: settled(app), 30, "every peer asked once")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://a.test") as client:
                view = (await client.get(f"{API}/federation")).json()
                assert view["ordering"] == {"backend": "jetstream", "stream": stream,
                                            "replicas": 3}
                check_finality(view, a)
                check_signatures(view, a, keys)
                check_peers(view, b, b_url, unreachable, node.url)
                assert view["evidence"] == [] and view["evidence_count"] == 0
                calm = (await client.get("/")).text
                assert 'id="federation"' in calm and "Alerte" not in calm
                evidence = equivocate(a, fed.nodes[2].key)
                view = (await client.get(f"{API}/federation")).json()
                assert view["evidence_count"] == 1 and view["evidence"] == [evidence]
                assert shape(view) == shape(example_after("**Federation.**"))  # docs/protocol.md
                check_home(await client.get("/"), view, b_url)
                english = (await client.get("/", params={"lang": "en"})).text
                assert "Alarm: a validator signed two different blocks" in english
        finally:
            app.state.lien.close()


def ok(statuses: list[Status]) -> None:
    assert [s.to_json() for s in statuses if s.result is None or s.result["code"] != "ok"] == []


def check_finality(view: dict[str, Any], a: Node) -> None:
    """Heights and the lag are this node's, read from its store."""
    assert view["chain_id"] == a.chain_id
    assert 0 < view["final_height"] <= view["height"] <= a.summary.height
    last, final = a.store.block(view["height"]), a.store.block(view["final_height"])
    assert last is not None and final is not None
    assert (view["time_ms"], view["final_time_ms"]) == (last.header.time_ms, final.header.time_ms)
    assert view["finality_lag"] == {"blocks": view["height"] - view["final_height"],
                                    "ms": last.header.time_ms - final.header.time_ms}


def check_signatures(view: dict[str, Any], a: Node, keys: list[str]) -> None:
    """Final blocks carry the three validators' signatures; a block still waiting, node a's."""
    assert view["quorum"] == 3
    blocks = view["recent_blocks"]
    assert [b["height"] for b in blocks] == list(
        range(view["height"], max(0, view["height"] - 10), -1))
    for block in blocks:
        stored = a.store.block(block["height"])
        assert stored is not None and block["hash"] == stored.header.hash
        assert block["final"] == (block["height"] <= view["final_height"])
        if block["final"]:
            assert block["signers"] == keys
        else:  # its own signature, at least (the others' come with the certificate)
            assert keys[0] in block["signers"]
    assert [v["key"] for v in view["validators"]] == keys
    assert [v["this_node"] for v in view["validators"]] == [True, False, False]
    finals = [b["height"] for b in blocks if b["final"]]
    for v in view["validators"]:
        signed = finals if not v["this_node"] else [b["height"] for b in blocks]
        assert v["signed"] == len(signed) and v["last_signed_height"] == max(signed)


def check_peers(view: dict[str, Any], b: Node, b_url: str, unreachable: str,
                other_url: str) -> None:
    """Node b answers with its heights; a closed port is unreachable; the embedded node
    answers for another chain."""
    peers = {p["url"]: p for p in view["peers"]}
    assert list(peers) == [b_url, unreachable, other_url]
    seen = peers[b_url]
    assert seen["status"] == "reachable" and seen["error"] is None and seen["halted"] is False
    assert 0 < seen["final_height"] <= seen["height"] <= b.summary.height
    assert seen["checked_ms"] == seen["seen_ms"] is not None
    down = peers[unreachable]
    assert (down["status"], down["error"], down["height"]) == ("unreachable", "connection", None)
    assert down["checked_ms"] is not None and down["seen_ms"] is None
    other = peers[other_url]
    assert (other["status"], other["height"]) == ("other_chain", None)


def equivocate(a: Node, key: nacl.signing.SigningKey) -> dict[str, Any]:
    """Validator ``key`` signs two different headers at one height (far ahead: the chain's real
    blocks are not touched); node a keeps the evidence. Returns its JSON."""
    height = a.summary.height + 1_000
    hashes = [os.urandom(32).hex() for _ in range(2)]
    votes = [Vote(height, h, key_of(key), sign_header(key, h)) for h in hashes]
    a.receive_votes(votes)
    poll(lambda: a.evidence, 30, "the equivocation's evidence")
    (evidence,) = a.evidence
    data = evidence.to_json()
    assert data == {"height": height, "key": key_of(key),
                    "signatures": [{"hash": v.block_hash, "sig": v.signature.hex()}
                                   for v in votes]}
    for signature in data["signatures"]:  # anyone can check the evidence offline
        key.verify_key.verify(BLOCK_DOMAIN + bytes.fromhex(signature["hash"]),
                              bytes.fromhex(signature["sig"]))
    return data


def check_home(page: httpx.Response, view: dict[str, Any], b_url: str) -> None:
    """The page's Fédération: the alarm with the evidence, the heights, peers, validators."""
    html = page.text
    assert page.status_code == 200 and "<script>" not in html and "style=" not in html
    assert 'src="/static/js/home.js"' in html
    assert "Fédération" in html and 'role="alert"' in html
    assert "Alerte : un validateur a signé deux blocs différents à la même hauteur." in html
    (evidence,) = view["evidence"]
    assert evidence["key"] in html
    for signature in evidence["signatures"]:
        assert signature["hash"] in html and signature["sig"] in html
    assert f"Hauteur de ce nœud</th><td>{view['height']}</td>" in html
    assert f"Hauteur finale</th><td>{view['final_height']}</td>" in html
    assert "Retard de finalité" in html
    assert b_url in html and "<td>joignable</td>" in html
    assert "<td>injoignable (connexion impossible)</td>" in html
    assert "sur une autre chaîne" in html
    for v in view["validators"]:
        assert v["key"] in html
    assert "Un bloc est final dès que 3 des 3 validateurs l&#39;ont signé." in html


# -- the watch of the peers, against servers that answer badly ----------------------------------
class BadPeers(BaseHTTPRequestHandler):
    """Each path prefix is a peer that answers in its own wrong way (``/slow`` never does)."""

    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        kind = self.path.split("/")[1]
        if kind == "slow":
            BadPeers.release.wait(30)  # answers only once the test is over
            return
        body, status = {
            "error": (b'{"error": {"code": "node_halted"}}', 503),
            "garbage": (b"<html>not a node</html>", 200),
            "negative": (json.dumps({"chain_id": "x", "height": 3, "final_height": 4,
                                     "node": {}}).encode(), 200),
            "big": (b" " * (peers_module.answer_bytes_max + 10), 200),
            "good": (json.dumps({"chain_id": "our-chain", "height": 7, "final_height": 5,
                                 "node": {"halted": True}}).encode(), 200),
        }[kind]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the watch stopped reading a too large answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def test_the_watch_never_waits_and_says_why_a_peer_is_unreachable() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BadPeers)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    kinds = ["slow", "error", "garbage", "negative", "big", "good"]
    watch = PeerWatch([f"{base}/{k}/" for k in kinds] + ["not a url"], "our-chain")
    try:
        first = watch.views()  # starts the round, answers at once
        assert [v.status for v in first] == ["pending"] * 7
        assert [v.url for v in first] == [f"{base}/{k}" for k in kinds] + ["not a url"]
        assert not watch.wait(0)  # the slow peer holds the round
        poll(lambda: watch.views()[0].status != "pending", 10, "the slow peer timed out")
        views = {v.url.rsplit("/", 1)[-1]: v for v in watch.views()}
    finally:
        BadPeers.release.set()
        watch.close()
        server.shutdown()
        server.server_close()
    assert {k: (v.status, v.error) for k, v in views.items()} == {
        "slow": ("unreachable", "timeout"),
        "error": ("unreachable", "bad_status"),
        "garbage": ("unreachable", "bad_answer"),
        "negative": ("unreachable", "bad_answer"),
        "big": ("unreachable", "too_large"),
        "good": ("reachable", None),
        "not a url": ("unreachable", "connection"),
    }
    good = views["good"]
    assert (good.height, good.final_height, good.halted) == (7, 5, True)
    assert all(v.height is None for k, v in views.items() if k != "good")
