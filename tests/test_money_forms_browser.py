"""Every money form of the wallet, and the password change, refuse bad input in real Chromium
against a real ``lien serve``: a clear French message next to the field, and nothing signed,
submitted or changed (the signup and login forms: ``test_wallet_screens``,
``test_wallet_browser``; the JSON endpoints: ``test_wallet_api``)."""

from __future__ import annotations

import re
from pathlib import Path

from cli_support import Founders, ServedNode
from money_support import (account, business_profile, lien_balance, phone, ready, sign_up,
                           transfers)
from playwright.sync_api import Browser, expect

TIMEOUT = 15_000


def test_every_money_form_and_the_password_change_refuse_bad_input_in_french_and_send_nothing(
        node: ServedNode, founders: Founders, browser: Browser, tmp_path: Path) -> None:
    """Encaisser, Payer, Virement, Caisses and the password change of /profil: each bad input
    is named in French next to its field, and nothing is signed, submitted or changed."""
    shop = sign_up(node.url, founders, "quincaillerie@example.org", "business",
                   business_profile("Quincaillerie"), nantie_minor=5_000)
    user = phone(browser, node.url, shop)
    posts: list[str] = []
    user.page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    before = (lien_balance(node, shop.account), account(node, shop.account)["delegations"])
    me_before = user.context.request.get(f"{node.url}/wallet/api/me").json()

    ready(user.page, "/encaisser")
    for typed, said in (("", "Saisissez un montant."),
                        ("douze", "Ce n’est pas un montant : écrivez-le comme 12,50."),
                        ("0", "Le montant doit être supérieur à zéro.")):
        user.page.get_by_label("Montant").fill(typed)
        user.page.get_by_role("button", name="Afficher le QR code").click()
        expect(user.page.locator("#amount-error")).to_have_text(said)
        expect(user.page.get_by_label("Montant")).to_have_attribute("aria-invalid", "true")
        expect(user.page.locator("#qr-panel")).to_be_hidden()

    ready(user.page, f"/payer/v1?to={founders.comptoir.account}&cur=LIEN")
    user.page.get_by_label("Montant").fill("0,00")
    user.page.get_by_role("button", name="Confirmer").click()
    expect(user.page.locator("#amount-error")).to_have_text("Le montant doit être supérieur à zéro.")

    ready(user.page, "/virement")
    user.page.get_by_role("button", name="Confirmer", exact=True).click()
    expect(user.page.locator("#problem")).to_have_text("Choisissez qui payer.")
    typo = shop.account[:-1] + str((int(shop.account[-1]) + 1) % 10)
    user.page.get_by_label("Vers un numéro de compte").fill(typo)
    expect(user.page.locator("#to-status")).to_have_text(
        "Ce numéro de compte contient une faute de frappe (sa clé de contrôle ne correspond pas).")
    user.page.get_by_label("Montant", exact=True).fill("1,234")
    user.page.get_by_role("button", name="Confirmer", exact=True).click()
    expect(user.page.locator("#amount-error")).to_have_text(
        "Montant ambigu : écrivez 1234 ou 1234,00.")
    expect(user.page.locator("#problem")).to_have_text("Choisissez qui payer.")

    ready(user.page, "/caisses")
    user.page.get_by_label("Code de la caisse").fill("pas un code")
    user.page.get_by_label("Plafond par paiement").fill("30")
    user.page.get_by_label("Plafond total").fill("20")
    user.page.get_by_role("button", name="Ajouter la caisse").click()
    expect(user.page.locator("#till-key-error")).to_have_text(
        "Un code de caisse a 64 caractères (0-9, a-f), tel qu’affiché sur la caisse.")
    user.page.get_by_label("Code de la caisse").fill("ab" * 32)
    user.page.get_by_role("button", name="Ajouter la caisse").click()
    expect(user.page.locator("#cap-payment-error")).to_have_text(
        "Le plafond par paiement ne peut pas dépasser le plafond total.")
    expect(user.page.get_by_label("Mot de passe")).to_be_hidden()  # nothing to unlock for

    user.page.goto("/profil")
    user.page.get_by_label("Mot de passe actuel").fill("pas le bon")
    user.page.get_by_label("Nouveau mot de passe", exact=True).fill("un nouveau mot de passe")
    user.page.get_by_label("Nouveau mot de passe (confirmation)").fill("un autre mot de passe")
    user.page.get_by_role("button", name="Changer le mot de passe").click()
    expect(user.page.locator("#f-password2")).to_have_accessible_description(
        re.compile("Les deux mots de passe ne sont pas identiques."))
    user.page.get_by_label("Nouveau mot de passe (confirmation)").fill("un nouveau mot de passe")
    user.page.get_by_role("button", name="Changer le mot de passe").click()
    expect(user.page.locator("#status")).to_have_text("Le mot de passe actuel est incorrect.",
                                                      timeout=TIMEOUT)

    assert posts == [], posts  # nothing submitted, no password change sent
    assert (lien_balance(node, shop.account), account(node, shop.account)["delegations"]) == before
    assert transfers(node, shop.account) == []
    me_after = user.context.request.get(f"{node.url}/wallet/api/me").json()
    assert (me_after["backup"], me_after["kdf"]) == (me_before["backup"], me_before["kdf"])
    assert user.errors == [], user.errors
    user.context.close()

