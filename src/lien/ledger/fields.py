"""The fields of transaction bodies: one small check per kind of value, and the strict walk
over a body's fields that ``check_body`` runs.

A check is ``check(field_name, value) -> None`` and raises ``TxError`` with the admission reason
(``malformed`` for a wrong JSON type, ``bad_field``/``amount_invalid``/``too_large`` for a bad
value). Each transaction type (``lien.ledger.types``) names its fields with these checks; a
field checked by ``account`` names an account, so the transaction goes into that account's
history (``TxType.accounts``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import limits
from .ids import is_account_id
from .reasons import Reason, TxError

KINDS = ("personal", "business", "association", "comptoir")
STATUSES = ("pending", "active", "locked", "closed")
ROLES = ("admin", "issuer")

CURRENCY_RE = re.compile(r"^[A-Z][A-Z0-9]{1,11}$")
KEY_RE = re.compile(r"^[0-9a-f]{64}$")
SIG_RE = re.compile(r"^[0-9a-f]{128}$")
CHAIN_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")
#: The ``name`` of a genesis document: the chain id's alphabet, at most chain_name_bytes_max.
CHAIN_NAME_RE = re.compile(rf"^[a-z0-9][a-z0-9.-]{{0,{limits.chain_name_bytes_max - 1}}}$")

Check = Callable[[str, Any], None]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad(field: str, what: str, reason: Reason = Reason.BAD_FIELD) -> TxError:
    return TxError(reason, f"{field}: {what}")


def _int_in(low: int, high: int, reason: Reason = Reason.BAD_FIELD) -> Check:
    def check(field: str, value: Any) -> None:
        if not _is_int(value):
            raise _bad(field, "must be an integer", Reason.MALFORMED)
        if not low <= value <= high:
            raise _bad(field, f"must be in {low}..{high}", reason)

    return check


amount = _int_in(1, limits.amount_minor_max, Reason.AMOUNT_INVALID)
amount_or_zero = _int_in(0, limits.amount_minor_max, Reason.AMOUNT_INVALID)
floor = _int_in(-limits.supply_minor_max, 0, Reason.AMOUNT_INVALID)
ceiling = _int_in(0, limits.supply_minor_max, Reason.AMOUNT_INVALID)
time_ms = _int_in(0, 2**53 - 1)
#: A standing order's due time or end (calendar arithmetic stops at year 9999).
due_ms = _int_in(0, limits.order_due_ms_max)
#: A count of runs (standing orders): 1 to a million.
run_count = _int_in(1, 1_000_000)


def _string(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(field, "must be a string", Reason.MALFORMED)
    return value


def _any_string(field: str, value: Any) -> None:
    """``_string`` as a Check (a check returns nothing; it raises)."""
    _string(field, value)


def text(max_bytes: int, min_bytes: int = 0) -> Check:
    def check(field: str, value: Any) -> None:
        size = len(_string(field, value).encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise _bad(field, f"longer than {max_bytes} bytes", Reason.TOO_LARGE)
        if size < min_bytes:
            raise _bad(field, f"shorter than {min_bytes} bytes")

    return check


def pattern(regex: re.Pattern[str], what: str) -> Check:
    def check(field: str, value: Any) -> None:
        if not regex.fullmatch(_string(field, value)):
            raise _bad(field, f"not {what}")

    return check


def one_of(choices: Iterable[str]) -> Check:
    allowed = tuple(choices)

    def check(field: str, value: Any) -> None:
        if _string(field, value) not in allowed:
            raise _bad(field, f"must be one of {', '.join(allowed)}")

    return check


def account(field: str, value: Any) -> None:
    if not is_account_id(_string(field, value)):
        raise _bad(field, "not an account id (12 characters with valid check digits)")


currency = pattern(CURRENCY_RE, "a currency code (2-12 of A-Z, 0-9)")
public_key = pattern(KEY_RE, "a hex Ed25519 public key (64 lower-case hex digits)")
#: A transaction id (SHA-256, section 3), as a field naming another transaction (a request,
#: a standing order: an order's id is its creating transaction's).
tx_id = pattern(KEY_RE, "a transaction id (64 lower-case hex digits)")


def list_of(item: Check, min_items: int, max_items: int) -> Check:
    def check(field: str, value: Any) -> None:
        if not isinstance(value, list):
            raise _bad(field, "must be a list", Reason.MALFORMED)
        if not min_items <= len(value) <= max_items:
            raise _bad(field, f"must hold {min_items}..{max_items} items")
        for entry in value:
            item(field, entry)
        if len(set(value)) != len(value):
            raise _bad(field, "has repeated items")

    return check


def record(fields: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Check:
    """A nested object with exactly these fields (plus the optional ones)."""

    def check(field: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise _bad(field, "must be an object", Reason.MALFORMED)
        check_fields(value, fields, optional or {}, prefix=f"{field}.")

    return check


POLICY = {
    "name": text(limits.name_bytes_max, 1),
    "association": account,
    "reconversion_fee_bp": _int_in(0, limits.basis_points_max),
    "admin_quorum": _int_in(1, limits.signatures_max),
    "issue_quorum_above_minor": amount_or_zero,
    "limit_quorum_above_minor": amount_or_zero,
    "credit_floor_default_minor": floor,
    "credit_ceiling_default_minor": ceiling,
    "recovery_delay_ms": _int_in(0, 30 * 24 * 3600 * 1000),
}

#: The fields of a genesis document (``ChainConfig.from_json``); protocol 2 adds ``name``.
GENESIS: dict[str, Check] = {
    "chain_id": pattern(CHAIN_RE, "a chain id"),
    "genesis_time_ms": time_ms,
    "validators": list_of(public_key, 1, limits.validators_max),
    "governors": list_of(public_key, 1, limits.signatures_max),
    "governor_quorum": _int_in(1, limits.signatures_max),
    "protocol": _int_in(1, limits.PROTOCOL_VERSION),
}
GENESIS_V2: dict[str, Check] = {
    "name": pattern(CHAIN_NAME_RE, f"a chain name (1..{limits.chain_name_bytes_max} of a-z, "
                                   "0-9, '.', '-', a letter or digit first)"),
    **GENESIS,
}

COMMON: dict[str, Check] = {
    "chain": pattern(CHAIN_RE, "a chain id"),
    "type": _any_string,
    "expires": time_ms,
    "nonce": text(limits.nonce_bytes_max, 1),
}


def check_fields(
    obj: dict[str, Any],
    required: Mapping[str, Check],
    optional: Mapping[str, Check],
    prefix: str = "",
) -> None:
    for name, check in required.items():
        if name not in obj:
            raise TxError(Reason.MALFORMED, f"missing field {prefix}{name}")
        check(prefix + name, obj[name])
    for name, value in obj.items():
        if name in required:
            continue
        optional_check = optional.get(name)
        if optional_check is None:
            raise TxError(Reason.MALFORMED, f"unexpected field {prefix}{name}")
        optional_check(prefix + name, value)
