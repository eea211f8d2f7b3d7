"""The CLI's encrypted keystore: one Ed25519 key per file, never stored in clear.

File (JSON)::

    {"version": 1, "account": id, "public_key": hex, "kind": ...,
     "kdf": {"name": "argon2id", "time_cost": 3, "memory_kib": 65536, "parallelism": 1,
             "salt": hex},
     "cipher": "xsalsa20poly1305", "box": hex}

The 32-byte seed is sealed with libsodium's SecretBox under a key derived from the password
with argon2id (64 MiB, 3 passes): a stolen file costs an attacker that much per guess.
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

KDF_DEFAULT = {"name": "argon2id", "time_cost": 3, "memory_kib": 65536, "parallelism": 1}


class KeystoreError(Exception):
    """Wrong password, damaged or unreadable keystore."""


def _derive(password: str, kdf: dict[str, Any]) -> bytes:
    if kdf.get("name") != "argon2id":
        raise KeystoreError(f"unknown key derivation {kdf.get('name')!r}")
    return hash_secret_raw(
        password.encode(), bytes.fromhex(kdf["salt"]), time_cost=kdf["time_cost"],
        memory_cost=kdf["memory_kib"], parallelism=kdf["parallelism"], hash_len=32,
        type=Type.ID,
    )


def seal(key: nacl.signing.SigningKey, password: str, kind: str = "personal",
         kdf: dict[str, Any] | None = None) -> dict[str, Any]:
    params = {**(kdf or KDF_DEFAULT), "salt": secrets.token_hex(16)}
    box = nacl.secret.SecretBox(_derive(password, params))
    public = bytes(key.verify_key)
    return {
        "version": 1,
        "account": account_id_for_key(public),
        "public_key": public.hex(),
        "kind": kind,
        "kdf": params,
        "cipher": "xsalsa20poly1305",
        "box": box.encrypt(bytes(key)).hex(),
    }


def unseal(data: dict[str, Any], password: str) -> nacl.signing.SigningKey:
    try:
        box = nacl.secret.SecretBox(_derive(password, data["kdf"]))
        seed = box.decrypt(bytes.fromhex(data["box"]))
    except nacl.exceptions.CryptoError:
        raise KeystoreError("wrong password or damaged keystore") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise KeystoreError(f"unreadable keystore: {exc}") from None
    key = nacl.signing.SigningKey(seed)
    if bytes(key.verify_key).hex() != data.get("public_key"):
        raise KeystoreError("keystore's public key does not match its secret")
    return key


def write(path: Path, data: dict[str, Any]) -> None:
    """Write with owner-only permissions, never over an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise KeystoreError(f"{path} is not a LIEN keystore")
    return data
