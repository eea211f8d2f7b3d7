"""A member's browser for the money pages' tests: a real ``lien serve`` and real Chromium, with
the wallet's session endpoints (``/wallet/api/me``, ``kdf``, ``login``, ``names``) answered
by ``WalletSession`` as the contract of the members' service says (notes/common.md) — a
stand-in until that service is merged, made from the same Python code the node will use
(``lien.wallet.backup``: argon2id, HKDF, the sealed backup), so that the browser restores the
key from the password exactly as it will from the real node.

Everything else (the pages, ``/api/v1``, ``/qr.svg``, the event streams) is the real node's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from browser_support import PHONE, Requests
from playwright.sync_api import Browser, BrowserContext, Page, Route

from lien.wallet import Member
from lien.wallet.backup import KdfParams, derive, seal

PASSWORD = "mot de passe du membre"


@dataclass
class WalletSession:
    """One member's session and encrypted backup, as the node keeps them."""

    member: Member
    email: str
    profile: dict[str, Any]
    directory: dict[str, str] = field(default_factory=dict)  # businesses that opted in
    contacts: dict[str, str] = field(default_factory=dict)  # the member's saved contacts
    password: str = PASSWORD

    def __post_init__(self) -> None:
        self.kdf = KdfParams.new()
        secrets = derive(self.password, self.kdf)
        self.login_secret = secrets.login_secret.hex()
        self.kek = secrets.kek  # only to search for it: the node never has it
        self.backup = seal(self.seed, secrets.kek, self.member.account)
        self.logins = 0

    @property
    def seed(self) -> bytes:
        return bytes(self.member.key)

    def me(self) -> dict[str, Any]:
        return {"account": self.member.account, "public_key": self.member.public_key,
                "kind": self.member.kind, "email": self.email, "profile": self.profile,
                "csrf": "csrf-" + self.member.account}

    def answer(self, route: Route) -> None:
        request = route.request
        path = urlsplit(request.url).path
        body = json.loads(request.post_data or "{}") if request.method == "POST" else {}
        if request.method == "POST":
            assert request.headers.get("x-csrf-token") == "csrf-" + self.member.account
        if path == "/wallet/api/me":
            return self._json(route, 200, self.me())
        if path == "/wallet/api/names":
            wanted = parse_qs(urlsplit(request.url).query).get("accounts", [""])[0].split(",")
            known = {**self.directory, **self.contacts}
            return self._json(route, 200, {a: known[a] for a in wanted if a in known})
        if path == "/wallet/api/directory":
            return self._json(route, 200, [{"account": a, "trading_name": n, "category": "",
                                            "town": "Saint-Étienne", "description": ""}
                                           for a, n in self.directory.items()])
        if path == "/wallet/api/contacts":
            return self._json(route, 200, {"contacts": [
                {"account": a, "label": n} for a, n in self.contacts.items()]})
        if path == "/wallet/api/kdf" and body.get("email") == self.email:
            return self._json(route, 200, {"kdf": self.kdf.to_json()})
        if path == "/wallet/api/login":
            if body.get("email") != self.email or body.get("login_secret") != self.login_secret:
                return self._json(route, 401, {"error": {"code": "login_failed"}})
            self.logins += 1
            return self._json(route, 200, {**self.me(), "backup": self.backup,
                                           "kdf": self.kdf.to_json()})
        return self._json(route, 404, {"error": {"code": "not_found", "detail": path}})

    @staticmethod
    def _json(route: Route, status: int, value: object) -> None:
        route.fulfill(status=status, content_type="application/json", body=json.dumps(value))


@dataclass
class Phone:
    """A browser context of its own (cookies, IndexedDB) at phone width, every request kept."""

    context: BrowserContext
    page: Page
    requests: Requests


def phone(browser: Browser, base_url: str, session: WalletSession | None = None,
          lang: str = "fr") -> Phone:
    context = browser.new_context(viewport=PHONE, base_url=base_url, locale=lang)
    requests = Requests()
    context.on("request", requests.record)
    if session is not None:
        context.route(f"{base_url}/wallet/api/**", session.answer)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    setattr(page, "js_errors", errors)
    return Phone(context, page, requests)


def ready(page: Page, path: str) -> None:
    """Opens ``path`` and waits for its module to have wired the page (``data-ready``)."""
    page.goto(path)
    page.locator("[data-page][data-ready=true]").wait_for(timeout=15_000)
