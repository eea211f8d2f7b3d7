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
from lien.wallet import Member
from lien.wallet.requests import requests_of

from ledger_support import CODE, World


@pytest.fixture
def w() -> Iterator[World]:
    world = World()
    yield world
    world.replay()


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
    paid = h.run(w.ask(shop, client, 1_000))
    declined = h.run(w.ask(shop, client, 2_000))
    expiring = h.run(w.ask(shop, client, 3_000))
    still = h.run(w.ask(shop, client, 4_000))
    refused = h.run(w.ask(shop, shop, 1), Reason.SAME_ACCOUNT)
    # a transfer naming the request with another amount, or refused, does not pay it
    h.run(w.mk.pay(client, shop, 999, request=paid.id))
    h.run(w.mk.pay(client, shop, 1_000_000, request=paid.id), Reason.INSUFFICIENT_FUNDS)
    assert h.statuses(client)[paid.id] == "open"
    h.run(w.mk.pay(client, shop, 1_000, request=paid.id))
    # a decline by someone else in the shop's name is refused by the ledger; the payer's counts
    h.run(w.decline(client, shop, declined.id, signer=shop), Reason.NOT_AUTHORISED)
    assert h.statuses(shop)[declined.id] == "open"
    h.run(w.decline(client, shop, declined.id))
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
    assert paid_view.settled_by != "" and paid_view.refused_payments == 1
    # paid stays paid after its validity
    assert h.statuses(client, now + 10**9)[paid.id] == "paid"
