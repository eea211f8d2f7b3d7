"""The node's home page at ``/``: French first, English on request, amounts the French way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api_support import Env, api_env
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)

from lien.web.pages.text import LANGS, TEXT, language

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


async def test_home_page_reads_the_node_s_summary(env: Env) -> None:
    await env.join("alice", nantie=100)
    summary = env.node.summary
    page = await env.client.get("/")
    assert f"<td>{summary.accounts}</td>" in page.text
    assert f"<td>{summary.height}</td>" in page.text and summary.height == env.height()
    assert env.genesis.config.chain_id in page.text


def test_every_page_text_is_in_french_and_in_english() -> None:
    for key, words in TEXT.items():
        assert set(words._fields) == set(LANGS), key
        assert all(getattr(words, lang).strip() for lang in LANGS), key
    assert language(None) == language("de") == "fr" and language("en") == "en"
