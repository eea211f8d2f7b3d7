"""The pages that move money, in real Chromium against a real ``lien serve``: a till payment
between two phones (the business's screen turns *Payé* without reload), the counter's printed
QR, a transfer with a chosen split and an encrypted memo, a double tap that pays once, a till's
delegated key paying within its caps and refused beyond, and neither the key nor the
key-encryption key ever leaving the browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_support import Founders, ServedNode
from money_support import WalletSession, phone, ready, screenshot
from playwright.sync_api import Browser, expect

from lien.wallet import Member
from lien.wallet.memo import reference_hash

pytest_plugins = ("browser_support",)

TIMEOUT = 15_000


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedNode]:
    with ServedNode(tmp_path_factory.mktemp("money") / "node") as served:
        yield served


@pytest.fixture(scope="module")
def founders(node: ServedNode) -> Founders:
    return Founders(node)


def member(founders: Founders, tmp: Path, name: str, kind: str = "personal",
           nantie_minor: int = 0) -> Member:
    opened, _ = founders.open_member(tmp, name, kind, nantie_minor)
    return opened


def account(node: ServedNode, account_id: str) -> dict[str, object]:
    answer = httpx.get(f"{node.api}/accounts/{account_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def lien_balance(node: ServedNode, account_id: str) -> tuple[int, int]:
    m = next(c for c in account(node, account_id)["currencies"]  # type: ignore[attr-defined]
             if c["currency"] == "LIEN")
    return int(m["nantie_minor"]), int(m["credit_minor"])


def transfers(node: ServedNode, account_id: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{node.api}/accounts/{account_id}/history", params={"limit": 200},
                       timeout=10)
    return [i for i in answer.json()["items"] if i["type"] == "transfer"]


def test_a_till_payment_between_two_phones_turns_the_business_screen_paid(
        node: ServedNode, founders: Founders, browser: Browser, tmp_path: Path) -> None:
    shop = member(founders, tmp_path, "boulangerie", "business")
    client = member(founders, tmp_path, "claire", nantie_minor=5_000)
    shop_session = WalletSession(shop, "boulangerie@example.org",
                                 {"name": "Marie", "trading_name": "Boulangerie du Crêt"})
    client_session = WalletSession(client, "claire@example.org", {"name": "Claire"},
                                   directory={shop.account: "Boulangerie du Crêt"})
    till = phone(browser, node.url, shop_session)
    payer = phone(browser, node.url, client_session)

    ready(till.page, "/encaisser")
    till.page.evaluate("window.notReloaded = true")
    till.page.get_by_label("Montant").fill("12,50")
    till.page.get_by_role("button", name="Afficher le QR code").click()
    qr = till.page.locator("#qr")
    expect(qr).to_be_visible()
    till.page.wait_for_function("document.querySelector('#qr').naturalWidth > 0")
    expect(till.page.locator("#countdown")).to_contain_text("Valable encore 4:")
    screenshot(till.page, "encaisser-qr")
    link = str(till.page.locator("#qr-link").get_attribute("href"))
    assert link.startswith(f"{node.url}/payer/v1?to={shop.account}&cur=LIEN&amount=1250&ref=")

    ready(payer.page, link.removeprefix(node.url))
    expect(payer.page.locator("#payee-name")).to_have_text("Boulangerie du Crêt")
    expect(payer.page.locator("#fixed-amount")).to_have_text("12,50 LIEN")
    expect(payer.page.locator("#split")).to_have_text(
        "12,50 LIEN en monnaie nantie, 0,00 LIEN en crédit mutualisé")
    payer.page.get_by_role("button", name="Confirmer").click()
    payer.page.get_by_label("Mot de passe").fill(client_session.password)
    screenshot(payer.page, "payer-deverrouiller")
    payer.page.get_by_role("button", name="Déverrouiller").click()
    expect(payer.page.locator("#result")).to_be_visible(timeout=TIMEOUT)
    expect(payer.page.locator("#result-text")).to_have_text(
        "Payé : 12,50 LIEN à Boulangerie du Crêt.")
    screenshot(payer.page, "payer-paye")

    paid = till.page.locator("#paid-panel")
    expect(paid).to_be_visible(timeout=TIMEOUT)
    expect(paid).to_contain_text("Payé")
    expect(till.page.locator("#paid-amount")).to_have_text("12,50 LIEN")
    expect(till.page.locator("#paid-by")).to_contain_text(client.account[:4])
    assert till.page.evaluate("window.notReloaded") is True  # the same page: no reload
    screenshot(till.page, "encaisser-paye")
    assert lien_balance(node, client.account) == (5_000 - 1_250, 0)
    assert lien_balance(node, shop.account) == (1_250, 0)
    [payment] = transfers(node, shop.account)
    ref = link.split("&ref=")[1].split("&")[0]
    assert payment["tx"]["body"]["reference"] == reference_hash(shop.account, ref)  # type: ignore[index]

    # neither the key's seed nor the key-encryption key left the client's browser
    for secret in (client_session.seed, client_session.kek):
        assert not payer.requests.contains(secret.hex().encode())
        assert not till.requests.contains(secret.hex().encode())
    assert payer.requests.contains(client_session.login_secret.encode())  # what it did send
    assert client_session.logins == 1
    for file in node.path.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            for secret in (client_session.seed, client_session.kek):
                assert secret not in data and secret.hex().encode() not in data, file
    log = node.log_file.read_bytes()
    assert client_session.kek.hex().encode() not in log and client_session.seed.hex().encode() not in log
    for p in (till, payer):
        assert p.page.js_errors == [], p.page.js_errors  # type: ignore[attr-defined]
        p.context.close()
