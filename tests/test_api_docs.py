"""The server, its OpenAPI document and docs/protocol.md §12 say the same thing.

Each test reads one claim of the document (a route, a pattern, a bound, the shape of an answer)
and checks it against the OpenAPI document that the app serves and against what the server
really answers, so that none of the three can change alone.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import API, CODE, Env, api_env, envelope, member
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)
from fastapi import FastAPI
from fastapi.routing import APIRoute

from lien.ledger import TX_TYPES, Reason, TxError, limits
from lien.ledger.fields import POLICY
from lien.node.node import DiskFull, NodeBusy, NodeStopped
from lien.web import ApiSettings, errors
from lien.web.admission import WAITS
from lien.web.connections import ANSWERS
from lien.web.context import PAGE_DEFAULT
from lien.web.errors import API_CODES
from lien.web.events import StreamsFull
from lien.web.ratelimit import RateLimited
from lien.web.routes.chain import get_reasons

pytestmark = pytest.mark.anyio
DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


@functools.cache
def section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index("## 12. HTTP API"):text.index("## Test vectors")]


def example_after(label: str) -> Any:
    """The first JSON block of §12 after the paragraph that starts with ``label``."""
    text = section()
    start = text.index(label)
    block = re.search(r"```json\n(.*?)\n```", text[start:], re.S)
    assert block, label
    return json.loads(block.group(1))


def table(heading: str) -> list[list[str]]:
    """The rows of the first table after ``heading`` (cells stripped)."""
    text = section()
    rest = text[text.index(heading):]
    rows = re.findall(r"^\|(.+)\|$", rest[: rest.index("\n\n", rest.index("| ---"))], re.M)
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)] for row in rows[2:]]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with api_env(tmp_path) as env:
        yield env


async def spec(env: Env) -> dict[str, Any]:
    response = await env.client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def parameter(document: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    (found,) = [p for p in document["paths"][f"{API}{path}"][method].get("parameters", [])
                if p["name"] == name]
    return found


# -- routes --------------------------------------------------------------------------------------
async def test_the_route_table_the_openapi_paths_and_the_app_routes_are_the_same(
    env: Env,
) -> None:
    documented = {tuple(row[0].strip("`").split(" ", 1)) for row in table("| Route |")}
    served = {(method, route.path_format) for route in env.app.routes
              if isinstance(route, APIRoute) and route.path_format.startswith(API)
              for method in route.methods}
    described = {(method.upper(), path) for path, ops in (await spec(env))["paths"].items()
                 for method in ops}
    assert documented == served == described


async def test_each_route_is_registered_once(env: Env) -> None:
    """One registration per route: the route the document describes is the one that runs."""
    seen = [(method, route.path_format) for route in env.app.routes
            if isinstance(route, APIRoute) for method in route.methods]
    assert len(seen) == len(set(seen))
    api = [r for r in env.app.routes if getattr(r, "path", "").startswith(f"{API}/")]
    assert all(isinstance(r, APIRoute) for r in api
               if not r.path.startswith((f"{API}/openapi", f"{API}/docs"))), api


# -- parameters ----------------------------------------------------------------------------------
async def test_the_parameter_patterns_are_the_documents(env: Env) -> None:
    document = await spec(env)
    rows = {row[0]: row[1:] for row in table("| Parameter |")}
    cases = [("`{id}` (a transaction)", ("get", "/transactions/{id}", "id"), "malformed"),
             ("`{account_id}`", ("get", "/accounts/{account_id}", "account_id"), "bad_field"),
             ("`{code}` (a currency)", ("get", "/currencies/{code}", "code"), "malformed")]
    for row, where, code in cases:
        pattern = parameter(document, *where)["schema"]["pattern"]
        accepted, otherwise = rows[row]
        assert f"`{pattern}`" in accepted, row
        assert otherwise == f"400 `{code}`", row


async def test_the_hot_route_documents_the_wait_it_reads(env: Env) -> None:
    """POST /transactions reads ``wait`` itself (no FastAPI validation on the hot path): its
    documented values are the ones it accepts, and the protocol's table says the same."""
    wait = parameter(await spec(env), "post", "/transactions", "wait")
    assert wait["schema"]["enum"] == list(WAITS) and wait["schema"]["default"] == "accepted"
    (row,) = [row for row in table("| Parameter |") if row[0] == "`wait`"]
    assert row[1] == "`accepted` (default), `executed`, `final`"
    data = envelope(env.genesis.bootstrap[0])
    for value in WAITS:
        assert (await env.post(data, wait=value)).status_code == 200
    refused = await env.post(data, wait="done")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "malformed"


async def test_page_sizes_agree(env: Env) -> None:
    document = await spec(env)
    settings = ApiSettings()
    (limit_row,) = [row for row in table("| Parameter |") if row[0] == "`limit`"]
    for path, maximum in (("/accounts/{account_id}/history", settings.history_page_max),
                          ("/blocks", settings.blocks_page_max),
                          ("/blocks/certified", settings.certified_page_max)):
        schema = parameter(document, "get", path, "limit")["schema"]
        assert (schema["minimum"], schema["maximum"], schema["default"]) == (
            1, maximum, PAGE_DEFAULT)
        assert f"1..{maximum}" in limit_row[1]
        assert f"1..{maximum}, default {PAGE_DEFAULT})" in section()
    assert f"**{PAGE_DEFAULT}** when `limit` is absent" in section()
    alice = await env.join("alice")
    for i in range(PAGE_DEFAULT // 10):  # enough blocks and history for one full page
        await env.all_ok([env.mk.pay(env.genesis.association, alice, 1 + j + 10 * i)
                          for j in range(10)])
    history = (await env.client.get(f"{API}/accounts/{alice.account}/history")).json()
    assert len(history["items"]) == PAGE_DEFAULT and history["next"] is not None
    too_big = await env.client.get(f"{API}/blocks", params={"limit": settings.blocks_page_max + 1})
    assert too_big.status_code == 400 and too_big.json()["error"]["code"] == "malformed"


async def test_the_app_s_own_bounds_are_in_its_document(tmp_path: Path) -> None:
    settings = ApiSettings(history_page_max=70, batch_bytes_max=10_000)
    async with api_env(tmp_path, settings, bootstrap=False) as env:
        document = await spec(env)
        schema = parameter(document, "get", "/accounts/{account_id}/history", "limit")["schema"]
        assert schema["maximum"] == 70
        paths = document["paths"]
        batch = paths[f"{API}/transactions/batch"]["post"]["requestBody"]
        assert batch["x-body-bytes-max"] == 10_000
        one = paths[f"{API}/transactions"]["post"]["requestBody"]
        assert one["x-body-bytes-max"] == limits.transaction_bytes_max


def test_the_default_batch_bound_is_the_documented_formula() -> None:
    settings = ApiSettings()
    assert settings.batch_bytes_max == (
        limits.batch_transactions_max * (limits.transaction_bytes_max + 2) + 64)
    assert ("`batch_transactions_max` × (`transaction_bytes_max` + 2) + 64" in
            " ".join(section().split()))


async def test_the_bodies_schemas_state_the_protocol_s_limits(env: Env) -> None:
    paths = (await spec(env))["paths"]
    one = paths[f"{API}/transactions"]["post"]["requestBody"]["content"]["application/json"]
    envelope = one["schema"]
    assert envelope["additionalProperties"] is False
    signatures = envelope["properties"]["signatures"]
    assert (signatures["minItems"], signatures["maxItems"]) == (1, limits.signatures_max)
    body = envelope["properties"]["body"]
    assert sorted(body["properties"]["type"]["enum"]) == sorted(TX_TYPES)
    batch = paths[f"{API}/transactions/batch"]["post"]["requestBody"]["content"]
    transactions = batch["application/json"]["schema"]["properties"]["transactions"]
    assert transactions["maxItems"] == limits.batch_transactions_max


# -- answers -------------------------------------------------------------------------------------
def keys(value: Any) -> Any:
    """The shape of a JSON value: its keys, recursively (first item of a list)."""
    if isinstance(value, dict):
        return {k: keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [keys(value[0])] if value else []
    return None


async def test_the_account_json_is_the_documented_one(env: Env) -> None:
    shop = await env.join("shop", nantie=1_000, kind="business")
    till = member("the shop's till")
    await env.ok(env.mk.make([shop], "delegate", account=shop.account, currency=CODE,
                             key=till.public_key, cap_per_payment_minor=5_000,
                             cap_total_minor=50_000))
    served = (await env.client.get(f"{API}/accounts/{shop.account}")).json()
    documented = example_after("**Account.**")
    assert served["recovery"] is None  # documented with one pending: compared apart
    recovery = documented.pop("recovery")
    served.pop("recovery")
    assert keys(served) == keys(documented)
    assert set(recovery) == {"key", "currency", "effective_ms"}


async def test_the_currency_json_is_the_documented_one(env: Env) -> None:
    served = (await env.client.get(f"{API}/currencies/{CODE}")).json()
    documented = example_after("**Currencies.**")
    assert keys(served) == keys(documented)
    assert set(documented["policy"]) == set(POLICY)
    listed = (await env.client.get(f"{API}/currencies")).json()
    assert listed == {"items": [served]}


async def test_the_federation_json_is_the_documented_one(env: Env) -> None:
    """On an embedded node (alone: no peers, no evidence); a federated node's whole answer is
    compared with the example in tests/test_federation_view.py."""
    served = (await env.client.get(f"{API}/federation")).json()
    documented = example_after("**Federation.**")
    assert set(served) == set(documented)
    assert keys(served["ordering"]) == keys(documented["ordering"])
    assert keys(served["validators"]) == keys(documented["validators"])
    assert keys(served["recent_blocks"]) == keys(documented["recent_blocks"])
    assert served["ordering"]["backend"] == "embedded" and served["peers"] == []


async def test_the_batch_answer_is_the_documented_wrapper(env: Env) -> None:
    alice = await env.join("alice", nantie=1_000)
    good = env.mk.pay(alice, env.genesis.association, 5)
    forged = good.to_json()
    forged["body"] = {**forged["body"], "amount": 6}  # the signature is of another body
    steal = {**good.to_json(), "body": {**good.body, "type": "steal"}}
    response = await env.client.post(f"{API}/transactions/batch",
                                     json={"transactions": [good.to_json(), forged, steal]})
    served = response.json()
    documented = example_after("**Batches.**")
    assert set(served) == set(documented) == {"items"}
    assert [keys(item) for item in served["items"]] == [keys(i) for i in documented["items"]]
    assert [item.get("error", {}).get("code") for item in served["items"]] == [
        None, "bad_signature", "unknown_type"]


async def test_single_validator_finality_is_as_documented(env: Env) -> None:
    """§12: on a chain's only validator, `executed` is never seen; `wait=executed` answers
    `final`."""
    assert env.genesis.config.validators == (bytes(env.genesis.validator.verify_key).hex(),)
    alice = await env.join("alice", nantie=1_000)
    answer = (await env.post(env.mk.pay(alice, env.genesis.association, 1), wait="executed"))
    assert answer.json()["status"] == "final"
    assert "never sees `executed`" in " ".join(section().split())


def test_the_event_stream_bounds_are_the_documented_ones() -> None:
    settings = ApiSettings()
    text = " ".join(section().split())
    assert f"the line `retry: {settings.sse_retry_ms}` (`sse_retry_ms`" in text
    assert f"up to {settings.sse_backlog_events_max}, `sse_backlog_events_max`" in text
    assert f"more than {settings.sse_queue_events_max} queued, `sse_queue_events_max`" in text
    assert f"every {settings.sse_heartbeat_s:g} s of silence" in text
    assert "`event: overflow` (`data: {}`) and **the stream closes**" in text


def test_every_api_error_code_is_documented() -> None:
    for code in API_CODES:
        assert f"`{code}`" in section() or code == "internal" and "(`internal`)" in section()


# -- status codes --------------------------------------------------------------------------------
def documented_statuses() -> dict[str, set[int]]:
    """Each code that §12's status table names (in backticks, in the "When" column), with the
    statuses of the rows that name it; "other than `x`" does not name ``x``."""
    codes = {r.value for r in Reason} | set(API_CODES)
    found: dict[str, set[int]] = {}
    for status, when, _body in table("| Status |"):
        named = re.findall(r"(?<!other than )`([a-z_]+)`", when)
        for code in set(named) & codes:
            found.setdefault(code, set()).add(int(status))
    return found


def raising(exc: BaseException) -> FastAPI:
    """An app whose one route raises ``exc``, with the API's error translation."""
    app = FastAPI()
    errors.install(app)

    @app.get("/raise")
    async def _raise() -> None:
        raise exc

    return app


async def answered(exc: BaseException) -> httpx.Response:
    transport = httpx.ASGITransport(app=raising(exc), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://lien.test") as client:
        return await client.get("/raise")


async def test_every_code_the_api_answers_has_its_one_documented_status() -> None:
    """§12's status table gives each API error code one status, the one the API's error
    translation (or the server's connection limits) really answers; every admission reason is
    400 but ``too_large`` (413), as the table and GET /reasons say."""
    documented = documented_statuses()
    raised: dict[str, BaseException] = {
        "not_found": errors.NotFound("x"), "node_halted": errors.NodeHalted("x"),
        "node_busy": NodeBusy("x"), "disk_full": DiskFull("x"),
        "rate_limited": RateLimited("x", 2), "too_many_streams": StreamsFull(1, 3),
        "internal": RuntimeError("a bug"),
    }
    served = {code: (await answered(exc)) for code, exc in raised.items()}
    for code, response in served.items():
        assert response.json()["error"]["code"] == code
        assert documented.get(code) == {response.status_code}, code
        if response.status_code in (429, 503):
            assert response.headers["Retry-After"].isdigit(), code
    stopped = await answered(NodeStopped("x"))  # a stopped node, as a halted one
    assert (stopped.status_code, stopped.json()["error"]["code"]) == (503, "node_halted")
    for status, code in ANSWERS.values():
        assert status in documented.get(code, set()), code
    assert documented["method_not_allowed"] == {405}
    assert set(API_CODES) <= set(documented), "an API code is missing from the status table"
    (admission_row,) = [row for row in table("| Status |") if row[0] == "400"]
    assert "an admission code other than `too_large`" in admission_row[1]
    assert documented["too_large"] == {413}
    reasons = json.loads(get_reasons().body)["reasons"]
    for reason in reasons:
        expected = {"ok": 200, "execution": 200}.get(
            reason["family"], 413 if reason["code"] == "too_large" else 400)
        assert reason["http_status"] == expected, reason
        if reason["family"] == "admission":
            refused = await answered(TxError(Reason(reason["code"]), "x"))
            assert refused.status_code == expected, reason
    assert "answered 200 with `result.code`" in " ".join(section().split())
