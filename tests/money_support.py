"""Members on a served node for the money pages' tests, as the wallet's pages make them: a key
made client side, the password's two secrets and the sealed backup (``lien.wallet.backup``),
``POST /wallet/api/signup`` with the signed opening, then approval (and nantie) by the node's
founders through the API. A phone is a browser context of its own (cookies, IndexedDB) at
phone width, logged in through ``/wallet/api/login`` as the login page does, every request it
sends recorded. The pages then restore the key from the node's backup with the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from browser_support import PHONE, Requests
from cli_support import Founders, ServedNode
from playwright.sync_api import Browser, BrowserContext, Page

from lien.wallet import Member
from lien.wallet.backup import KdfParams, derive, seal

PASSWORD = "mot de passe du membre"


def business_profile(trading_name: str, directory: bool = True) -> dict[str, Any]:
    return {"name": "Marie Dupont", "trading_name": trading_name, "siret": "73282932000074",
            "category": "alimentation", "town": "Saint-Étienne",
            "address": "12 rue de la République", "description": "Commerce de test.",
            "directory": directory}


@dataclass
class Account:
    """A member signed up on the node; what the browser holds (key, password) stays here."""

    member: Member
    email: str
    password: str = PASSWORD
    kdf: KdfParams = field(default_factory=KdfParams.new)

    def __post_init__(self) -> None:
        secrets = derive(self.password, self.kdf)
        self.login_secret = secrets.login_secret.hex()
        self.kek = secrets.kek  # only to search for it: the node never has it

    @property
    def account(self) -> str:
        return self.member.account

    @property
    def public_key(self) -> str:
        return self.member.public_key

    @property
    def seed(self) -> bytes:
        return bytes(self.member.key)


def sign_up(base_url: str, founders: Founders, email: str, kind: str = "personal",
            profile: dict[str, Any] | None = None, nantie_minor: int = 0) -> Account:
    """A member signed up through the wallet's API, approved, and funded with nantie."""
    account = Account(Member.new(kind, email), email)
    with httpx.Client(base_url=base_url, timeout=30) as http:
        csrf = http.get("/wallet/api/csrf").json()["csrf"]
        body = {"email": email, "kind": kind, "login_secret": account.login_secret,
                "kdf": account.kdf.to_json(),
                "backup": seal(account.seed, account.kek, account.account),
                "account": account.account, "public_key": account.public_key,
                "open_tx": founders.maker.open(account.member).to_json(),
                "profile": profile or {"name": email.split("@")[0].title()}}
        answer = http.post("/wallet/api/signup", json=body,
                           headers={"X-CSRF-Token": csrf, "Origin": base_url})
        assert answer.status_code == 200 and answer.json() == {"status": "pending"}, answer.text
    founders.approve(account.account)
    if nantie_minor:
        founders.issue(account.account, nantie_minor)
    return account


@dataclass
class Phone:
    """A browser context of its own (cookies, IndexedDB) at phone width, every request kept."""

    context: BrowserContext
    page: Page
    requests: Requests
    errors: list[str]


def log_in(context: BrowserContext, base_url: str, account: Account) -> None:
    """The session of ``account`` in ``context``'s cookie jar (what the login page does)."""
    csrf = context.request.get(f"{base_url}/wallet/api/csrf").json()["csrf"]
    headers = {"X-CSRF-Token": csrf, "Origin": base_url}
    kdf = context.request.post(f"{base_url}/wallet/api/kdf", data={"email": account.email},
                               headers=headers)
    assert kdf.status == 200, kdf.text()
    login = context.request.post(f"{base_url}/wallet/api/login", headers=headers, data={
        "email": account.email, "login_secret": account.login_secret})
    assert login.status == 200, login.text()


def phone(browser: Browser, base_url: str, account: Account | None = None,
          lang: str = "fr") -> Phone:
    context = browser.new_context(viewport=PHONE, base_url=base_url, locale=lang)
    requests = Requests()
    context.on("request", requests.record)
    if account is not None:
        log_in(context, base_url, account)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return Phone(context, page, requests, errors)


def ready(page: Page, path: str) -> None:
    """Opens ``path`` and waits for its module to have wired the page (``data-ready``)."""
    page.goto(path)
    page.locator("[data-page][data-ready=true]").wait_for(timeout=15_000)


# -- what the node's API says of an account ------------------------------------------------------
def account(node: ServedNode, account_id: str) -> dict[str, object]:
    answer = httpx.get(f"{node.api}/accounts/{account_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def lien_balance(node: ServedNode, account_id: str) -> tuple[int, int]:
    currencies = account(node, account_id)["currencies"]
    assert isinstance(currencies, list)
    m = next(c for c in currencies if c["currency"] == "LIEN")
    return int(m["nantie_minor"]), int(m["credit_minor"])


def transfers(node: ServedNode, account_id: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{node.api}/accounts/{account_id}/history", params={"limit": 200},
                       timeout=10)
    return [i for i in answer.json()["items"] if i["type"] == "transfer"]

