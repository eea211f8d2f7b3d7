"""``lien admin`` against a real ``lien serve``: a member signs up in the web wallet (over
HTTP, as the page does), the association lists the sign-ups pending with their names, approves
one, issues nantie and sets its limits, each signed with the node directory's admin keystores.
And ``lien init --demo``'s members log in to the web wallet with the demo password.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest
from api_support import anyio_backend  # noqa: F401  (the fixture, for pytest)
from cli_support import FOUNDER_PASSWORD, ServedNode, run
from members_support import person, signup_body

from lien.ledger import format_account_id
from lien.members import Members, MemorySender, node_secret
from lien.node.node import wall_clock_ms
from lien.node.setup import DEMO_PASSWORD, init_node, open_node
from lien.store import Store
from lien.wallet import TxMaker
from lien.wallet.backup import KdfParams, derive, unseal
from lien.web import create_app


def _signup(url: str, chain_id: str, email: str, name: str) -> str:
    p = person(email)
    with httpx.Client(base_url=url, timeout=30) as client:
        csrf = client.get("/wallet/api/csrf").json()["csrf"]
        body = signup_body(TxMaker(chain_id, wall_clock_ms), p, {"name": name})
        response = client.post("/wallet/api/signup", json=body,
                               headers={"X-CSRF-Token": csrf, "Origin": url})
    assert response.status_code == 200, response.text
    return p.member.account


def _membership(url: str, account: str) -> dict[str, object]:
    data = httpx.get(f"{url}/api/v1/accounts/{account}", timeout=10).json()
    (lien,) = [m for m in data["currencies"] if m["currency"] == "LIEN"]
    return dict(lien)


def test_admin_approves_issues_and_sets_limits_of_a_web_sign_up(tmp_path: Path) -> None:
    with ServedNode(tmp_path / "node") as node:
        secret = node.path / "web.secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        account = _signup(node.url, node.chain_id, "camille@example.org", "Camille Martin")
        pending = run("admin", "pending", "--dir", node.path)
        assert pending.exit_code == 0, pending.text
        assert format_account_id(account) in pending.text
        assert "Camille Martin" in pending.text and "camille@example.org" in pending.text
        assert _membership(node.url, account)["status"] == "pending"

        wrong = run("admin", "approve", account, "--dir", node.path, node=node.url,
                    password="not the password")
        assert wrong.exit_code == 2, wrong.text
        approved = run("admin", "approve", format_account_id(account), "--dir", node.path,
                       node=node.url, password=FOUNDER_PASSWORD)
        assert approved.exit_code == 0, approved.text
        assert "approuvé" in approved.text
        issued = run("admin", "issue", account, "50", "--reference", "dépôt 2024-031",
                     "--dir", node.path, node=node.url, password=FOUNDER_PASSWORD)
        assert issued.exit_code == 0, issued.text
        limited = run("admin", "limits", account, "--floor", "-100", "--ceiling", "1000",
                      "--dir", node.path, node=node.url, password=FOUNDER_PASSWORD)
        assert limited.exit_code == 0, limited.text
        lien = _membership(node.url, account)
        assert (lien["status"], lien["nantie_minor"], lien["floor_minor"], lien["ceiling_minor"]) == (
            "active", 5000, -10000, 100000)
        assert "aucune demande en attente" in run("admin", "pending", "--dir", node.path).text
        bad = run("admin", "limits", account, "--floor", "100", "--ceiling", "1000",
                  "--dir", node.path, node=node.url, password=FOUNDER_PASSWORD)
        assert bad.exit_code == 2 and "floor" in bad.text
        assert web_secret_kept(node.path, secret.read_text())


def web_secret_kept(path: Path, before: str) -> bool:
    """``lien serve`` reads the secret ``lien init`` made; it never replaces it."""
    return (path / "web.secret").read_text() == before


@pytest.mark.anyio
async def test_the_demo_members_log_in_to_the_web_wallet(tmp_path: Path) -> None:
    node_dir = tmp_path / "demo"
    init_node(node_dir, password="unused", demo=True)
    demo = json.loads((node_dir / "demo.json").read_text())
    camille = demo["members"][0]
    assert camille["email"] == "camille.martin@demo.lelien.fr"
    assert {m["email"] for m in demo["members"]} >= {"boulangerie.du.cret.de.roc@demo.lelien.fr"}
    node = open_node(node_dir)
    store = node.store
    assert isinstance(store, Store)
    members = Members(store.personal, node_secret(node_dir), MemorySender())
    node.start()
    app = create_app(node, members=members)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://lien.test") as client:
            headers = {"Origin": "http://lien.test",
                       "X-CSRF-Token": (await client.get("/wallet/api/csrf")).json()["csrf"]}
            kdf = (await client.post("/wallet/api/kdf", json={"email": camille["email"]},
                                     headers=headers)).json()["kdf"]
            secrets = derive(DEMO_PASSWORD, KdfParams(kdf["salt"]))
            login = await client.post("/wallet/api/login", headers=headers, json={
                "email": camille["email"], "login_secret": secrets.login_secret.hex()})
            assert login.status_code == 200, login.text
            seed = unseal(login.json()["backup"], secrets.kek, camille["account"])
            assert len(seed) == 32 and login.json()["account"] == camille["account"]
            shops = (await client.get("/wallet/api/directory")).json()
            assert len(shops) == 6 and shops[0]["town"] == "Saint-Étienne"
    finally:
        app.state.lien.close()
        node.stop()
        store.dispose()

