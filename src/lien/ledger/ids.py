"""Account ids: short, typeable, with a check code that catches typos.

An account id is 12 characters of Crockford's base32 alphabet: 10 characters carry the first
50 bits of ``SHA-256("LIEN/account/v1\\0" || opening public key)``, then 2 decimal check digits
(ISO 7064 MOD 97-10 over those 50 bits, as in IBANs). Every single wrong character and every
swap of two neighbours is detected. The id is derived from the key that opens the account and
stays when keys rotate. Shown grouped by four: ``K7QM-3XZ9-WT42``; when parsing, case, hyphens
and spaces are ignored and Crockford's look-alikes (I, L → 1; O → 0) are accepted.
"""

from __future__ import annotations

import hashlib

from .reasons import Reason, TxError

ACCOUNT_DOMAIN = b"LIEN/account/v1\x00"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})
BODY_CHARS = 10
ID_CHARS = 12


def _check_digits(value: int) -> str:
    return f"{98 - (value * 100) % 97:02d}"


def _encode(value: int) -> str:
    chars = []
    for _ in range(BODY_CHARS):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def account_id_for_key(public_key: bytes) -> str:
    """The account id that opening with ``public_key`` gives."""
    digest = hashlib.sha256(ACCOUNT_DOMAIN + public_key).digest()
    value = int.from_bytes(digest[:8], "big") >> (64 - 5 * BODY_CHARS)
    return _encode(value) + _check_digits(value)


def is_account_id(text: object) -> bool:
    """True for a canonical account id (12 upper-case characters, valid check digits)."""
    if not isinstance(text, str) or len(text) != ID_CHARS:
        return False
    body, check = text[:BODY_CHARS], text[BODY_CHARS:]
    if any(ch not in _VALUE for ch in body) or not check.isdigit() or not check.isascii():
        return False
    value = 0
    for ch in body:
        value = value * 32 + _VALUE[ch]
    return _check_digits(value) == check


def parse_account_id(text: str) -> str:
    """Normalise what a person typed into a canonical id; raises TxError(BAD_FIELD) on a typo."""
    cleaned = text.strip().upper().replace("-", "").replace(" ", "").translate(_LOOKALIKES)
    if not is_account_id(cleaned):
        raise TxError(Reason.BAD_FIELD, f"{text!r} is not a valid account id (check the digits)")
    return cleaned


def format_account_id(account_id: str) -> str:
    """``K7QM3XZ9WT42`` → ``K7QM-3XZ9-WT42``."""
    return "-".join(account_id[i : i + 4] for i in range(0, len(account_id), 4))
