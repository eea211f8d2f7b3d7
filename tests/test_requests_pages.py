"""Payment requests (*Demander un paiement*) in real Chromium against a real ``lien serve``: a
business asks a client, the client's open account page shows the request live, pays it (a
double tap and a second device's identical transfer pay once) and the business's page turns
*payée* without reload; a request declined (*refusée* on both sides); a request expiring
(*expirée*, the page's own clock, no reload); bad input refused in French with nothing sent;
and the request's note and reference never in clear in the node's files."""

from __future__ import annotations

from typing import Any

import httpx
from cli_support import Founders, ServedNode
from browser_support import screenshot
from money_support import PASSWORD, business_profile, phone, ready, sign_up
from playwright.sync_api import Browser, Page, expect

from lien.ledger import sign_body
from lien.node.node import wall_clock_ms
from lien.wallet import TxMaker

TIMEOUT = 15_000
NOTE = "Panier du jeudi, merci"
REFERENCE = "CMD-4217"


def history(node: ServedNode, account: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{node.api}/accounts/{account}/history", params={"limit": 200},
                       timeout=10)
    return list(answer.json()["items"])


def requests_api(node: ServedNode, account: str) -> dict[str, dict[str, Any]]:
    answer = httpx.get(f"{node.api}/accounts/{account}/requests", timeout=10)
    assert answer.status_code == 200, answer.text
    return {r["id"]: r for r in answer.json()["requests"]}


def row(page: Page, request_id: str) -> Any:
    return page.locator(f"li[data-request='{request_id}']")


def send_request(page: Page, payer: str, amount: str, note: str = "",
                 reference: str = "") -> str:
    """Fills /demander and sends; the id of the signed request."""
    ready(page, "/demander")
    page.get_by_label("Demander à un numéro de compte").fill(payer)
    expect(page.locator("#from-status")).to_have_class("ok")
    page.get_by_label("Montant").fill(amount)
    if note:
        page.get_by_label("Note pour le payeur", exact=False).fill(note)
    if reference:
        page.get_by_label("Référence", exact=False).fill(reference)
    page.get_by_role("button", name="Demander un paiement").click()
    unlock = page.get_by_label("Mot de passe")
    page.wait_for_function("() => !document.querySelector('#unlock').hidden"
                           " || !document.querySelector('#result').hidden")
    if unlock.is_visible():
        unlock.fill(PASSWORD)
        page.get_by_role("button", name="Déverrouiller").click()
    expect(page.locator("#result")).to_be_visible(timeout=TIMEOUT)
    return str(page.locator("[data-page]").get_attribute("data-sent"))


def test_a_request_paid_once_and_one_declined_both_sides_see_it(
        node: ServedNode, founders: Founders, browser: Browser) -> None:
    shop = sign_up(node.url, founders, "epicerie@example.org", "business",
                   business_profile("Épicerie Solidaire"))
    client = sign_up(node.url, founders, "lucie@example.org", nantie_minor=5_000)
    asker = phone(browser, node.url, shop)
    payer = phone(browser, node.url, client)

    ready(payer.page, "/compte")
    payer.page.evaluate("window.notReloaded = true")
    expect(payer.page.locator("#requests-list")).to_have_text("Aucune demande de paiement.")

    first = send_request(asker.page, client.account, "12,50", NOTE, REFERENCE)
    expect(asker.page.locator("#result-text")).to_contain_text("12,50 LIEN demandés à")
    screenshot(asker.page, "demander-envoyee")

    # the client's open page shows it live, in French, from the shop's directory name
    line = row(payer.page, first)
    expect(line).to_contain_text("Épicerie Solidaire vous demande 12,50 LIEN", timeout=TIMEOUT)
    expect(line.locator(".badge")).to_have_text("en attente")
    assert payer.page.evaluate("window.notReloaded") is True

    ready(asker.page, "/compte")
    asker.page.evaluate("window.notReloaded = true")
    expect(row(asker.page, first)).to_contain_text("Vous avez demandé 12,50 LIEN à")
    expect(row(asker.page, first)).to_contain_text(f"Note : {NOTE}")  # the shop's own note

    # Payer: the payment confirmation of /payer, split shown; a double tap pays once
    line.get_by_role("link", name="Payer").click()
    payer.page.locator("[data-page][data-ready=true]").wait_for(timeout=TIMEOUT)
    expect(payer.page.locator("#fixed-amount")).to_have_text("12,50 LIEN")
    expect(payer.page.locator("#split")).to_have_text(
        "12,50 LIEN en monnaie nantie, 0,00 LIEN en crédit mutualisé")
    expect(payer.page.locator("#payee-name")).to_have_text("Épicerie Solidaire")
    payer.page.get_by_role("button", name="Confirmer").dblclick()
    payer.page.get_by_label("Mot de passe").fill(PASSWORD)
    payer.page.get_by_role("button", name="Déverrouiller").click()
    expect(payer.page.locator("#result")).to_be_visible(timeout=TIMEOUT)
    screenshot(payer.page, "demande-payee")
    tx_id = str(payer.page.locator("[data-page]").get_attribute("data-paid"))

    # the business's page turns payée without reload
    expect(row(asker.page, first).locator(".badge")).to_have_text("payée", timeout=TIMEOUT)
    assert asker.page.evaluate("window.notReloaded") is True

    # a second device accepting the same request signs the same body: the same id, one payment
    [paid] = [i for i in history(node, shop.account)
              if i["type"] == "transfer" and i["tx"]["body"].get("request") == first]
    assert paid["id"] == tx_id and paid["tx"]["body"]["nonce"] == first
    again = sign_body(dict(paid["tx"]["body"]), [client.member.key])
    answer = httpx.post(f"{node.api}/transactions", params={"wait": "executed"},
                        content=again.encode(), timeout=30)
    assert answer.json()["id"] == tx_id
    assert len([i for i in history(node, shop.account) if i["type"] == "transfer"]) == 1
    balance = httpx.get(f"{node.api}/accounts/{client.account}", timeout=10).json()
    assert balance["currencies"][0]["nantie_minor"] == 5_000 - 1_250
    assert requests_api(node, client.account)[first]["status"] == "paid"
    ready(payer.page, f"/payer?demande={first}")  # paying it again is refused in words
    expect(payer.page.locator("#problem")).to_have_text(
        "Cette demande de paiement est déjà payée.")
    expect(payer.page.get_by_role("button", name="Confirmer")).to_be_disabled()

    # a second request, declined by the client (its key is on the device now)
    second = send_request(asker.page, client.account, "3,00")
    ready(payer.page, "/compte")
    expect(row(payer.page, first).locator(".badge")).to_have_text("payée")
    expect(row(payer.page, first)).to_contain_text(f"Note : {NOTE}")  # opened by the payer
    refuse = row(payer.page, second).get_by_role("button", name="Refuser")
    refuse.dblclick()
    expect(row(payer.page, second).locator(".badge")).to_have_text("refusée", timeout=TIMEOUT)
    screenshot(payer.page, "demandes-compte")
    ready(asker.page, "/compte")
    expect(row(asker.page, second).locator(".badge")).to_have_text("refusée")
    declines = [i for i in history(node, shop.account) if i["type"] == "decline_request"]
    assert len(declines) == 1 and declines[0]["tx"]["body"]["request"] == second
    assert requests_api(node, shop.account)[second]["status"] == "declined"

    # the note and the reference are not in clear anywhere the node writes
    for file in node.path.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert NOTE.encode() not in data and REFERENCE.encode() not in data, file
    request_body = next(i for i in history(node, shop.account) if i["id"] == first)["tx"]["body"]
    assert request_body["memo"].startswith("m1.") and len(request_body["reference"]) == 64
    for p in (asker, payer):
        assert p.errors == [], p.errors
        p.context.close()


def test_a_request_expires_on_both_screens_and_bad_input_sends_nothing(
        node: ServedNode, founders: Founders, browser: Browser) -> None:
    shop = sign_up(node.url, founders, "atelier@example.org", "business",
                   business_profile("Atelier Vélo"))
    client = sign_up(node.url, founders, "marc@example.org", nantie_minor=1_000)
    payer = phone(browser, node.url, client)
    ready(payer.page, "/compte")
    payer.page.evaluate("window.notReloaded = true")

    # a request valid for 3 s, signed as the wallet would (the injected validity)
    maker = TxMaker(founders.maker.chain_id, wall_clock_ms, expiry_ms=3_000)
    short = maker.make([shop.member], "request_payment", **{"from": client.account},
                       to=shop.account, currency="LIEN", amount=700)
    founders.submit(short)
    line = row(payer.page, short.id)
    expect(line.locator(".badge")).to_have_text("en attente", timeout=TIMEOUT)
    expect(line.locator(".badge")).to_have_text("expirée", timeout=TIMEOUT)
    expect(line.get_by_role("button", name="Refuser")).to_have_count(0)
    assert payer.page.evaluate("window.notReloaded") is True
    assert requests_api(node, shop.account)[short.id]["status"] == "expired"
    ready(payer.page, f"/payer?demande={short.id}")
    expect(payer.page.locator("#problem")).to_have_text("Cette demande de paiement a expiré.")

    # bad input: precise French messages, and no transaction is sent
    asker = phone(browser, node.url, shop)
    ready(asker.page, "/demander")
    page = asker.page
    page.get_by_label("Demander à un numéro de compte").fill(client.account[:-1] + (
        "0" if client.account[-1] != "0" else "1"))
    expect(page.locator("#from-status")).to_have_text(
        "Ce numéro de compte contient une faute de frappe (sa clé de contrôle ne "
        "correspond pas).")
    page.get_by_role("button", name="Demander un paiement").click()
    expect(page.locator("#problem")).to_have_text("Choisissez à qui vous demandez le paiement.")
    page.get_by_label("Demander à un numéro de compte").fill(shop.account)
    expect(page.locator("#from-status")).to_have_text("C’est votre propre compte.")
    page.get_by_label("Demander à un numéro de compte").fill(client.account)
    expect(page.locator("#from-status")).to_have_class("ok")
    for typed, message in [("12,345", "Montant ambigu : écrivez 1234 ou 1234,00."),
                           ("0", "Le montant doit être supérieur à zéro."),
                           ("douze", "Ce n’est pas un montant : écrivez-le comme 12,50.")]:
        page.get_by_label("Montant").fill(typed)
        page.get_by_role("button", name="Demander un paiement").click()
        expect(page.locator("#amount-error")).to_have_text(message)
    page.get_by_label("Montant").fill("1,00")
    page.get_by_label("Note pour le payeur", exact=False).fill("é" * 100)
    page.get_by_role("button", name="Demander un paiement").click()
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Déverrouiller").click()
    expect(page.locator("#problem")).to_have_text("Le message est trop long.")
    assert not any("/api/v1/transactions" in url for url, _, _ in asker.requests.sent)
    assert [i["id"] for i in history(node, shop.account)
            if i["type"] == "request_payment"] == [short.id]
    for p in (asker, payer):
        assert p.errors == [], p.errors
        p.context.close()
