"""docs/protocol.md §13 documents the keystore as the code writes and reads it.

A KDF parameter, bound, field or cipher changed in the code and not in the document fails
here; so does an example keystore that the code cannot unseal, and operations.md stating a
memory cost that no keystore uses.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import nacl.bindings
import pytest

from lien.ledger import format_account_id
from lien.node.setup import DEMO_KDF, DEMO_PASSWORD
from lien.wallet import Member, keystore

DOCS = Path(__file__).resolve().parents[1] / "docs"
HEADING = "## 13. Keystore (the wallet's key file)"


def section() -> str:
    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    start = text.index(f"\n{HEADING}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_documented_fields_are_the_ones_a_keystore_has() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| ", section(), re.M)
    sealed = keystore.seal(Member.new().key, "pw", kdf={**DEMO_KDF, "memory_kib": 8192})
    assert rows == list(sealed)
    assert f"| `version` | `{keystore.KEYSTORE_VERSION}` |" in section()
    assert f"| `cipher` | `{keystore.CIPHER}` |" in section()
    assert f'"name": "{keystore.KDF_NAME}"' in section()
    assert f"{keystore.salt_bytes} random bytes ({2 * keystore.salt_bytes} hex digits)" in section()
    assert f"giving a {keystore.key_bytes}-byte key" in " ".join(section().split())


def test_the_documented_kdf_parameters_are_the_codes() -> None:
    rows = re.findall(r"^\| (default|demo) \| `(\d+)` \| `(\d+)` \(\d+ MiB\) \| `(\d+)` \|",
                      section(), re.M)
    documented = {name: {"name": "argon2id", "time_cost": int(t), "memory_kib": int(m),
                         "parallelism": int(p)} for name, t, m, p in rows}
    assert documented == {"default": keystore.KDF_DEFAULT, "demo": DEMO_KDF}
    for kdf in documented.values():
        assert f"`{kdf['memory_kib']}` ({kdf['memory_kib'] // 1024} MiB)" in section()
    assert f"password `{DEMO_PASSWORD}`" in section()
    bounds = " ".join(section().split())
    assert f"`time_cost` 1..`{keystore.kdf_time_cost_max}`" in bounds
    assert f"`memory_kib` 1..`{keystore.kdf_memory_kib_max}`" in bounds
    assert f"`parallelism` 1..`{keystore.kdf_parallelism_max}`" in bounds


def test_operations_states_both_costs_truthfully() -> None:
    text = " ".join((DOCS / "operations.md").read_text(encoding="utf-8").split())
    row = text.split("| `keys/*.json` |")[1].split(" | ")[0]
    for kdf in (keystore.KDF_DEFAULT, DEMO_KDF):
        assert f"{kdf['memory_kib'] // 1024} MiB and {kdf['time_cost']} passes" in row
    assert "lien keys new" in row and "--demo" in row
    mib = {int(n) for n in re.findall(r"(\d+) MiB", row)}
    assert mib == {keystore.KDF_DEFAULT["memory_kib"] // 1024, DEMO_KDF["memory_kib"] // 1024}


def test_the_example_keystore_unseals_as_documented() -> None:
    text = section()
    example = json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1))  # type: ignore[union-attr]
    key = keystore.unseal(example, "mot de passe d'exemple")
    seed = hashlib.sha256(b"LIEN keystore example").digest()
    assert key.encode() == seed
    assert f"seed `{seed.hex()}`" in text
    derived = keystore._derive("mot de passe d'exemple", example["kdf"])
    assert f"derived key is `{derived.hex()}`" in text
    box = bytes.fromhex(example["box"])
    assert len(box) == 24 + 16 + 32 and box[:24] == bytes(range(24))
    # nonce ‖ crypto_secretbox_easy output, as documented (not only as PyNaCl reads it)
    assert nacl.bindings.crypto_secretbox_open_easy(box[24:], box[:24], derived) == seed
    assert format_account_id(example["account"]).replace("-", "") == example["account"]
    with pytest.raises(keystore.KeystoreError, match="wrong password"):
        keystore.unseal(example, "mot de passe d'exemple ")  # as typed: no trimming


def test_a_keystore_naming_another_account_is_damaged() -> None:
    cheap = {**DEMO_KDF, "memory_kib": 8192, "time_cost": 1}
    data = keystore.seal(Member.new().key, "pw", kdf=cheap)
    with pytest.raises(keystore.KeystoreError, match="account"):
        keystore.unseal({**data, "account": Member.new().account}, "pw")
