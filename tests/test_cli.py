"""The wallet commands of ``lien`` against a real node serving HTTP (``lien serve``).

What a member typing commands would notice: the account id and key printed, amounts read and
shown the French way, the split of a payment, the reason code of a refusal, a receipt that
verifies offline and one that does not, and every exit code: 0 done, 1 refused by the ledger,
2 bad input or refused at admission, 3 verification failed, 4 node unreachable.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from server_support import free_port
from cli_support import (
    MEMBER_PASSWORD,
    Founders,
    Run,
    ServedNode,
    receipt_file,
    run,
    run_in_terminal,
    write_keystore,
)

from lien.cli.wallet import NodeClient, NodeRefused, NodeUnreachable
from lien.ledger import ChainConfig, format_account_id
from lien.wallet import Member, keystore, memo

NNBSP = "\u202f"  # the thousands separator of format_amount
TX_ID = re.compile(r"transaction ([0-9a-f]{64})")


@pytest.fixture()
def unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}"


def pay(node: ServedNode, keystore_file: Path, to: str, amount: str, *options: str) -> Run:
    return run("pay", "--keystore", keystore_file, "--to", to, "--amount", amount,
               "--password", MEMBER_PASSWORD, *options, node=node.url)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the Rich table in ``text``, as lists of cells."""
    return [[cell.strip() for cell in line.split("│")[1:-1]]
            for line in text.splitlines() if line.startswith("│")]


def assert_fails(result: Run, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result.text
    for fragment in fragments:
        assert fragment in result.text
    assert "Traceback" not in result.text


# -- lien keys new ---------------------------------------------------------------------------------
def test_keys_new_prints_the_account_and_key_and_never_the_password(tmp_path: Path) -> None:
    out = tmp_path / "camille.json"
    result = run("keys", "new", "--out", out, "--kind", "business", "--password", "s3cret-pass")
    assert result.exit_code == 0, result.text
    data = keystore.read(out)
    assert format_account_id(data["account"]) in result.stdout
    assert re.search(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b", result.stdout)
    assert data["public_key"] in result.stdout
    assert data["kind"] == "business"
    assert data["kdf"]["memory_kib"] == 65536 and data["kdf"]["time_cost"] == 3
    assert "s3cret-pass" not in result.text and "s3cret-pass" not in out.read_text()
    assert out.stat().st_mode & 0o777 == 0o600
    assert bytes(keystore.unseal(data, "s3cret-pass").verify_key).hex() == data["public_key"]


def test_keys_new_asks_the_password_twice_and_never_echoes_it(tmp_path: Path) -> None:
    out = tmp_path / "typed.json"
    code, shown = run_in_terminal(["keys", "new", "--out", str(out)], [
        (b"Password", b"typed at the keyboard"), (b"Repeat", b"typed at the keyboard")])
    assert code == 0, shown
    assert b"typed at the keyboard" not in shown
    data = keystore.read(out)
    assert format_account_id(data["account"]).encode() in shown
    keystore.unseal(data, "typed at the keyboard")


def test_keys_new_never_overwrites_a_file(tmp_path: Path) -> None:
    out = tmp_path / "exists.json"
    out.write_text("precious")
    assert_fails(run("keys", "new", "--out", out, "--password", "x"), 2, "already exists")
    assert out.read_text() == "precious"


def test_keys_new_reads_the_password_from_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "new.json"
    result = run("keys", "new", "--out", out, "--kind", "comptoir", password="from-env")
    assert result.exit_code == 0, result.text
    keystore.unseal(keystore.read(out), "from-env")


def test_keys_new_without_a_password_nor_a_terminal_is_bad_usage(tmp_path: Path) -> None:
    result = run("keys", "new", "--out", tmp_path / "k.json")
    assert_fails(result, 2, "no password")
    assert not (tmp_path / "k.json").exists()


def test_keys_new_refuses_an_unknown_kind(tmp_path: Path) -> None:
    assert_fails(run("keys", "new", "--out", tmp_path / "k.json", "--kind", "bank",
                     "--password", "x"), 2)


# -- keystores and typed input: refused before anything is sent ------------------------------------
def test_wrong_password_is_bad_input(tmp_path: Path, unreachable: str) -> None:
    ks = write_keystore(tmp_path / "k.json", Member.new())
    result = run("account", "open", "--keystore", ks, "--password", "not this one",
                 node=unreachable)
    assert_fails(result, 2, "wrong password")


@pytest.mark.parametrize("content", [None, "not json", '{"version": 7}', '{"version": 1}'],
                         ids=["missing", "not-json", "not-a-keystore", "damaged"])
def test_missing_or_damaged_keystore_is_bad_input(tmp_path: Path, unreachable: str,
                                                  content: str | None) -> None:
    ks = tmp_path / "k.json"
    if content is not None:
        ks.write_text(content)
    result = run("pay", "--keystore", ks, "--to", Member.new().account, "--amount", "1",
                 "--password", "x", node=unreachable)
    assert_fails(result, 2, "k.json")


@pytest.mark.parametrize("amount", ["12,345", "-5", "abc", "0", "", "1.2.3", "12,5 €", "1e3",
                                    "nan", "--5", "99999999999999"])
def test_bad_amount_is_bad_input(tmp_path: Path, unreachable: str, amount: str) -> None:
    ks = write_keystore(tmp_path / "k.json", Member.new())
    result = run("pay", "--keystore", ks, "--to", Member.new().account, f"--amount={amount}",
                 "--password", MEMBER_PASSWORD, node=unreachable)
    assert_fails(result, 2, "amount")


def test_account_with_a_typo_is_bad_input(tmp_path: Path, unreachable: str) -> None:
    account = Member.new().account
    typo = account[:3] + ("X" if account[3] != "X" else "Y") + account[4:]
    ks = write_keystore(tmp_path / "k.json", Member.new())
    result = run("pay", "--keystore", ks, "--to", typo, "--amount", "1",
                 "--password", MEMBER_PASSWORD, node=unreachable)
    assert_fails(result, 2, "check the digits")
    assert_fails(run("balance", format_account_id(typo), node=unreachable), 2, "check the digits")
    assert_fails(run("history", typo.lower(), node=unreachable), 2, "check the digits")


def test_nantie_larger_than_the_amount_is_bad_input(tmp_path: Path, unreachable: str) -> None:
    ks = write_keystore(tmp_path / "k.json", Member.new())
    result = run("pay", "--keystore", ks, "--to", Member.new().account, "--amount", "5",
                 "--nantie", "5,01", "--password", MEMBER_PASSWORD, node=unreachable)
    assert_fails(result, 2, "nantie")


def test_unreachable_node(tmp_path: Path, unreachable: str) -> None:
    ks = write_keystore(tmp_path / "k.json", Member.new())
    assert_fails(run("balance", Member.new().account, node=unreachable), 4, "unreachable")
    assert_fails(run("pay", "--keystore", ks, "--to", Member.new().account, "--amount", "1",
                     "--password", MEMBER_PASSWORD, node=unreachable), 4, "unreachable")


# -- the node client: what each kind of answer means (httpx's MockTransport as the node) -----------
def answering(status: int, body: bytes) -> NodeClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    return NodeClient("http://node.test", transport=httpx.MockTransport(handler))


def test_node_client_maps_answers_to_its_errors() -> None:
    refused = answering(400, b'{"error": {"code": "wrong_chain", "detail": "this is chain x"}}')
    with pytest.raises(NodeRefused) as caught:
        refused.get("/chain")
    assert (caught.value.status, caught.value.code) == (400, "wrong_chain")
    with pytest.raises(NodeUnreachable, match="node_halted"):
        answering(503, b'{"error": {"code": "node_halted"}}').get("/chain")
    with pytest.raises(NodeUnreachable, match="LIEN node"):
        answering(200, b"<html>hello</html>").get("/chain")
    with pytest.raises(NodeUnreachable, match="chain_id"):
        answering(200, b'{"name": "something else"}').chain_id()
    assert answering(200, b'{"chain_id": "lien-test"}').chain_id() == "lien-test"


# -- account open, pay, balance, history: against the served node ----------------------------------
def test_account_open_with_a_new_keystore(tmp_path: Path, node: ServedNode,
                                          founders: Founders) -> None:
    ks = tmp_path / "new.json"
    assert run("keys", "new", "--out", ks, "--password", "ouvrir").exit_code == 0
    account = keystore.read(ks)["account"]
    opened = run("account", "open", "--keystore", ks, "--password", "ouvrir", node=node.url)
    assert opened.exit_code == 0, opened.text
    assert f"Compte {format_account_id(account)} ouvert" in opened.text
    assert "en attente" in run("balance", account, node=node.url).text

    again = run("account", "open", "--keystore", ks, "--password", "ouvrir", node=node.url)
    assert_fails(again, 1, "account_exists")

    founders.approve(account)
    assert "actif" in run("balance", account, node=node.url).text


def test_pay_prints_the_split_in_french(tmp_path: Path, node: ServedNode,
                                        founders: Founders) -> None:
    alice, alice_ks = founders.open_member(tmp_path, "alice", nantie_minor=5_000)
    bob, bob_ks = founders.open_member(tmp_path, "bob")
    typed = format_account_id(bob.account).lower()  # as people type it
    paid = pay(node, alice_ks, typed, "12,50", "--memo", "pain [bold]et[/bold] café")
    assert paid.exit_code == 0, paid.text
    assert f"Paiement exécuté : 12,50 LIEN à {format_account_id(bob.account)}" in paid.text
    assert "dont nantie 12,50 LIEN, crédit mutualisé 0,00 LIEN" in paid.text

    credit_only = pay(node, alice_ks, bob.account, "3.5", "--nantie", "0")
    assert credit_only.exit_code == 0, credit_only.text
    assert "dont nantie 0,00 LIEN, crédit mutualisé 3,50 LIEN" in credit_only.text

    shown = run("balance", alice.account, node=node.url)
    assert table_rows(shown.stdout) == [
        ["LIEN", "37,50", "-3,50", "-200,00", f"2{NNBSP}000,00", "234,00", "actif"]]
    history = run("history", bob.account, node=node.url).text
    assert "(mémo chiffré)" in history and "pain" not in history  # sealed on chain
    history = run("history", bob.account, "--keystore", bob_ks, node=node.url,
                  password=MEMBER_PASSWORD).text
    assert "pain [bold]et[/bold] café" in history  # a memo is text, never console markup


def test_pay_seals_the_memo_and_hashes_the_reference(tmp_path: Path, node: ServedNode,
                                                     founders: Founders) -> None:
    """The chain holds a box only payer and payee open, and the reference's hash; each reads
    the memo in its own history with its keystore (docs/protocol.md §15)."""
    payer, payer_ks = founders.open_member(tmp_path, "payer", nantie_minor=5_000)
    shop, shop_ks = founders.open_member(tmp_path, "shop", kind="business")
    paid = pay(node, payer_ks, shop.account, "7,00", "--memo", "loyer de mars ☕",
               "--reference", "Facture 2026-17")
    assert paid.exit_code == 0, paid.text
    item = httpx.get(f"{node.url}/api/v1/accounts/{shop.account}/history",
                     params={"limit": 1}).json()["items"][0]
    body = item["tx"]["body"]
    assert body["memo"].startswith("m1.") and "loyer" not in json.dumps(item)
    assert body["reference"] == memo.reference_hash(shop.account, "Facture 2026-17")
    assert memo.decrypt(body["memo"], bytes(shop.key), payer.public_key) == "loyer de mars ☕"
    for account, ks in ((shop.account, shop_ks), (payer.account, payer_ks)):
        shown = run("history", account, "--limit", "1", "--keystore", ks, node=node.url,
                    password=MEMBER_PASSWORD)
        assert shown.exit_code == 0, shown.text
        assert table_rows(shown.stdout)[0][-1] == "loyer de mars ☕"
    someone_else = run("history", shop.account, "--keystore", payer_ks, node=node.url,
                       password=MEMBER_PASSWORD)
    assert_fails(someone_else, 2, "not of")
    assert_fails(pay(node, payer_ks, Member.new().account, "1", "--memo", "x"), 1,
                 "unknown_account")


def test_pay_refused_by_the_ledger_exits_1_with_the_reason(tmp_path: Path, node: ServedNode,
                                                          founders: Founders) -> None:
    _, ks = founders.open_member(tmp_path, "short", nantie_minor=1_000)
    payee, _ = founders.open_member(tmp_path, "payee")
    before = run("balance", payee.account, node=node.url).stdout
    # 10,00 of nantie and a floor of -200,00: 210,01 is one centime too much
    assert_fails(pay(node, ks, payee.account, "210,01"), 1, "insufficient_funds")
    assert run("balance", payee.account, node=node.url).stdout == before
    assert_fails(pay(node, ks, Member.new().account, "1"), 1, "unknown_account")
    assert pay(node, ks, payee.account, "210,00").exit_code == 0


def test_refusals_by_the_node_are_bad_input(tmp_path: Path, node: ServedNode,
                                            founders: Founders) -> None:
    assert_fails(run("balance", Member.new().account, node=node.url), 2, "not_found")
    assert_fails(run("receipt", "get", "ab" * 32, "--out", tmp_path / "r.json", node=node.url),
                 2, "not_found")
    assert not (tmp_path / "r.json").exists()
    _, ks = founders.open_member(tmp_path, "wordy", nantie_minor=1_000)
    payee = founders.admin.account
    assert_fails(pay(node, ks, payee, "1", "--memo", "é" * 81), 2,
                 "at most 161 bytes of UTF-8 text once encrypted; this one has 162")
    assert_fails(pay(node, ks, payee, "1", "--currency", "L"), 2, "bad_field")
    not_an_api = run("balance", payee, node=f"{node.url}/nowhere")
    assert_fails(not_an_api, 2, "not_found")


def test_balance_in_french_format(tmp_path: Path, node: ServedNode, founders: Founders) -> None:
    shop, _ = founders.open_member(tmp_path, "shop", kind="business", nantie_minor=123_456)
    result = run("balance", format_account_id(shop.account), node=node.url)
    assert result.exit_code == 0, result.text
    assert f"Compte {format_account_id(shop.account)} (business)" in result.text
    for header in ("nantie", "crédit mutualisé", "plancher", "plafond", "statut"):
        assert header in result.text
    assert f"1{NNBSP}234,56" in result.stdout  # nantie, narrow no-break space for thousands
    assert f"2{NNBSP}000,00" in result.stdout  # default ceiling
    assert "-200,00" in result.stdout and "actif" in result.stdout
    assert "." not in re.sub(r"[^0-9.,]", " ", result.stdout)  # no English decimals


def test_history_newest_first_and_following_pages(tmp_path: Path, node: ServedNode,
                                                  founders: Founders) -> None:
    dana, ks = founders.open_member(tmp_path, "dana", nantie_minor=10_000)
    eve, _ = founders.open_member(tmp_path, "eve")
    for n in range(1, 4):
        assert pay(node, ks, eve.account, f"{n},00", "--memo", f"achat {n}").exit_code == 0

    latest = run("history", dana.account, "--limit", "2", "--keystore", ks, node=node.url,
                 password=MEMBER_PASSWORD)
    assert latest.exit_code == 0, latest.text
    rows = table_rows(latest.stdout)
    eve_id = format_account_id(eve.account)
    assert [row[2:] for row in rows] == [
        ["paiement", "-3,00 LIEN", eve_id, "ok", "achat 3"],
        ["paiement", "-2,00 LIEN", eve_id, "ok", "achat 2"],
    ]

    whole = run("history", dana.account, "--all", "--page-size", "2", node=node.url)
    assert whole.exit_code == 0, whole.text
    rows = table_rows(whole.stdout)
    assert [row[2] for row in rows] == ["paiement"] * 3 + ["émission", "statut", "ouverture"]
    seqs = [int(row[0]) for row in rows]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
    assert rows[3][3] == "100,00 LIEN"
    assert table_rows(run("history", eve.account, "--limit", "1", node=node.url).stdout)[0][3:5] \
        == ["3,00 LIEN", format_account_id(dana.account)]


def test_history_shows_a_refused_payment_with_its_reason_and_no_amount(
        tmp_path: Path, node: ServedNode, founders: Founders) -> None:
    frank, ks = founders.open_member(tmp_path, "frank", nantie_minor=1_000)
    gail, _ = founders.open_member(tmp_path, "gail")
    assert_fails(pay(node, ks, gail.account, "250,00", "--memo", "trop cher"), 1,
                 "insufficient_funds")
    assert pay(node, ks, gail.account, "4,00").exit_code == 0
    shown = run("history", frank.account, "--limit", "2", "--keystore", ks, node=node.url,
                password=MEMBER_PASSWORD)
    assert shown.exit_code == 0, shown.text
    gail_id = format_account_id(gail.account)
    assert [row[2:] for row in table_rows(shown.stdout)] == [
        ["paiement", "-4,00 LIEN", gail_id, "ok", ""],
        ["paiement", "", gail_id, "refusé : fonds insuffisants", "trop cher"],
    ]
    assert "-250,00" not in shown.stdout  # a refused payment is no money that moved


# -- receipts --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def receipt(tmp_path_factory: pytest.TempPathFactory, node: ServedNode,
            founders: Founders) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("receipt")
    _, ks = founders.open_member(tmp, "frank", nantie_minor=2_000)
    paid = pay(node, ks, founders.admin.account, "7,25")
    assert paid.exit_code == 0, paid.text
    match = TX_ID.search(paid.text)
    assert match, paid.text
    out = tmp / "receipt.json"
    got = run("receipt", "get", match.group(1).upper(), "--out", out, node=node.url)
    assert got.exit_code == 0, got.text
    assert_fails(run("receipt", "get", match.group(1), "--out", out, node=node.url), 2,
                 "already exists")
    data = json.loads(out.read_text())
    assert data["tx"]["body"]["amount"] == 725
    return dict(data)


def test_receipt_verifies_offline(tmp_path: Path, node: ServedNode,
                                  receipt: dict[str, object]) -> None:
    file = receipt_file(tmp_path / "r.json", receipt)
    trusted = run("receipt", "verify", file, "--genesis", node.path / "genesis.json")
    assert trusted.exit_code == 0, trusted.text
    assert trusted.text.startswith("valide : transaction")
    assert f"chaîne {node.chain_id}" in trusted.text and "attention" not in trusted.text
    untrusted = run("receipt", "verify", file)
    assert untrusted.exit_code == 0 and "valide" in untrusted.text
    assert "attention" in untrusted.text  # it says what it did not check


def _tampered(receipt: dict[str, object], how: str) -> dict[str, object]:
    r = json.loads(json.dumps(receipt))
    if how == "amount":
        r["tx"]["body"]["amount"] += 1
    elif how == "result":
        r["result"] = {"code": "ok", "nantie": 0, "credit": 725}
    elif how == "index":
        r["index"] += 1
    elif how == "block-signature":
        sig = r["signatures"][0]["sig"]
        r["signatures"][0]["sig"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    elif how == "unsigned":
        r["signatures"] = []
    return dict(r)


@pytest.mark.parametrize("how, check", [
    ("amount", "transaction signature"),
    ("result", "inclusion proof"),
    ("index", "inclusion proof"),
    ("block-signature", "validators signed"),
    ("unsigned", "validators signed"),
])
def test_tampered_receipt_fails_naming_the_check(tmp_path: Path, node: ServedNode,
                                                 receipt: dict[str, object], how: str,
                                                 check: str) -> None:
    file = receipt_file(tmp_path / "r.json", _tampered(receipt, how))
    result = run("receipt", "verify", file, "--genesis", node.path / "genesis.json")
    assert_fails(result, 3, "receipt invalid", check)


def test_receipt_from_other_validators_fails_against_the_genesis(
        tmp_path: Path, node: ServedNode, receipt: dict[str, object]) -> None:
    genesis = ChainConfig.from_json(json.loads((node.path / "genesis.json").read_text()))
    file = receipt_file(tmp_path / "r.json", receipt)
    other = tmp_path / "other-genesis.json"
    other.write_text(json.dumps(ChainConfig.new(
        "lien-local", genesis.genesis_time_ms, (Member.new().public_key,), genesis.governors,
        genesis.governor_quorum).to_json()))
    assert_fails(run("receipt", "verify", file, "--genesis", other), 3, "trusted genesis")
    renamed = ChainConfig.new("another-chain", genesis.genesis_time_ms, genesis.validators,
                              genesis.governors, genesis.governor_quorum)
    (tmp_path / "renamed-genesis.json").write_text(json.dumps(renamed.to_json()))
    assert_fails(run("receipt", "verify", file, "--genesis", tmp_path / "renamed-genesis.json"),
                 3, renamed.chain_id)
    # an edited genesis is no genesis at all: its chain id is not derived from its content
    edited = tmp_path / "edited-genesis.json"
    edited.write_text(json.dumps({**genesis.to_json(), "validators": [Member.new().public_key]}))
    assert_fails(run("receipt", "verify", file, "--genesis", edited), 2,
                 "not a valid genesis document", "not the one derived from its content")


@pytest.mark.parametrize("content, code", [(None, 2), ("{", 2), ("[]", 3), ('{"tx": 1}', 3)],
                         ids=["missing", "not-json", "a-list", "malformed"])
def test_unreadable_receipt(tmp_path: Path, content: str | None, code: int) -> None:
    file = tmp_path / "r.json"
    if content is not None:
        file.write_text(content)
    assert_fails(run("receipt", "verify", file), code, "r.json" if code == 2 else "malformed")


# -- the node directory ----------------------------------------------------------------------------
def test_verify_of_the_served_node_directory(node: ServedNode, receipt: dict[str, object]) -> None:
    result = run("verify", "--dir", node.path)
    assert result.exit_code == 0, result.text
    assert "state matches" in result.text


def test_init_on_an_existing_node_directory_is_bad_usage(node: ServedNode) -> None:
    before = (node.path / "genesis.json").read_text()
    result = run("init", "--dir", node.path, "--password", "again")
    assert_fails(result, 2, "already holds a node")
    assert (node.path / "genesis.json").read_text() == before
