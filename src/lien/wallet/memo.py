"""Memos only payer and payee can read, and invoice references the chain holds only as hashes.

The chain is shared by every node of a federation (DESIGN §4): what a payer writes to a payee
must not sit there in clear. The browser (``static/js/memo.js``) and this module compute the
same bytes; docs/protocol.md §15 specifies them with vectors.

**Memo box.** Each side turns its Ed25519 key into an X25519 key (libsodium's
``crypto_sign_ed25519_sk_to_curve25519`` / ``pk_to_curve25519``); the shared secret
``X25519(mine, theirs)`` is the same from both sides. The AES-256-GCM key is
``HKDF-SHA256(shared, salt = the two Ed25519 public keys sorted byte-wise and concatenated,
info = "LIEN/memo/v1")``, and the memo field holds ``"m1." + base64url(nonce(12) ‖ ciphertext ‖
tag(16))`` (no padding). The payee finds the payer's key in the transaction's signature; the
payer finds the payee's among the payee account's keys. A memo box leaks the memo's length.

**Reference.** ``reference_hash(payee, reference)`` = hex SHA-256 of ``"LIEN/reference/v1\\0" ‖
payee account ‖ "\\0" ‖ NFC(reference) UTF-8``: the payee, who knows its own invoice numbers,
matches a payment to an invoice; no one else learns the number. 64 hex digits, which is
``limits.reference_bytes_max``.

Errors: ``MemoTooLong`` (a ``ValueError``) for a memo that would not fit the transfer's memo
field; ``MemoError`` for a box that does not open with these keys (or is no box).
"""

from __future__ import annotations

import base64
import hashlib
import os
import unicodedata
from collections.abc import Iterable

import nacl.bindings
import nacl.exceptions

from ..ledger import limits
from .backup import hkdf

MEMO_PREFIX = "m1."
MEMO_INFO = b"LIEN/memo/v1"
REFERENCE_TAG = b"LIEN/reference/v1\0"
nonce_bytes = 12
tag_bytes = 16
#: The longest memo text (UTF-8 bytes) whose box fits ``limits.memo_bytes_max`` (256): a box
#: of n text bytes is 3 + ceil(4 × (n + 28) / 3) characters, so 161 bytes give 255.
text_bytes_max = (limits.memo_bytes_max - len(MEMO_PREFIX)) * 3 // 4 - nonce_bytes - tag_bytes


class MemoError(Exception):
    """A memo box that does not open with these keys, or a text that is no box."""


class MemoTooLong(ValueError):
    """A memo longer than a transfer's memo field can hold once encrypted."""

    def __init__(self, size: int) -> None:
        super().__init__(f"a memo holds at most {text_bytes_max} bytes of UTF-8 text once "
                         f"encrypted; this one has {size}")
        self.size = size


def is_box(memo: str) -> bool:
    """Whether a transfer's memo is an encrypted box (else: clear text, from another wallet)."""
    return memo.startswith(MEMO_PREFIX)


def memo_secret(seed: bytes) -> bytes:
    """The X25519 private key of an Ed25519 seed: SHA-512(seed)[0:32], clamped."""
    _, secret_key = nacl.bindings.crypto_sign_seed_keypair(seed)
    secret: bytes = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(secret_key)
    return secret


def montgomery(public_key_hex: str) -> bytes:
    """The X25519 public key (u = (1 + y) / (1 − y)) of an Ed25519 public key."""
    try:
        u: bytes = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(
            bytes.fromhex(public_key_hex))
    except (ValueError, TypeError, nacl.exceptions.CryptoError):
        raise MemoError(f"not an Ed25519 public key: {public_key_hex!r}") from None
    return u


def shared_secret(seed: bytes, their_public_key: str) -> bytes:
    """X25519(the seed's memo secret, their key's Montgomery form): the same from both sides."""
    their_u = montgomery(their_public_key)  # refuses what is not an Ed25519 public key
    try:
        shared: bytes = nacl.bindings.crypto_scalarmult(memo_secret(seed), their_u)
    except nacl.exceptions.CryptoError:  # a small-order key: the secret would be all zeros
        raise MemoError("a key of small order has no shared secret") from None
    return shared


def memo_key(seed: bytes, their_public_key: str) -> bytes:
    """The AES-256-GCM key shared by the holder of ``seed`` and of ``their_public_key``."""
    shared = shared_secret(seed, their_public_key)
    mine = nacl.bindings.crypto_sign_seed_keypair(seed)[0]
    theirs = bytes.fromhex(their_public_key)
    return hkdf(shared, MEMO_INFO, salt=b"".join(sorted((mine, theirs))))


def encrypt(text: str, seed: bytes, their_public_key: str, nonce: bytes | None = None) -> str:
    """The memo box of ``text`` (NFC) from the holder of ``seed`` to ``their_public_key``;
    ``nonce`` only for test vectors (random otherwise). ``MemoTooLong`` past
    ``text_bytes_max`` bytes."""
    plain = unicodedata.normalize("NFC", text).encode()
    if len(plain) > text_bytes_max:
        raise MemoTooLong(len(plain))
    nonce = nonce if nonce is not None else os.urandom(nonce_bytes)
    sealed = nacl.bindings.crypto_aead_aes256gcm_encrypt(
        plain, None, nonce, memo_key(seed, their_public_key))
    return MEMO_PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


def decrypt(box: str, seed: bytes, their_public_key: str) -> str:
    """The text of a memo box between the holder of ``seed`` and ``their_public_key``."""
    if not is_box(box):
        raise MemoError("not a LIEN memo box")
    text = box.removeprefix(MEMO_PREFIX)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise MemoError("not a LIEN memo box") from None
    if len(raw) < nonce_bytes + tag_bytes:
        raise MemoError("not a LIEN memo box")
    try:
        plain: bytes = nacl.bindings.crypto_aead_aes256gcm_decrypt(
            raw[nonce_bytes:], None, raw[:nonce_bytes], memo_key(seed, their_public_key))
        return plain.decode()
    except (nacl.exceptions.CryptoError, UnicodeDecodeError):
        raise MemoError("this memo is not for these keys (or was changed)") from None


def decrypt_any(box: str, seed: bytes, their_public_keys: Iterable[str]) -> str:
    """The text of a memo box sealed to any one of ``their_public_keys`` (the signers of a
    payment, or the keys of its payee's account); ``MemoError`` when none opens it."""
    for key in their_public_keys:
        try:
            return decrypt(box, seed, key)
        except MemoError:
            continue
    raise MemoError("this memo is not for these keys (or was changed)")


def reference_hash(payee_account: str, reference: str) -> str:
    """What a transfer carries for the invoice reference ``reference`` to ``payee_account``."""
    data = (REFERENCE_TAG + payee_account.encode() + b"\0"
            + unicodedata.normalize("NFC", reference).encode())
    return hashlib.sha256(data).hexdigest()
