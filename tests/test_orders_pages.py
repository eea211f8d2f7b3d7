"""Standing orders (*Ordres permanents*) in real Chromium against the node's real app, whose
block clock the test moves: a member creates a monthly order in /ordres (a double tap creates
one), the test moves the node's clock past its due time and the node runs it by itself (the
payee's balance, both histories, the page updated live); a second order fails for lack of
funds — refused in both histories, the payer notified in the wallet and by e-mail (the file
sender's ``.eml``); a third, revoked by the payer (*Révoquer*), never runs; the payee sees
*Annuler*; bad input is refused in French and nothing is sent.

Time is injected, never slept. ``lien serve`` reads the wall clock and takes no other (a clock
that an option or a variable could move would be a way to move a real node's chain time), so
this node is the one ``lien serve`` builds — ``init_node``'s directory, ``open_node``, the
directory's secret and file mail sender, ``create_app``, uvicorn — in this process, with
``open_node``'s ``clock`` seam: the wall clock plus an offset the test sets.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import listening_socket
from browser_support import axe_violations, screenshot
from cli_support import FOUNDER_PASSWORD, Founders
from money_support import PASSWORD, Phone, business_profile, lien_balance, phone, ready, sign_up
from playwright.sync_api import Browser, Page, expect
from server_support import poll

from lien.members import Members, node_secret, sender_from_config
from lien.node.node import Node, wall_clock_ms
from lien.node.setup import NodeDir, init_node, open_node
from lien.store import Store
from lien.web.api import ApiSettings, create_app
from lien.web.ratelimit import Limits
from lien.web.server import make_server

TIMEOUT = 20_000
DAY_MS = 86_400_000


class ShiftedClock:
    """The wall clock plus ``offset_ms``, which the test moves forward (never back)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return wall_clock_ms() + self.offset_ms


@dataclass
class ClockedNode:
    """What ``cli_support.Founders`` and ``money_support`` need of a served node, and its
    clock."""

    path: Path
    url: str
    chain_id: str
    clock: ShiftedClock
    node: Node

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClockedNode]:
    path = tmp_path_factory.mktemp("orders") / "node"
    created = init_node(path, password=FOUNDER_PASSWORD)
    clock = ShiftedClock()
    lien = open_node(path, clock=clock)
    assert isinstance(lien.store, Store)
    members = Members(lien.store.personal, node_secret(path),
                      sender_from_config(NodeDir(path).settings().get("mail", {}),
                                         path / "mail", clock))
    app = create_app(lien, ApiSettings(limits=Limits.from_table(NodeDir(path).limits())),
                     members)
    lien.start()
    with listening_socket() as sock:
        host, port = sock.getsockname()
        server = make_server(app, host, port)
        thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                                  name="orders-uvicorn", daemon=True)
        thread.start()
        url = f"http://{host}:{port}"
        poll(lambda: _answers(url), 30, "the node's API")
        try:
            yield ClockedNode(path, url, str(created["chain_id"]), clock, lien)
        finally:
            server.should_exit = True
            thread.join(20)
            lien.stop()
            lien.store.dispose()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/chain", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def founders(node: ClockedNode) -> Founders:
    return Founders(node)  # type: ignore[arg-type]  # the same attributes as a ServedNode


def orders_api(node: ClockedNode, account: str) -> dict[str, dict[str, Any]]:
    answer = httpx.get(f"{node.api}/accounts/{account}/orders", timeout=10)
    assert answer.status_code == 200, answer.text
    return {o["id"]: o for o in answer.json()["orders"]}


def history(node: ClockedNode, account: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{node.api}/accounts/{account}/history", params={"limit": 200},
                       timeout=10)
    return list(answer.json()["items"])


def runs(node: ClockedNode, account: str, order: str) -> list[dict[str, Any]]:
    return [i for i in history(node, account)
            if i["type"] == "order_run" and i["tx"]["body"]["order"] == order]


def row(page: Page, order_id: str) -> Any:
    return page.locator(f"li[data-order='{order_id}']")


def in_days(days: int) -> str:
    """A date ``days`` from now (``YYYY-MM-DD``, what a date field holds)."""
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


def create_order(page: Page, payee: str, amount: str, date: str, time: str = "09:00",
                 period: str = "Chaque mois", count: str = "", double: bool = False) -> str:
    """Fills /ordres and creates the order; the id of the signed order."""
    ready(page, "/ordres")
    page.get_by_label("Vers un numéro de compte").fill(payee)
    expect(page.locator("#to-status")).to_have_class("ok")
    page.get_by_label("Montant de chaque paiement").fill(amount)
    page.get_by_label("Fréquence").select_option(label=period)
    page.get_by_label("Date du premier paiement").fill(date)
    page.get_by_label("Heure").fill(time)
    if count:
        page.get_by_label("Nombre de paiements (facultatif)").fill(count)
    button = page.get_by_role("button", name="Créer l’ordre permanent")
    if double:
        button.dblclick()
    else:
        button.click()
    page.wait_for_function("() => !document.querySelector('#unlock').hidden"
                           " || !document.querySelector('#result').hidden")
    unlock = page.get_by_label("Mot de passe")
    if unlock.is_visible():
        unlock.fill(PASSWORD)
        page.get_by_role("button", name="Déverrouiller").click()
    expect(page.locator("#result")).to_be_visible(timeout=TIMEOUT)
    return str(page.locator("[data-page]").get_attribute("data-created"))


# Runs first: the next test moves the node's clock days ahead of the wall clock, after which
# what the founders and the pages sign with the wall clock would have expired.
def test_bad_input_is_refused_in_french_and_sends_nothing(
        node: ClockedNode, founders: Founders, browser: Browser) -> None:
    member = sign_up(node.url, founders, "jules@example.org", nantie_minor=1_000)
    other = sign_up(node.url, founders, "ines@example.org")
    p: Phone = phone(browser, node.url, member)
    page = p.page
    ready(page, "/ordres")
    expect(page.locator("#orders-list")).to_have_text("Aucun ordre permanent.")
    create = page.get_by_role("button", name="Créer l’ordre permanent")
    page.get_by_label("Vers un numéro de compte").fill(other.account[:-1] + (
        "0" if other.account[-1] != "0" else "1"))
    expect(page.locator("#to-status")).to_have_text(
        "Ce numéro de compte contient une faute de frappe (sa clé de contrôle ne "
        "correspond pas).")
    create.click()
    expect(page.locator("#problem")).to_have_text("Choisissez qui payer.")
    page.get_by_label("Vers un numéro de compte").fill(member.account)
    expect(page.locator("#to-status")).to_have_text("C’est votre propre compte.")
    page.get_by_label("Vers un numéro de compte").fill(other.account)
    expect(page.locator("#to-status")).to_have_class("ok")
    for typed, message in [("12,345", "Montant ambigu : écrivez 1234 ou 1234,00."),
                           ("0", "Le montant doit être supérieur à zéro."),
                           ("", "Saisissez un montant.")]:
        page.get_by_label("Montant de chaque paiement").fill(typed)
        create.click()
        expect(page.locator("#amount-error")).to_have_text(message)
    page.get_by_label("Montant de chaque paiement").fill("10,00")
    create.click()
    expect(page.locator("#date-error")).to_have_text("Choisissez la date du premier paiement.")
    page.get_by_label("Date du premier paiement").fill(in_days(-2))
    create.click()
    expect(page.locator("#date-error")).to_have_text(
        "Le premier paiement doit être dans le futur.")
    page.get_by_label("Date du premier paiement").fill(in_days(5))
    page.get_by_label("Nombre de paiements (facultatif)").fill("0")
    page.get_by_label("Dernière date (facultatif)").fill(in_days(3))
    create.click()
    expect(page.locator("#count-error")).to_have_text(
        "Nombre de paiements : un nombre entier de 1 à 1 000 000.")
    expect(page.locator("#until-error")).to_have_text(
        "La dernière date doit suivre le premier paiement.")
    expect(page.locator("#date-error")).to_have_text("")
    assert not any("/api/v1/transactions" in url for url, _, _ in p.requests.sent)
    assert orders_api(node, member.account) == {}
    assert p.errors == [], p.errors
    p.context.close()


def test_an_order_runs_at_its_due_time_one_fails_notified_one_revoked(
        node: ClockedNode, founders: Founders, browser: Browser) -> None:
    landlord = sign_up(node.url, founders, "sci-des-tilleuls@example.org", "business",
                       business_profile("SCI des Tilleuls"))
    tenant = sign_up(node.url, founders, "camille@example.org", nantie_minor=10_000)
    payer = phone(browser, node.url, tenant)

    rent = create_order(payer.page, landlord.account, "25,00", in_days(3), count="12",
                        double=True)
    expect(payer.page.locator("#result-text")).to_contain_text(
        "Ordre permanent créé : 25,00 LIEN à SCI des Tilleuls, chaque mois, premier paiement")
    screenshot(payer.page, "ordre-cree")
    # 100,00 of nantie and a floor of -200,00: 500,00 cannot be paid
    big = create_order(payer.page, landlord.account, "500,00", in_days(3), "10:00")
    spare = create_order(payer.page, landlord.account, "5,00", in_days(2), "08:00",
                         period="Chaque semaine")
    made = [i for i in history(node, tenant.account) if i["type"] == "standing_order"]
    assert len(made) == 3  # the double tap created one order
    assert made[-1]["tx"]["body"]["count_max"] == 12
    assert made[-1]["tx"]["body"]["amount"] == 2_500

    # the list: next due date in French, runs, status; the payer revokes one (double tap)
    ready(payer.page, "/ordres")
    expect(row(payer.page, rent)).to_contain_text(
        "Vous payez 25,00 LIEN à SCI des Tilleuls, chaque mois")
    expect(row(payer.page, rent)).to_contain_text("Paiements effectués : 0 sur 12")
    expect(row(payer.page, rent).locator(".badge")).to_have_text("actif")
    first_due = orders_api(node, tenant.account)[rent]["first_due_ms"]
    french_day = datetime.fromtimestamp(first_due / 1000, UTC).day
    expect(row(payer.page, rent)).to_contain_text("Prochain paiement : ")
    expect(row(payer.page, rent)).to_contain_text(f" {french_day} ")
    row(payer.page, spare).get_by_role("button", name="Révoquer").dblclick()
    expect(row(payer.page, spare).locator(".badge")).to_have_text("révoqué", timeout=TIMEOUT)
    assert len([i for i in history(node, tenant.account)
                if i["type"] == "revoke_standing_order"]) == 1
    assert axe_violations(payer.page) == []
    payer.page.evaluate("window.notReloaded = true")

    # the payee sees them, and may cancel an active one
    owner = phone(browser, node.url, landlord)
    ready(owner.page, "/ordres")
    expect(row(owner.page, rent)).to_contain_text(
        "vous paie 25,00 LIEN, chaque mois")
    expect(row(owner.page, rent).get_by_role("button", name="Annuler")).to_be_visible()
    expect(row(owner.page, spare).locator(".badge")).to_have_text("révoqué")
    expect(row(owner.page, spare).get_by_role("button")).to_have_count(0)

    # the node's clock passes both due times: nothing is submitted, the node runs them
    orders = orders_api(node, tenant.account)
    node.clock.offset_ms = max(orders[rent]["next_due_ms"], orders[big]["next_due_ms"]) \
        - wall_clock_ms() + 60_000
    poll(lambda: len(runs(node, tenant.account, big)) == 1, 20, "the runs")
    expect(row(payer.page, rent)).to_contain_text("Paiements effectués : 1 sur 12",
                                                  timeout=TIMEOUT)
    expect(row(payer.page, rent)).to_contain_text("Dernier paiement : effectué")
    expect(row(payer.page, big)).to_contain_text(
        "Dernier paiement refusé : fonds insuffisants")
    assert payer.page.evaluate("window.notReloaded") is True  # live, from the event stream
    screenshot(payer.page, "ordres-apres-echeance")
    assert lien_balance(node, landlord.account) == (2_500, 0)  # type: ignore[arg-type]
    assert lien_balance(node, tenant.account) == (7_500, 0)  # type: ignore[arg-type]
    for account in (tenant.account, landlord.account):
        [paid] = runs(node, account, rent)
        [refused] = runs(node, account, big)
        assert paid["result"]["code"] == "ok"
        assert refused["result"] == {"code": "insufficient_funds"}
        assert runs(node, account, spare) == []  # revoked before its due time: never run
    after = orders_api(node, tenant.account)
    assert after[rent]["next_due_ms"] > node.clock() and after[rent]["status"] == "active"
    assert after[big]["last_result"] == "insufficient_funds"

    # both histories: the payment, and the refusal with its reason (no money moved)
    for p, sign in ((payer, "-"), (owner, "")):
        ready_history = p.page.goto("/historique")
        assert ready_history is not None and ready_history.status == 200
        body = p.page.locator("main")
        expect(body).to_contain_text("paiement par ordre permanent")
        expect(body).to_contain_text(f"{sign}25,00 LIEN")
        expect(body).to_contain_text("refusé : fonds insuffisants")
    screenshot(payer.page, "historique-ordres")

    # the payer is notified in the wallet and by e-mail; the payee is told of the payment only
    payer.page.goto("/notifications")
    expect(payer.page.locator("main")).to_contain_text("fonds insuffisants")
    def failures() -> list[Any]:
        found = (message_from_bytes(m.read_bytes(), policy=policy.default)
                 for m in (node.path / "mail").glob("*.eml"))
        return [m for m in found if "pas pu être exécuté" in str(m["Subject"])]

    [message] = poll(failures, 20, "the e-mail of the failed order")
    assert message["To"] == tenant.email
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "500,00 LIEN" in text and "fonds insuffisants" in text
    for p in (payer, owner):
        assert p.errors == [], p.errors
        p.context.close()
