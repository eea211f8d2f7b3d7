"""A key rotation in a federation of 4 (4 NATS servers, 4 nodes, each a validator): node d's
validator gets a new key, restarts holding both, and the other three validators' signatures
(3 of 4) replace its old key with the new one; every node follows the change, the next blocks
are final with the new key's signature and no longer the old one's, and receipts verify
against the genesis validators."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lien.chain import verify_receipt
from lien.ledger.crypto import new_signing_key, public_key_hex
from lien.node.node import Status

from federation_support import Federated, federation, people

pytestmark = pytest.mark.slow


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[Federated]:
    yield from federation(tmp_path, 4)


def ok(statuses: list[Status]) -> None:
    assert [s.result for s in statuses] == [{"code": "ok"}] * len(statuses), statuses


def test_a_validator_s_key_is_rotated_by_three_of_four(fed: Federated) -> None:
    a = fed.running()[0]
    g, mk = fed.genesis, fed.maker
    ok(a.run(g.bootstrap))
    fed.wait_final(a.summary.height)
    old_d = fed.nodes[3].key
    new_d = new_signing_key()
    fed.nodes[3].stop()
    fed.nodes[3].more_keys = (new_d,)
    fed.nodes[3].start(replicas=3)
    keys = [n.key for n in fed.nodes]
    rotated = [public_key_hex(k) for k in keys[:3]] + [public_key_hex(new_d)]
    [change] = a.run([mk.set_validators(keys[:3], rotated)])
    assert change.result == {"code": "ok"}
    h = change.height or 0
    fed.wait_final(h)
    # c stops: from now on a block is final only with a, b and d's new key (3 of 4)
    fed.nodes[2].stop()
    a, b, d = fed.running()
    alice, bob = people(fed, 2)
    ok(a.run([mk.open(m) for m in (alice, bob)]))
    ok(b.run([mk.approve(g.admins[0], m) for m in (alice, bob)]))
    ok(a.run([mk.issue([g.comptoir], alice, 5_000)]))
    [paid] = d.run([mk.pay(alice, bob, 1_000)])
    assert paid.result is not None and paid.result["code"] == "ok"
    top = max(n.summary.height for n in fed.running())
    fed.wait_final(top)
    for node in fed.running():
        assert set(node.validators.at(top).keys) == set(rotated)
        for height in range(h + 1, top + 1):
            block = node.store.block(height)
            assert block is not None
            assert public_key_hex(old_d) not in block.signatures
            if node.final_height >= height and len(block.signatures) > 1:  # a certificate
                assert public_key_hex(new_d) in block.signatures
        last = node.store.block(top)
        assert last is not None and set(last.signatures) == {
            public_key_hex(keys[0]), public_key_hex(keys[1]), public_key_hex(new_d)}
        receipt = node.receipt(paid.id)
        assert receipt is not None and len(receipt["validator_changes"]) == 1
        verify_receipt(receipt, g.config.validators)
