"""Payment and account links (lien.wallet.payload): the shared vectors, the round trip, the
strictness of the parser, and their QR codes (GET /qr.svg, the printed counter QR)."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from payload_support import VECTORS, account_links, payment_requests

from lien.wallet import payload
from lien.wallet.payload import (
    ERRORS,
    AccountLink,
    PayloadError,
    PaymentRequest,
    account_url,
    parse_account_url,
    parse_link,
    parse_payment_url,
    payment_url,
)
from lien.web.pages import qr

NOW = VECTORS["now_ms"]


def _request(data: dict[str, Any]) -> PaymentRequest:
    return PaymentRequest(**{k: v for k, v in data.items() if k != "kind"})


# -- the shared vectors (the browser runs the same, tests/test_payload_browser.py) ------------
@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["name"])
def test_valid_vectors_make_and_parse(case: dict[str, Any]) -> None:
    data = case["request"]
    if data["kind"] == "payment":
        assert payment_url(_request(data)) == case["url"]
        assert parse_payment_url(case["url"], now_ms=NOW).to_json() == data
    else:
        assert account_url(AccountLink(data["base"], data["account"])) == case["url"]
        assert parse_account_url(case["url"]).to_json() == data
    assert parse_link(case["url"], now_ms=NOW).to_json() == data


@pytest.mark.parametrize("case", VECTORS["lenient"], ids=lambda c: c["name"])
def test_lenient_vectors_parse(case: dict[str, Any]) -> None:
    assert parse_link(case["url"], now_ms=NOW).to_json() == case["request"]


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_invalid_links_are_refused_with_their_code(case: dict[str, Any]) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_link(case["url"], now_ms=NOW)
    assert (caught.value.code, caught.value.field) == (case["code"], case["field"])


@pytest.mark.parametrize("case", VECTORS["make_invalid"], ids=lambda c: c["name"])
def test_invalid_requests_are_refused_by_the_maker(case: dict[str, Any]) -> None:
    with pytest.raises(PayloadError) as caught:
        payment_url(_request(case["request"]))
    assert (caught.value.code, caught.value.field) == (case["code"], case["field"])


def test_the_vectors_cover_every_error_code() -> None:
    seen = {c["code"] for c in VECTORS["invalid"] + VECTORS["make_invalid"]}
    assert seen == set(ERRORS)


def test_expiry_is_checked_only_against_a_given_clock() -> None:
    url = payment_url(PaymentRequest("https://n.example", "GGVXS38A6148", "LIEN", 100,
                                     expires_ms=1000))
    assert parse_payment_url(url, now_ms=None).expires_ms == 1000
    assert parse_payment_url(url, now_ms=999).amount_minor == 100
    with pytest.raises(PayloadError, match="expired"):
        parse_payment_url(url, now_ms=1000)


def test_each_parser_reads_only_its_kind() -> None:
    pay = payment_url(PaymentRequest("https://n.example", "GGVXS38A6148", "LIEN"))
    account = account_url(AccountLink("https://n.example", "GGVXS38A6148"))
    with pytest.raises(PayloadError, match="unknown_kind"):
        parse_account_url(pay)
    with pytest.raises(PayloadError, match="unknown_kind"):
        parse_payment_url(account, now_ms=None)


# -- properties --------------------------------------------------------------------------------
@given(payment_requests())
def test_payment_round_trip(request: PaymentRequest) -> None:
    url = payment_url(request)
    assert parse_payment_url(url, now_ms=None) == request
    assert parse_link(url, now_ms=None) == request
    assert len(url) <= payload.url_chars_max
    assert set(url) <= set(string.ascii_letters + string.digits + "-._~%:/?&=+")


@given(account_links)
def test_account_round_trip(link: AccountLink) -> None:
    assert parse_account_url(account_url(link)) == link == parse_link(account_url(link), now_ms=1)


@given(payment_requests(), st.integers(0, 400), st.text(max_size=3))
def test_a_damaged_link_is_refused_or_read_never_crashes(
    request: PaymentRequest, at: int, junk: str
) -> None:
    url = payment_url(request)
    at = min(at, len(url))
    damaged = url[:at] + junk + url[at + 1:]
    try:
        parse_link(damaged, now_ms=None)
    except PayloadError as error:
        assert error.code in ERRORS


@given(st.text(max_size=300))
def test_any_text_is_refused_with_a_code(text: str) -> None:
    try:
        parse_link(text, now_ms=None)
    except PayloadError as error:
        assert error.code in ERRORS


def test_the_longest_link_the_maker_writes_is_under_the_parser_s_bound() -> None:
    longest = PaymentRequest(
        base="https://" + ".".join(["a" * 61, "b" * 61, "c" * 61]) + ":65535",
        to="GGVXS38A6148", currency="ABCDEFGHIJKL", amount_minor=100_000_000_000,
        reference="é" * 32, expires_ms=2**53 - 1, name="é" * 40)
    assert len(longest.base) <= payload.base_chars_max
    url = payment_url(longest)
    assert len(url) <= payload.url_chars_max
    assert parse_payment_url(url, now_ms=None) == longest


# -- QR codes ----------------------------------------------------------------------------------
TILL = VECTORS["valid"][0]["url"]  # amount, reference, 5-minute expiry, name
TILL_AMOUNT = VECTORS["valid"][1]["url"]  # amount and expiry only
STATIC = VECTORS["valid"][2]["url"]
ACCOUNT = VECTORS["valid"][6]["url"]


def test_qr_versions_at_typical_values_stay_low() -> None:
    """Small codes scan fast from a phone's screen: measured at level M."""
    till_ref = TILL.split("&name=")[0]
    versions = {name: qr.qr_code(url).version for name, url in
                [("till", TILL), ("till_ref", till_ref), ("till_amount", TILL_AMOUNT),
                 ("static", STATIC), ("account", ACCOUNT)]}
    assert versions == {"till": 8, "till_ref": 6, "till_amount": 5, "static": 6, "account": 4}
    assert all(qr.qr_code(url).error in ("M", "Q", "H") for url in (TILL, STATIC, ACCOUNT))


@pytest.mark.parametrize("url", [c["url"] for c in VECTORS["valid"]])
def test_segments_are_never_larger_than_one_byte_segment(url: str) -> None:
    parts = qr.segments(url)
    assert "".join(text for text, _ in parts) == url
    by_segments = segno.make_qr(parts, error="M", boost_error=False)
    plain = segno.make_qr(url, error="M", boost_error=False)
    assert by_segments.version <= plain.version
    assert parts[-1][1] != segno.consts.MODE_BYTE or "name" in url or "ref=" in url


def test_segments_put_digits_and_capitals_in_their_modes() -> None:
    modes = dict(qr.segments(TILL_AMOUNT))
    assert modes["1767225900000"] == segno.consts.MODE_NUMERIC
    assert modes["GGVXS38A6148"] == segno.consts.MODE_ALPHANUMERIC


def _app() -> FastAPI:
    app = FastAPI()
    app.include_router(qr.router)
    return app


async def _get(params: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as client:
        return await client.get("/qr.svg", params=params)


@pytest.mark.anyio
@pytest.mark.parametrize("url", [TILL, STATIC, ACCOUNT])
async def test_qr_svg_draws_lien_links(url: str) -> None:
    answer = await _get({"text": url})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/svg+xml"
    assert "max-age" in answer.headers["cache-control"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.content.startswith(b"<svg") and b"<script" not in answer.content
    assert answer.content == qr.svg_bytes(url)


@pytest.mark.anyio
async def test_qr_svg_draws_an_expired_request_the_screen_decides() -> None:
    expired = [c["url"] for c in VECTORS["invalid"] if c["code"] == "expired"][0]
    assert (await _get({"text": expired})).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize(("params", "code"), [
    ({"text": "https://evil.example/phish"}, "unknown_kind"),
    ({"text": "hello"}, "bad_url"),
    ({"text": TILL.replace("GGVXS38A6148", "GGVXS38A6149")}, "bad_account"),
    ({"text": TILL + "&tip=1"}, "unknown_parameter"),
    ({"text": TILL + "&x" * 600}, "too_long"),
    ({}, "bad_url"),
    ([("text", TILL), ("text", STATIC)], "bad_url"),
])
async def test_qr_svg_refuses_anything_else_with_a_reason(params: Any, code: str) -> None:
    answer = await _get(params)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["detail"]
    assert answer.headers["cache-control"] == "no-store"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_printed_counter_qr_is_written_as_svg_and_png(tmp_path: Path) -> None:
    for name in ("counter.svg", "counter.png"):
        code = qr.save_link_qr(STATIC, str(tmp_path / name))
        assert code.version == 6
        assert (tmp_path / name).stat().st_size > 100
    assert (tmp_path / "counter.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(PayloadError):
        qr.save_link_qr("https://example.org/", str(tmp_path / "x.svg"))


# -- docs/protocol.md §16 ----------------------------------------------------------------------
DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def _section_16() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("\n## 16. Payment links and QR codes\n")
    return text[start: text.index("\n## ", start + 1)]


def test_the_document_lists_every_error_code_with_the_code_s_words() -> None:
    text = _section_16()
    table = text[text.index("| Code | Meaning |"):]
    table = table[: table.index("\n\n")]
    rows = re.findall(r"^\| `([a-z_]+)` \| (.+) \|$", table, re.M)
    assert dict(rows) == ERRORS and len(rows) == len(ERRORS)


def test_the_document_s_parameters_are_the_code_s() -> None:
    rows = re.findall(r"^\| `([a-z]+)` \| `([a-z_]+)` \|", _section_16(), re.M)
    fields = {f for f in PaymentRequest.__dataclass_fields__ if f not in ("base", "version")}
    assert {param for param, _ in rows} == {"to", "cur", "amount", "ref", "exp", "name", "id"}
    assert {field for param, field in rows if param != "id"} == fields


def test_the_document_s_vectors_are_the_shared_ones() -> None:
    links = re.findall(r"^(https://\S+)", _section_16(), re.M)
    shared = {case["url"] for case in VECTORS["valid"]}
    assert len(links) == 3 and set(links) <= shared
    text = _section_16()
    for case in VECTORS["invalid"]:
        if case["name"] in ("a decimal amount", "wrong check digits", "version 2"):
            assert f"→ {case['code']}" in text
    assert "1767225599999" in text and "`1767225600000`" in text  # expired: now - 1
    assert f"version {qr.qr_code(TILL).version} (" in text


# -- lien till qr ------------------------------------------------------------------------------
def test_lien_till_qr_writes_the_counter_s_code(tmp_path: Path) -> None:
    from cli_support import run

    out = tmp_path / "counter.svg"
    result = run("till", "qr", "ggvx-s38a-6148", "--base", "https://lien.example.org",
                 "--name", "Café Ô Marché", "--out", str(out))
    assert result.exit_code == 0, result.text
    assert VECTORS["valid"][2]["url"] in result.stdout
    assert "version 6 (41 modules)" in result.stdout
    assert out.read_bytes().startswith(b"<?xml") and b"<svg" in out.read_bytes()


@pytest.mark.parametrize(("args", "words"), [
    (["GGVXS38A6149", "--base", "https://lien.example.org"], "not a valid account id"),
    (["GGVXS38A6148", "--base", "http://lien.example.org"], "bad_base"),
    (["GGVXS38A6148", "--base", "https://lien.example.org", "--name", "x" * 81], "bad_name"),
])
def test_lien_till_qr_refuses_bad_input(tmp_path: Path, args: list[str], words: str) -> None:
    from cli_support import run

    out = tmp_path / "counter.png"
    result = run("till", "qr", *args, "--out", str(out))
    assert result.exit_code == 2 and words in result.text
    assert not out.exists()
