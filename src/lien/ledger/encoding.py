"""Canonical JSON (in the spirit of RFC 8785): the bytes that are hashed and signed.

* objects with keys sorted by code point (all protocol keys are ASCII, so this equals
  JavaScript's default sort), no insignificant whitespace, UTF-8;
* integers only, within ±(2**53 - 1) so a browser reproduces them exactly; floats, NaN and
  booleans-as-numbers never appear in a body;
* strings escaped exactly as JavaScript's ``JSON.stringify`` does (``\\"``, ``\\\\``, ``\\b``,
  ``\\f``, ``\\n``, ``\\r``, ``\\t``, other controls as lowercase ``\\u00xx``, everything else
  literal). Lone surrogates are refused.

``JSON.stringify(sortKeysDeep(body))`` in a browser yields the same bytes.
"""

from __future__ import annotations

import json
from typing import Any

from .reasons import Reason, TxError

JS_SAFE_INTEGER_MAX = 2**53 - 1

_encoder = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)


def _check(value: Any, depth: int = 0) -> None:
    if depth > 8:
        raise TxError(Reason.MALFORMED, "nesting too deep")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not -JS_SAFE_INTEGER_MAX <= value <= JS_SAFE_INTEGER_MAX:
            raise TxError(Reason.MALFORMED, "integer outside the JavaScript safe range")
        return
    if isinstance(value, list):
        for item in value:
            _check(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TxError(Reason.MALFORMED, "object key is not a string")
            _check(item, depth + 1)
        return
    raise TxError(Reason.MALFORMED, f"{type(value).__name__} is not allowed (integers only)")


def canonical(value: Any) -> bytes:
    """The canonical bytes of ``value``; raises TxError(MALFORMED) for what JSON can't carry."""
    _check(value)
    try:
        return _encoder.encode(value).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TxError(Reason.MALFORMED, "string is not valid Unicode (lone surrogate)") from exc


def canonical_validated(value: Any) -> bytes:
    """Canonical bytes of a value whose every field a schema already checked (integers in
    range, strings, lists, objects): skips the walk, still refuses lone surrogates."""
    try:
        return _encoder.encode(value).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TxError(Reason.MALFORMED, "string is not valid Unicode (lone surrogate)") from exc


def canonical_trusted(value: Any) -> bytes:
    """Canonical bytes of a value built by our own code (already checked): the fast path."""
    return _encoder.encode(value).encode("utf-8")


def _reject_constant(name: str) -> Any:
    raise TxError(Reason.MALFORMED, f"{name} is not allowed")


def _reject_float(text: str) -> Any:
    raise TxError(Reason.MALFORMED, f"number {text} is not an integer (amounts are minor units)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise TxError(Reason.MALFORMED, "duplicate key in object")
    return result


def _safe_int(text: str) -> int:
    # At parse time, so that an integer beyond the safe range is ``malformed`` wherever it is
    # (section 2 of the protocol), before any field check could call it out of range.
    value = int(text)
    if not -JS_SAFE_INTEGER_MAX <= value <= JS_SAFE_INTEGER_MAX:
        raise TxError(Reason.MALFORMED, "integer outside the JavaScript safe range")
    return value


_decoder = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_float=_reject_float, parse_int=_safe_int,
    parse_constant=_reject_constant,
)


def parse_json(data: bytes | str) -> Any:
    """Strict JSON: no floats, no NaN, no duplicate keys, integers within ±(2**53 - 1).
    Raises TxError(MALFORMED)."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        return _decoder.decode(text)
    except TxError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise TxError(Reason.MALFORMED, f"invalid JSON: {exc}") from None
