"""Standing orders in the ledger core: the schedule, the order's life (made, run, refused,
revoked, finished), the runs as system transactions in both histories, and the bounds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from lien.ledger import TX_TYPES, Reason, TxError, apply_block, limits, parse_tx
from lien.ledger.orders import DAY_MS, WEEK_MS, add_months, next_due
from lien.ledger.state import Order
from lien.ledger.transactions import system_tx

from ledger_support import CODE, World

from lien.wallet import Member, entry_for


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def order(period: str, first: str, **fields: int) -> Order:
    return Order("00" * 32, "A", "B", CODE, 100, period, ms(first), ms(first), **fields)


# -- the schedule --------------------------------------------------------------------------------
def test_monthly_keeps_the_anchor_day_clamped_to_the_month_end() -> None:
    first = ms("2028-01-31T09:30:00")
    assert [add_months(first, k) for k in range(4)] == [
        first, ms("2028-02-29T09:30:00"), ms("2028-03-31T09:30:00"), ms("2028-04-30T09:30:00")]
    assert add_months(ms("2027-12-15T00:00:00"), 1) == ms("2028-01-15T00:00:00")


def test_after_a_run_an_order_moves_to_its_first_due_time_after_the_block() -> None:
    o = order("monthly", "2028-01-31T09:30:00")
    assert next_due(o, ms("2028-01-31T09:30:00")) == ms("2028-02-29T09:30:00")
    # a chain that made no block for months skips the missed periods, never charges them
    assert next_due(o, ms("2028-05-02T00:00:00")) == ms("2028-05-31T09:30:00")
    w = order("weekly", "2028-01-03T08:00:00")
    assert next_due(w, ms("2028-01-03T08:00:00")) == ms("2028-01-03T08:00:00") + WEEK_MS
    assert next_due(w, ms("2028-01-20T00:00:00")) == ms("2028-01-24T08:00:00")
    assert next_due(order("once", "2028-01-03T08:00:00"), ms("2028-01-03T08:00:00")) is None


def test_an_order_finishes_at_its_bounds() -> None:
    o = order("weekly", "2028-01-03T08:00:00", count_max=2, runs=2)
    assert next_due(o, ms("2028-01-10T08:00:00")) is None
    u = order("weekly", "2028-01-03T08:00:00", until_ms=ms("2028-01-16T00:00:00"))
    assert next_due(u, ms("2028-01-03T08:00:00")) == ms("2028-01-10T08:00:00")
    assert next_due(u, ms("2028-01-10T08:00:00")) is None
    last = order("monthly", "9999-11-30T00:00:00")
    assert next_due(last, ms("9999-12-30T00:00:00")) is None


# -- the order's life in the ledger ------------------------------------------------------------
def world(kind: str = "personal") -> tuple[World, Member, Member]:
    w = World()
    return w, w.join(kind, nantie=10_000), w.join()


def runs_of(out: object) -> list[dict[str, object]]:
    return [{"body": tx.body, "result": r.to_json()}
            for tx, r in zip(out.txs, out.results, strict=True)  # type: ignore[attr-defined]
            if tx.type == "order_run"]


def test_a_monthly_order_runs_at_each_due_time_in_both_histories_and_a_failure_too() -> None:
    w, payer, payee = world()
    # a payer whose credit floor is 0: nantie only
    w.ok(w.mk.make([w.admins[0]], "set_limits", by=w.admins[0].account, currency=CODE,
                   account=payer.account, floor=0, ceiling=0))
    due = w.time_ms + 1000
    made = w.ok(w.mk.standing_order(payer, payee, 6000, due, "monthly", count_max=3,
                                    reference="ab" * 32, memo="m1.loyer"))
    order_id = made.value("order")
    assert order_id in w.state.orders
    assert w.block([], advance_ms=998).txs == []  # not yet due
    out = w.block([], advance_ms=1)  # at its due time
    [run] = runs_of(out)
    assert run["result"] == {"code": "ok", "credit": 0, "nantie": 6000}
    assert run["body"]["order"] == order_id and run["body"]["run"] == 1
    assert run["body"]["reference"] == "ab" * 32 and run["body"]["memo"] == "m1.loyer"
    assert out.touched[0] == sorted([payer.account, payee.account])
    assert out.txs[0].signatures == ()
    assert w.balance(payer) == (4000, 0) and w.balance(payee) == (6000, 0)
    o = w.state.orders[order_id]
    assert (o.runs, o.last_result) == (1, "ok")
    assert datetime.fromtimestamp(o.next_due_ms / 1000, UTC).day == \
        datetime.fromtimestamp(due / 1000, UTC).day
    # the second run finds 4000 of 6000 (and a floor of 0): refused, recorded, not retried
    out = w.block([], advance_ms=o.next_due_ms - w.time_ms)
    assert runs_of(out)[0]["result"]["code"] == "insufficient_funds"
    assert w.balance(payer) == (4000, 0)
    assert (o.runs, o.last_result) == (2, "insufficient_funds")
    assert w.block([], advance_ms=DAY_MS).txs == []  # not retried in the same period
    w.issue(payer, 5000)
    out = w.block([], advance_ms=o.next_due_ms - w.time_ms)
    assert runs_of(out)[0]["result"]["code"] == "ok"
    assert order_id not in w.state.orders and o.status == "finished"  # count_max reached
    assert w.block([], advance_ms=40 * DAY_MS).txs == []
    w.replay(take_changes=True)


def test_a_run_reads_as_a_payment_in_both_statements_and_a_refused_one_moves_nothing() -> None:
    w, payer, payee = world()
    due = w.time_ms + 1000
    w.ok(w.mk.standing_order(payer, payee, 25_000, due, "monthly"))
    [run] = runs_of(w.block([], advance_ms=1000))
    item = {"seq": 1, "height": 1, "tx": {"body": run["body"], "signatures": []},
            "result": run["result"]}
    paid, received = entry_for(payer.account, item), entry_for(payee.account, item)
    assert (paid.label, paid.amount_minor, paid.counterpart) == (
        "paiement par ordre permanent", -25_000, payee.account)
    assert (received.amount_minor, received.counterpart) == (25_000, payer.account)
    # 10 000 of nantie and a floor of -20 000 leave 5 000 of the next 25 000 unpaid
    [refused] = runs_of(w.block([], advance_ms=w.state.orders[run["body"]["order"]].next_due_ms
                                - w.time_ms))
    item = {**item, "tx": {"body": refused["body"], "signatures": []},
            "result": refused["result"]}
    for side in (payer, payee):
        entry = entry_for(side.account, item)
        assert (entry.refused, entry.amount_minor) == (True, None)
        assert entry.outcome == "refusé : fonds insuffisants"
    assert entry_for(payer.account, item, "en").label == "standing order payment"


def test_a_one_off_transfer_at_a_future_date_runs_once() -> None:
    w, payer, payee = world()
    w.ok(w.mk.standing_order(payer, payee, 2500, w.time_ms + 5, "once"))
    out = w.block([w.mk.pay(payer, payee, 100)], advance_ms=10)
    assert [tx.type for tx in out.txs] == ["order_run", "transfer"]  # runs come first
    assert w.balance(payee) == (2600, 0)
    assert w.state.orders == {} and w.block([], advance_ms=WEEK_MS).txs == []


def test_the_payer_or_the_payee_revokes_and_nobody_else() -> None:
    w, payer, payee = world()
    other = w.join()
    first = w.ok(w.mk.standing_order(payer, payee, 10, w.time_ms + 100, "weekly")).value("order")
    second = w.ok(w.mk.standing_order(payer, payee, 10, w.time_ms + 100, "weekly")).value("order")
    w.refuse(w.mk.revoke_order(other, str(first)), Reason.NOT_AUTHORISED)
    w.ok(w.mk.revoke_order(payer, str(first)))
    w.ok(w.mk.revoke_order(payee, str(second)))
    w.refuse(w.mk.revoke_order(payer, str(second)), Reason.UNKNOWN_ORDER)
    assert w.state.orders == {} and w.block([], advance_ms=200).txs == []
    w.replay()


def test_what_a_standing_order_may_not_be() -> None:
    w, payer, payee = world("business")
    w.refuse(w.mk.standing_order(payer, payee, 10, w.time_ms + 1, "once"), Reason.DUE_IN_PAST)
    w.refuse(w.mk.standing_order(payer, payer, 10, w.time_ms + 9, "once"), Reason.SAME_ACCOUNT)
    stranger = w.new_member()
    w.refuse(w.mk.standing_order(payer, stranger, 10, w.time_ms + 9, "once"),
             Reason.UNKNOWN_ACCOUNT)
    # a till's caps bound single payments: it cannot sign a standing authority
    till = w.new_member(label="till")
    w.ok(w.mk.make([payer], "delegate", account=payer.account, key=till.public_key,
                   currency=CODE, cap_per_payment_minor=100, cap_total_minor=1000))
    tx = w.mk.make([till], "standing_order", **{"from": payer.account}, to=payee.account,
                   currency=CODE, amount=10, first_due_ms=w.time_ms + 9, period="once")
    w.refuse(tx, Reason.NOT_AUTHORISED)
    with pytest.raises(TxError) as bad:
        w.mk.standing_order(payer, payee, 10, w.time_ms + 9, "once", count_max=2)
    assert bad.value.reason is Reason.BAD_FIELD
    with pytest.raises(TxError):
        w.mk.standing_order(payer, payee, 10, w.time_ms + 9, "weekly", until_ms=w.time_ms)
    # due times stop at the end of year 9999 (calendar arithmetic)
    w.mk.standing_order(payer, payee, 10, limits.order_due_ms_max, "once")
    with pytest.raises(TxError) as late:
        w.mk.standing_order(payer, payee, 10, limits.order_due_ms_max + 1, "once")
    assert late.value.reason is Reason.BAD_FIELD
    assert TX_TYPES["revoke_standing_order"].signers == "account"  # whatever the standing


def test_an_account_has_at_most_standing_orders_per_account_max(
        monkeypatch: pytest.MonkeyPatch) -> None:
    w, payer, payee = world()
    monkeypatch.setattr(limits, "standing_orders_per_account_max", 2)
    for _ in range(limits.standing_orders_per_account_max):
        w.ok(w.mk.standing_order(payer, payee, 10, w.time_ms + 100, "weekly"))
    w.refuse(w.mk.standing_order(payer, payee, 10, w.time_ms + 100, "weekly"),
             Reason.ORDERS_LIMIT)
    w.ok(w.mk.standing_order(payee, payer, 10, w.time_ms + 100, "weekly"))  # per payer


def test_runs_beyond_the_block_limit_wait_in_due_then_id_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    w, payer, payee = world()
    due = w.time_ms + 50
    ids = [str(w.ok(w.mk.standing_order(payer, payee, 1, due + (i == 2), "once"))
               .value("order")) for i in range(3)]
    monkeypatch.setattr(limits, "order_runs_per_block_max", 2)
    first = w.block([], advance_ms=due + 5 - w.time_ms)
    assert len(first.txs) == limits.order_runs_per_block_max
    assert [tx.body["order"] for tx in first.txs] == sorted(ids[:2])
    second = w.block([])
    assert [tx.body["order"] for tx in second.txs] == [ids[2]]
    w.replay()


def test_an_order_run_never_comes_from_outside() -> None:
    w, payer, payee = world()
    body = {"chain": w.state.config.chain_id, "type": "order_run", "expires": w.time_ms + 10,
            "nonce": "1", "order": "00" * 32, "run": 1, "from": payer.account,
            "to": payee.account, "currency": CODE, "amount": 5}
    forged = system_tx(body)
    out = apply_block(w.state, [forged], w.time_ms + 1)
    assert out.txs == [] and out.dropped[0][1].reason is Reason.SYSTEM_TRANSACTION
    signed = w.mk.pay(payer, payee, 1).to_json()
    with pytest.raises(TxError) as refused:
        parse_tx({"body": body, "signatures": signed["signatures"]})
    assert refused.value.reason is Reason.SYSTEM_TRANSACTION
    # unsigned, it parses (that is how a stored run is read back), and stays out of blocks
    assert parse_tx(json.loads(forged.encode())).id == forged.id
