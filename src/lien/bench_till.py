"""``lien bench --till``: till payments between two real Chromium phones on an embedded node.

A business and a client sign up through the wallet's API (``/wallet/api/signup``, as the sign-up
page does: key, secrets and backup made client side), are approved and funded by the node's
founders, and log in in two browser contexts of Debian's headless Chromium. Then, ``payments``
times: the business types an amount on *Encaisser* and shows its QR code, the client's phone
opens the payment link, and the clock runs from the client's *Confirmer* until the business's
screen shows *Payé* (pushed by the account's event stream):

* ``till_paid_p50_ms`` / ``till_paid_p99_ms`` — that delay (target: p99 ≤ 500 ms);
* ``wallet_first_load_kb`` — the bytes a new phone downloads to open a till's payment link
  (page, styles, the wallet's modules, hash-wasm's argon2id; headers included), from the
  sizes Chromium reports for each response (target ≤ 300 KB).

Playwright is a development dependency: ``--till`` needs it and Debian's chromium
(``/usr/bin/chromium``, or ``LIEN_CHROMIUM``); it never downloads a browser.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from .bench import _free_port, _wait_until_serving
from .ledger import Tx
from .node.genesis import Genesis, make_genesis
from .node.node import wall_clock_ms
from .node.setup import init_node
from .wallet import Member, TxMaker
from .wallet.backup import KdfParams, derive, seal

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

TILL_PAID_P99_MS_MAX = 500
WALLET_FIRST_LOAD_KB_MAX = 300
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "bench du lien"
PHONE: ViewportSize = {"width": 390, "height": 844}
#: A business's profile as the sign-up page sends it (SIRET with a valid Luhn key).
SHOP = {"name": "Marie Dupont", "trading_name": "Boulangerie du banc d'essai",
        "siret": "73282932000074", "category": "alimentation", "town": "Saint-Étienne",
        "address": "12 rue de la République", "description": "Pain au levain.",
        "directory": True}


class Phone:
    """A member on the node: the key and password stay here; the node gets what sign-up sends."""

    def __init__(self, kind: str, email: str, profile: dict[str, Any]) -> None:
        self.member = Member.new(kind, email)
        self.email = email
        self.profile = profile
        self.kdf = KdfParams.new()
        self.secrets = derive(PASSWORD, self.kdf)

    def signup(self, client: httpx.Client, maker: TxMaker) -> None:
        csrf = client.get("/wallet/api/csrf").json()["csrf"]
        body = {"email": self.email, "kind": self.member.kind,
                "login_secret": self.secrets.login_secret.hex(), "kdf": self.kdf.to_json(),
                "backup": seal(bytes(self.member.key), self.secrets.kek, self.member.account),
                "account": self.member.account, "public_key": self.member.public_key,
                "open_tx": maker.open(self.member).to_json(), "profile": self.profile}
        answer = client.post("/wallet/api/signup", json=body,
                             headers={"X-CSRF-Token": csrf, "Origin": str(client.base_url)})
        if answer.status_code != 200:
            raise RuntimeError(f"sign-up refused: {answer.text}")


def _submit(client: httpx.Client, tx: Tx) -> None:
    answer = client.post("/api/v1/transactions", params={"wait": "executed"},
                         content=tx.encode())
    if answer.status_code != 200 or answer.json()["result"]["code"] != "ok":
        raise RuntimeError(f"{tx.type} refused: {answer.text}")


def _login(context: Any, base: str, phone: Phone) -> None:
    """Logs ``phone`` in within a browser context (its cookie jar), as the login page does."""
    csrf = context.request.get(f"{base}/wallet/api/csrf").json()["csrf"]
    headers = {"X-CSRF-Token": csrf, "Origin": base}
    kdf = context.request.post(f"{base}/wallet/api/kdf", data={"email": phone.email},
                               headers=headers)
    if kdf.status != 200:
        raise RuntimeError(f"kdf: {kdf.text()}")
    login = context.request.post(f"{base}/wallet/api/login", headers=headers, data={
        "email": phone.email, "login_secret": phone.secrets.login_secret.hex()})
    if login.status != 200:
        raise RuntimeError(f"login: {login.text()}")


def _ready(page: Any, path: str) -> None:
    page.goto(path)
    page.locator("[data-page][data-ready=true]").wait_for(timeout=15_000)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(p * len(ordered))) - 1))]


def bench_till(work: Path, payments: int = 50) -> dict[str, Any]:
    genesis: Genesis = make_genesis("lien-bench-till", wall_clock_ms())
    init_node(work, password="bench", genesis=genesis)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = work / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "lien.cli.main", "serve", "--dir", str(work),
             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_until_serving(port, process, 30)
            return _run(base, genesis, payments)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {log_path.read_text(errors='replace')[-2000:]}") from None
        finally:
            process.terminate()
            process.wait(30)


def _run(base: str, genesis: Genesis, payments: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright  # a development dependency

    maker = TxMaker(genesis.config.chain_id, wall_clock_ms)
    shop = Phone("business", "boulangerie@bench.lien", SHOP)
    client = Phone("personal", "client@bench.lien", {"name": "Camille Martin"})
    with httpx.Client(base_url=base, timeout=30) as http:
        for phone in (shop, client):
            phone.signup(http, maker)
            _submit(http, maker.approve(genesis.admins[0], phone.member))
        _submit(http, maker.issue([genesis.comptoir], client.member, 100 * payments + 10_000))
    chromium = os.environ.get("LIEN_CHROMIUM", "/usr/bin/chromium")
    delays: list[float] = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, headless=True,
                                         args=CHROMIUM_ARGS)
        try:
            till_context = browser.new_context(viewport=PHONE, base_url=base)
            payer_context = browser.new_context(viewport=PHONE, base_url=base)
            _login(till_context, base, shop)
            _login(payer_context, base, client)
            payer = payer_context.new_page()
            first_load = _first_load_bytes(payer, base, shop)
            till = till_context.new_page()
            _ready(till, "/encaisser")
            for i in range(payments):
                till.locator("#amount").fill(f"{1 + i % 9},{i % 100:02d}")
                till.locator("#show-qr").click()
                till.locator("#qr-panel").wait_for(state="visible")
                link = str(till.locator("#qr-link").get_attribute("href"))
                _ready(payer, link.removeprefix(base))
                start = time.perf_counter()
                payer.locator("#confirm").click()
                till.locator("#paid-panel").wait_for(state="visible", timeout=15_000)
                delays.append((time.perf_counter() - start) * 1000)
                payer.locator("#result").wait_for(state="visible", timeout=15_000)
                till.locator("#again").click()
        finally:
            browser.close()
    return {"till_payments": payments,
            "till_paid_p50_ms": _percentile(delays, 0.5),
            "till_paid_p99_ms": _percentile(delays, 0.99),
            "wallet_first_load_kb": first_load / 1000}


def _first_load_bytes(page: Any, base: str, shop: Phone) -> int:
    """What a new phone downloads to pay a till's link: the page, its styles and modules,
    the key restored from the backup with the password (hash-wasm's argon2id, the API calls),
    and the payment itself. Its session (the login page) is not counted."""
    sizes: list[int] = []

    def finished(request: Any) -> None:
        size = request.sizes()
        sizes.append(size["responseBodySize"] + size["responseHeadersSize"])

    page.on("requestfinished", finished)
    link = (f"/payer/v1?to={shop.member.account}&cur=LIEN&amount=100&ref=B1&"
            f"exp={wall_clock_ms() + 300_000}")
    _ready(page, link)
    page.locator("#confirm").click()
    page.locator("#unlock-password").fill(PASSWORD)
    page.locator("#unlock button[type=submit]").click()
    page.locator("#result").wait_for(state="visible", timeout=30_000)
    page.remove_listener("requestfinished", finished)
    return sum(sizes)
