"""The node's home page at ``/``: French first, English on request, amounts the French way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api_support import Env, api_env
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)

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


async def test_home_page_is_not_in_the_api_document(env: Env) -> None:
    spec = (await env.client.get("/api/v1/openapi.json")).json()
    assert "/" not in spec["paths"]
