"""The demo's history (``lien init --demo``) puts no memo in clear on the chain: each is a box
that its payer and its payee open with their demo keystores (docs/protocol.md §15.3)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import nacl.signing
import pytest

from lien.store import schema
from lien.node.setup import DEMO_MEMOS, DEMO_PASSWORD, init_node
from lien.wallet import keystore, memo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "node"
    init_node(path, password="fondateurs", demo=True)
    return path


def _cells(database: Path) -> list[bytes]:
    """Every value of the chain's and the node's ledger tables (not the personal data, which
    holds names and descriptions and never goes on chain), as bytes."""
    found: list[bytes] = []
    with sqlite3.connect(database) as db:
        for table in [*schema.chain.tables, *schema.local.tables]:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                found += [c if isinstance(c, bytes) else str(c).encode() for c in row]
    return found


def test_no_demo_memo_is_in_clear_in_the_node_database(demo: Path) -> None:
    cells = _cells(demo / "node.db")
    texts = [t.split("{")[0].strip() for t in DEMO_MEMOS if t]  # "facture n° {n}" → "facture n°"
    bodies = [json.loads(c) for c in cells if c.startswith(b'{"')]
    sealed = [b["memo"] for b in bodies if b.get("type") == "transfer" and "memo" in b]
    assert len(sealed) > 100 and all(memo.is_box(m) for m in sealed)
    for text in texts:
        needle = text.encode()
        assert not any(needle in cell for cell in cells), text


def test_payer_and_payee_of_a_demo_payment_read_its_memo(demo: Path) -> None:
    keys = {}
    for file in (demo / "keys").glob("*.json"):
        data = keystore.read(file)
        if data["kdf"]["memory_kib"] == 19456:  # the demo members' keystores
            keys[data["account"]] = data
    cells = _cells(demo / "node.db")
    bodies = [json.loads(c) for c in cells if c.startswith(b'{"')]
    paid = next(b for b in bodies if b.get("type") == "transfer" and "memo" in b
                and b["from"] in keys and b["to"] in keys)
    payer = keystore.unseal(keys[paid["from"]], DEMO_PASSWORD)
    payee = keystore.unseal(keys[paid["to"]], DEMO_PASSWORD)
    texts = {t.split("{")[0] for t in DEMO_MEMOS if t}
    read_by_payee = memo.decrypt(paid["memo"], bytes(payee), _hex(payer))
    assert memo.decrypt(paid["memo"], bytes(payer), _hex(payee)) == read_by_payee
    assert any(read_by_payee.startswith(t) for t in texts)


def _hex(key: nacl.signing.SigningKey) -> str:
    return bytes(key.verify_key).hex()
