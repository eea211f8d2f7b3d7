"""``lien validators``: rotating a validator's key with the commands of docs/operations.md
("Rotating a validator key"), run as documented on four node directories of one chain (four
validators), node ``a`` served by a real ``lien serve``.

The commands are read from the document itself and run in its order (its directories, keys and
address replaced by the test's), so the document cannot drift from what works. Between the
second and the third signature the test also tries to submit: refused without sending, as
the document says.
"""

from __future__ import annotations

import json
import re
import shlex
import stat
from pathlib import Path

import httpx
import pytest
from cli_support import FOUNDER_PASSWORD, Run, run
from server_support import Server

from lien.ledger.crypto import new_signing_key, public_key_hex
from lien.ledger.state import ValidatorChange
from lien.node.genesis import Genesis, make_genesis
from lien.node.node import wall_clock_ms
from lien.node.setup import NodeDir, init_node, write_secret
from lien.node.verify import verify_store
from lien.store import Store
from lien.wallet import Member, TxMaker

OPERATIONS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def documented_commands() -> list[str]:
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text[text.index("## Rotating a validator key"):]
    block = re.search(r"^```sh\n(.*?)^```$", section, re.M | re.S)
    assert block, "the section shows its commands"
    return [line for line in block.group(1).splitlines() if line.startswith("lien ")]


def validator_dir(path: Path, genesis: Genesis, index: int,
                  keys: tuple[object, ...]) -> None:
    """The node directory of another association's validator: its genesis, key, settings
    and database (it needs no more to sign a change)."""
    path.mkdir()
    (path / "genesis.json").write_text(json.dumps(genesis.config.to_json()))
    write_secret(path / "validator.key", bytes(keys[index]).hex())  # type: ignore[arg-type]
    (path / "node.toml").write_text(f'chain_id = "{genesis.config.chain_id}"\n'
                                    'database = "sqlite:///node.db"\n'
                                    'validator_key = "validator.key"\n')
    store = Store(NodeDir(path).database_url)
    store.create(genesis.config)
    store.dispose()


def ok(result: Run) -> Run:
    assert result.exit_code == 0, result.text
    return result


@pytest.mark.slow
def test_rotating_a_validator_key_as_the_operations_document_says(tmp_path: Path) -> None:
    keys = tuple(new_signing_key() for _ in range(4))
    genesis = make_genesis("rotation", wall_clock_ms(), validators=keys)
    dirs = {name: tmp_path / name for name in "abcd"}
    init_node(dirs["a"], genesis=genesis, password=FOUNDER_PASSWORD)
    for i, name in enumerate("bcd", start=1):
        validator_dir(dirs[name], genesis, i, keys)
    old_key = public_key_hex(keys[0])
    change_file = tmp_path / "rotation.json"
    server = Server(dirs["a"])
    server.start()
    try:
        commands = documented_commands()
        assert [c.split()[2] for c in commands] == [
            "show", "new-key", "propose", "sign", "sign", "sign", "submit", "show",
            "retire-keys"]
        new_key = ""
        third: list[str] = []
        for command in commands:
            line = (command.replace("var/", f"{tmp_path}/").replace("OLD_KEY", old_key)
                    .replace("NEW_KEY", new_key).replace("rotation.json", str(change_file))
                    .replace("http://127.0.0.1:8000", server.url))
            args = shlex.split(line)[1:]
            if args[1] == "sign" and args[-1] == str(dirs["c"]):
                third = args  # the third signature: after a first try to submit
                continue
            if args[1] == "submit":
                short = run(*args)  # 2 of 4 signed (a and b): refused here, nothing sent
                assert short.exit_code == 2, short.text
                assert "not submitted: 2 signature(s) de validateurs sur 3" in short.text
                assert "3 signature(s) de validateurs sur 3" in ok(run(*third)).text
                before = httpx.get(f"{server.api}/chain").json()
                assert before["validators"] == list(genesis.config.validators)
                assert before["validators_from"] == 1
            result = ok(run(*args))
            if args[1] == "new-key":
                new_key = result.text.split("Nouvelle clé de validateur : ")[1].split()[0]
                server.stop()  # restarted: node a now holds both keys
                server.start()
            if args[1] == "show" and new_key:
                assert f"clé de ce nœud : {new_key} (dans l'ensemble en vigueur)" in result.text
                assert f"clé de ce nœud : {old_key} (hors de l'ensemble)" in result.text
            if args[1] == "retire-keys":
                assert f"Clé retirée : {old_key}" in result.text
        rotated = sorted([new_key, *(public_key_hex(k) for k in keys[1:])])
        chain = httpx.get(f"{server.api}/chain").json()
        assert chain["validators"] == rotated
        changed_from = chain["validators_from"]
        assert changed_from == chain["height"] + 1
        # the next block is signed by a's new key (the served node), not its old one
        mk = TxMaker(genesis.config.chain_id, wall_clock_ms)
        response = httpx.post(f"{server.api}/transactions", params={"wait": "executed"},
                              content=mk.open(Member.new()).encode(), timeout=30)
        assert response.json()["height"] == changed_from
        block = httpx.get(f"{server.api}/blocks/{changed_from}").json()
        assert [s["key"] for s in block["signatures"]] == [new_key]
    finally:
        server.stop()
    # the old seed is gone from the key file, which stays readable by its owner only
    assert [public_key_hex(k) for k in NodeDir(dirs["a"]).validator_keys()] == [new_key]
    assert stat.S_IMODE(NodeDir(dirs["a"]).validator_key_file.stat().st_mode) == 0o600
    store = Store(NodeDir(dirs["a"]).database_url)
    try:
        assert store.validator_changes() == [ValidatorChange(changed_from, tuple(rotated))]
        report = verify_store(store)
        assert report.ok, report.problem
    finally:
        store.dispose()


def test_a_proposal_is_checked_before_anyone_signs(tmp_path: Path) -> None:
    keys = tuple(new_signing_key() for _ in range(3))
    genesis = make_genesis("proposal", wall_clock_ms(), validators=keys)
    for i, name in enumerate("ab"):
        validator_dir(tmp_path / name, genesis, i, keys)
    out = tmp_path / "change.json"
    a = tmp_path / "a"
    stranger = public_key_hex(new_signing_key())
    refused = run("validators", "propose", "--dir", a, "--remove", stranger, "--out", out)
    assert refused.exit_code == 2 and "is not in the validator set in force" in refused.text
    refused = run("validators", "propose", "--dir", a, "--add", "not-a-key", "--out", out)
    assert refused.exit_code == 2 and "is not a validator's public key" in refused.text
    refused = run("validators", "propose", "--dir", a, "--out", out)
    assert refused.exit_code == 2 and "nothing to change" in refused.text
    assert not out.exists()
    ok(run("validators", "propose", "--dir", a, "--add", stranger, "--out", out))
    body = json.loads(out.read_text())["body"]
    assert body["type"] == "set_validators" and stranger in body["validators"]
    assert len(body["validators"]) == 4
    # another chain's node cannot sign it; a tampered file is refused
    other = make_genesis("other", wall_clock_ms(), validators=keys)
    validator_dir(tmp_path / "x", other, 0, keys)
    refused = run("validators", "sign", out, "--dir", tmp_path / "x")
    assert refused.exit_code == 2 and "wrong_chain" in refused.text
    ok(run("validators", "sign", out, "--dir", a))
    tampered = json.loads(out.read_text())
    tampered["body"]["validators"].pop()
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    refused = run("validators", "sign", tmp_path / "tampered.json", "--dir", tmp_path / "b")
    assert refused.exit_code == 2 and "bad_signature" in refused.text
    signed = ok(run("validators", "sign", out, "--dir", tmp_path / "b"))
    assert "2 signature(s) de validateurs sur 3" in signed.text
