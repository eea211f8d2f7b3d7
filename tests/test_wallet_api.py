"""The members' wallet endpoints (``/wallet/api``) against a real node and database: sign-up,
login, sessions, CSRF, password change, directory and names, erasure — with a browser
simulated in Python (``members_support``): keys, secrets and the backup are made client side,
and the tests check that the node's database never holds the key-encryption key or the seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from api_support import Env, api_env
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)
from members_support import (
    Browser,
    Person,
    business_profile,
    outbox,
    person,
    personal_rows,
    signup_body,
)

from lien.members import Members, MembersSettings, MemorySender
from lien.members.throttle import ThrottleRule
from lien.node.verify import verify_store
from lien.wallet import Member
from lien.wallet.backup import BackupError, KdfParams, derive, unseal

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with api_env(tmp_path) as env:
        yield env


@pytest.fixture
async def browser(env: Env) -> AsyncIterator[Browser]:
    b = Browser(env)
    await b.start()
    yield b
    await b.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000

    def __call__(self) -> int:
        return self.now


def with_clock(env: Env, **settings: Any) -> Clock:
    """The app's members' service, with a clock the test moves (no sleeps)."""
    clock = Clock()
    ctx = env.app.state.lien
    ctx.members = Members(env.store.personal, b"s" * 32, MemorySender(), clock=clock,
                          settings=MembersSettings(**settings))
    return clock


def chain_status(env: Env, account: str) -> str | None:
    row = env.store.account_row(account)
    if row is None:
        return None
    (membership,) = [m for m in row[1] if m.currency == "LIEN"]
    return membership.status


# -- sign-up -----------------------------------------------------------------------------------
async def test_a_person_signs_up_and_waits_for_approval(env: Env, browser: Browser) -> None:
    camille = person("Camille.Martin@Example.org ")
    response = await browser.signup(camille)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "pending"}
    assert chain_status(env, camille.member.account) == "pending"
    login = env.store.personal.login(camille.member.account)
    assert login is not None and login.status == "open"
    assert login.email == "camille.martin@example.org"
    assert login.kdf == camille.kdf.to_json() and login.backup.startswith("b1.")
    assert login.login_hash.startswith("$argon2id$")
    profile = env.store.personal.profile(camille.member.account)
    assert profile is not None and profile.name == "Camille Martin" and not profile.directory
    # The browser asks for its KDF parameters by e-mail, then logs in.
    assert (await browser.post("/kdf", {"email": "camille.martin@example.org"})).json() == {
        "kdf": camille.kdf.to_json()}
    assert (await browser.login(camille)).status_code == 200
    me = (await browser.get("/me")).json()
    assert me["account"] == camille.member.account and me["kind"] == "personal"
    assert me["profile"] == {"name": "Camille Martin"} and me["csrf"] == browser.csrf
    # the current backup and its KDF: a password change re-seals the key without a new login
    assert me["backup"] == login.backup and me["kdf"] == camille.kdf.to_json()
    assert [m.subject for m in outbox(env)] == ["Votre compte LIEN est en attente de validation"]


async def test_a_business_signs_up_into_the_directory(env: Env, browser: Browser) -> None:
    shop = person("boulangerie@example.org", kind="business")
    assert (await browser.signup(shop)).status_code == 200
    hidden = person("discret@example.org", kind="business")
    assert (await browser.signup(hidden, business_profile(
        trading_name="Atelier discret", directory=False, siret="35600000049837"))).status_code \
        == 200
    profile = env.store.personal.profile(shop.member.account)
    assert profile is not None
    assert (profile.trading_name, profile.siret, profile.category, profile.town) == (
        "Boulangerie du Crêt de Roc", "73282932000074", "alimentation", "Saint-Étienne")
    found = (await browser.get("/directory", q="cret de roc", town="etienne")).json()
    assert found == [{"account": shop.member.account,
                      "trading_name": "Boulangerie du Crêt de Roc", "category": "alimentation",
                      "town": "Saint-Étienne", "description": "Pain au levain."}]
    assert (await browser.get("/directory", category="culture")).json() == []
    assert (await browser.get("/directory", q="discret")).json() == []  # did not opt in
    # Names: the directory's businesses, not the others (and only for a member logged in).
    assert (await browser.get("/names", accounts=shop.member.account)).status_code == 401
    assert (await browser.login(shop)).status_code == 200
    names = await browser.get("/names", accounts=f"{shop.member.account},"
                                                 f"{hidden.member.account},XXXX")
    assert names.json() == {shop.member.account: "Boulangerie du Crêt de Roc"}


BAD_FIELDS = [
    ("email", "camille@", "email", "email_invalid"),
    ("email", "é@exemple.fr", "email", "email_invalid"),
    ("kind", "association", "kind", "kind_invalid"),
    ("profile.name", "C", "name", "name_length"),
    ("profile.name", "x" * 101, "name", "name_length"),
    ("profile.siret", "7328293200007", "siret", "siret_format"),
    ("profile.siret", "73282932000075", "siret", "siret_checksum"),
    ("profile.siret", "35600000049838", "siret", "siret_checksum"),
    ("profile.category", "casino", "category", "category_invalid"),
    ("profile.town", "", "town", "town_length"),
    ("profile.trading_name", None, "trading_name", "trading_name_length"),
    ("profile.description", "x" * 1001, "description", "description_length"),
    ("profile.directory", "oui", "directory", "directory_invalid"),
    ("login_secret", "00" * 31, "login_secret", "login_secret_invalid"),
    ("kdf.memory_kib", 1024, "kdf", "kdf_invalid"),
    ("kdf.name", "scrypt", "kdf", "kdf_invalid"),
    ("backup", "b1.AAAA", "backup", "backup_invalid"),
    ("account", "K7QM-3XZ9-WT43", "account", "account_invalid"),
    ("public_key", "zz", "public_key", "public_key_invalid"),
    ("open_tx", {"body": {}, "signatures": []}, "open_tx", "open_tx_invalid"),
    ("surname", "x", "surname", "malformed"),
]


@pytest.mark.parametrize("path, value, field, code", BAD_FIELDS,
                         ids=[f"{p}={v!r}"[:40] for p, v, _, _ in BAD_FIELDS])
async def test_bad_input_is_refused_per_field_and_changes_nothing(
    env: Env, browser: Browser, path: str, value: Any, field: str, code: str,
) -> None:
    shop = person("shop@example.org", kind="business")
    body = signup_body(env, shop)
    *parents, last = path.split(".")
    target = body
    for name in parents:
        target = target[name]
    target[last] = value
    before = personal_rows(env)
    async with env.unchanged():
        response = await browser.post("/signup", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["field"], error["code"]) == (field, code)
    assert error["detail"] and error["detail"][0].isupper()  # a French sentence
    assert personal_rows(env) == before
    assert outbox(env) == []


async def test_an_opening_that_does_not_match_the_form_is_refused(
    env: Env, browser: Browser,
) -> None:
    camille, other = person("camille@example.org"), Member.new()
    cases = {
        "someone else's account": env.mk.open(other),
        "another kind": env.mk.open(Member(camille.member.key, "business")),
        "another currency": env.mk.open(camille.member, currency="EURO"),
        "another transaction": env.mk.approve(env.genesis.admins[0], camille.member),
    }
    before = personal_rows(env)
    for what, tx in cases.items():
        async with env.unchanged():
            response = await browser.post("/signup", signup_body(env, camille,
                                                                 open_tx=tx.to_json()))
        assert response.status_code == 400, what
        assert response.json()["error"]["field"] in ("open_tx", "public_key"), what
    assert personal_rows(env) == before


async def test_an_opening_the_ledger_refuses_leaves_no_personal_rows(
    env: Env, browser: Browser,
) -> None:
    """The account exists on chain already (opened with the CLI): the ledger refuses the
    opening, and the rows reserved for the sign-up are gone."""
    camille = person("camille@example.org")
    await env.ok(env.mk.open(camille.member))
    before = personal_rows(env)
    response = await browser.signup(camille)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == "open_tx"
    assert personal_rows(env) == before


async def test_a_used_e_mail_gets_the_same_answer_and_its_owner_a_mail(
    env: Env, browser: Browser,
) -> None:
    first = person("camille@example.org")
    assert (await browser.signup(first)).status_code == 200
    height, before = env.height(), personal_rows(env)
    again = Person("CAMILLE@example.org", "another password", Member.new())
    response = await browser.signup(again)
    assert (response.status_code, response.json()) == (200, {"status": "pending"})
    assert env.height() == height and chain_status(env, again.member.account) is None
    assert personal_rows(env) == before
    assert outbox(env)[-1].to == "camille@example.org"
    assert "Quelqu'un a essayé d'ouvrir un compte" in outbox(env)[-1].body


async def test_too_large_or_not_json_bodies_are_refused(env: Env, browser: Browser) -> None:
    big = await browser.client.post("/wallet/api/signup", content=b"{" + b" " * 20_000 + b"}",
                                    headers={"X-CSRF-Token": browser.csrf or "",
                                             "Origin": "http://lien.test"})
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"
    broken = await browser.client.post("/wallet/api/login", content=b"{nope",
                                       headers={"X-CSRF-Token": browser.csrf or "",
                                                "Origin": "http://lien.test"})
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "malformed"
    listed = await browser.post("/login", ["not", "an", "object"])
    assert listed.status_code == 400


# -- login -------------------------------------------------------------------------------------
async def test_login_right_wrong_and_unknown(env: Env, browser: Browser) -> None:
    camille = person("camille@example.org")
    await browser.signup(camille)
    ok = await browser.login(camille)
    assert ok.status_code == 200
    data = ok.json()
    assert set(data) == {"account", "public_key", "backup", "kdf", "csrf"}
    assert "lien_session" in ok.headers["set-cookie"] and "HttpOnly" in ok.headers["set-cookie"]
    assert "samesite=lax" in ok.headers["set-cookie"].lower()
    # A new device restores the key from the backup with the password.
    seed = unseal(data["backup"], camille.secrets.kek, data["account"])
    assert Member.from_seed(seed).account == camille.member.account
    stranger = Browser(env)
    await stranger.start()
    wrong = await stranger.login(camille, password="wrong password")
    unknown = await stranger.login(person("nobody@example.org"))
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": {"code": "login_failed",
                                                        "detail": "wrong e-mail or password"}}
    assert "set-cookie" not in wrong.headers
    # An unknown e-mail's KDF parameters: the same shape, stable, its own salt.
    first = (await stranger.post("/kdf", {"email": "nobody@example.org"})).json()
    assert first == (await stranger.post("/kdf", {"email": "Nobody@Example.org"})).json()
    assert set(first["kdf"]) == set(camille.kdf.to_json())
    assert first != (await stranger.post("/kdf", {"email": "other@example.org"})).json()
    await stranger.close()


async def test_failed_logins_lock_an_e_mail_and_an_address_for_a_while(
    env: Env, browser: Browser,
) -> None:
    camille = person("camille@example.org")
    await browser.signup(camille)
    clock = with_clock(env, login_per_email=ThrottleRule(3, 60_000, 300_000),
                       login_per_address=ThrottleRule(5, 60_000, 600_000))
    for _ in range(3):
        assert (await browser.login(camille, password="nope")).status_code == 401
    locked = await browser.login(camille)  # the right password, locked all the same
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "rate_limited"
    assert locked.headers["Retry-After"] == "300"
    clock.now += 300_000
    assert (await browser.login(camille)).status_code == 200  # the lockout ended
    # The address: failures on many e-mails (the ones above are out of its window now).
    for i in range(5):
        assert (await browser.login(person(f"x{i}@example.org"))).status_code == 401
    blocked = await browser.login(person("y@example.org"))
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "600"


# -- sessions and CSRF -----------------------------------------------------------------------------
async def test_posts_without_the_csrf_token_or_from_elsewhere_are_refused(
    env: Env, browser: Browser,
) -> None:
    camille = person("camille@example.org")
    body = signup_body(env, camille)
    before = personal_rows(env)
    cases = {"no token": {"csrf": None}, "wrong token": {"csrf": "x" * 43},
             "other origin": {"origin": "https://evil.example"}, "no origin": {"origin": None}}
    for what, options in cases.items():
        async with env.unchanged():
            response = await browser.post("/signup", body, **options)
        assert response.status_code == 403, what
        assert response.json()["error"]["code"] == "csrf_failed", what
    assert personal_rows(env) == before
    # Logged in: the session's token; a logout without it changes nothing.
    assert (await browser.signup(camille)).status_code == 200
    assert (await browser.login(camille)).status_code == 200
    refused = await browser.post("/logout-everywhere", {}, csrf="x" * 43)
    assert refused.status_code == 403
    assert (await browser.get("/me")).status_code == 200


async def test_logout_and_logout_everywhere(env: Env, browser: Browser) -> None:
    camille = person("camille@example.org")
    await browser.signup(camille)
    phone, laptop = Browser(env), Browser(env)
    for device in (phone, laptop, browser):
        await device.start()
        assert (await device.login(camille)).status_code == 200
    assert (await phone.post("/logout", {})).status_code == 200
    assert (await phone.get("/me")).status_code == 401
    assert (await laptop.get("/me")).status_code == 200
    everywhere = await laptop.post("/logout-everywhere", {})
    assert everywhere.json() == {"status": "logged_out", "sessions_ended": 2}
    for device in (laptop, browser):
        me = await device.get("/me")
        assert me.status_code == 401 and me.json()["error"]["code"] == "not_signed_in"
    assert env.store.personal.sessions_of(camille.member.account) == []
    for device in (phone, laptop):
        await device.close()


async def test_sessions_end_after_idle_and_absolute_limits(env: Env, browser: Browser) -> None:
    camille = person("camille@example.org")
    await browser.signup(camille)
    clock = with_clock(env, session_idle_ms=1000, session_absolute_ms=5000,
                       session_touch_ms=100)
    assert (await browser.login(camille)).status_code == 200
    for _ in range(4):  # used often enough: alive until its absolute limit
        clock.now += 900
        assert (await browser.get("/me")).status_code == 200
    clock.now += 1500
    assert (await browser.get("/me")).status_code == 401  # 5.1 s after login
    assert (await browser.login(camille)).status_code == 200
    clock.now += 1000
    assert (await browser.get("/me")).status_code == 401  # idle 1 s
    assert env.store.personal.sessions_of(camille.member.account) == []


# -- password change ---------------------------------------------------------------------------
async def test_a_password_change_re_seals_the_backup_and_ends_other_sessions(
    env: Env, browser: Browser,
) -> None:
    camille = person("camille@example.org", password="old password")
    await browser.signup(camille)
    other = Browser(env)
    await other.start()
    assert (await other.login(camille)).status_code == 200
    assert (await browser.login(camille)).status_code == 200
    new_kdf = KdfParams.new()
    new = derive("new password", new_kdf)
    change = {"old_login_secret": camille.secrets.login_secret.hex(),
              "login_secret": new.login_secret.hex(), "kdf": new_kdf.to_json(),
              "backup": Person("", "new password", camille.member, new_kdf).backup()}
    wrong = await browser.post("/password", {**change, "old_login_secret": "ab" * 32})
    assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "old_login_secret"
    assert env.store.personal.login(camille.member.account).kdf == camille.kdf.to_json()
    changed = await browser.post("/password", change)
    assert changed.json() == {"status": "changed", "sessions_ended": 1}
    assert (await browser.get("/me")).status_code == 200
    assert (await other.get("/me")).status_code == 401
    assert (await other.login(camille)).status_code == 401  # the old password
    renamed = Person(camille.email, "new password", camille.member, new_kdf)
    relogged = await other.login(renamed)
    assert relogged.status_code == 200
    backup = relogged.json()["backup"]
    assert unseal(backup, new.kek, camille.member.account) == bytes(camille.member.key)
    with pytest.raises(BackupError):
        unseal(backup, camille.secrets.kek, camille.member.account)
    assert outbox(env)[-1].subject == "Votre mot de passe LIEN a changé"
    await other.close()


# -- contacts, notifications ---------------------------------------------------------------------
async def test_contacts_and_notifications(env: Env, browser: Browser) -> None:
    camille, lea = person("camille@example.org"), person("lea@example.org")
    await browser.signup(camille)
    await browser.signup(lea)
    assert (await browser.login(camille)).status_code == 200
    saved = await browser.post("/contacts", {"account": lea.member.account, "label": "Léa"})
    assert saved.status_code == 200
    assert (await browser.get("/contacts")).json() == {
        "contacts": [{"account": lea.member.account, "label": "Léa"}]}
    assert (await browser.get("/names", accounts=lea.member.account)).json() == {
        lea.member.account: "Léa"}
    bad = await browser.post("/contacts", {"account": "nope", "label": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "contact"
    members = env.app.state.lien.members
    members.notify(camille.member.account, "payment_received", {"amount_minor": 1250})
    notes = (await browser.get("/notifications")).json()["notifications"]
    assert [(n["kind"], n["body"], n["read"]) for n in notes] == [
        ("payment_received", {"amount_minor": 1250}, False)]
    assert (await browser.post("/notifications/read", {})).json() == {"marked": 1}
    assert (await browser.get("/notifications", unread="true")).json() == {"notifications": []}
    removed = await browser.post("/contacts/remove", {"account": lea.member.account})
    assert removed.json() == {"removed": True}


# -- erasure and secrets -------------------------------------------------------------------------
async def test_an_erased_member_leaves_a_chain_that_verifies(env: Env, browser: Browser) -> None:
    camille = person("camille@example.org")
    await browser.signup(camille)
    assert (await browser.login(camille)).status_code == 200
    assert env.store.personal.erase_member(camille.member.account) >= 3  # login, profile, session
    assert (await browser.get("/me")).status_code == 401
    assert all(account != camille.member.account for rows in personal_rows(env).values()
               for row in rows for account in row)
    report = verify_store(env.store)
    assert report.ok, report.problem
    assert chain_status(env, camille.member.account) == "pending"


async def test_the_node_never_stores_the_password_the_key_encryption_key_or_the_seed(
    env: Env, browser: Browser, tmp_path: Path,
) -> None:
    people = [person("camille@example.org", password="mot de passe très secret"),
              person("shop@example.org", password="autre secret", kind="business")]
    for p in people:
        assert (await browser.signup(p)).status_code == 200
        assert (await browser.login(p)).status_code == 200
    env.store.checkpoint()
    data = b"".join(path.read_bytes() for path in tmp_path.iterdir()
                    if path.name.startswith("node.db"))
    assert b"camille@example.org" in data  # the search can find what is there
    for p in people:
        secrets = p.secrets
        seed = bytes(p.member.key)
        for secret in (seed, secrets.kek, secrets.login_secret, p.password.encode()):
            for form in (secret, secret.hex().encode(), hashlib.sha256(secret).digest()):
                assert form not in data


async def test_the_wallet_answers_without_a_session_and_never_500(
    env: Env, browser: Browser,
) -> None:
    for path in ("/me", "/contacts", "/notifications", "/names"):
        response = await browser.get(path)
        assert response.status_code == 401, path
    for path in ("/password", "/logout-everywhere", "/contacts", "/notifications/read"):
        response = await browser.post(path, {})
        assert response.status_code == 401, path
    odd: list[Any] = [None, 1, "x", [], {"email": 5}, {"email": "a@b.fr", "login_secret": 7}]
    for body in odd:
        for path in ("/kdf", "/login", "/signup"):
            response = await browser.post(path, body)
            assert response.status_code in (200, 400, 401), (path, body, response.text)
            assert response.status_code == 200 or "error" in response.json()
