"""The encrypted keystore: one Ed25519 key per file, never stored in clear.

File (JSON, documented in docs/protocol.md §13, where a test keeps the values equal to these)::

    {"version": 1, "account": id, "public_key": hex, "kind": ...,
     "kdf": {"name": "argon2id", "time_cost": 3, "memory_kib": 65536, "parallelism": 1,
             "salt": hex},
     "cipher": "xsalsa20poly1305", "box": hex}

The 32-byte seed is sealed with libsodium's SecretBox (XSalsa20-Poly1305; ``box`` is the
24-byte nonce, the 16-byte tag, then the ciphertext) under a 32-byte key derived from
the password's UTF-8 bytes with argon2id (64 MiB, 3 passes by default): a stolen file costs an
attacker that much per guess. The file records its own KDF parameters, so a keystore sealed
with cheaper ones (the demo's, see ``lien.node.setup.DEMO_KDF``) unseals the same way; those
parameters are bounded (``kdf_memory_kib_max``...) so that a crafted file cannot make
unsealing take all the memory or time of the machine that reads it.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
import nacl.signing
from argon2.low_level import Type, hash_secret_raw

from ..ledger import account_id_for_key
from ..ledger.crypto import public_key_hex, signing_key_from_seed

KEYSTORE_VERSION = 1
KDF_NAME = "argon2id"
#: What ``lien keys new`` and a non-demo ``lien init`` seal with (OWASP's first argon2id choice).
KDF_DEFAULT: dict[str, Any] = {"name": KDF_NAME, "time_cost": 3, "memory_kib": 65536,
                               "parallelism": 1}
CIPHER = "xsalsa20poly1305"
salt_bytes = 16
key_bytes = 32
#: Bounds on the parameters a file may ask for (1 GiB, 16 passes, 8 lanes).
kdf_memory_kib_max = 1_048_576
kdf_time_cost_max = 16
kdf_parallelism_max = 8


class KeystoreError(Exception):
    """Wrong password, damaged or unreadable keystore."""


def _derive(password: str, kdf: dict[str, Any]) -> bytes:
    if kdf.get("name") != KDF_NAME:
        raise KeystoreError(f"unknown key derivation {kdf.get('name')!r}")
    time_cost, memory_kib, lanes = kdf["time_cost"], kdf["memory_kib"], kdf["parallelism"]
    for name, value, top in (("time_cost", time_cost, kdf_time_cost_max),
                             ("memory_kib", memory_kib, kdf_memory_kib_max),
                             ("parallelism", lanes, kdf_parallelism_max)):
        if type(value) is not int or not 1 <= value <= top:
            raise KeystoreError(f"unreadable keystore: kdf {name} must be 1..{top}")
    if memory_kib < 8 * lanes:
        raise KeystoreError("unreadable keystore: kdf memory_kib below 8 × parallelism")
    return hash_secret_raw(
        password.encode(), bytes.fromhex(kdf["salt"]), time_cost=time_cost,
        memory_cost=memory_kib, parallelism=lanes, hash_len=key_bytes, type=Type.ID,
    )


def seal(key: nacl.signing.SigningKey, password: str, kind: str = "personal",
         kdf: dict[str, Any] | None = None) -> dict[str, Any]:
    """The keystore document of ``key``, sealed under ``password`` (``kdf``: default cost)."""
    params = {**(kdf or KDF_DEFAULT), "salt": secrets.token_hex(salt_bytes)}
    box = nacl.secret.SecretBox(_derive(password, params))
    public = bytes(key.verify_key)
    return {
        "version": KEYSTORE_VERSION,
        "account": account_id_for_key(public),
        "public_key": public.hex(),
        "kind": kind,
        "kdf": params,
        "cipher": CIPHER,
        "box": box.encrypt(bytes(key)).hex(),
    }


def unseal(data: dict[str, Any], password: str) -> nacl.signing.SigningKey:
    """The key of a keystore document; ``KeystoreError`` on a wrong password or a bad file."""
    if data.get("cipher", CIPHER) != CIPHER:
        raise KeystoreError(f"unknown cipher {data.get('cipher')!r}")
    try:
        box = nacl.secret.SecretBox(_derive(password, data["kdf"]))
        seed = box.decrypt(bytes.fromhex(data["box"]))
    except nacl.exceptions.CryptoError:
        raise KeystoreError("wrong password or damaged keystore") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KeystoreError(f"unreadable keystore: {exc}") from None
    key = signing_key_from_seed(seed)
    if public_key_hex(key) != data.get("public_key"):
        raise KeystoreError("keystore's public key does not match its secret")
    if account_id_for_key(bytes(key.verify_key)) != data.get("account"):
        raise KeystoreError("keystore's account is not the one of its key")
    return key


def write(path: Path, data: dict[str, Any]) -> None:
    """Write with owner-only permissions, never over an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def read(path: Path) -> dict[str, Any]:
    """The keystore document in ``path`` (not yet unsealed); ``KeystoreError`` if it is none."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != KEYSTORE_VERSION:
        raise KeystoreError(f"{path} is not a LIEN keystore")
    return data
