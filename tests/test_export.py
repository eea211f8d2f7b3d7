"""``lien export``: the whole chain as JSON lines that anyone can re-verify on their own."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import run

from lien.chain import Header, ValidatorSet, header_for
from lien.ledger import ChainConfig, State, apply_block, check_all_invariants, parse_tx
from lien.node.genesis import make_genesis
from lien.node.node import wall_clock_ms
from lien.node.setup import init_node, open_node
from lien.wallet import Member, TxMaker


def _node_dir(tmp_path: Path) -> Path:
    genesis = make_genesis("lien-export", wall_clock_ms())
    init_node(tmp_path / "node", password="export", genesis=genesis)
    node = open_node(tmp_path / "node")
    node.start()
    try:
        maker = TxMaker(node.chain_id, wall_clock_ms)
        alice, shop = Member.new(), Member.new("business")
        node.run([maker.open(alice), maker.open(shop), maker.approve(genesis.admins[0], alice),
                  maker.approve(genesis.admins[0], shop),
                  maker.issue([genesis.comptoir], alice, 10_000)])
        node.run([maker.pay(alice, shop, 2_500 * (i + 1), memo=f"achat {i} ☕") for i in range(8)])
    finally:
        node.stop()
    return tmp_path / "node"


def test_export_is_re_verifiable_from_genesis_by_anyone(tmp_path: Path) -> None:
    node_dir = _node_dir(tmp_path)
    out = tmp_path / "chain.jsonl"
    result = run("export", "--dir", node_dir, "--out", out)
    assert result.exit_code == 0, result.text
    first, *blocks = [json.loads(line) for line in out.read_text().splitlines()]
    config = ChainConfig.from_json(first["genesis"])
    state, prev = State(config), config.genesis_root().hex()
    validators = ValidatorSet(config.validators)
    codes = []
    for line in blocks:
        txs = [parse_tx({"body": t["body"], "signatures": t["signatures"]})
               for t in line["transactions"]]
        assert [tx.id for tx in txs] == [t["id"] for t in line["transactions"]]
        outcome = apply_block(state, txs, line["header"]["time_ms"], verify_signatures=True)
        assert not outcome.dropped
        assert [r.to_json() for r in outcome.results] == [t["result"] for t in line["transactions"]]
        header = header_for(config.chain_id, prev, outcome)
        assert header == Header.from_json(line["header"])
        assert header.hash == line["hash"]
        signatures = {s["key"]: bytes.fromhex(s["sig"]) for s in line["signatures"]}
        assert validators.is_final(header.hash, signatures)
        prev = header.hash
        codes += [r.reason.value for r in outcome.results]
    check_all_invariants(state)
    # 100,00 of nantie and 200,00 of credit (the default floor): 25 + 50 + 75 + 100 LIEN
    # pass; the fifth would reach 375,00 LIEN and is refused, as is every larger one after it.
    assert codes[-8:] == ["ok"] * 4 + ["insufficient_funds"] * 4


def test_export_to_standard_output_starts_with_the_genesis(tmp_path: Path) -> None:
    node_dir = _node_dir(tmp_path)
    result = run("export", "--dir", node_dir)
    assert result.exit_code == 0, result.text
    genesis = json.loads(result.stdout.splitlines()[0])["genesis"]
    assert genesis == json.loads((node_dir / "genesis.json").read_text())


def test_export_of_a_directory_that_is_no_node_is_bad_usage(tmp_path: Path) -> None:
    result = run("export", "--dir", tmp_path / "nothing")
    assert result.exit_code == 2
    assert "not a node directory" in result.text
