"""Payment requests on the ledger: ``request_payment``, ``decline_request`` and the ``request``
field of ``transfer``; and their status as a wallet derives it from the chain
(``lien.wallet.requests``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lien.ledger import Reason, Tx, TxError
from lien.ledger.fields import check_fields
from lien.ledger.types import TX_TYPES
from lien.wallet import Member, entry_for
from lien.wallet.requests import requests_of

from ledger_support import CODE, World


@pytest.fixture
def w() -> Iterator[World]:
    world = World()
    yield world
    world.replay()


def ask(w: World, payee: Member, payer: Member, amount: int, signer: Member | None = None,
        **options: Any) -> Tx:
    fields = {"from": payer.account, "to": payee.account, "currency": CODE, "amount": amount,
              **options}
    return w.mk.make([signer or payee], "request_payment", **fields)


def decline(w: World, payer: Member, payee: Member, request: str,
            signer: Member | None = None) -> Tx:
    return w.mk.make([signer or payer], "decline_request", **{"from": payer.account},
                     to=payee.account, currency=CODE, request=request)


class History:
    """Both accounts' histories as the API would list them, from the world's blocks."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.items: list[dict[str, Any]] = []
        self.txs: list[Tx] = []

    def run(self, tx: Tx, reason: Reason = Reason.OK) -> Tx:
        result = self.w.ok(tx) if reason is Reason.OK else self.w.refuse(tx, reason)
        self.items.append({"seq": len(self.items) + 1, "height": self.w.state.height,
                           "id": tx.id, "type": tx.type, "tx": tx.to_json(),
                           "result": result.to_json()})
        self.txs.append(tx)
        return tx

    def of(self, account: str) -> list[dict[str, Any]]:
        return [i for i, tx in zip(self.items, self.txs, strict=True)
                if account in TX_TYPES[tx.type].accounts(self.w.state, tx)]

    def statuses(self, who: Member, now_ms: int | None = None) -> dict[str, str]:
        now = self.w.time_ms if now_ms is None else now_ms
        return {r.id: r.status for r in requests_of(who.account, self.of(who.account), now)}


def test_a_request_moves_no_money_and_is_in_both_histories(w: World) -> None:
    shop, client = w.join("business", nantie=1_000), w.join(nantie=5_000)
    before = (w.balance(shop), w.balance(client))
    tx = ask(w, shop, client, 1_250, memo="m1.xyz", reference="ab" * 32)
    assert w.ok(tx).to_json() == {"code": "ok"}
    assert (w.balance(shop), w.balance(client)) == before
    assert TX_TYPES["request_payment"].accounts(w.state, tx) == sorted(
        [shop.account, client.account])
    refusal = decline(w, client, shop, tx.id)
    assert w.ok(refusal).to_json() == {"code": "ok"}
    assert TX_TYPES["decline_request"].accounts(w.state, refusal) == sorted(
        [shop.account, client.account])
    # the statement shows each side the other as its counterpart, and no money
    item = {"seq": 1, "height": 1, "tx": tx.to_json(), "result": {"code": "ok"}}
    assert entry_for(client.account, item).counterpart == shop.account
    assert entry_for(shop.account, item).counterpart == client.account
    assert entry_for(client.account, item).amount_minor is None
    assert entry_for(client.account, item).label == "demande de paiement"


def test_request_refusals(w: World) -> None:
    shop, client = w.join("business"), w.join()
    pending, stranger = w.join(active=False), w.new_member()
    w.refuse(ask(w, shop, client, 100, currency="NOPE"), Reason.UNKNOWN_CURRENCY)
    w.refuse(ask(w, shop, shop, 100), Reason.SAME_ACCOUNT)
    assert w.refuse(ask(w, shop, stranger, 100),
                    Reason.UNKNOWN_ACCOUNT).value("account") == stranger.account
    # only the payee's owner asks: the payer cannot make a request "from" the shop
    assert w.refuse(ask(w, shop, client, 100, signer=client),
                    Reason.NOT_AUTHORISED).value("account") == shop.account
    assert w.refuse(ask(w, shop, pending, 100),
                    Reason.ACCOUNT_NOT_ACTIVE).value("account") == pending.account
    assert w.refuse(ask(w, pending, shop, 100),
                    Reason.ACCOUNT_NOT_ACTIVE).value("account") == pending.account
    # a decline is the payer's: the shop cannot decline in the client's name
    request = ask(w, shop, client, 100)
    w.ok(request)
    w.refuse(decline(w, client, shop, request.id, signer=shop), Reason.NOT_AUTHORISED)


def test_request_fields_are_checked_before_anything_runs(w: World) -> None:
    shop, client = w.join("business"), w.join()
    unit = TX_TYPES["request_payment"]
    good = {"from": client.account, "to": shop.account, "currency": CODE, "amount": 100}
    for bad, reason in [({"amount": 0}, Reason.AMOUNT_INVALID),
                        ({"amount": 12.5}, Reason.MALFORMED),
                        ({"memo": "x" * 257}, Reason.TOO_LARGE),
                        ({"from": "NOT-AN-ID"}, Reason.BAD_FIELD),
                        ({"extra": 1}, Reason.MALFORMED)]:
        with pytest.raises(TxError) as caught:
            check_fields({**good, **bad}, unit.required, unit.optional)
        assert caught.value.reason is reason, bad
    transfer = TX_TYPES["transfer"]
    pay = {**good, "request": "ab" * 32}
    check_fields(pay, transfer.required, transfer.optional)
    with pytest.raises(TxError) as caught:
        check_fields({**pay, "request": "AB" * 32}, transfer.required, transfer.optional)
    assert caught.value.reason is Reason.BAD_FIELD


def test_statuses_paid_declined_expired_open(w: World) -> None:
    shop, client = w.join("business"), w.join(nantie=10_000)
    h = History(w)
    paid = h.run(ask(w, shop, client, 1_000))
    declined = h.run(ask(w, shop, client, 2_000))
    expiring = h.run(ask(w, shop, client, 3_000))
    still = h.run(ask(w, shop, client, 4_000))
    refused = h.run(ask(w, shop, shop, 1), Reason.SAME_ACCOUNT)
    # a transfer naming the request with another amount, or refused, does not pay it
    h.run(w.mk.pay(client, shop, 999, request=paid.id))
    h.run(w.mk.pay(client, shop, 1_000_000, request=paid.id), Reason.INSUFFICIENT_FUNDS)
    assert h.statuses(client)[paid.id] == "open"
    h.run(w.mk.pay(client, shop, 1_000, request=paid.id))
    # a decline by someone else in the shop's name is refused by the ledger; the payer's counts
    h.run(decline(w, client, shop, declined.id, signer=shop), Reason.NOT_AUTHORISED)
    assert h.statuses(shop)[declined.id] == "open"
    h.run(decline(w, client, shop, declined.id))
    now = expiring.body["expires"]
    for who in (shop, client):  # both sides read the same statuses
        assert h.statuses(who, now) == {
            paid.id: "paid", declined.id: "declined", expiring.id: "expired",
            still.id: "expired" if still.body["expires"] <= now else "open"}
        assert h.statuses(who, now - 1)[expiring.id] == "open"
    assert refused.id not in h.statuses(shop)
    roles = {r.id: r.role for r in requests_of(shop.account, h.of(shop.account), now)}
    assert set(roles.values()) == {"payee"}
    paid_view = next(r for r in requests_of(client.account, h.of(client.account), now)
                     if r.id == paid.id)
    assert paid_view.role == "payer" and paid_view.payee_key == shop.public_key
    assert paid_view.settled_by != ""
    # paid stays paid after its validity
    assert h.statuses(client, now + 10**9)[paid.id] == "paid"
