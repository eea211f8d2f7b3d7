"""One transaction type is one unit: a toy type defined here, and nowhere else, is parsed,
executed, put in the right histories and labelled for people — through the registry seam
(``TX_TYPES.extended``), while the protocol's own registry stays as it is.

Also: results are immutable records whose bytes are today's canonical JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import pytest

from lien.ledger import (
    OK,
    TX_TYPES,
    Reason,
    Registry,
    Result,
    State,
    Tx,
    TxError,
    TxType,
    apply_block,
    check_all_invariants,
    decode_tx,
    parse_tx,
    sign_body,
)
from lien.ledger.encoding import canonical
from lien.ledger.fields import account, amount, currency
from lien.ledger.ids import account_id_for_key
from lien.ledger.results import Refused
from lien.ledger.types import common
from lien.ledger.types.transfer import Transfer

from ledger_support import CODE, World

TOY_CAP_MINOR = 100


class Gift(TxType):
    """A toy: the giver hands up to 1,00 of nantie to a receiver, and the currency's
    association is told (it is in the history without being a field)."""

    name = "gift"
    labels = {"fr": "cadeau", "en": "gift"}
    required = {"giver": account, "receiver": account, "currency": currency, "cents": amount}

    def check(self, body: dict[str, Any]) -> None:
        if body["cents"] > TOY_CAP_MINOR:
            raise TxError(Reason.AMOUNT_INVALID, f"cents: more than {TOY_CAP_MINOR}")

    def more_accounts(self, state: State, tx: Tx) -> Iterable[str]:
        # runs before execute's checks: the currency may not exist
        currency_ = state.currencies.get(tx.body["currency"])
        return () if currency_ is None else (currency_.policy["association"],)

    def execute(self, state: State, tx: Tx) -> Result:
        b = tx.body
        giver = common.target(state, b["giver"], b["currency"])
        receiver = common.target(state, b["receiver"], b["currency"])
        if not common.owner_signed(state, tx, giver.account):
            raise Refused(Reason.NOT_AUTHORISED)
        if giver.nantie < b["cents"]:
            raise Refused(Reason.INSUFFICIENT_FUNDS, available=giver.nantie)
        common.move(state, giver, -b["cents"], 0)
        common.move(state, receiver, b["cents"], 0)
        return Result.of(Reason.OK, given=b["cents"])


TOYS = TX_TYPES.extended(Gift())


def gift(w: World, giver: Any, receiver: Any, cents: int, **extra: Any) -> Tx:
    body = w.mk.body("gift", giver=giver.account, receiver=receiver.account, currency=CODE,
                     cents=cents, **extra)
    return sign_body(body, [giver.key], types=TOYS)


def test_a_toy_type_is_parsed_with_its_fields_and_static_checks() -> None:
    w = World()
    a, b = w.join(), w.join()
    tx = gift(w, a, b, 50)
    assert parse_tx(tx.to_json(), types=TOYS) == tx
    assert decode_tx(tx.encode(), types=TOYS) == tx
    with pytest.raises(TxError) as refused:  # the protocol's registry does not know it
        parse_tx(tx.to_json())
    assert refused.value.reason is Reason.UNKNOWN_TYPE
    with pytest.raises(TxError) as refused:
        gift(w, a, b, TOY_CAP_MINOR + 1)
    assert refused.value.reason is Reason.AMOUNT_INVALID
    with pytest.raises(TxError) as refused:
        gift(w, a, b, 50, memo="merci")
    assert refused.value.reason is Reason.MALFORMED
    body = dict(tx.body, receiver="not an account")
    with pytest.raises(TxError) as refused:
        sign_body(body, [a.key], types=TOYS)
    assert refused.value.reason is Reason.BAD_FIELD


def test_a_toy_type_executes_and_goes_into_the_histories_it_concerns() -> None:
    w = World()
    a, b = w.join(nantie=80), w.join()
    w.time_ms += 1
    first, second = gift(w, a, b, 50), gift(w, a, b, 40)
    before = w.state.all_lines()
    out = apply_block(w.state, [first, second], w.time_ms, verify_signatures=True, types=TOYS)
    check_all_invariants(w.state)
    assert not out.dropped
    assert [r.to_json() for r in out.results] == [
        {"code": "ok", "given": 50}, {"code": "insufficient_funds", "available": 30}]
    assert w.balance(a) == (30, 0) and w.balance(b) == (50, 0)
    assert w.state.all_lines() != before
    concerned = sorted([a.account, b.account, w.association.account])
    assert out.touched == [concerned, concerned]
    # a type's account fields are found from its field checks, whatever their names
    assert Gift.account_fields == ("giver", "receiver")


def _legacy_concerned(state: State, tx: Tx) -> list[str]:
    """The history rule as one table of field names and special cases had it before each type
    became a unit (lien/ledger/history.py): the units must give exactly the same accounts."""
    body = tx.body
    accounts = {body[f] for f in ("account", "from", "to", "by") if f in body}
    if tx.type == "reconvert" and body["currency"] in state.currencies:
        accounts.add(state.currencies[body["currency"]].policy["association"])
    elif tx.type in ("create_currency", "set_policy"):
        accounts.add(body["policy"]["association"])
        accounts.update(body.get("admins", ()), body.get("issuers", ()))
    return sorted(accounts)


@pytest.mark.parametrize("code", [CODE, "NOPE"])
@pytest.mark.parametrize("tx_type", list(TX_TYPES))
def test_each_type_concerns_the_accounts_history_always_gave_it(tx_type: str, code: str) -> None:
    state = World().state
    ids = iter(account_id_for_key(bytes([i]) * 32) for i in range(1, 20))
    unit = TX_TYPES[tx_type]
    samples: dict[str, Any] = {"currency": code, "code": code,
                               "policy": {"association": next(ids)},
                               "admins": [next(ids), next(ids)], "issuers": [next(ids)]}
    samples.update({name: next(ids) for name in unit.account_fields})
    samples["order"] = "00" * 32  # a standing order no state holds
    fields = {**unit.required, **unit.optional}
    body = {"type": tx_type, **{k: v for k, v in samples.items() if k in fields}}
    tx = Tx("00" * 32, body, b"", ())
    assert unit.accounts(state, tx) == _legacy_concerned(state, tx)
    # every type concerns someone, but a change of the validator set: validators are keys,
    # not accounts (its record is the store's list of validator changes)
    assert bool(unit.accounts(state, tx)) == (tx_type != "set_validators")


def test_a_toy_type_has_labels_for_people() -> None:
    assert TOYS.label("gift", "fr") == "cadeau"
    assert TOYS.label("gift", "en") == "gift"
    assert TOYS.label("transfer", "fr") == "paiement"
    assert TX_TYPES.label("gift") == "gift"  # unknown here: shown by its name
    assert "gift" not in TX_TYPES and "gift" in TOYS


def test_a_registry_refuses_a_second_unit_of_one_name_or_missing_labels() -> None:
    with pytest.raises(ValueError, match="two transaction types"):
        TX_TYPES.extended(Transfer())

    class Unlabelled(Gift):
        name = "unlabelled"
        labels = {"fr": "sans nom"}

    with pytest.raises(ValueError, match="labels"):
        Registry([Unlabelled()])


def test_every_type_of_the_protocol_is_labelled_in_french_and_english() -> None:
    assert TX_TYPES.label("transfer", "fr") == "paiement"
    assert TX_TYPES.label("transfer", "en") == "payment"
    assert TX_TYPES.label("create_currency", "fr") == "création de monnaie"
    for unit in TX_TYPES.values():
        assert unit.labels["fr"] and unit.labels["en"]


# -- results ---------------------------------------------------------------------------------------
def test_a_result_is_immutable_and_encoded_as_canonical_json() -> None:
    result = Result.of(Reason.OK, nantie=100, credit=-3)
    assert result.to_json() == {"code": "ok", "nantie": 100, "credit": -3}
    assert result.encoded == canonical({"code": "ok", "nantie": 100, "credit": -3})
    assert result.encoded == b'{"code":"ok","credit":-3,"nantie":100}'
    assert result.value("credit") == -3
    with pytest.raises(KeyError):
        result.value("fee")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.reason = Reason.SAME_ACCOUNT  # type: ignore[misc]
    # the wire form is a fresh dict: changing it changes no result, not even the shared OK
    wire = OK.to_json()
    wire["code"] = "tampered"
    assert OK.to_json() == {"code": "ok"} and OK.encoded == b'{"code":"ok"}'


def test_a_refusal_carries_its_result() -> None:
    refusal = Refused(Reason.NOT_MEMBER, account="K7QM3XZ9WT42")
    assert refusal.result == Result.of(Reason.NOT_MEMBER, account="K7QM3XZ9WT42")
    assert refusal.result.encoded == b'{"account":"K7QM3XZ9WT42","code":"not_member"}'
