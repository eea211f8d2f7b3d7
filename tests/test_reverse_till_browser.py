"""Paying at the till the other way round, in real Chromium against a real ``lien serve``: the
till's camera (a fake one, filming the client's account QR code drawn by segno from the client's
real account link) reads the client's account, the till sends a payment request, the client's
open account page shows it at the top, the client pays it (a double tap pays once) and the till
turns *Payé* without reload; a second request declined turns the till *Refusé*. Also: the
in-app scanner of *Payer* reading a till's payment QR code, and the page a phone's camera opens
from an account's QR code (``/compte/v1?id=…``), for a member and for a visitor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from browser_support import axe_violations, screenshot
from camera_support import camera_browser
from cli_support import Founders, ServedNode
from money_support import (
    PASSWORD, Account, business_profile, lien_balance, phone, ready, sign_up, transfers,
)
from playwright.sync_api import Browser, Page, Playwright, expect

from lien.node.node import wall_clock_ms
from lien.wallet.payload import PaymentRequest, payment_url

TIMEOUT = 15_000
SHOP = "Boulangerie du Marché"


@pytest.fixture(scope="module")
def shop(node: ServedNode, founders: Founders) -> Account:
    return sign_up(node.url, founders, "boulangerie@example.org", "business",
                   business_profile(SHOP))


@pytest.fixture(scope="module")
def client(node: ServedNode, founders: Founders) -> Account:
    return sign_up(node.url, founders, "camille@example.org", nantie_minor=5_000)


@pytest.fixture(scope="module")
def till_camera(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory,
                node: ServedNode, client: Account) -> Iterator[Browser]:
    """The till's device: its camera films the client's account QR code, as /compte shows it."""
    link = f"{node.url}/compte/v1?id={client.account}"
    chromium = camera_browser(playwright, tmp_path_factory.mktemp("camera") / "account.y4m", link)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def client_camera(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory,
                  node: ServedNode, shop: Account) -> Iterator[Browser]:
    """The client's phone: its camera films the till's payment QR code (12 minutes' validity)."""
    link = payment_url(PaymentRequest(base=node.url, to=shop.account, currency="LIEN",
                                      amount_minor=730, reference="CAISSE-2",
                                      expires_ms=wall_clock_ms() + 12 * 60_000, name="Boulange"))
    chromium = camera_browser(playwright, tmp_path_factory.mktemp("camera") / "till.y4m", link)
    yield chromium
    chromium.close()


def paying_request(node: ServedNode, shop: Account, request_id: str) -> list[dict[str, Any]]:
    return [t for t in transfers(node, shop.account)
            if t["tx"]["body"].get("request") == request_id]  # type: ignore[index, union-attr]


def scan_client(till: Page, amount: str, reference: str = "") -> str:
    """Types the amount, scans the client's account; the id of the request sent."""
    till.get_by_label("Montant").fill(amount)
    if reference:
        till.get_by_label("Référence (facultative)").fill(reference)
    till.get_by_role("button", name="Scanner le compte du client").click()
    till.wait_for_function("() => !document.querySelector('#unlock').hidden"
                           " || !document.querySelector('#waiting-panel').hidden",
                           timeout=TIMEOUT)
    if till.locator("#unlock").is_visible():
        till.get_by_label("Mot de passe").fill(PASSWORD)
        till.get_by_role("button", name="Déverrouiller").click()
    expect(till.locator("#waiting-panel")).to_be_visible(timeout=TIMEOUT)
    return str(till.locator("[data-page]").get_attribute("data-request"))


def test_the_till_scans_the_client_s_account_paid_once_then_declined(
        node: ServedNode, shop: Account, client: Account, browser: Browser,
        till_camera: Browser) -> None:
    till = phone(till_camera, node.url, shop)
    payer = phone(browser, node.url, client)
    ready(payer.page, "/compte")
    payer.page.evaluate("window.notReloaded = true")
    ready(till.page, "/encaisser")
    till.page.evaluate("window.notReloaded = true")

    first = scan_client(till.page, "12,50", "T-17")
    waiting = till.page.locator("#waiting-panel")
    expect(waiting).to_contain_text("En attente de confirmation sur le téléphone du client")
    expect(waiting).to_contain_text("12,50 LIEN")
    expect(waiting).to_contain_text("T-17")
    expect(till.page.locator("#waiting-client")).to_contain_text(client.account[:4])
    assert axe_violations(till.page) == []
    screenshot(till.page, "encaisser-attente-client")

    # the request on chain: from the client, to the shop, 5 minutes, the reference hashed
    [sent] = [i for i in httpx.get(f"{node.api}/accounts/{shop.account}/history",
                                   timeout=10).json()["items"] if i["id"] == first]
    body = sent["tx"]["body"]
    assert (body["type"], body["from"], body["to"], body["amount"]) == (
        "request_payment", client.account, shop.account, 1250)
    assert len(body["reference"]) == 64 and "T-17" not in str(sent)
    assert body["expires"] - wall_clock_ms() <= 5 * 60_000

    # the client's open page shows it at the top, live
    alert = payer.page.locator(f"[data-banner-request='{first}']")
    expect(alert).to_contain_text(f"{SHOP} vous demande 12,50 LIEN", timeout=TIMEOUT)
    assert payer.page.evaluate("window.notReloaded") is True
    assert axe_violations(payer.page) == []
    screenshot(payer.page, "compte-demande-caisse")

    # Payer: the confirmation with the split; a double tap pays once
    alert.get_by_role("link", name="Payer").click()
    payer.page.locator("[data-page][data-ready=true]").wait_for(timeout=TIMEOUT)
    expect(payer.page.locator("#fixed-amount")).to_have_text("12,50 LIEN")
    expect(payer.page.locator("#payee-name")).to_have_text(SHOP)
    expect(payer.page.locator("#split")).to_have_text(
        "12,50 LIEN en monnaie nantie, 0,00 LIEN en crédit mutualisé")
    payer.page.get_by_role("button", name="Confirmer").dblclick()
    payer.page.get_by_label("Mot de passe").fill(PASSWORD)
    payer.page.get_by_role("button", name="Déverrouiller").click()
    expect(payer.page.locator("#result")).to_be_visible(timeout=TIMEOUT)

    # the till turns Payé without reload
    paid = till.page.locator("#paid-panel")
    expect(paid).to_be_visible(timeout=TIMEOUT)
    expect(paid).to_contain_text("Payé")
    expect(paid).to_contain_text("12,50 LIEN")
    expect(waiting).to_be_hidden()
    assert till.page.evaluate("window.notReloaded") is True
    screenshot(till.page, "encaisser-paye-client")
    assert len(paying_request(node, shop, first)) == 1
    assert len(transfers(node, shop.account)) == 1
    assert lien_balance(node, client.account) == (5_000 - 1_250, 0)

    # a second round, declined on the phone: the till turns Refusé
    till.page.get_by_role("button", name="Nouvel encaissement").click()
    second = scan_client(till.page, "3,00")
    assert second != first
    ready(payer.page, "/compte")
    alert = payer.page.locator(f"[data-banner-request='{second}']")
    expect(alert).to_contain_text(f"{SHOP} vous demande 3,00 LIEN", timeout=TIMEOUT)
    expect(payer.page.locator(f"[data-banner-request='{first}']")).to_have_count(0)
    alert.get_by_role("button", name="Refuser").dblclick()
    expect(alert).to_have_count(0, timeout=TIMEOUT)
    declined = till.page.locator("#declined-panel")
    expect(declined).to_be_visible(timeout=TIMEOUT)
    expect(declined).to_contain_text("Refusé")
    expect(declined).to_contain_text("3,00 LIEN")
    expect(declined).to_contain_text("a refusé le paiement")
    assert till.page.evaluate("window.notReloaded") is True
    assert axe_violations(till.page) == []
    screenshot(till.page, "encaisser-refuse-client")
    history = httpx.get(f"{node.api}/accounts/{shop.account}/history", timeout=10).json()["items"]
    assert [i["tx"]["body"]["request"] for i in history if i["type"] == "decline_request"] == [
        second]
    assert paying_request(node, shop, second) == []
    for p in (till, payer):
        assert p.errors == [], p.errors
        p.context.close()


def test_the_till_types_the_client_s_account_and_bad_input_sends_nothing(
        node: ServedNode, shop: Account, client: Account, browser: Browser) -> None:
    till = phone(browser, node.url, shop)  # no camera on this device: typed instead
    ready(till.page, "/encaisser")
    page = till.page
    page.get_by_label("Montant").fill("4,20")
    page.get_by_role("button", name="Scanner le compte du client").click()
    expect(page.locator("#client-panel")).to_be_visible()
    field = page.get_by_label("Ou saisissez le numéro de compte du client")
    field.fill(client.account[:-1] + ("0" if client.account[-1] != "0" else "1"))
    expect(page.locator("#client-error")).to_contain_text("faute de frappe")
    field.fill(shop.account)
    page.get_by_role("button", name="Envoyer la demande").click()
    expect(page.locator("#client-error")).to_have_text("C’est votre propre compte.")
    assert not any("/api/v1/transactions" in url for url, _, _ in till.requests.sent)
    field.fill(client.account)
    page.get_by_role("button", name="Envoyer la demande").dblclick()
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Déverrouiller").click()
    expect(page.locator("#waiting-panel")).to_be_visible(timeout=TIMEOUT)
    sent = [i for i in httpx.get(f"{node.api}/accounts/{shop.account}/history",
                                 timeout=10).json()["items"]
            if i["type"] == "request_payment" and i["tx"]["body"]["amount"] == 420]
    assert len(sent) == 1
    assert till.errors == [], till.errors
    till.context.close()


def test_the_in_app_scanner_opens_the_payment_of_a_till_s_qr_code(
        node: ServedNode, shop: Account, client: Account, client_camera: Browser) -> None:
    payer = phone(client_camera, node.url, client)
    ready(payer.page, "/payer")
    payer.page.get_by_role("button", name="Scanner un QR code").click()
    expect(payer.page.locator("#request")).to_be_visible(timeout=TIMEOUT)
    payer.page.locator("[data-page][data-ready=true]").wait_for(timeout=TIMEOUT)
    assert payer.page.url.startswith(f"{node.url}/payer/v1?")
    expect(payer.page.locator("#fixed-amount")).to_have_text("7,30 LIEN")
    expect(payer.page.locator("#payee-name")).to_have_text(SHOP)
    expect(payer.page.locator("#payee-account")).to_have_text(
        "-".join(shop.account[i:i + 4] for i in range(0, 12, 4)))
    expect(payer.page.locator("#reference-text")).to_have_text("CAISSE-2")
    expect(payer.page.locator("#split")).to_contain_text("7,30 LIEN en monnaie nantie")
    expect(payer.page.get_by_role("button", name="Confirmer")).to_be_enabled()
    assert payer.errors == [], payer.errors
    payer.context.close()


def test_an_account_s_qr_code_opens_a_useful_page(
        node: ServedNode, shop: Account, client: Account, browser: Browser) -> None:
    visitor = phone(browser, node.url)
    page = visitor.page
    page.goto(f"/compte/v1?id={shop.account}")
    expect(page.locator("h1")).to_have_text("Un compte LIEN")
    expect(page.locator("main")).to_contain_text(SHOP)
    expect(page.locator("main")).to_contain_text("Ce QR code est le numéro d’un compte LIEN")
    login = page.locator("main").get_by_role("link", name="Se connecter")
    assert login.get_attribute("href") == f"/connexion?next=%2Fcompte%2Fv1%3Fid%3D{shop.account}"
    assert axe_violations(page) == []
    screenshot(page, "compte-lien-visiteur")
    visitor.context.close()

    member = phone(browser, node.url, client)
    page = member.page
    page.goto(f"/compte/v1?id={shop.account}")
    expect(page.locator("#linked-account")).to_have_text(
        "-".join(shop.account[i:i + 4] for i in range(0, 12, 4)))
    assert axe_violations(page) == []
    screenshot(page, "compte-lien-membre")
    page.locator("main").get_by_role("link", name="Demander un paiement").click()
    page.locator("[data-page][data-ready=true]").wait_for(timeout=TIMEOUT)
    expect(page.locator("#from-status")).to_have_class("ok")
    page.goto(f"/compte/v1?id={shop.account}")
    page.locator("main").get_by_role("link", name="Virement").click()
    page.locator("[data-page][data-ready=true]").wait_for(timeout=TIMEOUT)
    expect(page.locator("#to")).to_have_value(shop.account)
    page.goto(f"/compte/v1?id={client.account}")
    expect(page.locator("main")).to_contain_text("C’est votre propre compte")
    assert member.errors == [], member.errors
    member.context.close()

    typo = client.account[:-1] + ("0" if client.account[-1] != "0" else "1")
    with httpx.Client(base_url=node.url, timeout=10) as http:
        assert http.get("/compte/v1", params={"id": typo}).status_code == 400
        assert http.get("/compte/v1").status_code == 400
        assert http.get("/compte/v1", params={"id": "x" * 41}).status_code in (400, 422)
        assert http.get("/compte/v1", params={"id": "00000000000" + "1"}).status_code in (400,
                                                                                          404)
        answer = http.get("/compte/v1", params={"id": shop.account})
        assert answer.status_code == 200 and SHOP in answer.text
