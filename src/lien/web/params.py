"""Path and query parameters: their patterns and bounds (what the OpenAPI document states)
and the checks the server adds where a pattern cannot say everything (an account id's check
digits, a page bound that is a setting of the app)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BeforeValidator
from starlette.convertors import StringConvertor, register_url_convertor

from ..ledger import Reason, TxError, parse_account_id
from . import errors
from .context import ApiContext


#: Integers of query and path parameters: JavaScript-safe, and they fit SQLite's INTEGER.
INT_MAX = 2**53 - 1


def _digits(value: Any) -> Any:
    """A query integer is written in digits: ``1.0``, ``+1``, ``1e3`` or ``١`` are refused
    (``malformed``) rather than read as a number the client may not have meant."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("an integer written in digits 0-9")
    return value


#: An integer query parameter: digits only (then the bounds of its ``Query``).
Digits = BeforeValidator(_digits)
TX_ID_PATTERN = "^[0-9a-fA-F]{64}$"
#: What people type for an account id: 10 characters of Crockford's base32 then 2 check digits,
#: any case, look-alikes accepted (I, L → 1; O → 0; never U), a hyphen or a space between
#: two characters. The server accepts a little more (surrounding spaces, repeated hyphens):
#: the pattern is the part a client should send.
ACCOUNT_PATTERN = "^[0-9A-TV-Za-tv-z](?:[- ]?[0-9A-TV-Za-tv-z]){9}(?:[- ]?[0-9IiLlOo]){2}$"
#: Twelve characters and a separator between each two.
ACCOUNT_CHARS_MAX = 23
#: Longest account id the server reads (what people type may have spaces); beyond, bad_field.
ACCOUNT_TYPED_CHARS_MAX = 64
CURRENCY_PATTERN = "^[A-Z][A-Z0-9]{1,11}$"


class TxIdSegment(StringConvertor):
    """The ``{id}`` of ``/transactions/{id}``: any segment but ``batch``, so that
    ``GET /transactions/batch`` is what it is, a route that exists for POST only (405 with
    ``Allow: POST``), rather than a malformed transaction id. Every other segment reaches the
    route, whose pattern answers a bad id ``malformed``."""

    regex = "(?!batch$)[^/]+"


#: Its name in route paths: ``/transactions/{id:tx_id}`` (the document shows ``{id}``).
register_url_convertor("tx_id", TxIdSegment())


TxIdPath = Annotated[str, Path(
    pattern=TX_ID_PATTERN,
    description="Transaction id: 64 hex digits (a bad one is 400 `malformed`).")]
AccountPath = Annotated[str, Path(
    description=(
        "Account id as people type it, e.g. `K7QM-3XZ9-WT42` or `k7qm 3xz9 wt42` (case, "
        "hyphens and spaces ignored; I, L → 1 and O → 0). Its last two digits are a check "
        "code: an id that fails it is answered 400 `bad_field`."),
    json_schema_extra={"pattern": ACCOUNT_PATTERN, "maxLength": ACCOUNT_CHARS_MAX})]
CurrencyPath = Annotated[str, Path(
    pattern=CURRENCY_PATTERN, description="Currency code, e.g. `LIEN` (a bad one is 400 "
                                          "`malformed`).")]


def account_param(text: str) -> str:
    """Accept what people type (lower case, hyphens, spaces, Crockford look-alikes)."""
    if len(text) > ACCOUNT_TYPED_CHARS_MAX:
        raise TxError(Reason.BAD_FIELD, "not an account id")
    return parse_account_id(text)


def known_account(ctx: ApiContext, text: str) -> str:
    account = account_param(text)
    if ctx.store.account_row(account) is None:
        raise errors.NotFound("unknown account")
    return account


def page_limit(limit: int, maximum: int) -> int:
    """A page size within this app's bound (a setting: ``openapi.bind_settings`` writes it
    into the app's document)."""
    if limit > maximum:
        raise TxError(Reason.MALFORMED, f"limit: at most {maximum}")
    return limit
