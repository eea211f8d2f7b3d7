"""The member's pages served by the node, in process: /compte, /historique and its CSV,
/profil, /annuaire, the sign-up and login forms, the PWA's manifest and service worker.

Where a test only needs "a member is signed in", the session is given through the pages' one
dependency (``lien.web.session.current_session``); the tests of the session itself sign up and
log in through ``/wallet/api`` with the browser simulated in Python (``members_support``). The
real browser flows (keys, sign-up, login) are in ``test_wallet_browser``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api_support import Env, api_env
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)
from members_support import ORIGIN, Browser, business_profile, person

from lien.store import Session
from lien.wallet import Member
from lien.web.pages.wallet import csv_amount
from lien.web.i18n import gettext
from lien.web.session import current_session

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with api_env(tmp_path) as env:
        yield env


def log_in(env: Env, member: Member) -> None:
    """``member`` is signed in (a session row as the members' service gives it)."""
    now = env.node.clock()
    session = Session(id_hash="0" * 64, account=member.account, csrf="t" * 32, created_ms=now,
                      seen_ms=now, expires_ms=now + 3_600_000)
    env.app.dependency_overrides[current_session] = lambda: session


async def shop_and_client(env: Env) -> tuple[Member, Member]:
    alice = await env.join("alice", nantie=5_000)
    shop = await env.join("shop", kind="business")
    await env.ok(env.mk.pay(alice, shop, 1_250))
    refused = await env.run(env.mk.pay(alice, shop, 100_000))
    assert refused["result"]["code"] == "insufficient_funds"
    return alice, shop


async def test_pages_need_a_session(env: Env) -> None:
    for path in ("/compte", "/historique", "/historique.csv", "/profil"):
        page = await env.client.get(path)
        assert page.status_code == 303, path
        assert page.headers["location"] == f"/connexion?next={path}", path


async def test_a_real_session_reaches_the_pages_with_its_csrf_token(env: Env) -> None:
    """Sign up and log in through /wallet/api: the pages then know the member, their
    ``<meta name="csrf-token">`` is the session's token (the one its POSTs need), and logging
    out sends the pages back to /connexion."""
    browser = Browser(env)
    try:
        await browser.start()
        camille = person("camille@example.org")
        assert (await browser.signup(camille)).status_code == 200
        pre_session = browser.csrf
        login = await browser.login(camille)
        assert login.status_code == 200
        token = login.json()["csrf"]
        assert token != pre_session
        for path in ("/compte", "/historique", "/profil"):
            page = await browser.client.get(path)
            assert page.status_code == 200, path
            assert f'<meta name="csrf-token" content="{token}">' in page.text, path
        assert camille.member.account in (await browser.client.get("/compte")).text
        assert (await browser.client.get("/connexion")).headers["location"] == "/compte"
        assert (await browser.client.get("/ouvrir-un-compte")).status_code == 303
        # the pre-session token no longer passes for this session's POSTs... but the page's does
        refused = await browser.post("/logout", {}, csrf="x" * 40)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        no_origin = await browser.post("/logout", {}, origin=None)
        assert no_origin.status_code == 403
        assert (await browser.post("/logout", {}, csrf=token)).status_code == 200
        gone = await browser.client.get("/compte")
        assert gone.status_code == 303 and gone.headers["location"] == "/connexion?next=/compte"
    finally:
        await browser.close()


async def test_account_page_shows_both_units_floor_ceiling_and_spendable(env: Env) -> None:
    alice, _ = await shop_and_client(env)
    log_in(env, alice)
    page = await env.client.get("/compte")
    assert page.status_code == 200
    text = page.text
    assert "37,50\u202fLIEN".replace("\u202f", " ") in text  # 5000 - 1250 minor units, both units
    assert "Monnaie nantie" in text and "Crédit mutualisé" in text
    assert "Plancher de crédit" in text and "Plafond de crédit" in text
    assert "Encore disponible" in text
    for name, href in (("Payer", "/payer"), ("Encaisser", "/encaisser"),
                       ("Virement", "/virement"), ("Demander un paiement", "/demander")):
        assert f'href="{href}">{name}</a>' in text
    grouped = "-".join(alice.account[i:i + 4] for i in range(0, 12, 4))
    assert grouped in text
    assert f"/qr.svg?text=http%3A%2F%2Flien.test%2Fcompte%2Fv1%3Fid%3D{alice.account}" in text
    assert "<script>" not in text and "style=" not in text


async def test_a_pending_account_says_so(env: Env) -> None:
    bob = Member.from_seed(b"\x07" * 32, "personal", "bob")
    await env.ok(env.mk.open(bob))
    log_in(env, bob)
    page = await env.client.get("/compte")
    assert "en attente de validation" in page.text
    english = await env.client.get("/compte?lang=en")
    assert "pending approval" in english.text and "Still spendable" in english.text


async def test_history_shows_a_refused_payment_as_refused_never_as_money(env: Env) -> None:
    alice, shop = await shop_and_client(env)
    log_in(env, alice)
    page = await env.client.get("/historique")
    assert page.status_code == 200
    text = page.text
    assert "refusé : fonds insuffisants" in text
    assert "-1\u202f000,00" not in text and "1\u202f000,00" not in text  # the refused amount
    assert "-12,50\u202fLIEN".replace("\u202f", " ") in text  # the executed payment
    # the running balance, newest first: the refusal moved nothing
    balances = re.findall(r'Solde après <span class="amount">([^<]*)</span>', text)
    assert balances[:3] == ["37,50 LIEN", "37,50 LIEN", "50,00 LIEN"]
    assert balances[-1] == "0,00 LIEN"
    refused_only = await env.client.get("/historique", params={"direction": "refused"})
    assert "fonds insuffisants" in refused_only.text and "-12,50" not in refused_only.text
    found = await env.client.get("/historique", params={"q": "fonds"})
    assert "1 opération" in found.text
    money_in = await env.client.get("/historique", params={"direction": "in"})
    assert "+50,00 LIEN" in money_in.text and "fonds insuffisants" not in money_in.text


async def test_history_in_english(env: Env) -> None:
    alice, _ = await shop_and_client(env)
    log_in(env, alice)
    page = await env.client.get("/historique?lang=en")
    assert "refused: not enough nantie" in page.text and "-12.50 LIEN" in page.text


async def test_csv_export_has_bom_semicolons_and_french_decimals(env: Env) -> None:
    alice, shop = await shop_and_client(env)
    log_in(env, alice)
    export = await env.client.get("/historique.csv")
    assert export.status_code == 200
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in export.headers["content-disposition"]
    assert export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:5] == ["Date", "Opération", "Montant", "Monnaie", "Solde"]
    refused, paid, issued = [r for r in rows[1:] if r[3] == "LIEN"][:3]
    assert refused[2] == "" and refused[7] == "refusé : fonds insuffisants"
    assert refused[4] == "37,50"
    assert (paid[2], paid[4], paid[5]) == ("-12,50", "37,50", shop.account)
    assert (issued[2], issued[4]) == ("50,00", "50,00")


def test_csv_amounts_are_written_from_integers() -> None:
    assert [csv_amount(v) for v in (0, 5, -1250, 123_456_789)] == [
        "0,00", "0,05", "-12,50", "1234567,89"]


async def test_signup_and_login_forms_carry_what_their_modules_need(env: Env) -> None:
    page = await env.client.get("/ouvrir-un-compte")
    assert page.status_code == 200
    token = page.cookies.get("lien_csrf")
    assert token and f'<meta name="csrf-token" content="{token}">' in page.text
    assert f'data-chain="{env.node.summary.chain_id}"' in page.text
    assert 'data-currency="LIEN"' in page.text
    assert "Créer un compte" in page.text and 'src="/static/js/signup.js"' in page.text
    assert 'aria-describedby="f-siret-hint f-siret-error"' in page.text
    assert page.headers["set-cookie"].count("lien_csrf=") == 1
    assert "httponly" in page.headers["set-cookie"].lower()
    assert "samesite=strict" in page.headers["set-cookie"].lower()
    login = await env.client.get("/connexion")
    assert "Se connecter" in login.text and login.cookies.get("lien_csrf") is None  # kept
    assert f'<meta name="csrf-token" content="{token}">' in login.text
    # the token of the page is the one the endpoints take before login (double submit)
    kdf = await env.client.post("/wallet/api/kdf", json={"email": "a@example.org"},
                                headers={"X-CSRF-Token": token, "Origin": ORIGIN})
    assert kdf.status_code == 200
    other = await env.client.post("/wallet/api/kdf", json={"email": "a@example.org"},
                                  headers={"X-CSRF-Token": "y" * 43, "Origin": ORIGIN})
    assert other.status_code == 403
    # the business's categories are the members' own list, worded in the page's language
    assert '<option value="alimentation">Alimentation</option>' in page.text
    english = await env.client.get("/ouvrir-un-compte?lang=en")
    assert '<option value="alimentation">Food and groceries</option>' in english.text


async def test_directory_page_searches_the_members_directory(env: Env) -> None:
    browser = Browser(env)
    try:
        await browser.start()
        for email, profile in (
                ("pain@example.org", business_profile()),
                ("velo@example.org", business_profile(
                    trading_name="Vélo Forez", category="mobilite", town="Montbrison",
                    siret="35600000049837", description="Réparations.")),
                ("cache@example.org", business_profile(
                    trading_name="Atelier caché", directory=False, siret="73282932000074"))):
            shop = person(email, kind="business")
            assert (await browser.signup(shop, profile)).status_code == 200
    finally:
        await browser.close()
    everyone = await env.client.get("/annuaire")
    assert everyone.status_code == 200 and "Annuaire des prestataires" in everyone.text
    assert "Boulangerie du Crêt de Roc" in everyone.text and "Vélo Forez" in everyone.text
    assert "Atelier caché" not in everyone.text  # did not opt in
    page = await env.client.get("/annuaire", params={"q": "velo", "category": "mobilite",
                                                     "town": "montbrison"})
    assert '<option value="mobilite" selected>' in page.text
    assert "Vélo Forez" in page.text and "Boulangerie" not in page.text
    assert "Mobilité et vélo" in page.text and "Réparations." in page.text
    none = await env.client.get("/annuaire", params={"q": "pain", "category": "mobilite"})
    assert "Boulangerie" not in none.text and "Vélo Forez" not in none.text
    unknown = await env.client.get("/annuaire", params={"category": "food"})
    assert "Boulangerie du Crêt de Roc" in unknown.text  # an unknown category filters nothing


async def test_history_names_the_counterparts_the_member_may_see(env: Env) -> None:
    """The relevé's counterpart names come from the members' service: a saved contact by its
    label; an account the member may not name stays a number."""
    alice = await env.join("alice", nantie=5_000)
    shop = await env.join("shop", kind="business")
    bob = await env.join("bob")
    members = env.app.state.lien.members
    await env.ok(env.mk.pay(alice, shop, 1_000))
    await env.ok(env.mk.pay(alice, bob, 500))
    members.save_contact(alice.account, bob.account, "Bob le voisin")
    log_in(env, alice)
    page = await env.client.get("/historique")
    assert "Bob le voisin" in page.text
    assert page.text.count("Bob le voisin") == 1  # the shop has no name the member may see
    export = await env.client.get("/historique.csv")
    assert "Bob le voisin" in export.content.decode("utf-8-sig")


async def test_manifest_and_service_worker(env: Env) -> None:
    manifest = await env.client.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    document = json.loads(manifest.text)
    assert document["start_url"] == "/compte" and document["display"] == "standalone"
    sizes = {icon["sizes"] for icon in document["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in document["icons"]:
        image = await env.client.get(icon["src"])
        assert image.status_code == 200
        if icon["type"] == "image/png":
            assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
            side = int(icon["sizes"].split("x")[0])
            assert int.from_bytes(image.content[16:20], "big") == side
    worker = await env.client.get("/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/"
    assert "Content-Security-Policy" in worker.headers


@pytest.mark.parametrize(("path", "heading"), [
    ("/encaisser", "Collect a payment"), ("/payer", "Pay"), ("/virement", "Transfer"),
    ("/demander", "Request a payment"), ("/ordres", "Standing orders"), ("/caisses", "Tills"),
    ("/caisse/appairer", "Pair this till"), ("/notifications", "Notifications"),
])
async def test_the_money_pages_speak_french_then_english(env: Env, path: str,
                                                         heading: str) -> None:
    alice = await env.join("alice", nantie=5_000)
    log_in(env, alice)
    french, english = (await env.client.get(path)), (await env.client.get(f"{path}?lang=en"))
    assert french.status_code == english.status_code == 200, path
    assert '<html lang="fr">' in french.text and '<html lang="en">' in english.text
    assert f"<h1>{gettext(heading, 'fr')}</h1>" in french.text
    assert f"<h1>{heading}</h1>" in english.text
    assert gettext(heading, "fr") != heading or heading == "Notifications"
