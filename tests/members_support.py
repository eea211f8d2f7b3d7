"""A browser, simulated in Python, for the members' wallet endpoints (``/wallet/api``).

It does what the wallet's pages do with ``lien.wallet.backup`` and ``lien.wallet.signing``: a
key made on the device, two secrets derived from the password, the seed sealed under the
key-encryption key, an ``open_account`` signed here; the node sees only the login secret, the
backup and the signed envelope. ``Browser`` keeps its cookies (httpx's jar) and sends the CSRF
header and an ``Origin`` of the node like the pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from api_support import Env
from lien.members import MemorySender
from lien.wallet import Member, TxMaker
from lien.wallet.backup import KdfParams, derive, seal

WALLET = "/wallet/api"
ORIGIN = "http://lien.test"


@dataclass
class Person:
    """What a member's browser holds: the key and the password, never sent."""

    email: str
    password: str
    member: Member
    kdf: KdfParams = field(default_factory=KdfParams.new)

    @property
    def secrets(self) -> Any:
        return derive(self.password, self.kdf)

    def backup(self) -> str:
        return seal(bytes(self.member.key), self.secrets.kek, self.member.account)


def person(email: str, password: str = "correct horse", kind: str = "personal") -> Person:
    return Person(email, password, Member.new(kind, email))


def business_profile(**overrides: Any) -> dict[str, Any]:
    profile = {"name": "Marie Dupont", "trading_name": "Boulangerie du Crêt de Roc",
               "siret": "73282932000074", "category": "alimentation", "town": "Saint-Étienne",
               "address": "12 rue de la République", "description": "Pain au levain.",
               "directory": True}
    profile.update(overrides)
    return profile


def signup_body(env: Env | TxMaker, p: Person, profile: dict[str, Any] | None = None,
                **overrides: Any) -> dict[str, Any]:
    """A sign-up as the page sends it (``env``: an API test's, or any ``TxMaker`` of the
    node's chain, to sign the opening)."""
    mk = env if isinstance(env, TxMaker) else env.mk
    body = {
        "email": p.email, "kind": p.member.kind, "login_secret": p.secrets.login_secret.hex(),
        "kdf": p.kdf.to_json(), "backup": p.backup(), "account": p.member.account,
        "public_key": p.member.public_key, "open_tx": mk.open(p.member).to_json(),
        "profile": profile or ({"name": "Camille Martin"} if p.member.kind == "personal"
                               else business_profile()),
    }
    body.update(overrides)
    return body


class Browser:
    """One browser profile on the node (its own cookie jar)."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=env.app),
                                        base_url=ORIGIN)
        self.csrf: str | None = None

    async def close(self) -> None:
        await self.client.aclose()

    async def start(self) -> None:
        response = await self.client.get(f"{WALLET}/csrf")
        assert response.status_code == 200, response.text
        self.csrf = response.json()["csrf"]

    async def post(self, path: str, body: Any, *, csrf: str | None = "auto",
                   origin: str | None = ORIGIN) -> httpx.Response:
        headers = {}
        token = self.csrf if csrf == "auto" else csrf
        if token is not None:
            headers["X-CSRF-Token"] = token
        if origin is not None:
            headers["Origin"] = origin
        return await self.client.post(f"{WALLET}{path}", json=body, headers=headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(f"{WALLET}{path}", params=params)

    async def signup(self, p: Person, profile: dict[str, Any] | None = None) -> httpx.Response:
        return await self.post("/signup", signup_body(self.env, p, profile))

    async def login(self, p: Person, password: str | None = None) -> httpx.Response:
        await self.start()  # as the login page does: the pre-session token
        kdf = await self.post("/kdf", {"email": p.email})
        assert kdf.status_code == 200, kdf.text
        params = kdf.json()["kdf"]
        secrets = derive(password if password is not None else p.password,
                         KdfParams(params["salt"], params["memory_kib"], params["time_cost"],
                                   params["parallelism"]))
        response = await self.post("/login", {"email": p.email,
                                               "login_secret": secrets.login_secret.hex()})
        if response.status_code == 200:
            self.csrf = response.json()["csrf"]
        return response


def personal_rows(env: Env) -> dict[str, list[Any]]:
    """Every row of every personal table (to prove a refusal wrote nothing)."""
    from sqlalchemy import select

    from lien.store import personal

    with env.store.engine.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(select(t))), key=repr)
                for t in personal.metadata.sorted_tables}


def outbox(env: Env) -> list[Any]:
    sender = env.app.state.lien.members.sender
    assert isinstance(sender, MemorySender)
    return sender.sent
