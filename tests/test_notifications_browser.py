"""A payment received by a member of the wallet, notified: the count in the member's menu,
the latest on /compte, the list of /notifications (no serious axe-core violation) and marking
it read — in real Chromium against a real ``lien serve``, the notifier writing off the node's
thread."""

from __future__ import annotations

import re
from pathlib import Path

from browser_support import axe_violations, screenshot
from cli_support import Founders, ServedNode
from server_support import poll
from money_support import business_profile, phone, sign_up
from playwright.sync_api import Browser, expect

from lien.wallet import Member

TIMEOUT = 15_000


def member(founders: Founders, tmp: Path, name: str, kind: str = "personal",
           nantie_minor: int = 0) -> Member:
    opened, _ = founders.open_member(tmp, name, kind, nantie_minor)
    return opened


def test_a_payment_received_is_notified_in_the_menu_and_the_list_and_marked_read(
        node: ServedNode, founders: Founders, browser: Browser, tmp_path: Path) -> None:
    shop = sign_up(node.url, founders, "fromagerie@example.org", "business",
                   business_profile("Fromagerie du Forez"))
    client = member(founders, tmp_path, "cliente", nantie_minor=2_000)  # no wallet login
    founders.submit(founders.maker.pay(client, shop.member, 800))
    owner = phone(browser, node.url, shop)
    poll(lambda: owner.context.request.get(  # the notifier writes off the node's thread
        f"{node.url}/wallet/api/notifications").json()["notifications"],
        TIMEOUT / 1000, "the notification written")
    grouped = f"{client.account[:4]}-{client.account[4:8]}-{client.account[8:]}"
    text = f"Paiement reçu : 8,00 LIEN de {grouped}."
    owner.page.goto("/compte")
    expect(owner.page.get_by_role("link", name="Notifications 1 non lues")).to_be_visible()
    expect(owner.page.locator(".notes-latest")).to_contain_text(text)
    owner.page.get_by_role("link", name="Voir toutes les notifications").click()
    expect(owner.page.get_by_role("heading", name="Notifications")).to_be_visible()
    expect(owner.page.locator("li.note.unread")).to_have_text(re.compile(re.escape(text)))
    assert axe_violations(owner.page) == []
    screenshot(owner.page, "notifications")
    owner.page.get_by_role("button", name="Tout marquer comme lu").click()
    expect(owner.page.locator("li.note.unread")).to_have_count(0)
    expect(owner.page.locator("li.note")).to_contain_text(text)
    expect(owner.page.get_by_role("link", name="Notifications", exact=True)).to_be_visible()
    assert axe_violations(owner.page) == []
    assert owner.errors == [], owner.errors
    owner.context.close()

