"""Payment links and account links: the versioned URLs that LIEN QR codes carry.

A till shows ``{base}/payer/v1?to=…&cur=…&amount=…&ref=…&exp=…&name=…``; a member's account QR is
``{base}/compte/v1?id=…``. A phone's ordinary camera opens them in the wallet of the node at
``base``; any LIEN wallet can read the query and pay, since it holds everything a payment needs.
docs/protocol.md §16 specifies the format; ``static/js/payload.js`` is the same code for the
browser, and both run the vectors of ``tests/vectors/payload.json``.

Pure: no I/O, no clock (``now_ms`` is passed in). Public API::

    PaymentRequest, AccountLink          — what a link says (frozen records)
    payment_url(request) -> str          — the URL of a payment request (raises PayloadError)
    account_url(link) -> str             — the URL of an account
    parse_payment_url(url, now_ms=…)     — strict parser -> PaymentRequest
    parse_account_url(url)               — strict parser -> AccountLink
    parse_link(url, now_ms=…)            — either, by the URL's path
    ERRORS                               — every PayloadError code, with its meaning

Errors::

    PayloadError (ValueError)  .code (one of ERRORS), .field (the parameter, or None), .detail
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..ledger import is_account_id, limits

VERSION = 1
PAYMENT_KIND = "payer"
ACCOUNT_KIND = "compte"
#: Longest link a parser reads (characters): far above the longest link the maker writes
#: (``base_chars_max`` + every parameter at its bound, percent-encoded), so only junk is refused.
url_chars_max = 1024
#: Longest ``base`` (scheme, host and port).
base_chars_max = 200
#: ``ref``: what the payer sees and the wallet hashes on chain (the ledger's reference bound).
reference_bytes_max = limits.reference_bytes_max
#: ``name``: the business's display name (the ledger's bound on names).
name_bytes_max = limits.name_bytes_max
#: ``exp``: ms since the Unix epoch, exact in JavaScript.
expires_ms_max = 2**53 - 1

ERRORS: dict[str, str] = {
    "too_long": f"The link is longer than {url_chars_max} characters.",
    "bad_url": "Not a link of the form base/kind/vN?query (a fragment, user info, an empty or "
               "valueless parameter, or a character outside the allowed set).",
    "bad_base": "The scheme, host or port is not a node's canonical origin (https; http only on "
                "localhost or 127.0.0.1; lower case; no default port).",
    "unknown_kind": "The path is neither /payer/ nor /compte/: not a LIEN link.",
    "unknown_version": "A LIEN link of a version this wallet does not read.",
    "bad_encoding": "A bad percent-escape, or bytes that are not UTF-8.",
    "duplicate_parameter": "A parameter appears twice.",
    "unknown_parameter": "A parameter this version does not define.",
    "missing_parameter": "A required parameter is missing (exp is required with an amount).",
    "bad_account": "The account id is not a canonical id with valid check digits.",
    "bad_currency": "The currency code is not 2-12 of A-Z, 0-9, a letter first.",
    "bad_amount": f"The amount is not an integer number of minor units in 1..{limits.amount_minor_max}.",
    "bad_reference": f"The reference is empty, longer than {reference_bytes_max} UTF-8 bytes, not NFC "
                     "or has control characters.",
    "bad_name": f"The name is empty, longer than {name_bytes_max} UTF-8 bytes, not NFC or has control "
                "characters.",
    "bad_expiry": "The expiry is not an integer number of milliseconds since the epoch.",
    "expired": "The payment request has expired.",
}

_PAYMENT_PARAMETERS = ("to", "cur", "amount", "ref", "exp", "name")
_ACCOUNT_PARAMETERS = ("id",)
_REQUIRED = {PAYMENT_KIND: ("to", "cur"), ACCOUNT_KIND: ("id",)}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_BASE_RE = re.compile(r"(https?)://([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::([1-9][0-9]{0,4}))?")
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
_DEFAULT_PORTS = {"https": "443", "http": "80"}
_PATH_RE = re.compile(r"/([a-z]+)/v([0-9]+)")
_CURRENCY_RE = re.compile(r"[A-Z][A-Z0-9]{1,11}")
_POSITIVE_RE = re.compile(r"[1-9][0-9]{0,15}")
#: C0, DEL and C1 control characters, and the line/paragraph separators.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: What a link may contain at all: unreserved, percent, and the URL's own punctuation.
_LINK_RE = re.compile(r"[A-Za-z0-9\-._~%:/?&=+]*")


class PayloadError(ValueError):
    """A link or request refused: ``code`` (a key of ``ERRORS``), the ``field`` concerned."""

    def __init__(self, code: str, field: str | None, detail: str) -> None:
        assert code in ERRORS, code
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.field = field
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """What a till asks to be paid.

    base         — the origin of the node whose wallet opens the link (``https://host[:port]``)
    to           — the payee's account id, canonical (``GGVXS38A6148``)
    currency     — the currency code (``LIEN``)
    amount_minor — the amount in minor units; None for a static counter QR (the payer types it)
    reference    — shown to the payer; the wallet puts referenceHash(to, reference) on chain
    expires_ms   — when the request stops being payable (ms since the epoch); required with
                   an amount, optional without
    name         — the business's display name, as the business typed it: unverified
    version      — the link's version (1)
    """

    base: str
    to: str
    currency: str
    amount_minor: int | None = None
    reference: str | None = None
    expires_ms: int | None = None
    name: str | None = None
    version: int = VERSION

    def to_json(self) -> dict[str, object]:
        """The record as JavaScript's payload.js gives it (``kind`` tells the two apart)."""
        return {"kind": "payment", "base": self.base, "to": self.to, "currency": self.currency,
                "amount_minor": self.amount_minor, "reference": self.reference,
                "expires_ms": self.expires_ms, "name": self.name, "version": self.version}


@dataclass(frozen=True, slots=True)
class AccountLink:
    """A member's account id as a link (``my account id as a QR``, the reverse till flow)."""

    base: str
    account: str
    version: int = VERSION

    def to_json(self) -> dict[str, object]:
        return {"kind": "account", "base": self.base, "account": self.account,
                "version": self.version}


# -- checks shared by the makers and the parsers ------------------------------------------------
def _check_base(base: str) -> None:
    match = _BASE_RE.fullmatch(base) if len(base) <= base_chars_max else None
    if match is None:
        raise PayloadError("bad_base", "base", f"{base[:base_chars_max]!r} is not an origin")
    scheme, host, port = match.groups()
    if not all(_LABEL_RE.fullmatch(label) for label in host.split(".")):
        raise PayloadError("bad_base", "base", f"{host!r} is not a host name")
    if scheme == "http" and host not in _LOCAL_HOSTS:
        raise PayloadError("bad_base", "base", "http is only for localhost and 127.0.0.1")
    if port is not None and (int(port) > 65535 or port == _DEFAULT_PORTS[scheme]):
        raise PayloadError("bad_base", "base", f"port {port} is out of range or the default")


def _check_account(value: str, field: str) -> None:
    if not is_account_id(value):
        raise PayloadError("bad_account", field, f"{value!r} is not a valid account id")


def _check_currency(value: str) -> None:
    if not _CURRENCY_RE.fullmatch(value):
        raise PayloadError("bad_currency", "cur", f"{value!r} is not a currency code")


def _check_amount(value: int) -> None:
    if type(value) is not int or not 1 <= value <= limits.amount_minor_max:
        raise PayloadError("bad_amount", "amount", f"{value!r} is not in 1..{limits.amount_minor_max}")


def _check_expiry(value: int) -> None:
    if type(value) is not int or not 1 <= value <= expires_ms_max:
        raise PayloadError("bad_expiry", "exp", f"{value!r} is not a time in ms")


def _check_text(value: str, field: str, code: str, bytes_max: int) -> None:
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise PayloadError(code, field, "not valid Unicode text") from None
    if not 1 <= size <= bytes_max:
        raise PayloadError(code, field, f"{size} bytes, not in 1..{bytes_max}")
    if _CONTROL_RE.search(value) or not unicodedata.is_normalized("NFC", value):
        raise PayloadError(code, field, "control characters, or not in NFC")


def _check_request(request: PaymentRequest) -> None:
    if request.version != VERSION:
        raise PayloadError("unknown_version", None, f"version {request.version!r}")
    _check_base(request.base)
    _check_account(request.to, "to")
    _check_currency(request.currency)
    if request.amount_minor is not None:
        _check_amount(request.amount_minor)
        if request.expires_ms is None:
            raise PayloadError("missing_parameter", "exp", "a request with an amount expires")
    if request.reference is not None:
        _check_text(request.reference, "ref", "bad_reference", reference_bytes_max)
    if request.expires_ms is not None:
        _check_expiry(request.expires_ms)
    if request.name is not None:
        _check_text(request.name, "name", "bad_name", name_bytes_max)


# -- making -------------------------------------------------------------------------------------
def _encode(text: str) -> str:
    """Percent-encode every byte but the unreserved ones (RFC 3986) and the space, written
    ``+`` (one character instead of three), so that a browser keeps the link byte for byte and
    every wallet decodes it the same way (application/x-www-form-urlencoded)."""
    return "".join(chr(b) if chr(b) in _UNRESERVED else "+" if b == 0x20 else f"%{b:02X}"
                   for b in text.encode("utf-8"))


def payment_url(request: PaymentRequest) -> str:
    """The link of a payment request, parameters in a fixed order; raises PayloadError."""
    _check_request(request)
    pairs = [("to", request.to), ("cur", request.currency)]
    if request.amount_minor is not None:
        pairs.append(("amount", str(request.amount_minor)))
    if request.reference is not None:
        pairs.append(("ref", request.reference))
    if request.expires_ms is not None:
        pairs.append(("exp", str(request.expires_ms)))
    if request.name is not None:
        pairs.append(("name", request.name))
    query = "&".join(f"{key}={_encode(value)}" for key, value in pairs)
    return f"{request.base}/{PAYMENT_KIND}/v{VERSION}?{query}"


def account_url(link: AccountLink) -> str:
    """The link of an account id; raises PayloadError."""
    if link.version != VERSION:
        raise PayloadError("unknown_version", None, f"version {link.version!r}")
    _check_base(link.base)
    _check_account(link.account, "id")
    return f"{link.base}/{ACCOUNT_KIND}/v{VERSION}?id={link.account}"


# -- parsing ------------------------------------------------------------------------------------
def _decode(text: str, field: str) -> str:
    """application/x-www-form-urlencoded: ``+`` is a space, ``%XX`` a byte; strict UTF-8."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            pair = text[i + 1 : i + 3]
            if len(pair) != 2 or not all(c in "0123456789ABCDEFabcdef" for c in pair):
                raise PayloadError("bad_encoding", field, "a % not followed by two hex digits")
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(0x20 if ch == "+" else ord(ch))
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("bad_encoding", field, "not UTF-8") from None


def _split(url: str, kind_wanted: str | None) -> tuple[str, str, dict[str, str]]:
    """(base, kind, {name: decoded value}) of a link, its base and version checked."""
    if len(url) > url_chars_max:
        raise PayloadError("too_long", None, f"{len(url)} characters, more than {url_chars_max}")
    if not _LINK_RE.fullmatch(url):
        raise PayloadError("bad_url", None, "a character outside the link's set (a fragment?)")
    scheme_end = url.find("://")
    path_start = url.find("/", scheme_end + 3) if scheme_end > 0 else -1
    if path_start < 0:
        raise PayloadError("bad_url", None, "no scheme://host/path")
    base, rest = url[:path_start], url[path_start:]
    path, mark, query = rest.partition("?")
    _check_base(base)
    match = _PATH_RE.fullmatch(path)
    kind = match.group(1) if match else None
    if match is None or kind not in (PAYMENT_KIND, ACCOUNT_KIND):
        raise PayloadError("unknown_kind", None, f"{path[:40]!r} is not a LIEN link's path")
    if kind_wanted is not None and kind != kind_wanted:
        raise PayloadError("unknown_kind", None, f"a /{kind}/ link, not a /{kind_wanted}/ link")
    if match.group(2) != str(VERSION):
        raise PayloadError("unknown_version", None, f"version {match.group(2)[:8]}")
    if not mark or not query:
        raise PayloadError("missing_parameter", None, "no query")
    allowed = _PAYMENT_PARAMETERS if kind == PAYMENT_KIND else _ACCOUNT_PARAMETERS
    params: dict[str, str] = {}
    for part in query.split("&"):
        key, equals, raw = part.partition("=")
        if not key or not equals or not raw:
            raise PayloadError("bad_url", key or None, f"{part[:40]!r} is not name=value")
        if key not in allowed:
            raise PayloadError("unknown_parameter", None, f"{key[:40]!r} is not a parameter")
        if key in params:
            raise PayloadError("duplicate_parameter", key, f"{key} appears twice")
        params[key] = _decode(raw, key)
    for key in _REQUIRED[kind]:
        if key not in params:
            raise PayloadError("missing_parameter", key, f"{key} is required")
    return base, kind, params


def _positive(params: dict[str, str], key: str, code: str) -> int | None:
    value = params.get(key)
    if value is None:
        return None
    if not _POSITIVE_RE.fullmatch(value):
        raise PayloadError(code, key, f"{value[:40]!r} is not a positive integer in digits")
    return int(value)


def _payment(base: str, params: dict[str, str], now_ms: int | None) -> PaymentRequest:
    _check_account(params["to"], "to")
    _check_currency(params["cur"])
    request = PaymentRequest(
        base=base,
        to=params["to"],
        currency=params["cur"],
        amount_minor=_positive(params, "amount", "bad_amount"),
        reference=params.get("ref"),
        expires_ms=_positive(params, "exp", "bad_expiry"),
        name=params.get("name"),
    )
    _check_request(request)
    if now_ms is not None and request.expires_ms is not None and request.expires_ms <= now_ms:
        raise PayloadError("expired", "exp", f"expired at {request.expires_ms}, now {now_ms}")
    return request


def parse_payment_url(url: str, *, now_ms: int | None) -> PaymentRequest:
    """The payment request of a ``/payer/v1`` link, or PayloadError.

    ``now_ms`` is the caller's clock (ms since the epoch): a request whose ``exp`` is at or
    before it is ``expired``; None skips that check (to render a QR, not to pay it).
    """
    base, _, params = _split(url, PAYMENT_KIND)
    return _payment(base, params, now_ms)


def parse_account_url(url: str) -> AccountLink:
    """The account of a ``/compte/v1`` link, or PayloadError."""
    base, _, params = _split(url, ACCOUNT_KIND)
    _check_account(params["id"], "id")
    return AccountLink(base=base, account=params["id"])


def parse_link(url: str, *, now_ms: int | None) -> PaymentRequest | AccountLink:
    """Either kind of link, told apart by its path (what a scanner hands on)."""
    base, kind, params = _split(url, None)
    if kind == PAYMENT_KIND:
        return _payment(base, params, now_ms)
    _check_account(params["id"], "id")
    return AccountLink(base=base, account=params["id"])


__all__ = [
    "ERRORS",
    "VERSION",
    "AccountLink",
    "PayloadError",
    "PaymentRequest",
    "account_url",
    "parse_account_url",
    "parse_link",
    "parse_payment_url",
    "payment_url",
]
