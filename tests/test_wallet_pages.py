"""The member's pages served by the node, in process: /compte, /historique and its CSV,
/profil, /annuaire, the sign-up and login forms, the PWA's manifest and service worker.

The session is given through the pages' one dependency (``current_member``), as the members'
service gives it; the browser flows (keys, sign-up, login) are in ``test_wallet_browser``.
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

from lien.wallet import Member
from lien.web.pages.wallet import csv_amount
from lien.web.session import Session, current_member

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with api_env(tmp_path) as env:
        yield env


def log_in(env: Env, member: Member) -> None:
    async def session() -> Session:
        return Session(account=member.account, csrf="t" * 32)
    env.app.dependency_overrides[current_member] = session


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
        assert page.status_code == 303 and page.headers["location"] == "/connexion", path


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
    login = await env.client.get("/connexion")
    assert "Se connecter" in login.text and login.cookies.get("lien_csrf") is None  # kept


async def test_directory_page_searches(env: Env) -> None:
    page = await env.client.get("/annuaire", params={"q": "x", "category": "food", "town": "y"})
    assert page.status_code == 200 and "Annuaire des prestataires" in page.text
    assert '<option value="food" selected>' in page.text


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
