"""The shared cases of the payment links (tests/vectors/payload.json) and Hypothesis strategies
of valid requests, for the Python tests and the same tests run in Chromium on payload.js."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from lien.ledger import account_id_for_key, limits
from lien.wallet.payload import AccountLink, PaymentRequest

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "payload.json").read_text(encoding="utf-8"))

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_port = st.integers(1, 65535)
https_bases = st.builds(
    lambda labels, port: "https://" + ".".join(labels) + (
        f":{port}" if port is not None and port != 443 else ""),
    st.lists(_label, min_size=1, max_size=4), st.none() | _port)
local_bases = st.builds(
    lambda host, port: f"http://{host}" + (f":{port}" if port is not None and port != 80 else ""),
    st.sampled_from(["localhost", "127.0.0.1"]), st.none() | _port)
bases = https_bases | local_bases
accounts = st.binary(min_size=32, max_size=32).map(account_id_for_key)
currencies = st.from_regex(r"[A-Z][A-Z0-9]{1,11}", fullmatch=True)
_NOT_ALLOWED = ("Cc", "Cs", "Co", "Cn")


def _texts(bytes_max: int) -> st.SearchStrategy[str]:
    # the characters links encode specially, often; then any allowed character
    alphabet = st.sampled_from(" +&=%#?/'\"é€😀-._~Aa0") | st.characters(
        exclude_categories=_NOT_ALLOWED, exclude_characters="\u2028\u2029")
    return (st.text(alphabet, min_size=1, max_size=bytes_max)
            .map(lambda s: unicodedata.normalize("NFC", s))
            .filter(lambda s: 1 <= len(s.encode("utf-8")) <= bytes_max))


times = st.integers(1, 2**53 - 1)


@st.composite
def payment_requests(draw: st.DrawFn) -> PaymentRequest:
    amount = draw(st.none() | st.integers(1, limits.amount_minor_max))
    expires = draw(times if amount is not None else st.none() | times)
    return PaymentRequest(
        base=draw(bases), to=draw(accounts), currency=draw(currencies), amount_minor=amount,
        reference=draw(st.none() | _texts(64)), expires_ms=expires,
        name=draw(st.none() | _texts(80)))


account_links = st.builds(AccountLink, base=bases, account=accounts)
