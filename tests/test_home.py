"""The node's home page at ``/``: French first, English on request, amounts the French way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from api_support import Env, api_env
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)

from lien.node.node import Node
from lien.store import Store
from lien.web.api import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with api_env(tmp_path) as env:
        yield env


async def test_home_page_speaks_french_with_french_amounts(env: Env) -> None:
    await env.join("alice", nantie=123_456)
    page = await env.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in page.text
    assert "Nœud LIEN" in page.text
    assert "1\u202f234,56 LIEN" in page.text  # what the comptoir issued, in circulation
    assert f"<td>{env.height()}</td>" in page.text
    assert "en service" in page.text


async def test_home_page_in_english(env: Env) -> None:
    await env.join("alice", nantie=123_456)
    page = await env.client.get("/", params={"lang": "en"})
    assert '<html lang="en">' in page.text
    assert "1,234.56 LIEN" in page.text
    assert "running" in page.text


async def test_home_page_carries_a_strict_content_security_policy(env: Env) -> None:
    page = await env.client.get("/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in page.text and "style=" not in page.text and "<style" not in page.text
    css = await env.client.get("/static/css/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["content-security-policy"] == policy
    again = await env.client.get("/static/css/app.css", headers={"if-none-match": css.headers["etag"]})
    assert again.status_code == 304


async def test_the_language_chosen_is_remembered(env: Env) -> None:
    chosen = await env.client.get("/?lang=en")
    assert chosen.cookies.get("lien_lang") == "en"
    assert '<html lang="en">' in (await env.client.get("/")).text
    assert '<html lang="fr">' in (await env.client.get("/?lang=fr")).text


async def test_home_page_is_not_in_the_api_document(env: Env) -> None:
    spec = (await env.client.get("/api/v1/openapi.json")).json()
    assert "/" not in spec["paths"]


async def test_home_page_reads_the_node_s_summary(env: Env) -> None:
    await env.join("alice", nantie=100)
    summary = env.node.summary
    page = await env.client.get("/")
    assert f"<td>{summary.accounts}</td>" in page.text
    assert f"<td>{summary.height}</td>" in page.text and summary.height == env.height()
    assert env.genesis.config.chain_id in page.text


async def test_home_page_says_when_the_node_is_still_loading(tmp_path: Path) -> None:
    """``lien serve`` answers while its block loop loads the accounts (``summary.ready`` is
    False until then): the page says so rather than show a node that does nothing."""
    async with api_env(tmp_path) as env:
        store_url = env.store.url
    node = Node(Store(store_url), load_in_background=True)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(node)),
                                     base_url="http://node") as client:
            loading = await client.get("/")
            node.start()
            assert node.wait_ready(30)
            ready = await client.get("/")
    finally:
        node.stop()
        node.store.dispose()
    assert "chargement des comptes" in loading.text and "en service" in loading.text
    assert "chargement" not in ready.text and "en service" in ready.text
