"""Hashes and Ed25519 signatures with domain separation.

A signature is ``Ed25519(secret, DOMAIN || message)`` where the domain tag says what is signed,
so a signature on a transaction can never be replayed as a block signature or the reverse.
"""

from __future__ import annotations

import hashlib

import nacl.bindings
import nacl.exceptions
import nacl.signing

TX_DOMAIN = b"LIEN/tx/v1\x00"
BLOCK_DOMAIN = b"LIEN/block/v1\x00"

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_signing_key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


def signing_key_from_seed(seed: bytes) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(seed)


def public_key_hex(key: nacl.signing.SigningKey) -> str:
    return bytes(key.verify_key).hex()


def sign(key: nacl.signing.SigningKey, domain: bytes, message: bytes) -> bytes:
    return key.sign(domain + message).signature


def verify(public_key: bytes, domain: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is valid; never raises for bad input."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + domain + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True
