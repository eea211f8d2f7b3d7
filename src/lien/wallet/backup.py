"""The web wallet's secrets from a password: a login secret and a key backup the node may keep.

The browser (``static/js/keys.js``) and this module compute the same bytes; docs/protocol.md
§15 specifies them with vectors. From the member's password (NFC, UTF-8) and a per-member random
salt, one argon2id derivation gives 64 bytes, and HKDF-SHA256 splits them into two unrelated
keys:

* the **login secret** (``info = "LIEN/login/v1"``, 32 bytes): what the browser sends to log in;
  the node stores only an argon2id hash of it, so the node's database alone does not let anyone
  log in, and the login secret does not reveal the key-encryption key;
* the **key-encryption key** (``info = "LIEN/backup/v1"``, 32 bytes): never leaves the browser;
  it seals the member's 32-byte Ed25519 seed with AES-256-GCM, the account id as associated data.

A backup is the text ``"b1." + base64url(nonce(12) ‖ ciphertext(32) ‖ tag(16))`` (no padding).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from dataclasses import dataclass
from typing import Any

from argon2.low_level import Type, hash_secret_raw
import nacl.bindings
import nacl.exceptions

BACKUP_PREFIX = "b1."
LOGIN_INFO = b"LIEN/login/v1"
BACKUP_INFO = b"LIEN/backup/v1"
salt_bytes = 16
nonce_bytes = 12
seed_bytes = 32


@dataclass(frozen=True, slots=True)
class KdfParams:
    """argon2id parameters, stored per member so that they can be raised later."""

    salt: str  # 32 hex digits
    memory_kib: int = 19_456  # 19 MiB, 2 passes: OWASP's argon2id minimum, ~0.3 s in a phone
    time_cost: int = 2
    parallelism: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"name": "argon2id", "salt": self.salt, "memory_kib": self.memory_kib,
                "time_cost": self.time_cost, "parallelism": self.parallelism}

    @classmethod
    def new(cls) -> KdfParams:
        return cls(os.urandom(salt_bytes).hex())


@dataclass(frozen=True, slots=True)
class Secrets:
    login_secret: bytes  # 32 bytes, sent (hex) to log in
    kek: bytes  # 32 bytes, never sent


class BackupError(Exception):
    """A backup that does not open with this key (wrong password) or is not a backup."""


def hkdf(master: bytes, info: bytes, length: int = 32, salt: bytes = b"") -> bytes:
    """HKDF-SHA256 (RFC 5869). The backup's keys use an empty salt (= 32 zero bytes: the
    argon2id output is already uniform); the memo key (``memo.py``) salts with both keys."""
    prk = hmac.new(salt or b"\0" * 32, master, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out, counter = out + block, counter + 1
    return out[:length]


def argon2_master(password: str, params: KdfParams) -> bytes:
    """The 64 bytes of argon2id the two secrets are drawn from (exposed for the vectors)."""
    return hash_secret_raw(
        unicodedata.normalize("NFC", password).encode(), bytes.fromhex(params.salt),
        time_cost=params.time_cost, memory_cost=params.memory_kib,
        parallelism=params.parallelism, hash_len=64, type=Type.ID,
    )


def derive(password: str, params: KdfParams) -> Secrets:
    master = argon2_master(password, params)
    return Secrets(hkdf(master, LOGIN_INFO), hkdf(master, BACKUP_INFO))


def seal(seed: bytes, kek: bytes, account: str, nonce: bytes | None = None) -> str:
    if len(seed) != seed_bytes:
        raise ValueError("a seed is 32 bytes")
    nonce = nonce if nonce is not None else os.urandom(nonce_bytes)
    box = nonce + nacl.bindings.crypto_aead_aes256gcm_encrypt(seed, account.encode(), nonce, kek)
    return BACKUP_PREFIX + base64.urlsafe_b64encode(box).rstrip(b"=").decode()


def unseal(backup: str, kek: bytes, account: str) -> bytes:
    if not backup.startswith(BACKUP_PREFIX):
        raise BackupError("not a LIEN key backup")
    text = backup.removeprefix(BACKUP_PREFIX)
    try:
        box = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise BackupError("not a LIEN key backup") from None
    if len(box) != nonce_bytes + seed_bytes + 16:
        raise BackupError("not a LIEN key backup")
    try:
        seed: bytes = nacl.bindings.crypto_aead_aes256gcm_decrypt(
            box[nonce_bytes:], account.encode(), box[:nonce_bytes], kek)
    except nacl.exceptions.CryptoError:  # the wrong key or a changed backup
        raise BackupError("wrong password, or a damaged backup") from None
    return seed
