"""``lien init`` is atomic: killed at any moment (``kill -9``), it leaves no half-made node,
and running it again works; a directory that is not a node is named, never overwritten."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from server_support import CLI_ENV, LIEN, poll
from system_support import lien, verify

pytestmark = pytest.mark.slow

#: Keystores of the founders (governor, association, comptoir, two admins), written first.
FOUNDERS = 5


def _building(parent: Path, name: str) -> list[Path]:
    return list(parent.glob(f".{name}.init-*"))


def _has(parent: Path, name: str, relative: str) -> Callable[[], bool]:
    return lambda: any((d / relative).exists() for d in _building(parent, name))


@pytest.mark.parametrize("moment", ["directory made", "database made", "keystores written",
                                    "members' keystores written"])
def test_an_init_killed_at_any_moment_leaves_nothing_and_runs_again(
    tmp_path: Path, moment: str
) -> None:
    target = tmp_path / "demo"
    reached = {
        "directory made": lambda: bool(_building(tmp_path, "demo")),
        "database made": _has(tmp_path, "demo", "node.db"),
        "keystores written": _has(tmp_path, "demo", "keys/governor.json"),
        "members' keystores written": lambda: any(
            len(list((d / "keys").glob("*.json"))) > FOUNDERS for d in _building(tmp_path, "demo")),
    }[moment]
    process = subprocess.Popen([LIEN, "init", "--dir", str(target), "--demo"], env=CLI_ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        poll(lambda: reached() or process.poll() is not None, 60, moment)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(10)
    assert process.returncode == -signal.SIGKILL, "init ended before the moment to kill it"
    assert not target.exists(), "an interrupted init left a node directory behind"

    again = lien("init", "--dir", target, "--demo")
    assert again.returncode == 0, again.message
    assert (target / "node.toml").exists() and not _building(tmp_path, "demo")
    checked = verify(target)
    assert checked.returncode == 0, checked.message


def test_a_directory_that_is_not_a_node_is_refused_by_name(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("mes notes\n")
    refused = lien("init", "--dir", target, "--demo")
    assert refused.returncode == 2, refused.message
    assert "exists and is not a node directory" in refused.message
    assert (target / "notes.txt").read_text() == "mes notes\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert lien("init", "--dir", empty, "--demo").returncode == 0
    twice = lien("init", "--dir", empty, "--demo")
    assert twice.returncode == 2 and "already holds a node" in twice.message
