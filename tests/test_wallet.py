"""The wallet layer (``lien.wallet``): an account's statement and balances read from its side,
in French and English, from the answers of a real node's API; and the keystore's bounds.

What a member would notice: a payment is money out for the payer and money in for the payee,
an operation the ledger refused moved no money and says why, and the statement of an account
adds up to its balance.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from api_support import API, CODE, Env, api_env
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)

from lien.ledger import TX_TYPES, Reason
from lien.ledger.fields import STATUSES
from lien.wallet import (
    LANGS,
    AnswerInvalid,
    Member,
    StatementEntry,
    amount_text,
    balance_for,
    entry_for,
    keystore,
    label,
    reason_text,
    status_label,
)
from lien.wallet import statement as statement_module

FEE_BP = 500  # DEFAULT_POLICY's reconversion fee


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with api_env(tmp_path) as env:
        yield env


async def statement(env: Env, account: str, lang: Any = "fr") -> list[StatementEntry]:
    response = await env.client.get(f"{API}/accounts/{account}/history", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [entry_for(account, item, lang) for item in response.json()["items"]]


async def balance(env: Env, account: str) -> Any:
    response = await env.client.get(f"{API}/accounts/{account}")
    assert response.status_code == 200, response.text
    (membership,) = [m for m in response.json()["currencies"] if m["currency"] == CODE]
    return balance_for(membership)


@pytest.mark.anyio
async def test_a_statement_reads_each_operation_from_the_accounts_side(env: Env) -> None:
    alice = await env.join("alice", nantie=10_000)
    bob = await env.join("bob")
    shop = await env.join("shop", nantie=20_000, kind="business")
    paid = await env.ok(env.mk.pay(alice, bob, 1_250, memo="pain"))
    refused = await env.run(env.mk.pay(alice, bob, 100_000))
    assert refused["result"]["code"] == "insufficient_funds"
    await env.ok(env.mk.make([shop], "reconvert", account=shop.account, currency=CODE,
                             amount=5_000, payout_ref="virement 1"))
    comptoir, association = env.genesis.comptoir, env.genesis.association

    mine = await statement(env, alice.account)
    assert [e.type for e in mine] == ["transfer", "transfer", "issue", "set_status",
                                      "open_account"]
    no, ok, issue, status, opened = mine
    assert (ok.seq, ok.height) == (paid["seq"], paid["height"])
    assert (ok.label, ok.amount_minor, ok.currency, ok.counterpart, ok.result, ok.refused,
            ok.outcome, ok.memo) == ("paiement", -1_250, CODE, bob.account, "ok", False, "ok",
                                     "pain")
    # refused: no money moved, and the reason in words
    assert (no.amount_minor, no.refused, no.result, no.counterpart) == (
        None, True, "insufficient_funds", bob.account)
    assert no.outcome == "refusé : fonds insuffisants"
    assert amount_text(no.amount_minor, no.currency) == ""
    assert (issue.label, issue.amount_minor, issue.counterpart) == (
        "émission", 10_000, comptoir.account)
    assert (status.label, status.amount_minor, status.counterpart) == (
        "statut", None, env.genesis.admins[0].account)
    assert (opened.label, opened.amount_minor, opened.counterpart) == ("ouverture", None, "")

    english = await statement(env, alice.account, "en")
    assert [e.label for e in english[:3]] == ["payment", "payment", "issuance"]
    assert english[0].outcome == "refused: not enough nantie (or nantie plus credit) for the amount"
    assert english[1].outcome == "ok"
    assert amount_text(english[1].amount_minor, CODE, "en") == "-12.50 LIEN"
    assert amount_text(ok.amount_minor, CODE) == "-12,50 LIEN"

    theirs = {e.seq: e for e in await statement(env, bob.account)}
    assert (theirs[paid["seq"]].amount_minor, theirs[paid["seq"]].counterpart) == (
        1_250, alice.account)
    assert theirs.get(refused["seq"]) is None or theirs[refused["seq"]].amount_minor is None

    (issued_by_comptoir,) = [e for e in await statement(env, comptoir.account)
                             if e.type == "issue" and e.counterpart == alice.account]
    assert issued_by_comptoir.amount_minor is None  # the issuer's own balance does not move

    reconverted = (await statement(env, shop.account))[0]
    assert (reconverted.label, reconverted.amount_minor, reconverted.counterpart) == (
        "reconversion", -5_000, "")
    fee = [e for e in await statement(env, association.account) if e.type == "reconvert"]
    assert [(e.amount_minor, e.counterpart) for e in fee] == [
        (5_000 * FEE_BP // 10_000, shop.account)]


@pytest.mark.anyio
async def test_a_statement_adds_up_to_the_balance(env: Env) -> None:
    alice = await env.join("alice", nantie=10_000)
    bob = await env.join("bob", nantie=3_000)
    shop = await env.join("shop", nantie=20_000, kind="business")
    for payer, payee, amount in [(alice, bob, 2_500), (bob, shop, 7_000), (alice, shop, 99_999),
                                 (shop, alice, 1_000), (bob, alice, 50_000), (alice, bob, 30)]:
        await env.run(env.mk.pay(payer, payee, amount))
    await env.run(env.mk.make([shop], "reconvert", account=shop.account, currency=CODE,
                              amount=4_000, payout_ref="virement"))
    accounts: list[Member] = [alice, bob, shop, env.genesis.association, env.genesis.comptoir]
    refusals = 0
    for m in accounts:
        entries = await statement(env, m.account)
        held = await balance(env, m.account)
        assert sum(e.amount_minor or 0 for e in entries) == held.nantie_minor + held.credit_minor
        refusals += sum(e.refused for e in entries)
    assert refusals > 0  # the refused payments are in the statements, and counted as nothing


@pytest.mark.anyio
async def test_a_balance_says_what_the_account_can_spend(env: Env) -> None:
    alice = await env.join("alice", nantie=10_000)
    bob = await env.join("bob")
    await env.ok(env.mk.pay(alice, bob, 12_000))  # 100,00 nantie then 20,00 of credit
    held = await balance(env, alice.account)
    assert (held.nantie_minor, held.credit_minor, held.floor_minor) == (0, -2_000, -20_000)
    assert held.spendable_minor == 18_000
    assert (held.status, held.status_label) == ("active", "actif")
    assert (await env.run(env.mk.pay(alice, bob, 18_001)))["result"]["code"] == "insufficient_funds"
    await env.ok(env.mk.pay(alice, bob, 18_000))
    assert (await balance(env, alice.account)).spendable_minor == 0


def test_every_type_status_and_refusal_has_words_in_each_language() -> None:
    for lang in LANGS:
        for name in TX_TYPES:
            assert label(name, lang) not in ("", name), (lang, name)
        assert set(statement_module._STATUSES[lang]) == set(STATUSES), lang
        for reason in Reason:
            if reason is not Reason.OK:
                assert reason_text(reason.value, lang) not in ("", reason.value), (lang, reason)
    assert set(statement_module._REASONS_FR) == set(Reason) - {Reason.OK}
    assert label("transfer") == "paiement" and label("transfer", "en") == "payment"
    assert label("a_future_type") == "a_future_type"
    assert status_label("locked") == "bloqué" and status_label("locked", "en") == "locked"
    assert reason_text("below_floor") == "plancher de crédit mutualisé dépassé"
    assert reason_text("no_such_code") == "no_such_code"


ITEM: dict[str, Any] = {
    "seq": 7, "height": 3, "id": "ab" * 32, "type": "transfer",
    "tx": {"body": {"type": "transfer", "from": "A", "to": "B", "currency": CODE,
                    "amount": 100}, "signatures": []},
    "result": {"code": "ok", "nantie": 100, "credit": 0},
}


@pytest.mark.parametrize("damage", [
    lambda i: i.pop("seq"),
    lambda i: i.update(seq="7"),
    lambda i: i["tx"]["body"].update(amount=1.5),
    lambda i: i["tx"]["body"].update(amount=True),
    lambda i: i["tx"]["body"].pop("to"),
    lambda i: i.update(result=None),
    lambda i: i.update(tx=[]),
], ids=["no seq", "seq text", "float amount", "bool amount", "no payee", "no result",
        "tx list"])
def test_an_item_not_shaped_as_the_api_is_refused(damage: Any) -> None:
    assert entry_for("A", ITEM).amount_minor == -100
    item = {**ITEM, "tx": {**ITEM["tx"], "body": dict(ITEM["tx"]["body"])},
            "result": dict(ITEM["result"])}
    damage(item)
    with pytest.raises(AnswerInvalid, match="not a history item"):
        entry_for("A", item)
    with pytest.raises(AnswerInvalid, match="not a membership"):
        balance_for({"currency": CODE, "nantie_minor": "12"})


@pytest.mark.parametrize("kdf", [
    {"name": "argon2id", "time_cost": 1, "memory_kib": 8_000_000, "parallelism": 1},
    {"name": "argon2id", "time_cost": 10_000, "memory_kib": 8192, "parallelism": 1},
    {"name": "argon2id", "time_cost": 1, "memory_kib": 8192, "parallelism": 0},
    {"name": "argon2id", "time_cost": 1.0, "memory_kib": 8192, "parallelism": 1},
    {"name": "scrypt", "time_cost": 1, "memory_kib": 8192, "parallelism": 1},
], ids=["memory", "passes", "lanes", "float", "scrypt"])
def test_a_keystore_asking_an_unbounded_cost_is_refused_before_deriving(kdf: Any) -> None:
    member = Member.new()
    cheap = {"name": "argon2id", "time_cost": 1, "memory_kib": 8192, "parallelism": 1}
    data = keystore.seal(member.key, "pw", kdf=cheap)
    assert keystore.unseal(data, "pw").encode() == member.key.encode()
    with pytest.raises(keystore.KeystoreError):
        keystore.unseal({**data, "kdf": {**kdf, "salt": data["kdf"]["salt"]}}, "pw")
    with pytest.raises(keystore.KeystoreError, match="cipher"):
        keystore.unseal({**data, "cipher": "aes-ecb"}, "pw")
