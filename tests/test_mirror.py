"""A node made by ``lien join`` signs no block: served on its own embedded log it only answers
queries — a block of its own would fork the chain (it follows by ``lien catch-up``, or a
federation's log)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cli_support import Founders, ServedNode
from server_support import Server

pytestmark = pytest.mark.slow


def test_a_joined_node_without_a_validator_key_answers_queries_and_admits_nothing(
        node: ServedNode, founders: Founders, tmp_path: Path) -> None:
    lien = str(Path(sys.executable).parent / "lien")
    target = tmp_path / "mirror"
    done = subprocess.run([lien, "join", "--dir", str(target), "--peer", node.url],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with Server(target) as mirror:
        chain = httpx.get(f"{mirror.api}/chain").json()
        assert chain["last_hash"] == httpx.get(f"{node.api}/chain").json()["last_hash"]
        tx = founders.maker.pay(founders.comptoir, founders.admin, 1)
        answer = httpx.post(f"{mirror.api}/transactions", content=json.dumps(tx.to_json()),
                            headers={"content-type": "application/json"})
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "node_halted"
        assert "only answers queries" in answer.json()["error"]["detail"]
        assert httpx.get(f"{mirror.api}/chain").json()["height"] == chain["height"]
