"""The node's JSON API, happy paths: what a wallet and an auditor rely on.

Every test runs a real node on SQLite behind the ASGI app (in-process httpx, or a real uvicorn
for the event stream) and waits on statuses, never on sleeps.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from api_support import API, CHAIN, CODE, Env, api_env, member, next_event, served
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)

from lien.chain import verify_receipt
from lien.ledger import DESCRIPTIONS, Reason, format_account_id, format_amount, limits
from lien.node.node import NodeSettings, TxEvent
from lien.web import ApiSettings
from lien.web.events import EventHub, sse, stream

pytestmark = pytest.mark.anyio
PROTOCOL = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with api_env(tmp_path) as env:
        yield env


# -- payments ---------------------------------------------------------------------------------------
async def test_open_approve_issue_and_pay_with_a_split(env: Env) -> None:
    alice = await env.join("alice", nantie=10_000)
    bob = await env.join("bob")
    # Alice holds 100,00 of nantie; paying 150,00 takes it all, then 50,00 of her credit.
    status = await env.ok(env.mk.pay(alice, bob, 15_000))
    assert status["status"] == "final"  # one embedded validator: executed is final at once
    assert status["result"] == {"code": "ok", "nantie": 10_000, "credit": 5_000}
    assert isinstance(status["height"], int) and isinstance(status["seq"], int)
    assert env.balance(alice) == (0, -5_000)
    assert env.balance(bob) == (10_000, 5_000)


async def test_default_wait_answers_202_accepted_then_the_status_follows(env: Env) -> None:
    alice = await env.join("alice", nantie=1_000)
    bob = await env.join("bob")
    tx = env.mk.pay(alice, bob, 100)
    response = await env.post(tx, wait="accepted")
    assert response.status_code == 202
    assert response.json() == {"id": tx.id, "status": "accepted"}
    again = await env.post(tx, wait="executed")  # the same id: waits for its one execution
    assert again.status_code == 200
    assert again.json()["result"]["code"] == "ok"
    status = await env.client.get(f"{API}/transactions/{tx.id}")
    assert status.status_code == 200
    assert status.json() == again.json()


async def test_an_execution_refusal_is_a_200_result_not_an_http_error(env: Env) -> None:
    alice = await env.join("alice")
    bob = await env.join("bob")
    before = env.balance(alice), env.balance(bob)
    # Credit floor is -200,00 by default: 300,00 cannot be paid from an empty account.
    status = await env.run(env.mk.pay(alice, bob, 30_000))
    assert status["result"]["code"] == Reason.INSUFFICIENT_FUNDS
    assert (env.balance(alice), env.balance(bob)) == before


async def test_resubmitting_an_id_returns_its_first_outcome_and_executes_once(env: Env) -> None:
    alice = await env.join("alice", nantie=1_000)
    bob = await env.join("bob")
    tx = env.mk.pay(alice, bob, 300)
    answers = await asyncio.gather(*(env.post(tx) for _ in range(8)))
    assert {r.status_code for r in answers} == {200}
    assert len({json.dumps(r.json(), sort_keys=True) for r in answers}) == 1
    later = await env.post(tx)
    assert later.status_code == 200
    assert later.json() == answers[0].json()
    assert env.balance(alice) == (700, 0)
    assert env.balance(bob) == (300, 0)
    history = (await env.client.get(f"{API}/accounts/{bob.account}/history")).json()
    assert [item["id"] for item in history["items"]].count(tx.id) == 1


async def test_wait_runs_out_with_202_and_the_current_status(tmp_path: Path) -> None:
    # At most one block an hour: after the first one, a transaction stays queued.
    async with api_env(tmp_path, ApiSettings(wait_ms_max=50),
                       NodeSettings(block_gap_ms_min=3_600_000), bootstrap=False) as env:
        # the first block is not bound by the 50 ms wait: its status is asked until executed
        first = env.genesis.bootstrap[0]
        assert (await env.post(first, wait="accepted")).status_code == 202
        deadline = asyncio.get_running_loop().time() + 30
        while (await env.client.get(f"{API}/transactions/{first.id}")).json()["status"] not in (
                "executed", "final"):
            assert asyncio.get_running_loop().time() < deadline, "the first block never came"
            await asyncio.sleep(0.01)  # asking again, with a deadline
        tx = env.genesis.bootstrap[1]
        response = await env.post(tx, wait="executed")
        assert response.status_code == 202
        assert response.json() == {"id": tx.id, "status": "accepted"}
        status = await env.client.get(f"{API}/transactions/{tx.id}")
        assert status.json()["status"] == "accepted"


# -- batches ----------------------------------------------------------------------------------------
async def test_a_batch_is_verified_and_queued_item_by_item(env: Env) -> None:
    alice = await env.join("alice", nantie=10_000)
    bob = await env.join("bob")
    payments = [env.mk.pay(alice, bob, 100 + i) for i in range(20)]
    body = {"transactions": [p.to_json() for p in payments]}
    response = await env.client.post(f"{API}/transactions/batch", json=body)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["index"] for item in items] == list(range(20))
    assert [item["id"] for item in items] == [p.id for p in payments]
    assert {item["status"] for item in items} <= {"accepted", "executed", "final"}
    last = await env.run(payments[-1])  # FIFO: once the last is executed, all are
    assert last["result"]["code"] == "ok"
    assert env.balance(bob) == (sum(100 + i for i in range(20)), 0)


# -- queries ----------------------------------------------------------------------------------------
async def test_receipt_verifies_offline_against_the_genesis_validators(env: Env) -> None:
    alice = await env.join("alice", nantie=1_000)
    bob = await env.join("bob")
    tx = env.mk.pay(alice, bob, 250, memo="pain et fromage")
    await env.ok(tx)
    response = await env.client.get(f"{API}/transactions/{tx.id}/receipt")
    assert response.status_code == 200
    receipt = response.json()
    header = verify_receipt(receipt, env.genesis.config.validators)
    assert receipt["tx"] == tx.to_json()
    assert receipt["result"] == {"code": "ok", "nantie": 250, "credit": 0}
    block = (await env.client.get(f"{API}/blocks/{header.height}")).json()
    assert block["hash"] == header.hash
    assert tx.id in block["transactions"]


async def test_account_shows_integers_and_french_amounts_whatever_the_typed_form(
    env: Env,
) -> None:
    alice = await env.join("alice", nantie=123_456)
    typed = format_account_id(alice.account).lower()
    response = await env.client.get(f"{API}/accounts/{typed}")
    assert response.status_code == 200
    account = response.json()
    assert account["id"] == alice.account
    assert account["display"] == format_account_id(alice.account)
    assert account["kind"] == "personal"
    assert account["keys"] == [alice.public_key]
    (lien,) = account["currencies"]
    assert lien["currency"] == CODE and lien["status"] == "active" and lien["roles"] == []
    assert lien["nantie_minor"] == 123_456
    assert lien["nantie_text"] == "1\u202f234,56 LIEN"
    assert lien["credit_minor"] == 0 and lien["credit_text"] == "0,00 LIEN"
    assert lien["floor_minor"] == -20_000 and lien["floor_text"] == "-200,00 LIEN"
    assert lien["ceiling_minor"] == 200_000
    assert lien["balance_minor"] == 123_456
    assert not any(isinstance(v, float) for v in lien.values())
    comptoir = (await env.client.get(f"{API}/accounts/{env.genesis.comptoir.account}")).json()
    assert comptoir["kind"] == "comptoir"
    assert comptoir["currencies"][0]["roles"] == ["issuer"]


async def test_history_pages_are_stable_and_gap_free(env: Env) -> None:
    alice = await env.join("alice", nantie=100_000)
    bob = await env.join("bob")
    payments = [env.mk.pay(alice, bob, 10 + i) for i in range(23)]
    await env.client.post(f"{API}/transactions/batch",
                          json={"transactions": [p.to_json() for p in payments]})
    await env.ok(payments[-1])
    first = (await env.client.get(f"{API}/accounts/{bob.account}/history",
                                  params={"limit": 200})).json()
    assert first["next"] is None
    everything = [item["seq"] for item in first["items"]]
    assert everything == sorted(everything, reverse=True)
    assert len(everything) == 25  # opening, approval and 23 payments

    pages, before = [], None
    while True:
        params = {"limit": 7} | ({"before": before} if before is not None else {})
        page = (await env.client.get(f"{API}/accounts/{bob.account}/history",
                                     params=params)).json()
        pages.append([item["seq"] for item in page["items"]])
        before = page["next"]
        if before is None:
            break
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert [seq for p in pages for seq in p] == everything
    newest = first["items"][0]
    assert newest["id"] == payments[-1].id and newest["type"] == "transfer"
    assert newest["tx"] == payments[-1].to_json()
    assert newest["result"]["code"] == "ok"


async def test_orders_list_an_accounts_standing_orders_for_payer_and_payee(env: Env) -> None:
    payer = await env.join("payer", nantie=5_000)
    payee = await env.join("payee")
    due = env.node.clock() + 30 * 86_400_000
    monthly = await env.ok(env.mk.standing_order(payer, payee, 1_250, due, "monthly",
                                                 count_max=12, reference="r" * 64))
    once = await env.ok(env.mk.standing_order(payer, payee, 300, due + 1, "once"))
    await env.ok(env.mk.revoke_order(payee, once["id"]))  # the payee declines it
    answer = await env.client.get(f"{API}/accounts/{payer.account}/orders")
    assert answer.status_code == 200
    orders = {o["id"]: o for o in answer.json()["orders"]}
    assert orders[monthly["id"]] == {
        "id": monthly["id"], "from": payer.account, "to": payee.account, "role": "payer",
        "currency": "LIEN", "amount_minor": 1_250, "period": "monthly", "first_due_ms": due,
        "next_due_ms": due, "runs": 0, "last_result": None, "status": "active",
        "count_max": 12, "until_ms": None, "reference": "r" * 64, "memo": ""}
    assert (orders[once["id"]]["status"], orders[once["id"]]["next_due_ms"]) == ("revoked", None)
    seen_by_payee = (await env.client.get(f"{API}/accounts/{payee.account}/orders")).json()
    assert {o["id"]: o["role"] for o in seen_by_payee["orders"]} == {
        monthly["id"]: "payee", once["id"]: "payee"}
    unknown = member("nobody").account
    assert (await env.client.get(f"{API}/accounts/{unknown}/orders")).status_code == 404


async def test_blocks_chain_and_reasons(env: Env) -> None:
    alice = await env.join("alice", nantie=500)
    for amount in range(1, 5):  # one block each: submitted after the previous one executed
        await env.ok(env.mk.pay(alice, env.genesis.association, amount))
    chain = (await env.client.get(f"{API}/chain")).json()
    config = env.genesis.config
    assert chain["chain_id"] == config.chain_id == env.node.chain_id
    assert chain["chain_id"].startswith(f"{CHAIN}-")  # the name, then the genesis' digest
    assert (chain["name"], chain["protocol"]) == (CHAIN, limits.PROTOCOL_VERSION)
    assert chain["genesis"] == env.genesis.config.to_json()
    assert chain["validators"] == list(env.genesis.config.validators)
    assert chain["height"] == env.height() and chain["height"] >= 5
    first = (await env.client.get(f"{API}/blocks", params={"limit": 3})).json()
    assert [b["height"] for b in first["items"]] == [1, 2, 3]
    assert first["next"] == 3
    assert first["items"][0]["header"]["prev"] == chain["genesis_root"]
    assert all(b["final"] for b in first["items"])
    rest = (await env.client.get(f"{API}/blocks",
                                 params={"after": 3, "limit": 200})).json()
    assert rest["next"] is None
    heights = [b["height"] for b in first["items"] + rest["items"]]
    assert heights == list(range(1, chain["height"] + 1))
    assert rest["items"][-1]["hash"] == chain["last_hash"]
    for earlier, later in zip(first["items"] + rest["items"], (first["items"] + rest["items"])[1:]):
        assert later["header"]["prev"] == earlier["hash"]

    reasons = (await env.client.get(f"{API}/reasons")).json()
    codes = {r["code"]: r for r in reasons["reasons"]}
    assert set(codes) == {r.value for r in Reason}
    assert codes["too_large"]["http_status"] == 413
    assert codes["bad_signature"] == {"code": "bad_signature", "family": "admission",
                                      "http_status": 400,
                                      "description": DESCRIPTIONS[Reason.BAD_SIGNATURE]}
    assert codes["insufficient_funds"]["family"] == "execution"
    assert {e["code"] for e in reasons["api_errors"]} >= {"not_found", "node_halted"}


async def test_openapi_documents_every_route(env: Env) -> None:
    response = await env.client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    routes = {
        ("post", "/api/v1/transactions"), ("post", "/api/v1/transactions/batch"),
        ("get", "/api/v1/transactions/{id}"), ("get", "/api/v1/transactions/{id}/receipt"),
        ("get", "/api/v1/accounts/{account_id}"), ("get", "/api/v1/accounts/{account_id}/history"),
        ("get", "/api/v1/accounts/{account_id}/events"),
        ("get", "/api/v1/accounts/{account_id}/requests"),
        ("get", "/api/v1/accounts/{account_id}/orders"), ("get", "/api/v1/blocks"),
        ("get", "/api/v1/blocks/certified"),
        ("get", "/api/v1/blocks/{height}"), ("get", "/api/v1/chain"), ("get", "/api/v1/reasons"),
        ("get", "/api/v1/currencies"), ("get", "/api/v1/currencies/{code}"),
        ("get", "/api/v1/federation"),
    }
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == routes
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary") and op.get("description"), (method, path)
    submit = spec["paths"]["/api/v1/transactions"]["post"]
    assert "requestBody" in submit
    assert "200" in submit["description"] or "**200**" in submit["description"]
    docs = await env.client.get(f"{API}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# -- live events ------------------------------------------------------------------------------------
async def test_events_stream_a_payment_then_end_on_disconnect_and_on_shutdown(env: Env) -> None:
    alice = await env.join("alice", nantie=5_000)
    bob = await env.join("bob")
    hub = env.app.state.lien.hub
    loop = asyncio.get_running_loop()
    async with served(env.app) as (url, server, task), httpx.AsyncClient(base_url=url) as http:
        # A client that leaves: its stream is closed on the server side.
        async with http.stream("GET", f"{API}/accounts/{bob.account}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            tx = env.mk.pay(alice, bob, 1_234)
            paid = await env.ok(tx)
            kind, data, event_id = await asyncio.wait_for(next_event(lines), 10)
            assert kind == "transaction"
            assert data == {"id": tx.id, "type": "transfer", "result": paid["result"],
                            "height": paid["height"], "seq": paid["seq"], "status": "final"}
            assert event_id == str(paid["seq"])
        assert await loop.run_in_executor(None, hub.wait_count, 0, 10)

        # Reconnecting with Last-Event-ID replays what was missed, oldest first.
        missed = [env.mk.pay(alice, bob, 10 + i) for i in range(3)]
        for t in missed:
            await env.ok(t)
        headers = {"Last-Event-ID": event_id}
        async with http.stream("GET", f"{API}/accounts/{bob.account}/events",
                               headers=headers) as response:
            lines = response.aiter_lines()
            replayed = [await asyncio.wait_for(next_event(lines), 10) for _ in missed]
            assert [d["id"] for _, d, _ in replayed] == [t.id for t in missed]

            # Shutdown: the stream ends cleanly (no error), and the server stops.
            server.should_exit = True
            async for _line in lines:
                pass
        await asyncio.wait_for(task, 10)
    assert hub.wait_count(0, 0)  # no stream left open


async def test_limits_are_the_ledger_ones() -> None:
    settings = ApiSettings()
    assert settings.request_bytes_max == limits.transaction_bytes_max
    assert settings.batch_bytes_max >= limits.batch_transactions_max * limits.transaction_bytes_max
    assert settings.history_page_max == settings.blocks_page_max == 200
    assert settings.wait_ms_max == 10_000


async def test_every_route_is_in_the_protocol_document(env: Env) -> None:
    text = PROTOCOL.read_text(encoding="utf-8")
    section = text[text.index("## 12. HTTP API"):text.index("## Test vectors")]
    for route in env.app.routes:  # the API's (the pages are out of the OpenAPI document)
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods:
                path = route.path_format
                assert f"`{method} {path}" in section, (method, path)
    for code in ("not_found", "method_not_allowed", "node_halted", "node_busy", "too_large"):
        assert f"`{code}`" in section


# -- currencies -------------------------------------------------------------------------------------
async def test_currencies_give_the_policy_a_wallet_needs_and_the_supply(env: Env) -> None:
    (created,) = [tx for tx in env.genesis.bootstrap if tx.type == "create_currency"]
    policy = created.body["policy"]
    before = (await env.client.get(f"{API}/currencies/{CODE}")).json()
    await env.join("alice", nantie=123_456)
    await env.join("bob", nantie=1_000)
    listed = await env.client.get(f"{API}/currencies")
    assert listed.status_code == 200
    (lien,) = listed.json()["items"]
    assert lien["code"] == CODE and lien["name"] == policy["name"]
    assert lien["policy"] == policy  # quorum, thresholds, default limits, fee, association
    issued = before["issued_minor"] + 124_456
    assert (lien["issued_minor"], lien["reconverted_minor"], lien["supply_minor"]) == (
        issued, 0, issued)
    assert lien["issued_text"] == lien["supply_text"] == format_amount(issued, CODE)
    assert lien["reconverted_text"] == "0,00 LIEN"
    assert not any(isinstance(v, float) for v in lien.values())
    one = await env.client.get(f"{API}/currencies/{CODE}")
    assert one.status_code == 200 and one.json() == lien


async def test_a_new_policy_is_served_as_soon_as_its_block_is_committed(env: Env) -> None:
    (created,) = [tx for tx in env.genesis.bootstrap if tx.type == "create_currency"]
    admins = env.genesis.admins
    policy = {**created.body["policy"], "reconversion_fee_bp": 250, "admin_quorum": 1}
    await env.ok(env.mk.make(admins, "set_policy", by=admins[0].account, currency=CODE,
                             policy=policy))
    served = (await env.client.get(f"{API}/currencies/{CODE}")).json()
    assert served["policy"] == policy


async def test_an_unknown_currency_is_404_and_a_bad_code_400(env: Env) -> None:
    unknown = await env.client.get(f"{API}/currencies/XYZ")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    for bad in ("lien", "L", "LIEN-2", "A" * 13):
        response = await env.client.get(f"{API}/currencies/{bad}")
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "malformed", bad


# -- events: the stream's framing, and overflow ------------------------------------------------------
async def test_a_stream_opens_with_its_retry_line(env: Env) -> None:
    alice = await env.join("alice")
    async with served(env.app) as (url, _server, _task), httpx.AsyncClient(base_url=url) as http:
        async with http.stream("GET", f"{API}/accounts/{alice.account}/events") as response:
            first = await asyncio.wait_for(anext(response.aiter_lines()), 10)
            assert first == f"retry: {ApiSettings().sse_retry_ms}"


async def test_a_reconnection_that_missed_too_much_gets_overflow_and_the_stream_closes(
    tmp_path: Path,
) -> None:
    async with api_env(tmp_path, ApiSettings(sse_backlog_events_max=2)) as env:
        alice = await env.join("alice", nantie=1_000)
        bob = await env.join("bob")
        first = await env.ok(env.mk.pay(alice, bob, 1))
        for amount in (2, 3):  # two missed: replayed
            await env.ok(env.mk.pay(alice, bob, amount))
        headers = {"Last-Event-ID": str(first["seq"])}
        async with served(env.app) as (url, _s, _t), httpx.AsyncClient(base_url=url) as http:
            async with http.stream("GET", f"{API}/accounts/{bob.account}/events",
                                   headers=headers) as response:
                lines = response.aiter_lines()
                replayed = [await asyncio.wait_for(next_event(lines), 10) for _ in range(2)]
                assert [d["result"]["nantie"] for _, d, _ in replayed] == [2, 3]
            await env.ok(env.mk.pay(alice, bob, 4))  # now three missed: more than can be
            async with http.stream("GET", f"{API}/accounts/{bob.account}/events",
                                   headers=headers) as response:
                text = await asyncio.wait_for(response.aread(), 10)  # it ends by itself
        assert text.decode() == "retry: 3000\n\nevent: overflow\ndata: {}\n\n"


async def test_a_slow_stream_gets_what_fits_then_overflow_then_ends(env: Env) -> None:
    """The hub queues at most ``queue_events_max`` events for a stream that does not read."""
    hub = EventHub(queue_events_max=2)
    sub = hub.subscribe("ACCOUNT")
    events = [TxEvent(f"{i:064x}", "transfer", {"code": "ok"}, 7, 100 + i, "final")
              for i in range(3)]
    for event in events:  # as the node thread would, before the stream reads anything
        hub.publish("ACCOUNT", event)
    body = [chunk async for chunk in stream(hub, sub, None, lambda: False, 60.0, 1500)]
    assert body[0] == b"retry: 1500\n\n"
    assert body[1:3] == [sse(e) for e in events[:2]]
    assert body[3:] == [b"event: overflow\ndata: {}\n\n"]
    assert hub.wait_count(0, 0)  # the stream unsubscribed as it ended
