"""The member's screens in real headless Chromium, served by the node's app on a real uvicorn
in the test's own event loop (so Playwright's async API, not ``browser_support``'s module-scoped
sync fixtures).

A member is signed in through the pages' one dependency (``lien.web.session.current_session``):
these tests are about what the screens show; the sign-up and login flows against a real
``lien serve`` are in ``test_wallet_browser``. Every screen: French and English, no serious or
critical axe-core violation (vendored under ``tests/vendor/axe-core``, routed in as a
same-origin script by the test only: the pages' CSP forbids inline scripts), a screenshot at
phone width (``var/screenshots``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api_support import Env, api_env, served
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)
from browser_support import AXE, AXE_PATH, AXE_RUN, CHROMIUM_ARGS, axe_lines, chromium_path
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from lien.store import Session
from lien.wallet import Member
from lien.web.session import current_session

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "var" / "screenshots"


async def phone(browser: Browser, **options: Any) -> BrowserContext:
    return await browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR",
                                      **options)


async def axe_violations(page: Page) -> list[str]:
    """``browser_support.axe_violations`` for Playwright's async API."""
    origin = "/".join(page.url.split("/")[:3])
    await page.route(f"{origin}{AXE_PATH}", lambda route: route.fulfill(
        status=200, content_type="text/javascript", body=AXE.read_bytes()))
    await page.add_script_tag(url=AXE_PATH)
    return axe_lines(await page.evaluate(AXE_RUN))


async def screenshot(page: Page, name: str, lang: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{lang}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with api_env(tmp_path) as env:
        yield env


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=chromium_path(),
                                                headless=True, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


def log_in(env: Env, member: Member) -> None:
    """``member`` is signed in (a session row as the members' service gives it)."""
    now = env.node.clock()
    session = Session(id_hash="0" * 64, account=member.account, csrf="t" * 32, created_ms=now,
                      seen_ms=now, expires_ms=now + 3_600_000)
    env.app.dependency_overrides[current_session] = lambda: session


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
