"""Notifications from the node's events (``lien.members.notifier``) and the page that shows
them (``/notifications``, the menu's count, the latest unread on ``/compte``), in process.

The notifier's worker writes off the node's thread; the tests wait for it with ``flush`` (never
a sleep). Members with a wallet login sign up through ``/wallet/api`` (``members_support``);
the others are opened through the API only, as the benchmark's and the CLI's are.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_support import Env, api_env
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)
from members_support import ORIGIN, Browser, Person, person, personal_rows

from lien.ledger import format_amount
from lien.members import FileSender, Members, Notifier, NotifierSettings
from lien.members.notifier import ORDER_FAILED, PAYMENT_RECEIVED, PAYMENT_REQUEST, note_for
from lien.store import Session
from lien.wallet import Member
from lien.web.inbox import LINKS
from lien.web.session import current_session

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with api_env(tmp_path) as env:
        yield env


def notifier(env: Env) -> Notifier:
    found = env.app.state.lien.notifier
    assert isinstance(found, Notifier)
    return found


def members(env: Env) -> Members:
    found = env.app.state.lien.members
    assert isinstance(found, Members)
    return found


async def wallet_member(env: Env, browser: Browser, email_: str, nantie: int = 0) -> Person:
    """A member signed up through the wallet (so with a login), approved, maybe funded."""
    p = person(email_)
    assert (await browser.signup(p)).status_code == 200
    await env.ok(env.mk.approve(env.genesis.admins[0], p.member))
    if nantie:
        await env.ok(env.mk.issue([env.genesis.comptoir], p.member, nantie))
    return p


@pytest.fixture
async def browser(env: Env) -> AsyncIterator[Browser]:
    b = Browser(env)
    await b.start()
    yield b
    await b.close()


async def test_a_payment_received_by_a_wallet_member_notifies_once_even_when_retried(
        env: Env, browser: Browser) -> None:
    shop = await wallet_member(env, browser, "boulangerie@example.org")
    alice = await env.join("alice", nantie=5_000)
    payment = env.mk.pay(alice, shop.member, 1_250)
    await env.ok(payment)
    retried = await env.post(payment)  # the same signed payment, sent again
    assert retried.status_code in (200, 400), retried.text
    refused = await env.run(env.mk.pay(alice, shop.member, 99_999_999))
    assert refused["result"]["code"] == "insufficient_funds"  # refused: no notification
    assert notifier(env).flush()
    notes = members(env).notifications(shop.member.account)
    assert [(n.kind, n.body) for n in notes] == [
        (PAYMENT_RECEIVED, {"tx": payment.id, "from": alice.account, "amount_minor": 1_250,
                            "currency": "LIEN"})]
    # the payer, without a login, has nothing; the payee's count says one
    assert members(env).notifications(alice.account) == []
    assert members(env).unread_count(shop.member.account) == 1


async def test_accounts_without_a_wallet_login_cost_one_lookup_and_get_nothing(
        env: Env) -> None:
    alice = await env.join("alice", nantie=5_000)
    bob = await env.join("bob")
    before = notifier(env).queued
    for amount in (100, 200, 300):
        await env.ok(env.mk.pay(alice, bob, amount))
    assert notifier(env).flush()
    assert notifier(env).queued == before  # never queued: the listener stopped at the set
    assert personal_rows(env)["personal_notifications"] == []


async def test_an_erased_member_is_no_longer_notified(env: Env, browser: Browser) -> None:
    shop = await wallet_member(env, browser, "shop@example.org")
    alice = await env.join("alice", nantie=5_000)
    assert shop.member.account in members(env).wallet
    members(env).erase(shop.member.account)
    assert shop.member.account not in members(env).wallet
    await env.ok(env.mk.pay(alice, shop.member, 100))
    assert notifier(env).flush()
    assert personal_rows(env)["personal_notifications"] == []


@dataclass(frozen=True)
class Event:
    """An event as the node hands its listeners (``TxEvent``'s id, type and result)."""

    id: str
    type: str
    result: dict[str, Any]


async def test_a_failed_standing_order_notifies_the_payer_and_mails_it_through_the_file_sender(
        env: Env, browser: Browser, tmp_path: Path) -> None:
    """Through the listener interface, with the type strings the standing orders and payment
    requests use (``order_run``, ``request_payment``), whatever types main has today."""
    payer = await wallet_member(env, browser, "locataire@example.org")
    landlord = await wallet_member(env, browser, "bailleur@example.org")
    mail_dir = tmp_path / "mail"
    service = Members(env.store.personal, b"s" * 32, FileSender(mail_dir))
    bodies = {
        "run1": {"type": "order_run", "order": "o" * 64, "run": 3, "from": payer.member.account,
                 "to": landlord.member.account, "amount": 45_000, "currency": "LIEN"},
        "run2": {"type": "order_run", "order": "o" * 64, "run": 4, "from": payer.member.account,
                 "to": landlord.member.account, "amount": 45_000, "currency": "LIEN"},
        "req1": {"type": "request_payment", "from": payer.member.account,
                 "to": landlord.member.account, "amount": 2_000, "currency": "LIEN"},
    }
    own = Notifier(service, bodies.get, NotifierSettings(batch_events_max=2))
    own.start()
    try:
        for account in (payer.member.account, landlord.member.account):  # both touched
            own.listener(account, Event("run1", "order_run", {"code": "insufficient_funds"}))
            own.listener(account, Event("run2", "order_run", {"code": "ok"}))
            own.listener(account, Event("req1", "request_payment", {"code": "ok"}))
        own.listener(payer.member.account, Event("run1", "order_run",
                                                 {"code": "insufficient_funds"}))  # again
        assert own.flush()
    finally:
        own.stop()
    notes = service.notifications(payer.member.account)
    assert sorted(n.kind for n in notes) == [ORDER_FAILED, PAYMENT_REQUEST]
    # the landlord: the run that went through is a payment received, the failed one nothing
    [paid] = service.notifications(landlord.member.account)
    assert (paid.kind, paid.body["tx"], paid.body["amount_minor"]) == (PAYMENT_RECEIVED, "run2",
                                                                        45_000)
    [mail_file] = list(mail_dir.glob("*.eml"))
    message = email.message_from_bytes(mail_file.read_bytes(), policy=email.policy.default)
    assert message["To"] == "locataire@example.org"
    assert message["Subject"] == "Votre ordre permanent n'a pas pu être exécuté"
    text = message.get_content()  # type: ignore[attr-defined]
    assert f"Votre ordre permanent de {format_amount(45_000, 'LIEN')} vers le compte" in text
    assert "fonds insuffisants" in text and landlord.member.account in text


def test_the_rules_of_what_notifies_whom() -> None:
    a, b = "A" * 12, "B" * 12
    pay = {"type": "transfer", "from": a, "to": b, "amount": 5, "currency": "LIEN"}
    assert note_for(b, "t", "transfer", {"code": "ok"}, pay) is not None
    assert note_for(a, "t", "transfer", {"code": "ok"}, pay) is None  # the payer
    assert note_for(b, "t", "transfer", {"code": "insufficient_funds"}, pay) is None
    assert note_for(b, "t", "transfer", {"code": "duplicate"}, pay) is None
    request = {"type": "request_payment", "from": a, "to": b, "amount": 5}
    assert note_for(a, "r", "request_payment", {"code": "ok"}, request) is not None
    assert note_for(b, "r", "request_payment", {"code": "ok"}, request) is None
    run = {"type": "order_run", "from": a, "to": b, "amount": 5}
    failed = note_for(a, "o", "order_run", {"code": "below_floor"}, run)
    assert failed is not None and failed.mail is not None
    assert note_for(b, "o", "order_run", {"code": "below_floor"}, run) is None
    assert note_for(a, "o", "order_run", {"code": "ok"}, run) is None
    assert note_for(b, "o", "order_run", {"code": "ok"}, run) is not None  # paid by the order
    assert note_for(a, "x", "issue", {"code": "ok"}, {"to": a}) is None


def test_a_full_queue_drops_and_counts_and_never_raises(tmp_path: Path) -> None:
    class Wallet:
        wallet = frozenset({"A"})

    class Broken:
        type = property(lambda self: 1 / 0)

    own = Notifier(Wallet(), lambda _id: None,  # type: ignore[arg-type]
                   NotifierSettings(queue_events_max=2))
    for _ in range(5):  # never started: nothing drains
        own.listener("A", Event("t", "transfer", {"code": "ok"}))
    assert (own.queued, own.dropped) == (2, 3)
    own.listener("A", Broken())  # type: ignore[arg-type]


# -- the pages -----------------------------------------------------------------------------------
def log_in(env: Env, member: Member) -> Session:
    now = env.node.clock()
    session = Session(id_hash="0" * 64, account=member.account, csrf="t" * 32, created_ms=now,
                      seen_ms=now, expires_ms=now + 3_600_000)
    env.app.dependency_overrides[current_session] = lambda: session
    return session


async def test_the_page_lists_the_menu_counts_and_marking_read_clears_them(
        env: Env, browser: Browser) -> None:
    shop = await wallet_member(env, browser, "epicerie@example.org")
    alice = await env.join("alice", nantie=5_000)
    await env.ok(env.mk.pay(alice, shop.member, 1_250))
    await env.ok(env.mk.pay(alice, shop.member, 300))
    assert notifier(env).flush()
    session = log_in(env, shop.member)
    grouped = "-".join(alice.account[i:i + 4] for i in range(0, 12, 4))

    account = (await env.client.get("/compte")).text
    assert '<span class="count">2<span class="visually-hidden"> non lues</span>' in account
    for amount in (1_250, 300):
        assert f"Paiement reçu : {format_amount(amount, 'LIEN')} de {grouped}." in account
    page = await env.client.get("/notifications")
    assert page.status_code == 200 and "<h1>Notifications</h1>" in page.text
    assert page.text.count('class="note unread"') == 2
    english = (await env.client.get("/notifications?lang=en")).text
    assert f"Payment received: {format_amount(1_250, 'LIEN', 'en')} from {grouped}." in english

    newest = members(env).notifications(shop.member.account)[0]
    form = {"csrf_token": session.csrf, "id": str(newest.id)}
    headers = {"Origin": ORIGIN}
    # without the token, or with a bad id: refused or nothing marked
    refused = await env.client.post("/notifications/lues", data={"id": str(newest.id)},
                                    headers=headers)
    assert refused.status_code == 403
    bad = await env.client.post("/notifications/lues", data={**form, "id": "deux"},
                                headers=headers)
    assert bad.status_code == 303 and members(env).unread_count(shop.member.account) == 2
    one = await env.client.post("/notifications/lues", data=form, headers=headers)
    assert one.status_code == 303 and one.headers["location"] == "/notifications"
    assert members(env).unread_count(shop.member.account) == 1
    assert '<span class="count">1<' in (await env.client.get("/notifications")).text
    everything = await env.client.post("/notifications/lues",
                                       data={"csrf_token": session.csrf}, headers=headers)
    assert everything.status_code == 303
    page = (await env.client.get("/notifications")).text
    assert 'class="count"' not in page and 'class="note unread"' not in page
    assert page.count('class="note"') == 2  # still listed, read
    assert "Paiement reçu" not in (await env.client.get("/compte")).text


async def test_the_page_needs_a_session(env: Env) -> None:
    page = await env.client.get("/notifications")
    assert page.status_code == 303 and page.headers["location"].startswith("/connexion")


async def test_every_kind_of_notification_leads_to_the_page_where_the_member_acts(
    env: Env,
) -> None:
    """A payment to the history, a request to the account page (where it is paid or refused),
    a failed standing order to the orders: every kind has a link, and each is a page."""
    assert set(LINKS) == {PAYMENT_RECEIVED, PAYMENT_REQUEST, ORDER_FAILED}
    pages = {getattr(route, "path", None) for route in env.app.routes}
    assert {LINKS[PAYMENT_REQUEST], LINKS[ORDER_FAILED]} == {"/compte", "/ordres"}
    assert set(LINKS.values()) <= pages
