"""The pages that move money, in real Chromium against a real ``lien serve``: a till payment
between two phones (the business's screen turns *Payé* without reload), the counter's printed
QR, a transfer with a chosen split and an encrypted memo, a double tap that pays once, a till's
delegated key paying within its caps and refused beyond, and neither the key nor the
key-encryption key ever leaving the browser."""

from __future__ import annotations

from pathlib import Path

import httpx
from cli_support import Founders, ServedNode
from browser_support import axe_violations, screenshot
from money_support import (PASSWORD, account, business_profile, lien_balance, phone, ready,
                           sign_up, transfers)
from playwright.sync_api import Browser, expect

from lien.wallet import Member
from lien.wallet.memo import reference_hash

TIMEOUT = 15_000


def member(founders: Founders, tmp: Path, name: str, kind: str = "personal",
           nantie_minor: int = 0) -> Member:
    opened, _ = founders.open_member(tmp, name, kind, nantie_minor)
    return opened


def test_a_till_payment_between_two_phones_turns_the_business_screen_paid(
        node: ServedNode, founders: Founders, browser: Browser, tmp_path: Path) -> None:
    shop = sign_up(node.url, founders, "boulangerie@example.org", "business",
                   business_profile("Boulangerie du Crêt"))
    client = sign_up(node.url, founders, "claire@example.org", nantie_minor=5_000)
    till = phone(browser, node.url, shop)
    payer = phone(browser, node.url, client)

    ready(till.page, "/encaisser")
    till.page.evaluate("window.notReloaded = true")
    till.page.get_by_label("Montant").fill("12,50")
    till.page.get_by_role("button", name="Afficher le QR code").click()
    qr = till.page.locator("#qr")
    expect(qr).to_be_visible()
    till.page.wait_for_function("() => document.querySelector('#qr').naturalWidth > 0")
    expect(till.page.locator("#countdown")).to_contain_text("Valable encore 4:")
    screenshot(till.page, "encaisser-qr")
    assert axe_violations(till.page) == []
    link = str(till.page.locator("#qr-link").get_attribute("href"))
    assert link.startswith(f"{node.url}/payer/v1?to={shop.account}&cur=LIEN&amount=1250&ref=")

    ready(payer.page, link.removeprefix(node.url))
    expect(payer.page.locator("#payee-name")).to_have_text("Boulangerie du Crêt")
    expect(payer.page.locator("#fixed-amount")).to_have_text("12,50 LIEN")
    expect(payer.page.locator("#split")).to_have_text(
        "12,50 LIEN en monnaie nantie, 0,00 LIEN en crédit mutualisé")
    assert axe_violations(payer.page) == []  # the confirmation
    payer.page.get_by_role("button", name="Confirmer").click()
    payer.page.get_by_label("Mot de passe").fill(PASSWORD)
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
    assert axe_violations(till.page) == []
    assert lien_balance(node, client.account) == (5_000 - 1_250, 0)
    assert lien_balance(node, shop.account) == (1_250, 0)
    [payment] = transfers(node, shop.account)
    ref = link.split("&ref=")[1].split("&")[0]
    assert payment["tx"]["body"]["reference"] == reference_hash(shop.account, ref)  # type: ignore[index]

    # neither the key's seed nor the key-encryption key left the client's browser
    for secret in (client.seed, client.kek):
        assert not payer.requests.contains(secret.hex().encode())
        assert not till.requests.contains(secret.hex().encode())
    assert payer.requests.contains(client.login_secret.encode())  # what it did send
    for file in node.path.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            for secret in (client.seed, client.kek):
                assert secret not in data and secret.hex().encode() not in data, file
    log = node.log_file.read_bytes()
    assert client.kek.hex().encode() not in log and client.seed.hex().encode() not in log
    for p in (till, payer):
        assert p.errors == [], p.errors
        p.context.close()


def test_the_counter_s_printed_qr_lets_the_client_type_the_amount(
        node: ServedNode, founders: Founders, browser: Browser, tmp_path: Path) -> None:
    shop = sign_up(node.url, founders, "marche@example.org", "business",
                   business_profile("Primeur du marché", directory=False))
    client = sign_up(node.url, founders, "paul@example.org", nantie_minor=2_000)
    stall = phone(browser, node.url, shop)
    ready(stall.page, "/encaisser/affiche")
    stall.page.wait_for_function("() => document.querySelector('#qr').naturalWidth > 0")
    expect(stall.page.locator("#poster-name")).to_have_text("Primeur du marché")
    url = str(stall.page.locator("[data-page]").get_attribute("data-url"))
    assert url == f"{node.url}/payer/v1?to={shop.account}&cur=LIEN&name=Primeur+du+march%C3%A9"
    screenshot(stall.page, "encaisser-affiche")
    assert axe_violations(stall.page) == []

    payer = phone(browser, node.url, client)  # not in the directory: the QR's name
    ready(payer.page, url.removeprefix(node.url))
    expect(payer.page.locator("#payee-given")).to_have_text(
        "« Primeur du marché », le nom indiqué par le QR code (absent de l’annuaire)")
    payer.page.get_by_label("Montant").fill("7,3")
    expect(payer.page.locator("#split")).to_have_text(
        "7,30 LIEN en monnaie nantie, 0,00 LIEN en crédit mutualisé")
    payer.page.get_by_label("Montant").fill("1,234")  # ambiguous: refused, not guessed
    payer.page.get_by_role("button", name="Confirmer").click()
    expect(payer.page.locator("#amount-error")).to_have_text(
        "Montant ambigu : écrivez 1234 ou 1234,00.")
    payer.page.get_by_label("Montant").fill("7,30")
    payer.page.get_by_label("Référence (facultative)").fill("panier 12")
    payer.page.get_by_role("button", name="Confirmer").click()
    payer.page.get_by_label("Mot de passe").fill(PASSWORD)
    payer.page.get_by_role("button", name="Déverrouiller").click()
    expect(payer.page.locator("#result-text")).to_have_text(
        "Payé : 7,30 LIEN à Primeur du marché.", timeout=TIMEOUT)
    [payment] = transfers(node, shop.account)
    body = payment["tx"]["body"]  # type: ignore[index]
    assert (body["from"], body["amount"]) == (client.account, 730)
    assert body["reference"] == reference_hash(shop.account, "panier 12")
    assert lien_balance(node, client.account) == (2_000 - 730, 0)
    for p in (stall, payer):
        assert p.errors == [], p.errors
        p.context.close()


def test_a_wrong_password_cannot_pay_and_a_double_click_on_confirm_pays_once(
        node: ServedNode, founders: Founders, browser: Browser, tmp_path: Path) -> None:
    shop = member(founders, tmp_path, "cafe", "business")
    client = sign_up(node.url, founders, "hugo@example.org", nantie_minor=3_000)
    payer = phone(browser, node.url, client)
    ready(payer.page, f"/payer/v1?to={shop.account}&cur=LIEN")
    payer.page.get_by_label("Montant").fill("2,40")
    payer.page.get_by_role("button", name="Confirmer").click()  # restores the key first
    payer.page.get_by_label("Mot de passe").fill("pas le bon")
    payer.page.get_by_role("button", name="Déverrouiller").click()
    expect(payer.page.locator("#unlock-error")).to_have_text("Mot de passe erroné.",
                                                             timeout=TIMEOUT)
    assert transfers(node, client.account) == []  # nothing signed, nothing paid
    assert lien_balance(node, client.account) == (3_000, 0)
    payer.page.get_by_label("Mot de passe").fill(PASSWORD)
    payer.page.get_by_role("button", name="Déverrouiller").click()
    expect(payer.page.locator("#result")).to_be_visible(timeout=TIMEOUT)

    # a second payment, key now on the device: a double tap on Confirmer
    ready(payer.page, f"/payer/v1?to={shop.account}&cur=LIEN")
    payer.page.get_by_label("Montant").fill("1,10")
    payer.page.get_by_role("button", name="Confirmer").dblclick()
    expect(payer.page.locator("#result")).to_be_visible(timeout=TIMEOUT)
    executed = [t["tx"]["body"]["amount"] for t in transfers(node, shop.account)]  # type: ignore[index]
    assert sorted(executed) == [110, 240]
    assert lien_balance(node, client.account) == (3_000 - 350, 0)

    # the signed transaction submitted again (a retry after a lost answer) is the same payment
    tx_id = payer.page.locator("[data-page]").get_attribute("data-tx-id")
    envelope = next(t["tx"] for t in transfers(node, shop.account) if t["id"] == tx_id)
    answer = httpx.post(f"{node.api}/transactions", params={"wait": "executed"}, json=envelope,
                        timeout=10)
    assert answer.json()["id"] == tx_id
    assert len(transfers(node, shop.account)) == 2
    # the one failed request: the login with the wrong password
    assert payer.errors == ["Failed to load resource: the server responded with a status of 401 "
                            "(Unauthorized)"], payer.errors
    payer.context.close()


def test_a_transfer_with_a_chosen_split_an_encrypted_memo_and_a_hashed_reference(
        node: ServedNode, founders: Founders, browser: Browser, tmp_path: Path) -> None:
    supplier = sign_up(node.url, founders, "menuisier@example.org", "business",
                       business_profile("Menuiserie Forez"))
    client = sign_up(node.url, founders, "ines@example.org", nantie_minor=2_000)
    payer = phone(browser, node.url, client)
    ready(payer.page, "/virement")
    to = payer.page.get_by_label("Vers un numéro de compte")
    typo = supplier.account[:-1] + str((int(supplier.account[-1]) + 1) % 10)
    to.fill(typo.lower())
    expect(payer.page.locator("#to-status")).to_have_text(
        "Ce numéro de compte contient une faute de frappe (sa clé de contrôle ne correspond pas).")
    payer.page.get_by_label("Ou un professionnel de l’annuaire, ou un contact").select_option(
        supplier.account)
    expect(payer.page.locator("#to-status")).to_contain_text("Menuiserie Forez")
    payer.page.get_by_label("Montant", exact=True).fill("50")
    expect(payer.page.locator("#split")).to_have_text(
        "20,00 LIEN en monnaie nantie, 30,00 LIEN en crédit mutualisé")  # the default split
    payer.page.get_by_label("Choisir la part en monnaie nantie").check()
    payer.page.get_by_label("Monnaie nantie", exact=True).fill("10")
    expect(payer.page.locator("#split")).to_have_text(
        "10,00 LIEN en monnaie nantie, 40,00 LIEN en crédit mutualisé")
    payer.page.get_by_label("Référence (facultative, par exemple le numéro de facture)").fill("F-2026-118")
    payer.page.get_by_label("Montant de la facture en euros (facultatif)").fill("50,00")
    memo = "Étagères du salon, merci !"
    payer.page.get_by_label("Message au bénéficiaire", exact=False).fill(memo)
    screenshot(payer.page, "virement")
    assert axe_violations(payer.page) == []
    payer.page.get_by_role("button", name="Confirmer", exact=True).click()
    payer.page.get_by_label("Mot de passe").fill(PASSWORD)
    payer.page.get_by_role("button", name="Déverrouiller").click()
    expect(payer.page.locator("#result-text")).to_have_text(
        "Virement effectué : 50,00 LIEN à Menuiserie Forez (10,00 LIEN en monnaie nantie, "
        "40,00 LIEN en crédit mutualisé).", timeout=TIMEOUT)
    screenshot(payer.page, "virement-effectue")

    [payment] = transfers(node, supplier.account)
    body = payment["tx"]["body"]  # type: ignore[index]
    assert payment["result"] == {"code": "ok", "credit": 4_000, "nantie": 1_000}
    assert body["nantie"] == 1_000 and body["invoice_minor"] == 5_000
    assert body["reference"] == reference_hash(supplier.account, "F-2026-118")
    assert body["memo"].startswith("m1.")
    from lien.wallet.memo import decrypt
    assert decrypt(body["memo"], supplier.seed, client.public_key) == memo
    assert lien_balance(node, client.account) == (1_000, -4_000)
    assert lien_balance(node, supplier.account) == (1_000, 4_000)
    for file in node.path.rglob("*"):  # no memo nor reference in clear anywhere in the node
        if file.is_file():
            data = file.read_bytes()
            assert memo.encode() not in data and b"F-2026-118" not in data, file
    assert payer.errors == [], payer.errors
    payer.context.close()


def test_a_large_transfer_to_a_saved_contact_asks_a_second_confirmation(
        node: ServedNode, founders: Founders, browser: Browser, tmp_path: Path) -> None:
    landlord = member(founders, tmp_path, "bailleur")
    stranger = member(founders, tmp_path, "inconnu")
    client = sign_up(node.url, founders, "noe@example.org", nantie_minor=200_000)
    payer = phone(browser, node.url, client, lang="en")
    ready(payer.page, f"/virement?lang=en&to={stranger.account}")  # an id typed or linked
    display = f"{stranger.account[:4]}-{stranger.account[4:8]}-{stranger.account[8:]}"
    expect(payer.page.locator("#to-status")).to_have_text(f"Account {display}")
    csrf = payer.context.request.get(f"{node.url}/wallet/api/me").json()["csrf"]
    saved = payer.context.request.post(
        f"{node.url}/wallet/api/contacts", data={"account": landlord.account, "label": "My landlord"},
        headers={"X-CSRF-Token": csrf, "Origin": node.url})
    assert saved.status == 200, saved.text()
    ready(payer.page, "/virement?lang=en")
    payer.page.get_by_label("Or a business of the directory, or a contact").select_option(
        label="My landlord")
    expect(payer.page.locator("#to-status")).to_contain_text("My landlord")
    payer.page.get_by_label("Amount", exact=True).fill("1 500,00")
    payer.page.get_by_role("button", name="Confirm", exact=True).click()
    expect(payer.page.locator("#second-text")).to_contain_text("1,500.00 LIEN")
    assert transfers(node, client.account) == []  # nothing yet
    screenshot(payer.page, "virement-montant-eleve", "en")
    payer.page.get_by_role("button", name="Confirm the large amount").click()
    payer.page.get_by_label("Password").fill(PASSWORD)
    payer.page.get_by_role("button", name="Unlock").click()
    expect(payer.page.locator("#result")).to_be_visible(timeout=TIMEOUT)
    assert lien_balance(node, landlord.account) == (150_000, 0)
    assert payer.errors == [], payer.errors
    payer.context.close()


def test_a_till_pays_from_its_business_within_its_caps_and_is_refused_beyond(
        node: ServedNode, founders: Founders, browser: Browser, tmp_path: Path) -> None:
    shop = sign_up(node.url, founders, "epicerie@example.org", "business",
                   business_profile("Épicerie"), nantie_minor=10_000)
    supplier = member(founders, tmp_path, "fournisseur", "business")
    till = phone(browser, node.url)  # the employee's device: no session
    ready(till.page, "/caisse/appairer")
    till_key = str(till.page.locator("[data-page]").get_attribute("data-till-key"))
    assert len(till_key) == 64
    till.page.get_by_label("Numéro de compte du commerce").fill(shop.account)
    till.page.get_by_role("button", name="Continuer").click()
    expect(till.page.locator("#till-status")).to_have_text(
        "En attente de l’ajout de cette caisse par le commerce…")
    screenshot(till.page, "caisse-appairer")

    owner = phone(browser, node.url, shop)
    ready(owner.page, f"/caisses?till={till_key}")
    expect(owner.page.get_by_label("Code de la caisse")).to_have_value(till_key)
    owner.page.get_by_label("Plafond par paiement").fill("20")
    owner.page.get_by_label("Plafond total").fill("25")
    owner.page.get_by_role("button", name="Ajouter la caisse").click()
    owner.page.get_by_label("Mot de passe").fill(PASSWORD)
    owner.page.get_by_role("button", name="Déverrouiller").click()
    expect(owner.page.locator("#done")).to_have_text("Caisse ajoutée.", timeout=TIMEOUT)
    row = owner.page.locator(f"tr[data-key='{till_key}']")
    expect(row).to_contain_text("20,00 LIEN")
    screenshot(owner.page, "caisses")
    assert axe_violations(owner.page) == []

    # the till's page saw the delegation arrive on the business's event stream
    expect(till.page.locator("#till-status")).to_have_text(
        "Caisse active : au plus 20,00 LIEN par paiement, reste 25,00 LIEN sur 25,00 LIEN.",
        timeout=TIMEOUT)

    def till_pays(amount: str) -> None:
        till.page.get_by_label("Vers un numéro de compte").fill(supplier.account)
        till.page.get_by_label("Montant").fill(amount)
        till.page.get_by_role("button", name="Confirmer").click()

    till_pays("15")
    expect(till.page.locator("#done")).to_have_text(
        f"Payé : 15,00 LIEN à {supplier.account[:4]}-{supplier.account[4:8]}-{supplier.account[8:]}.",
        timeout=TIMEOUT)
    till_pays("15")  # 30,00 in all: beyond the total cap
    expect(till.page.locator("#problem")).to_have_text("Refusé : plafond de la délégation dépassé.",
                                                       timeout=TIMEOUT)
    till_pays("21")  # beyond the cap per payment
    expect(till.page.locator("#problem")).to_have_text("Refusé : plafond de la délégation dépassé.",
                                                       timeout=TIMEOUT)
    screenshot(till.page, "caisse-plafond")
    assert lien_balance(node, supplier.account) == (1_500, 0)
    results = [t["result"]["code"] for t in transfers(node, shop.account)]  # type: ignore[index]
    assert sorted(results) == ["delegation_cap", "delegation_cap", "ok"]
    owner.page.reload()
    owner.page.locator("[data-page][data-ready=true]").wait_for()
    expect(row).to_contain_text("15,00 LIEN")  # spent

    row.get_by_role("button", name="Révoquer").click()
    expect(owner.page.locator("#done")).to_have_text("Caisse révoquée.", timeout=TIMEOUT)
    expect(row).to_have_count(0)
    assert account(node, shop.account)["delegations"] == []
    expect(till.page.locator("#till-status")).to_have_text(
        "En attente de l’ajout de cette caisse par le commerce…", timeout=TIMEOUT)
    for p in (till, owner):
        assert p.errors == [], p.errors
        p.context.close()

