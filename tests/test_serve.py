"""``lien serve`` as an operator runs it: Ctrl-C or ``kill`` stops the node cleanly with exit 0,
and a node that halted says so with exit 4 (not 130, nor a process killed before its node
stopped). Real processes, a real SQLite file; waiting is polled against a deadline.
"""

from __future__ import annotations

import re
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest
from cli_support import Founders, ServedNode, run
from server_support import CLEAN_STOP

from lien.wallet import Member

pytestmark = pytest.mark.slow


def test_ctrl_c_or_sigterm_stops_the_node_cleanly_with_exit_0(tmp_path: Path) -> None:
    with ServedNode(tmp_path / "node") as served:
        founders = Founders(served)
        member = Member.new("personal", "camille")
        for n, sig in enumerate((signal.SIGINT, signal.SIGTERM)):
            if n:
                served.start()  # it serves again from where it stopped
                again = httpx.get(f"{served.api}/accounts/{member.account}", timeout=10)
                assert again.status_code == 200, again.text
            founders.submit(founders.maker.open(member) if not n
                            else founders.maker.approve(founders.admin, member))
            code = served.signal(sig)
            log = " ".join(served.log().split(f"---- start {served.starts} ----")[-1].split())
            assert code == 0, (sig, log)
            assert re.search(rf"{CLEAN_STOP} \(hauteur \d+\)", log), log
            assert "Traceback" not in log and "halted" not in log, log
            # stopped between blocks: the database re-verifies from genesis
            verified = run("verify", "--dir", served.path)
            assert verified.exit_code == 0, verified.text


def test_a_node_that_halted_exits_4_naming_the_failure(tmp_path: Path) -> None:
    with ServedNode(tmp_path / "node") as served:
        founders = Founders(served)
        with sqlite3.connect(served.path / "node.db") as db:
            db.execute("DROP TABLE blocks")  # the disk loses a table under the running node
        tx = founders.maker.open(Member.new())
        response = httpx.post(f"{served.api}/transactions", params={"wait": "executed"},
                              content=tx.encode(), timeout=30)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "node_halted"

        code = served.signal(signal.SIGINT)
        log = " ".join(served.log().split())
        assert code == 4, log
        assert "node halted" in log and CLEAN_STOP not in log, log
