"""payload.js in real Chromium: the same vectors and the same Hypothesis examples as the Python
module (tests/test_payload.py), so both wallets read and write the same links."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import open_static
from hypothesis import HealthCheck, given, settings
from payload_support import VECTORS, account_links, payment_requests
from playwright.sync_api import Browser, Page

from lien.wallet.payload import AccountLink, PaymentRequest, account_url, payment_url

#: Runs every case in the page; answers [{url?, request?, code?, field?}] in the same order.
RUN = """async ({vectors, nowMs}) => {
  const p = await import("/static/js/payload.js");
  const run = (f) => { try { return f(); } catch (e) {
    if (!(e instanceof p.PayloadError)) return {crash: String(e)};
    return {code: e.code, field: e.field}; } };
  return {
    codes: p.ERROR_CODES,
    valid: vectors.valid.map((c) => run(() => ({
      url: c.request.kind === "payment" ? p.paymentUrl(c.request) : p.accountUrl(c.request),
      request: p.parseLink(c.url, {nowMs}),
      alone: c.request.kind === "payment" ? p.parsePaymentUrl(c.url, {nowMs})
                                          : p.parseAccountUrl(c.url)}))),
    lenient: vectors.lenient.map((c) => run(() => p.parseLink(c.url, {nowMs}))),
    invalid: vectors.invalid.map((c) => run(() => p.parseLink(c.url, {nowMs}))),
    make_invalid: vectors.make_invalid.map((c) => run(() => p.paymentUrl(c.request))),
  };
}"""


@pytest.fixture(scope="module")
def page(browser: Browser) -> Iterator[Page]:  # noqa: F811
    opened = open_static(browser)
    yield opened
    opened.context.close()


@pytest.fixture(scope="module")
def results(page: Page) -> dict[str, Any]:
    answer: dict[str, Any] = page.evaluate(RUN, {"vectors": VECTORS, "nowMs": VECTORS["now_ms"]})
    return answer


def test_js_knows_the_same_error_codes(results: dict[str, Any]) -> None:
    from lien.wallet.payload import ERRORS
    assert results["codes"] == list(ERRORS)


@pytest.mark.parametrize("i", range(len(VECTORS["valid"])))
def test_js_makes_and_parses_the_valid_vectors(results: dict[str, Any], i: int) -> None:
    case = VECTORS["valid"][i]
    got = results["valid"][i]
    assert got == {"url": case["url"], "request": case["request"], "alone": case["request"]}


@pytest.mark.parametrize("i", range(len(VECTORS["lenient"])))
def test_js_parses_the_lenient_vectors(results: dict[str, Any], i: int) -> None:
    assert results["lenient"][i] == VECTORS["lenient"][i]["request"]


@pytest.mark.parametrize("i", range(len(VECTORS["invalid"])),
                         ids=[c["name"] for c in VECTORS["invalid"]])
def test_js_refuses_the_invalid_links_with_their_code(results: dict[str, Any], i: int) -> None:
    case = VECTORS["invalid"][i]
    assert results["invalid"][i] == {"code": case["code"], "field": case["field"]}


@pytest.mark.parametrize("i", range(len(VECTORS["make_invalid"])),
                         ids=[c["name"] for c in VECTORS["make_invalid"]])
def test_js_refuses_the_invalid_requests(results: dict[str, Any], i: int) -> None:
    case = VECTORS["make_invalid"][i]
    assert results["make_invalid"][i] == {"code": case["code"], "field": case["field"]}


ROUND_TRIP = """async (request) => {
  const p = await import("/static/js/payload.js");
  const url = request.kind === "payment" ? p.paymentUrl(request) : p.accountUrl(request);
  return {url, parsed: p.parseLink(url, {nowMs: null})};
}"""


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payment_requests())
def test_js_writes_and_reads_what_python_writes(page: Page, request: PaymentRequest) -> None:
    got = page.evaluate(ROUND_TRIP, request.to_json())
    assert got == {"url": payment_url(request), "parsed": request.to_json()}


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(account_links)
def test_js_writes_and_reads_account_links(page: Page, link: AccountLink) -> None:
    got = page.evaluate(ROUND_TRIP, link.to_json())
    assert got == {"url": account_url(link), "parsed": link.to_json()}


ACCOUNT_IDS = """async (typed) => {
  const p = await import("/static/js/payload.js");
  return typed.map((t) => p.parseAccountId(t));
}"""


def test_js_reads_typed_account_ids_as_the_ledger_does(page: Page) -> None:
    from lien.ledger import TxError, parse_account_id

    typed = ["9qb6 gy5h 3796", " rb5m-je8s-5o22 ", "ggvx s38a 6l48", "GGVXS38A6148",
             "9QB7GY5H3796", "9QB6G5YH3796", "9QB6GY5H3797", "9QB6GY5H379", "9QB6UY5H3796", ""]

    def python(text: str) -> str | None:
        try:
            return parse_account_id(text)
        except TxError:
            return None

    assert page.evaluate(ACCOUNT_IDS, typed) == [python(t) for t in typed]
