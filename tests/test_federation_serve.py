"""``lien serve`` starting and supervising its own NATS server (``[nats]`` in node.toml)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from lien.federation.demo import DemoFederation
from lien.node.node import wall_clock_ms
from lien.wallet import Member, TxMaker, keystore

from server_support import poll

pytestmark = pytest.mark.slow


def nats_pids(config: Path) -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"nats-server -c {config}"], capture_output=True,
                           text=True)
    return [int(p) for p in found.stdout.split()]


def test_a_node_starts_supervises_and_stops_its_own_nats_server(tmp_path: Path) -> None:
    fed = DemoFederation.create(tmp_path / "one", nodes=1, payments=5)
    fed.cluster.stop()
    node = fed.nodes[0]
    spec = fed.cluster.servers[0].spec
    with (node.directory / "node.toml").open("a") as toml:
        toml.write(f'\n[nats]\nname = "{spec.name}"\nclient_port = {spec.client_port}\n'
                   f"cluster_port = {spec.cluster_port}\nmonitor_port = {spec.monitor_port}\n"
                   f'store_dir = "{spec.store_dir}"\n')
    config = node.directory / "nats" / f"{spec.name}.conf"
    node.start()
    try:
        node.wait_serving()
        first = nats_pids(config)
        assert len(first) == 1  # started by the node, from its node.toml
        # kill -9 the server: the node starts it again, and payments go on
        subprocess.run(["kill", "-9", str(first[0])], check=True)
        poll(lambda: (pids := nats_pids(config)) and pids != first and pids, 60,
             "the node starting its NATS server again")
        logins = json.loads((node.directory / "demo.json").read_text())["members"][:2]
        payer, payee = (Member(keystore.unseal(keystore.read(
            node.directory / "keys" / f"{m['account']}.json"), "demo"), m["kind"])
            for m in logins)
        chain_id = httpx.get(f"{node.url}/api/v1/chain").json()["chain_id"]
        tx = TxMaker(chain_id, wall_clock_ms).pay(payer, payee, 100)

        def final() -> bool:
            r = httpx.post(f"{node.url}/api/v1/transactions", params={"wait": "final"},
                           content=json.dumps(tx.to_json()), timeout=15,
                           headers={"content-type": "application/json"})
            return r.status_code == 200 and r.json()["status"] == "final"

        poll(final, 60, "a payment final after the NATS server's restart")
    finally:
        code = node.stop()
    assert code == 0
    assert nats_pids(config) == []  # the node stopped the server it started
