"""Small answers a client relies on: HEAD on every GET route (the status and headers of the GET,
no body; on a real uvicorn HEAD of the event stream must not hold the connection open), and a
result whose keys read in one order wherever it comes from."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from api_support import API, Env, api_env, served
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)
from fastapi.routing import APIRoute

from lien.wallet import Member

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with api_env(tmp_path) as env:
        yield env


def _get_paths(env: Env) -> list[str]:
    """Every GET route of the app, its path parameters filled with real values."""
    admin = env.genesis.admins[0].account
    tx_id = env.genesis.bootstrap[-1].id
    values = {"account_id": admin, "id": tx_id, "height": "1", "code": "LIEN"}
    paths = []
    for route in env.app.routes:
        if isinstance(route, APIRoute) and "GET" in route.methods:
            path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], route.path)
            assert "{" not in path, path
            paths.append(path)
    return paths


async def test_every_get_route_answers_head_with_the_same_head_and_no_body(env: Env) -> None:
    paths = [p for p in _get_paths(env) if not p.endswith("/events")]
    assert f"{API}/chain" in paths and "/" in paths
    for path in paths:
        got = await env.client.get(path)
        head = await env.client.head(path)
        assert (head.status_code, head.content) == (got.status_code, b""), path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
    missing = await env.client.head(f"{API}/accounts/{'0' * 12}")
    assert missing.status_code == (await env.client.get(f"{API}/accounts/{'0' * 12}")).status_code
    post_only = await env.client.head(f"{API}/transactions")
    assert post_only.status_code == 405


async def test_head_of_the_event_stream_does_not_hold_the_connection(env: Env) -> None:
    admin = env.genesis.admins[0].account
    async with served(env.app) as (url, _server, _task):
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            head = await client.head(f"{API}/accounts/{admin}/events")
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-type"].startswith("text/event-stream")
            # the same connection serves the next request at once
            assert (await client.get(f"{API}/chain")).status_code == 200
    # and the stream the GET behind it opened is closed (waited for off the event loop)
    hub = env.app.state.lien.hub
    assert await asyncio.get_running_loop().run_in_executor(None, hub.wait_count, 0, 5)


async def test_a_result_reads_the_same_from_the_answer_the_status_and_the_history(
    env: Env,
) -> None:
    """Keys in canonical order everywhere: a refusal naming an account (`account` sorts before
    `code`) reads the same in the answer to the submission and in the stored status."""
    admin = env.genesis.admins[0]
    tx = env.mk.pay(admin, Member.new(), 100)  # the payee never opened an account
    answered = (await env.post(tx, "final")).json()["result"]
    stored = (await env.client.get(f"{API}/transactions/{tx.id}")).json()["result"]
    assert answered["code"] == "unknown_account" and "account" in answered
    assert list(answered) == list(stored) == sorted(stored), (answered, stored)
