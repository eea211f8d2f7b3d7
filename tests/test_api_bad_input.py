"""Bad input on every endpoint: the exact status and reason code, and nothing changed.

"Nothing changed" is proved by ``Env.unchanged()``: the next block holds only a probe and the
stored state lines are the same. One node serves the whole module (each case checks that it
left no trace, so they do not disturb one another).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from api_support import API, Env, api_env, envelope, member

from lien.ledger import Tx, limits, sign_body
from lien.wallet import Member, TxMaker
from lien.web import ApiSettings

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    settings = ApiSettings(batch_bytes_max=64 * 1024)
    async with api_env(tmp_path_factory.mktemp("bad-input"), settings) as env:
        env.alice = await env.join("alice", nantie=10_000)  # type: ignore[attr-defined]
        env.bob = await env.join("bob")  # type: ignore[attr-defined]
        yield env


def people(env: Env) -> tuple[Member, Member]:
    return env.alice, env.bob  # type: ignore[attr-defined]


def error(response: httpx.Response) -> tuple[int, str]:
    """(status, code) of an error response, whose body must be {"error": {code, detail}}."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str), body
    assert isinstance(body["error"]["detail"], str), body  # always there (found by fuzzing)
    return response.status_code, body["error"]["code"]


# -- POST /transactions: one transaction ----------------------------------------------------------
def payment(env: Env, **changes: Any) -> dict[str, Any]:
    """A validly signed payment as a JSON document, then ``changes`` applied to its body."""
    alice, bob = people(env)
    doc = env.mk.pay(alice, bob, 100).to_json()
    doc["body"].update(changes)
    return doc


def raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def signed(env: Env, maker: TxMaker | None = None, **fields: Any) -> bytes:
    alice, bob = people(env)
    body = (maker or env.mk).body("transfer", **{"from": alice.account}, to=bob.account,
                                  currency="LIEN", amount=100)
    body.update(fields)
    return envelope(sign_body(body, [alice.key]))


def other_clock(env: Env, offset_ms: int) -> TxMaker:
    return TxMaker(env.node.chain_id, lambda: env.node.clock() + offset_ms)


def flipped_signature(env: Env) -> bytes:
    doc = payment(env)
    sig = doc["signatures"][0]["sig"]
    doc["signatures"][0]["sig"] = ("1" if sig[0] == "0" else "0") + sig[1:]
    return raw(doc)


def borrowed_signature(env: Env) -> bytes:
    """Bob's body with the signature Alice made for another body."""
    alice, bob = people(env)
    doc = env.mk.pay(bob, alice, 100).to_json()
    doc["signatures"] = env.mk.pay(alice, bob, 100).to_json()["signatures"]
    return raw(doc)


def with_text(env: Env, old: str, new: str) -> bytes:
    text = raw(payment(env)).decode()
    assert old in text
    return text.replace(old, new, 1).encode()


def oversized(env: Env) -> bytes:
    doc = payment(env)
    doc["padding"] = "x" * limits.transaction_bytes_max
    return raw(doc)


def nested(depth: int) -> bytes:
    return b'{"body":' + b"[" * depth + b"]" * depth + b',"signatures":[]}'


TX_CASES: dict[str, tuple[Callable[[Env], bytes], int, str]] = {
    "not json": (lambda e: b"{not json", 400, "malformed"),
    "empty body": (lambda e: b"", 400, "malformed"),
    "a list": (lambda e: b"[]", 400, "malformed"),
    "a string": (lambda e: b'"pay me"', 400, "malformed"),
    "no signatures": (lambda e: raw({"body": payment(e)["body"]}), 400, "malformed"),
    "extra top field": (lambda e: raw({**payment(e), "id": "x"}), 400, "malformed"),
    "extra body field": (lambda e: raw(payment(e, tip=1)), 400, "malformed"),
    "missing amount": (lambda e: raw({**payment(e), "body": {
        k: v for k, v in payment(e)["body"].items() if k != "amount"}}), 400, "malformed"),
    "float amount": (lambda e: raw(payment(e, amount=10.5)), 400, "malformed"),
    "float that is whole": (lambda e: raw(payment(e, amount=100.0)), 400, "malformed"),
    "exponent amount": (lambda e: with_text(e, '"amount": 100', '"amount": 1e2'), 400,
                        "malformed"),
    "string amount": (lambda e: raw(payment(e, amount="100")), 400, "malformed"),
    "boolean amount": (lambda e: raw(payment(e, amount=True)), 400, "malformed"),
    "null amount": (lambda e: raw(payment(e, amount=None)), 400, "malformed"),
    "NaN amount": (lambda e: with_text(e, '"amount": 100', '"amount": NaN'), 400, "malformed"),
    "Infinity amount": (lambda e: with_text(e, '"amount": 100', '"amount": Infinity'), 400,
                        "malformed"),
    "zero amount": (lambda e: raw(payment(e, amount=0)), 400, "amount_invalid"),
    "negative amount": (lambda e: raw(payment(e, amount=-100)), 400, "amount_invalid"),
    "amount over the max": (lambda e: raw(payment(e, amount=limits.amount_minor_max + 1)), 400,
                            "amount_invalid"),
    # Beyond ±(2**53 - 1) is not strict JSON (protocol §2): malformed, before any field check
    # (it was amount_invalid / bad_field; the issue "one path" made it follow the document).
    "amount past 2**53": (lambda e: raw(payment(e, amount=2**64)), 400, "malformed"),
    "amount just past 2**53 - 1": (lambda e: raw(payment(e, amount=2**53)), 400, "malformed"),
    "negative past -(2**53 - 1)": (lambda e: raw(payment(e, amount=-(2**53))), 400, "malformed"),
    "expires past 2**53": (lambda e: raw(payment(e, expires=2**53)), 400, "malformed"),
    "huge integer in a memo's place": (lambda e: raw(payment(e, memo=-(2**70))), 400,
                                       "malformed"),
    "huge integer in an unknown type": (lambda e: raw(payment(e, type="steal", amount=2**60)),
                                        400, "malformed"),
    "nantie over amount": (lambda e: raw(payment(e, nantie=101)), 400, "amount_invalid"),
    "duplicate key": (lambda e: with_text(e, '"amount": 100', '"amount": 1, "amount": 100'),
                      400, "malformed"),
    "unknown type": (lambda e: raw(payment(e, type="steal")), 400, "unknown_type"),
    "bad payee checksum": (lambda e: raw(payment(e, to=people(e)[1].account[:-2] + (
        "00" if people(e)[1].account[-2:] != "00" else "01"))), 400, "bad_field"),
    "bad currency code": (lambda e: raw(payment(e, currency="lien")), 400, "bad_field"),
    "invalid utf-8": (lambda e: raw(payment(e)).replace(b'"LIEN"', b'"LI\xffN"'), 400,
                      "malformed"),
    "lone surrogate": (lambda e: with_text(e, '"currency": "LIEN"',
                                           '"currency": "LIEN", "memo": "\\ud800"'), 400,
                       "malformed"),
    "deep nesting": (lambda e: nested(1_500), 400, "malformed"),
    "wrong chain": (lambda e: signed(e, TxMaker("another-chain", e.node.clock)), 400,
                    "wrong_chain"),
    "expired": (lambda e: signed(e, other_clock(e, -3_600_000)), 400, "expired"),
    "expiry too far": (lambda e: signed(e, other_clock(e, 2 * limits.expiry_window_ms_max)),
                       400, "expiry_too_far"),
    "bad signature": (flipped_signature, 400, "bad_signature"),
    "signature of another body": (borrowed_signature, 400, "bad_signature"),
    "signature not hex": (lambda e: raw({**payment(e), "signatures": [
        {"key": people(e)[0].public_key, "sig": "zz" * 64}]}), 400, "bad_signature"),
    "missing signature": (lambda e: raw({**payment(e), "signatures": []}), 400,
                          "missing_signature"),
    "oversized memo": (lambda e: raw(payment(e, memo="é" * (limits.memo_bytes_max // 2 + 1))),
                       413, "too_large"),
    "oversized body": (oversized, 413, "too_large"),
}


@pytest.mark.parametrize("case", TX_CASES)
async def test_submit_refuses_bad_transactions(env: Env, case: str) -> None:
    build, status, code = TX_CASES[case]
    data = build(env)
    async with env.unchanged():
        for wait in ("accepted", "executed"):
            assert error(await env.post(data, wait=wait)) == (status, code), case


async def test_submit_refuses_an_oversized_body_sent_without_content_length(env: Env) -> None:
    data = oversized(env)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    async with env.unchanged():
        response = await env.client.post(f"{API}/transactions", content=chunks())
        assert "content-length" not in response.request.headers
        assert error(response) == (413, "too_large")


async def asgi_post(app: Any, path: str, headers: list[tuple[bytes, bytes]],
                    body: bytes) -> tuple[int, dict[str, Any], int]:
    """Call the ASGI app with hand-made headers: (status, json body, body messages read)."""
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": headers, "server": ("lien.test", 80),
             "client": ("127.0.0.1", 1234), "root_path": ""}
    await app(scope, receive, send)
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(payload), reads


@pytest.mark.parametrize("path", ["/transactions", "/transactions/batch"])
async def test_a_declared_content_length_over_the_limit_is_refused_unread(
    env: Env, path: str
) -> None:
    async with env.unchanged():
        status, body, reads = await asgi_post(
            env.app, API + path, [(b"content-length", b"1000000000000")], b"")
        assert (status, body["error"]["code"], reads) == (413, "too_large", 0)
        status, body, reads = await asgi_post(
            env.app, API + path, [(b"content-length", b"12x")], b"{}")
        assert (status, body["error"]["code"], reads) == (400, "malformed", 0)


async def test_submit_refuses_a_bad_wait(env: Env) -> None:
    data = raw(payment(env))
    async with env.unchanged():
        for wait in ("", "done", "EXECUTED", "final " * 100):
            assert error(await env.post(data, wait=wait)) == (400, "malformed"), wait


async def test_unknown_account_and_currency_are_execution_results(env: Env) -> None:
    """What the signer's account could sign but the state refuses is recorded; what no signer
    could ever make execute (a payer that was never opened, a currency of which the signer is
    no active member) is refused at admission instead: ``test_admission_limits``."""
    alice, bob = people(env)
    stranger = member("never opened, never will")
    lines = env.store.stored_state_lines()
    before = env.balance(alice), env.balance(bob)
    cases = [
        (env.mk.pay(alice, stranger, 100), "unknown_account"),
        (env.mk.make([alice], "join_currency", account=alice.account, currency="XYZ"),
         "unknown_currency"),
        (env.mk.pay(alice, alice, 100), "same_account"),
        (env.mk.pay(alice, bob, limits.amount_minor_max), "insufficient_funds"),
    ]
    for tx, code in cases:
        response = await env.post(tx)
        assert response.status_code == 200, response.text
        assert response.json()["result"]["code"] == code
        # A refusal is recorded: the same id again is the same answer, still not executed.
        assert (await env.post(tx)).json() == response.json()
    assert (env.balance(alice), env.balance(bob)) == before
    assert env.store.stored_state_lines() == lines


async def test_resubmitting_an_executed_payment_changes_nothing(env: Env) -> None:
    alice, bob = people(env)
    tx = env.mk.pay(alice, bob, 1)
    first = await env.ok(tx)
    async with env.unchanged():
        for wait in ("accepted", "executed", "final"):
            again = await env.post(tx, wait=wait)
            assert (again.status_code, again.json()) == (200, first)


async def test_resubmitting_with_another_valid_signature_set_is_the_same_id(env: Env) -> None:
    """The id is the hash of the body: a copy with a corrupted signature is answered with the
    first outcome, never executed again."""
    alice, bob = people(env)
    tx = env.mk.pay(alice, bob, 2)
    first = await env.ok(tx)
    doc = tx.to_json()
    sig = doc["signatures"][0]["sig"]
    doc["signatures"][0]["sig"] = ("1" if sig[0] == "0" else "0") + sig[1:]
    async with env.unchanged():
        again = await env.post(raw(doc))
        assert (again.status_code, again.json()) == (200, first)


# -- POST /transactions/batch ---------------------------------------------------------------------
BATCH_CASES: dict[str, tuple[Callable[[Env], bytes], int, str]] = {
    "not json": (lambda e: b"[", 400, "malformed"),
    "empty body": (lambda e: b"", 400, "malformed"),
    "a list": (lambda e: raw([payment(e)]), 400, "malformed"),
    "no transactions": (lambda e: b"{}", 400, "malformed"),
    "extra field": (lambda e: raw({"transactions": [], "all": True}), 400, "malformed"),
    "transactions not a list": (lambda e: raw({"transactions": payment(e)}), 400, "malformed"),
    "a float inside": (lambda e: raw({"transactions": [payment(e), payment(e, amount=1.5)]}),
                       400, "malformed"),
    "a duplicate key inside": (lambda e: b'{"transactions": [], "transactions": []}', 400,
                               "malformed"),
    "a huge integer inside": (lambda e: raw({"transactions": [payment(e),
                                                              payment(e, amount=2**53)]}),
                              400, "malformed"),
    "too many items": (lambda e: raw({"transactions": [0] * (limits.batch_transactions_max + 1)}),
                       413, "too_large"),
    "body over its bound": (lambda e: raw({"transactions": [payment(e, memo="m" * 200)] * 400}),
                            413, "too_large"),
}


@pytest.mark.parametrize("case", BATCH_CASES)
async def test_batch_refuses_bad_bodies(env: Env, case: str) -> None:
    build, status, code = BATCH_CASES[case]
    async with env.unchanged():
        response = await env.client.post(f"{API}/transactions/batch", content=build(env))
        assert error(response) == (status, code), case


async def test_batch_answers_each_item_and_queues_only_the_good_ones(env: Env) -> None:
    alice, bob = people(env)
    good = env.mk.pay(alice, bob, 7)
    items = [
        good.to_json(),
        {"body": {}, "signatures": []},
        json.loads(signed(env, TxMaker("another-chain", env.node.clock))),
        json.loads(flipped_signature(env)),
        json.loads(signed(env, other_clock(env, -3_600_000))),
        payment(env, type="steal"),
        payment(env, amount=0),
        "not a transaction",
        good.to_json(),  # the same id twice: one execution
    ]
    before = env.balance(alice), env.balance(bob)
    response = await env.client.post(f"{API}/transactions/batch", json={"transactions": items})
    assert response.status_code == 200
    out = response.json()["items"]
    assert [o["index"] for o in out] == list(range(len(items)))
    codes = [o.get("error", {}).get("code") for o in out]
    assert codes == [None, "unknown_type", "wrong_chain", "bad_signature", "expired",
                     "unknown_type", "amount_invalid", "malformed", None]
    assert out[0]["id"] == out[-1]["id"] == good.id
    assert "id" not in out[1] and out[3]["id"]
    status = await env.run(good)
    assert status["result"]["code"] == "ok"
    assert env.balance(alice)[0] == before[0][0] - 7
    assert env.balance(bob)[0] == before[1][0] + 7
    block = (await env.client.get(f"{API}/blocks/{status['height']}")).json()
    assert block["transactions"].count(good.id) == 1
    for o in out[1:-1]:
        if "id" in o:
            unknown = await env.client.get(f"{API}/transactions/{o['id']}")
            assert error(unknown) == (404, "not_found")


async def test_batch_item_body_is_bounded_without_content_length(env: Env) -> None:
    data = BATCH_CASES["body over its bound"][0](env)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 4096):
            yield data[i : i + 4096]

    async with env.unchanged():
        response = await env.client.post(f"{API}/transactions/batch", content=chunks())
        assert error(response) == (413, "too_large")


# -- GET endpoints: bad path and query parameters -------------------------------------------------
def _hex(n: int) -> str:
    return "ab" * (n // 2) + "a" * (n % 2)


GET_CASES: dict[str, tuple[str, dict[str, Any], int, str]] = {
    "tx id too short": ("/transactions/" + _hex(63), {}, 400, "malformed"),
    "tx id too long": ("/transactions/" + _hex(65), {}, 400, "malformed"),
    "tx id not hex": ("/transactions/" + "g" * 64, {}, 400, "malformed"),
    "tx id huge": ("/transactions/" + _hex(5000), {}, 400, "malformed"),
    "tx id non-ascii": ("/transactions/" + "é" * 64, {}, 400, "malformed"),
    "tx id and a newline": ("/transactions/" + _hex(64) + "%0A", {}, 400, "malformed"),
    "tx unknown": ("/transactions/" + _hex(64), {}, 404, "not_found"),
    "receipt bad id": ("/transactions/xyz/receipt", {}, 400, "malformed"),
    "receipt unknown": ("/transactions/" + _hex(64) + "/receipt", {}, 404, "not_found"),
    "account bad checksum": ("/accounts/{typo}", {}, 400, "bad_field"),
    "account too short": ("/accounts/ABC", {}, 400, "bad_field"),
    "account huge": ("/accounts/" + "A" * 10_000, {}, 400, "bad_field"),
    "account unknown": ("/accounts/{stranger}", {}, 404, "not_found"),
    "history bad id": ("/accounts/{typo}/history", {}, 400, "bad_field"),
    "history unknown": ("/accounts/{stranger}/history", {}, 404, "not_found"),
    "history limit 0": ("/accounts/{bob}/history", {"limit": 0}, 400, "malformed"),
    "history limit 201": ("/accounts/{bob}/history", {"limit": 201}, 400, "malformed"),
    "history limit text": ("/accounts/{bob}/history", {"limit": "ten"}, 400, "malformed"),
    "history limit float": ("/accounts/{bob}/history", {"limit": "1.5"}, 400, "malformed"),
    "history limit whole float": ("/accounts/{bob}/history", {"limit": "1.0"}, 400, "malformed"),
    "history limit plus sign": ("/accounts/{bob}/history", {"limit": "+5"}, 400, "malformed"),
    "history before exponent": ("/accounts/{bob}/history", {"before": "1e3"}, 400, "malformed"),
    "history before negative": ("/accounts/{bob}/history", {"before": -1}, 400, "malformed"),
    "history before huge": ("/accounts/{bob}/history", {"before": 2**64}, 400, "malformed"),
    "events bad id": ("/accounts/{typo}/events", {}, 400, "bad_field"),
    "events unknown": ("/accounts/{stranger}/events", {}, 404, "not_found"),
    "blocks after negative": ("/blocks", {"after": -1}, 400, "malformed"),
    "blocks after huge": ("/blocks", {"after": 2**63}, 400, "malformed"),
    "blocks limit 0": ("/blocks", {"limit": 0}, 400, "malformed"),
    "blocks limit 201": ("/blocks", {"limit": 201}, 400, "malformed"),
    "blocks limit whole float": ("/blocks", {"limit": "2.0"}, 400, "malformed"),
    "blocks after with spaces": ("/blocks", {"after": " 1"}, 400, "malformed"),
    "certified after negative": ("/blocks/certified", {"after": -1}, 400, "malformed"),
    "certified after huge": ("/blocks/certified", {"after": 2**63}, 400, "malformed"),
    "certified after text": ("/blocks/certified", {"after": "one"}, 400, "malformed"),
    "certified limit 0": ("/blocks/certified", {"limit": 0}, 400, "malformed"),
    "certified limit 201": ("/blocks/certified", {"limit": 201}, 400, "malformed"),
    "certified limit whole float": ("/blocks/certified", {"limit": "2.0"}, 400, "malformed"),
    "certified limit plus sign": ("/blocks/certified", {"limit": "+5"}, 400, "malformed"),
    "block 0": ("/blocks/0", {}, 400, "malformed"),
    "block text": ("/blocks/abc", {}, 400, "malformed"),
    "block float": ("/blocks/1.5", {}, 400, "malformed"),
    "block huge": ("/blocks/" + "9" * 30, {}, 400, "malformed"),
    "block unknown": ("/blocks/999999", {}, 404, "not_found"),
    "no such route": ("/wallets", {}, 404, "not_found"),
    "outside the api": ("/../etc/passwd", {}, 404, "not_found"),
}


def _typo(account: str) -> str:
    return account[:3] + ("Z" if account[3] != "Z" else "Y") + account[4:]


@pytest.mark.parametrize("case", GET_CASES)
async def test_queries_refuse_bad_parameters(env: Env, case: str) -> None:
    path, params, status, code = GET_CASES[case]
    alice, bob = people(env)
    path = path.format(typo=_typo(alice.account), bob=bob.account,
                       stranger=member("nobody").account)
    async with env.unchanged():
        response = await env.client.get(API + path, params=params)
        assert error(response) == (status, code), case


async def test_events_refuse_a_bad_last_event_id(env: Env) -> None:
    _, bob = people(env)
    async with env.unchanged():
        for last in ("abc", "-1", "1.5", "9" * 40):
            response = await env.client.get(f"{API}/accounts/{bob.account}/events",
                                            headers={"Last-Event-ID": last})
            assert error(response) == (400, "malformed"), last


async def test_wrong_methods_are_405(env: Env) -> None:
    async with env.unchanged():
        response = await env.client.delete(f"{API}/transactions")
        assert error(response) == (405, "method_not_allowed")
        assert response.headers["allow"] == "POST"
        assert error(await env.client.put(f"{API}/chain", content=b"{}")) == (
            405, "method_not_allowed")
        # Found by fuzzing with every check: GET /transactions/batch was read as the status
        # of a transaction whose id is "batch" (400); it is a POST-only route.
        response = await env.client.get(f"{API}/transactions/batch")
        assert error(response) == (405, "method_not_allowed")
        assert response.headers["allow"] == "POST"


async def test_routing_errors_have_a_detail_too(env: Env) -> None:
    """Found by fuzzing (tests/test_api_fuzz.py): a 405 or an unknown route answered
    ``{"error": {"code": ...}}`` without the ``detail`` every other error has."""
    response = await env.client.request("TRACE", f"{API}/transactions/batch")
    assert response.json() == {"error": {"code": "method_not_allowed",
                                          "detail": "Method Not Allowed"}}
    response = await env.client.get(f"{API}/wallets")
    assert response.json() == {"error": {"code": "not_found", "detail": "Not Found"}}


async def test_openapi_documents_the_errors_the_api_answers(env: Env) -> None:
    """Found by fuzzing: the document promised FastAPI's 422 (never answered: a bad parameter
    is 400 ``malformed``) and GET /blocks did not document its 400."""
    spec = (await env.client.get(f"{API}/openapi.json")).json()
    assert "ValidationError" not in json.dumps(spec)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert "422" not in op["responses"], (method, path)
            if not (op.get("parameters") or op.get("requestBody")):
                continue
            schema = op["responses"]["400"]["content"]["application/json"]["schema"]
            assert schema["required"] == ["error"], (method, path)
            assert schema["properties"]["error"]["required"] == ["code", "detail"]
    response = await env.client.get(f"{API}/blocks", params={"limit": 0})
    assert error(response) == (400, "malformed")


async def test_a_receipt_is_not_found_before_execution(tmp_path_factory: pytest.TempPathFactory,
                                                       env: Env) -> None:
    del env  # the module's node; this one cuts no second block
    from lien.node.node import NodeSettings

    async with api_env(tmp_path_factory.mktemp("slow"), None,
                       NodeSettings(block_gap_ms_min=3_600_000), bootstrap=False) as slow:
        await slow.run(slow.genesis.bootstrap[0])
        tx = slow.genesis.bootstrap[1]
        assert (await slow.post(tx, wait="accepted")).status_code == 202
        receipt = await slow.client.get(f"{API}/transactions/{tx.id}/receipt")
        assert error(receipt) == (404, "not_found")


# -- a stopped node ---------------------------------------------------------------------------------
async def test_a_shut_down_api_refuses_submissions_with_503(
    tmp_path_factory: pytest.TempPathFactory, env: Env
) -> None:
    """Found by the fuzzing harness: once the app's lifespan had ended (its admission threads
    shut down), a submission was a 500 ``internal``; it is a 503 and changes nothing."""
    del env
    async with api_env(tmp_path_factory.mktemp("shut")) as shut:
        tx = shut.mk.pay(shut.genesis.association, shut.genesis.comptoir, 1)
        height = shut.height()
        shut.app.state.lien.close()
        response = await shut.post(tx, wait="accepted")
        assert error(response) == (503, "node_halted")
        assert response.headers["retry-after"] == "1"
        batch = await shut.client.post(f"{API}/transactions/batch",
                                       json={"transactions": [tx.to_json()]})
        assert error(batch) == (503, "node_halted")
        assert shut.height() == height and shut.node.status(tx.id) is None


async def test_a_stopped_node_refuses_submissions_with_503(
    tmp_path_factory: pytest.TempPathFactory, env: Env
) -> None:
    del env
    async with api_env(tmp_path_factory.mktemp("stopped")) as stopped:
        tx: Tx = stopped.mk.pay(stopped.genesis.association, stopped.genesis.comptoir, 1)
        height = stopped.height()
        stopped.node.stop()
        for wait in ("accepted", "executed"):
            response = await stopped.post(tx, wait=wait)
            assert error(response) == (503, "node_halted")
            assert response.headers["retry-after"] == "1"
        batch = await stopped.client.post(f"{API}/transactions/batch",
                                          json={"transactions": [tx.to_json()]})
        assert error(batch) == (503, "node_halted")
        assert stopped.height() == height
        assert stopped.node.status(tx.id) is None
        chain = (await stopped.client.get(f"{API}/chain")).json()  # reads still work
        assert chain["node"] == {"running": False, "halted": False, "ready": True,
                                 "disk_full": False}


async def test_a_node_that_halts_answers_503_to_waiting_and_later_requests(
    tmp_path_factory: pytest.TempPathFactory, env: Env
) -> None:
    """A database that loses a table under the node: the node halts (it never commits a
    partial block) and the API says so instead of waiting or answering 500."""
    del env
    path = tmp_path_factory.mktemp("halting")
    async with api_env(path, healthy=False) as halting:
        alice, bob = halting.genesis.association, halting.genesis.comptoir
        before = halting.height()
        with sqlite3.connect(path / "node.db") as db:
            db.execute("DROP TABLE postings")
        response = await halting.post(halting.mk.pay(alice, bob, 1), wait="executed")
        assert error(response) == (503, "node_halted")
        assert halting.node.failure is not None
        later = await halting.post(halting.mk.pay(bob, alice, 1), wait="accepted")
        assert error(later) == (503, "node_halted")
        assert halting.height() == before
        chain = (await halting.client.get(f"{API}/chain")).json()
        assert chain["node"] == {"running": False, "halted": True, "ready": True,
                                 "disk_full": False}


# -- a bug ------------------------------------------------------------------------------------------
async def test_an_internal_error_is_a_bare_500_logged_with_its_traceback(
    tmp_path_factory: pytest.TempPathFactory, env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """A table lost under a query is a bug of the node's, not of the request: 500 ``internal``
    with nothing of the error in the body, and the traceback in the log (it used to be logged
    as one line, without it)."""
    del env
    path = tmp_path_factory.mktemp("broken")
    async with api_env(path) as broken:
        with sqlite3.connect(path / "node.db") as db:
            db.execute("DROP TABLE memberships")
        # Starlette re-raises a 500's exception once the answer is sent; the client must not.
        transport = httpx.ASGITransport(app=broken.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://lien.test") as client:
            with caplog.at_level(logging.ERROR, logger="lien.web"):
                response = await client.get(f"{API}/accounts/{broken.genesis.comptoir.account}")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal", "detail": ""}}
    (record,) = [r for r in caplog.records if r.name == "lien.web"]
    assert record.exc_info is not None and "memberships" in str(record.exc_info[1])
    assert "Traceback" in caplog.text
