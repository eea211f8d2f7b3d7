"""The member's pages in real headless Chromium, served by the node's app on a real uvicorn.

Until the members' service (sessions, /wallet/api) lands, the session of the pages that need
one is given through ``current_member``; the sign-up form is checked up to what it sends.
Every screen: French and English, no serious or critical axe-core violation, a screenshot at
phone width (``var/screenshots``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# browser_support is also another test module's plugin (rewritten by pytest): mark it before
# importing it here, whichever module pytest collects first
pytest.register_assert_rewrite("browser_support")

from api_support import Env, api_env, served  # noqa: E402
from api_support import anyio_backend  # noqa: E402, F401  (the fixture, for pytest)
from browser_support import axe_violations, chromium, phone, screenshot  # noqa: E402
from playwright.async_api import Browser, Page, async_playwright, expect  # noqa: E402

from lien.wallet import Member  # noqa: E402
from lien.web.session import Session, current_member  # noqa: E402

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with api_env(tmp_path) as env:
        yield env


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as driver:
        launched = await chromium(driver)
        yield launched
        await launched.close()


def log_in(env: Env, member: Member) -> None:
    async def session() -> Session:
        return Session(account=member.account, csrf="t" * 32)
    env.app.dependency_overrides[current_member] = session


async def seen(page: Page, url: str, name: str, lang: str) -> None:
    """Open ``url`` in ``lang``; no serious accessibility problem; a screenshot."""
    response = await page.goto(f"{url}?lang={lang}")
    assert response is not None and response.status == 200, url
    assert await axe_violations(page) == [], f"{name}-{lang}"
    await screenshot(page, name, lang)


async def test_signup_refuses_bad_input_in_french_next_to_each_field_and_sends_nothing(
        env: Env, browser: Browser) -> None:
    async with served(env.app) as (url, _server, _task):
        context = await phone(browser)
        page = await context.new_page()
        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.url) if "/wallet/api/" in r.url else None)
        accounts = env.node.summary.accounts
        await seen(page, f"{url}/ouvrir-un-compte", "signup", "fr")
        await page.get_by_label("Professionnel·le (prestataire)").check()
        await page.get_by_label("Votre nom").fill("Marie Curie")
        await page.get_by_label("Numéro SIRET").fill("12345678901234")  # bad Luhn key
        await page.get_by_label("E-mail").fill("marie@")
        await page.get_by_label("Mot de passe", exact=True).fill("court")
        await page.get_by_label("Mot de passe (confirmation)").fill("autre")
        await page.get_by_role("button", name="Créer un compte").dblclick()
        expected = {
            "siret": "Un numéro SIRET a 14 chiffres et une clé de contrôle valide.",
            "email": "Saisissez une adresse e-mail valide, comme nom@exemple.fr.",
            "password": "Le mot de passe doit avoir au moins 10 caractères.",
            "password2": "Les deux mots de passe ne sont pas identiques.",
            "trading_name": "Ce champ est obligatoire.",
            "category": "Ce champ est obligatoire.",
        }
        for field, text in expected.items():
            control = page.locator(f"#f-{field}")
            await expect(control).to_have_attribute("aria-invalid", "true")
            await expect(control).to_have_accessible_description(re.compile(re.escape(text)))
        await page.get_by_role("button", name="Créer un compte").click()
        await expect(page.locator("#f-trading_name")).to_be_focused()  # the first in error
        assert await axe_violations(page) == []
        await screenshot(page, "signup-errors", "fr")
        assert sent == [] and env.node.summary.accounts == accounts
        await seen(page, f"{url}/ouvrir-un-compte", "signup", "en")
        await expect(page.get_by_role("button", name="Open an account")).to_be_visible()
        await seen(page, f"{url}/connexion", "login", "fr")
        await expect(page.get_by_role("button", name="Se connecter")).to_be_visible()
        await page.get_by_role("button", name="Se connecter").click()
        await expect(page.locator("#f-email")).to_have_accessible_description(
            "Ce champ est obligatoire.")
        await seen(page, f"{url}/connexion", "login", "en")
        await seen(page, f"{url}/annuaire", "directory", "fr")
        await seen(page, f"{url}/annuaire", "directory", "en")
        assert sent == []
        await context.close()


async def test_wallet_screens_history_and_offline(env: Env, browser: Browser) -> None:
    alice = await env.join("alice", nantie=5_000)
    shop = await env.join("shop", kind="business")
    await env.ok(env.mk.pay(alice, shop, 1_250))
    refused = await env.run(env.mk.pay(alice, shop, 100_000))
    assert refused["result"]["code"] == "insufficient_funds"
    log_in(env, alice)
    async with served(env.app) as (url, _server, _task):
        context = await phone(browser)
        page = await context.new_page()
        for lang in ("fr", "en"):
            await seen(page, f"{url}/compte", "account", lang)
            await seen(page, f"{url}/historique", "history", lang)
            await seen(page, f"{url}/profil", "profile", lang)
        await page.goto(f"{url}/compte?lang=fr")
        for name in ("Payer", "Encaisser", "Virement", "Demander un paiement"):
            await expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
        await expect(page.get_by_test_id("balance")).to_have_text("37,50 LIEN")
        await expect(page.get_by_test_id("spendable")).to_have_text("237,50 LIEN")  # floor -200

        await page.goto(f"{url}/historique")
        line = page.locator("li.op.refused")
        await expect(line).to_have_count(1)
        await expect(line.locator(".op-amount")).to_have_text("Refusé")
        await expect(line.locator(".reason")).to_have_text("refusé : fonds insuffisants")

        # offline: once the worker controls the pages, the last /compte is shown, marked
        await page.goto(f"{url}/compte")
        await page.evaluate("navigator.serviceWorker.ready")
        await page.reload()
        await page.wait_for_function("navigator.serviceWorker.controller !== null")
        await expect(page.locator("#offline")).to_be_hidden()
        await context.set_offline(True)
        await page.reload()
        await expect(page.get_by_text("Hors ligne — dernier solde connu")).to_be_visible()
        await expect(page.get_by_test_id("balance")).to_have_text("37,50 LIEN")
        pay = page.locator(".pay-action", has_text="Payer")
        await expect(pay).to_have_attribute("aria-disabled", "true")
        assert await pay.get_attribute("href") is None
        assert await axe_violations(page) == []
        await screenshot(page, "account-offline", "fr")
        await page.goto(f"{url}/historique")
        await expect(page.get_by_text("Hors ligne — dernier historique connu.")).to_be_visible()
        await expect(page.locator("li.op.refused .reason")).to_have_text(
            "refusé : fonds insuffisants")
        await context.set_offline(False)
        await page.reload()
        await expect(page.locator("#offline")).to_be_hidden()
        await context.close()
