"""The members' wallet end to end: real headless Chromium (``browser_support``'s module-scoped
fixtures, Playwright's sync API) against a real ``lien serve`` (``server_support.Server``) of a
node made by ``lien init --demo``, and the association's ``lien admin`` verbs.

* a member and a business sign up through the forms (the key made in the browser), the
  association approves both (``lien admin approve``) and issues nantie (``lien admin issue``);
  the member sees it on /compte, the business appears in the directory;
* logging in from a fresh browser context restores the key from the backup: the device key
  kept in IndexedDB is the account's key;
* a wrong password shows one French message and logs nobody in (an unknown e-mail: the same);
* a demo member logs in with the demo password; "Se déconnecter de partout" ends the session
  of another browser context.

The origin is ``http://127.0.0.1:PORT``: a secure context for WebCrypto, as localhost is.
Nothing sleeps: Playwright's ``expect`` and ``wait_for_url`` wait for conditions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_support import run
from playwright.sync_api import Browser, BrowserContext, Page, expect
from server_support import Server

from lien.node.setup import DEMO_PASSWORD

PASSWORD = "un mot de passe solide"
#: argon2id (19 MiB, 2 passes) in WebAssembly, then a block: generous for a slow CI machine
FLOW_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class DemoNode:
    path: Path
    url: str
    demo: dict[str, Any]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoNode]:
    path = tmp_path_factory.mktemp("wallet") / "demo"
    made = run("init", "--dir", path, "--demo")
    assert made.exit_code == 0, made.text
    demo = json.loads((path / "demo.json").read_text())
    with Server(path) as server:
        yield DemoNode(path, server.url, demo)


def fresh(browser: Browser) -> BrowserContext:
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    context.set_default_timeout(FLOW_TIMEOUT_MS)
    return context


def admin(node: DemoNode, *args: str) -> None:
    done = run("admin", *args, "--dir", node.path, node=node.url, password=DEMO_PASSWORD)
    assert done.exit_code == 0, done.text


def me(page: Page) -> dict[str, Any]:
    """``/wallet/api/me`` as the page's session sees it (``{}`` without one)."""
    answer: dict[str, Any] = page.evaluate(
        "fetch('/wallet/api/me').then((r) => r.ok ? r.json() : {})")
    return answer


def device_public_key(page: Page, account: str) -> str | None:
    """The public key of the device key this browser keeps for ``account`` (IndexedDB)."""
    found: str | None = page.evaluate(
        """async (account) => {
             const keys = await import('/static/js/keys.js');
             const device = await keys.loadDeviceKey(account);
             return device ? device.publicKeyHex : null;
           }""", account)
    return found


def log_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/connexion")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


def chain_account(url: str, account: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{url}/api/v1/accounts/{account}", timeout=10).json()
    return data


def test_sign_up_approval_issue_and_a_new_device_restores_the_key(
        node: DemoNode, browser: Browser) -> None:
    url = node.url
    context = fresh(browser)
    page = context.new_page()
    page.goto(f"{url}/ouvrir-un-compte")
    page.get_by_label("Votre nom").fill("Léa Fournier")
    page.get_by_label("E-mail").fill("lea.fournier@example.org")
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_label("Mot de passe (confirmation)").fill(PASSWORD)
    page.get_by_role("button", name="Créer un compte").click()
    expect(page.get_by_role("heading", name="Compte en attente de validation")).to_be_visible()

    # the business, in another browser
    shop_context = fresh(browser)
    shop_page = shop_context.new_page()
    shop_page.goto(f"{url}/ouvrir-un-compte")
    shop_page.get_by_label("Professionnel·le (prestataire)").check()
    shop_page.get_by_label("Votre nom").fill("Marc Rivière")
    shop_page.locator("#f-trading_name").fill("La Fromagerie du Forez")
    shop_page.locator("#f-siret").fill("732 829 320 00074")
    shop_page.locator("#f-category").select_option("alimentation")
    shop_page.locator("#f-town").fill("Montbrison")
    shop_page.locator("#f-description").fill("Fromages fermiers.")
    shop_page.get_by_label("Afficher mon activité dans l'annuaire des membres").check()
    shop_page.get_by_label("E-mail").fill("fromagerie@example.org")
    shop_page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    shop_page.get_by_label("Mot de passe (confirmation)").fill(PASSWORD)
    shop_page.get_by_role("button", name="Créer un compte").click()
    expect(shop_page.get_by_role("heading", name="Compte en attente de validation")
           ).to_be_visible()

    # the member logs in on the same device: pending, nothing to spend yet
    log_in(page, url, "lea.fournier@example.org", PASSWORD)
    page.wait_for_url(f"{url}/compte")
    member = me(page)
    account = member["account"]
    assert member["kind"] == "personal" and member["profile"] == {"name": "Léa Fournier"}
    expect(page.get_by_text("Compte en attente de validation").first).to_be_visible()
    log_in(shop_page, url, "fromagerie@example.org", PASSWORD)
    shop_page.wait_for_url(f"{url}/compte")
    shop = me(shop_page)
    assert shop["kind"] == "business" and shop["profile"]["siret"] == "73282932000074"
    on_chain = chain_account(url, account)
    assert on_chain["kind"] == "personal" and on_chain["keys"] == [member["public_key"]]

    # the association approves both and issues nantie to the member
    admin(node, "approve", account)
    admin(node, "approve", shop["account"])
    admin(node, "issue", account, "50", "--reference", "dépôt test")
    page.goto(f"{url}/compte")
    expect(page.get_by_test_id("balance")).to_have_text("50,00 LIEN")
    expect(page.get_by_text("Compte en attente de validation")).to_have_count(0)
    directory = shop_page.goto(f"{url}/annuaire?q=fromagerie")
    assert directory is not None and directory.status == 200
    expect(shop_page.get_by_role("heading", name="La Fromagerie du Forez")).to_be_visible()

    # a new device: the key comes back from the backup, opened with the password
    laptop = fresh(browser)
    other = laptop.new_page()
    other.goto(f"{url}/connexion")
    assert device_public_key(other, account) is None
    log_in(other, url, "LEA.Fournier@example.org ", PASSWORD)
    other.wait_for_url(f"{url}/compte")
    expect(other.get_by_test_id("balance")).to_have_text("50,00 LIEN")
    assert device_public_key(other, account) == member["public_key"]
    token = other.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token and token == me(other)["csrf"]
    for c in (context, shop_context, laptop):
        c.close()


def test_a_wrong_password_shows_one_french_message_and_logs_nobody_in(
        node: DemoNode, browser: Browser) -> None:
    camille = node.demo["members"][0]
    context = fresh(browser)
    page = context.new_page()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/wallet/api/" in r.url else None)
    for email, password in ((camille["email"], "pas le bon mot de passe"),
                            ("personne@example.org", "pas le bon mot de passe")):
        log_in(page, node.url, email, password)
        status = page.locator("#status")
        expect(status).to_have_text("E-mail ou mot de passe incorrect.")
        expect(status).to_have_attribute("role", "alert")
        assert page.url == f"{node.url}/connexion"
    assert f"{node.url}/wallet/api/login" in sent
    assert me(page) == {}
    assert device_public_key(page, camille["account"]) is None
    page.goto(f"{node.url}/compte")
    assert page.url.startswith(f"{node.url}/connexion")
    context.close()


def test_a_demo_member_logs_in_and_logging_out_everywhere_ends_other_sessions(
        node: DemoNode, browser: Browser) -> None:
    camille = node.demo["members"][0]
    phone, laptop = fresh(browser), fresh(browser)
    pages = [phone.new_page(), laptop.new_page()]
    for page in pages:
        log_in(page, node.url, camille["email"], DEMO_PASSWORD)
        page.wait_for_url(f"{node.url}/compte")
        assert me(page)["account"] == camille["account"]
    assert device_public_key(pages[0], camille["account"]) == me(pages[0])["public_key"]

    pages[0].goto(f"{node.url}/profil")
    pages[0].get_by_role("button", name="Se déconnecter de partout").click()
    pages[0].wait_for_url(f"{node.url}/connexion")
    assert device_public_key(pages[0], camille["account"]) is None  # forgotten here
    pages[1].reload()
    pages[1].wait_for_url(re.compile(re.escape(f"{node.url}/connexion")))
    assert me(pages[1]) == {}
    phone.close()
    laptop.close()
