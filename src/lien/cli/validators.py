"""``lien validators``: the chain's validator set — show it, and change it (a validator's key
rotation, a validator joining or leaving) with more than 2/3 of the validators in force.

A change is a file that travels between the validators' node directories
(``lien.node.validators``): ``propose`` writes it, ``sign`` adds a node's validator signature,
``submit`` sends it to a node once enough have signed. ``new-key`` and ``retire-keys`` are the
two ends of a key rotation on the rotating node. docs/operations.md, "Rotating a validator key",
walks through one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from ..ledger import ChainConfig, TxError, parse_tx
from ..ledger.crypto import public_key_hex
from ..ledger.fields import KEY_RE
from ..ledger.state import ValidatorChange, validator_quorum
from ..node.node import wall_clock_ms
from ..store import Store
from .common import EXIT_USAGE, fail
from .wallet import NodeOption, _executed, _node, _read_json, _where, say

validators_app = typer.Typer(
    help="The validator set: show it; change it (rotate a validator's key, add or remove a "
         "validator) with the signatures of more than 2/3 of the validators in force.",
    no_args_is_help=True)

DirOption = typer.Option(Path("var/node"), "--dir",
                         help="The node directory (its database and validator.key).")
FileArgument = typer.Argument(..., help="The file of the proposed change.")


@contextmanager
def _store(dir: Path) -> Iterator[tuple[Store, ChainConfig]]:
    from ..node.setup import SetupError, open_store
    from ..store import StoreError

    try:
        store = open_store(dir)
    except (SetupError, StoreError) as exc:
        fail(EXIT_USAGE, str(exc))
    try:
        yield store, store.config()
    finally:
        store.dispose()


def _node_dir(dir: Path) -> Any:
    from ..node.setup import NodeDir, SetupError

    node_dir = NodeDir(dir)
    try:
        node_dir.validator_keys()
    except (SetupError, OSError) as exc:
        fail(EXIT_USAGE, f"{dir}: no validator key ({exc})")
    return node_dir


def _key(text: str) -> str:
    key = text.strip().lower()
    if not KEY_RE.fullmatch(key):
        fail(EXIT_USAGE, f"{text!r} is not a validator's public key (64 hex digits)")
    return key


def _write(path: Path, envelope: dict[str, Any]) -> None:
    path.write_text(json.dumps(envelope, indent=2) + "\n")


def _count(signed: set[str], current: ValidatorChange) -> str:
    return (f"{len(signed & set(current.keys))} signature(s) de validateurs sur "
            f"{validator_quorum(len(current.keys))} nécessaires "
            f"(plus des 2/3 de {len(current.keys)})")


@validators_app.command("show")
def show(dir: Path = DirOption) -> None:
    """Show the validator set in force, its changes since the genesis, and this node's
    validator keys (in the set or not).

    Example: lien validators show --dir var/node
    """
    from ..node.validators import in_force

    node_dir = _node_dir(dir)
    with _store(dir) as (store, config):
        changes = store.validator_changes()
        current = in_force(store, config)
    table = Table("à partir du bloc", "validateurs", "quorum",
                  title="Ensembles de validateurs (genèse, puis chaque changement)")
    for change in [ValidatorChange(1, tuple(sorted(config.validators))), *changes]:
        table.add_row(str(change.from_height), "\n".join(change.keys),
                      f"{validator_quorum(len(change.keys))} sur {len(change.keys)}")
    say(table)
    for key in node_dir.validator_keys():
        public = public_key_hex(key)
        where = "dans l'ensemble en vigueur" if public in current.keys else "hors de l'ensemble"
        say(f"clé de ce nœud : {public} ({where})")


@validators_app.command("new-key")
def new_key(dir: Path = DirOption) -> None:
    """Make a new validator key for this node, kept next to its current one in
    DIR/validator.key, and print its public key: the first step of a key rotation. Restart the
    node: it then signs each block with whichever of its keys is in the set in force.

    Example: lien validators new-key --dir var/node
    """
    from ..node.validators import add_key

    key = add_key(_node_dir(dir))
    say(f"Nouvelle clé de validateur : {public_key_hex(key)}")
    say("Redémarrez le nœud, puis proposez le changement : lien validators propose "
        f"--dir {escape(str(dir))} --remove ANCIENNE --add {public_key_hex(key)} --out FICHIER")


@validators_app.command("propose")
def propose(
    out: Path = typer.Option(..., "--out", help="Where to write the proposed change."),
    add: list[str] = typer.Option(  # noqa: B008
        [], "--add", help="A validator public key to add (repeat for several)."),
    remove: list[str] = typer.Option(  # noqa: B008
        [], "--remove", help="A validator public key to remove (repeat for several)."),
    dir: Path = DirOption,
) -> None:
    """Write a change of the validator set to a file (a set_validators, not signed yet): the
    set in force, with the --add keys added and the --remove keys removed. Then each
    validator signs it (lien validators sign) and anyone submits it (lien validators submit),
    within 20 hours.

    Example: lien validators propose --dir var/node --remove OLDKEY --add NEWKEY --out change.json
    """
    from ..node.validators import ProposalError, in_force, proposal

    with _store(dir) as (store, config):
        current = in_force(store, config)
    try:
        envelope = proposal(config.chain_id, current, [_key(k) for k in add],
                            [_key(k) for k in remove], wall_clock_ms())
    except ProposalError as exc:
        fail(EXIT_USAGE, str(exc))
    _write(out, envelope)
    say(f"[green]Changement proposé[/green] dans {escape(str(out))} : "
        f"{len(envelope['body']['validators'])} validateurs à partir du bloc suivant son "
        f"exécution")
    say(f"À signer par les validateurs en vigueur : {_count(set(), current)}")


@validators_app.command("sign")
def sign(file: Path = FileArgument, dir: Path = DirOption) -> None:
    """Add this node's validator signature to a proposed change (the file, rewritten), with
    those of its keys that are in the set in force.

    Example: lien validators sign change.json --dir var/node
    """
    from ..node.validators import ProposalError, add_signatures, in_force

    node_dir = _node_dir(dir)
    envelope = _read_json(file, "proposed change")
    with _store(dir) as (store, config):
        current = in_force(store, config)
    try:
        signed, keys = add_signatures(envelope, config.chain_id, current,
                                      node_dir.validator_keys())
    except ProposalError as exc:
        fail(EXIT_USAGE, str(exc))
    _write(file, signed)
    say(f"[green]Signé[/green] par {', '.join(keys)}")
    say(_count({s["key"] for s in signed["signatures"]}, current))


@validators_app.command("submit")
def submit(file: Path = FileArgument, node: str = NodeOption) -> None:
    """Submit a signed change of the validator set to a node and wait until it executes. It
    is not sent while fewer than more than 2/3 of the validators in force (as the node
    announces them) signed it: a refused change would spend its id.

    Example: lien validators submit change.json --node http://127.0.0.1:8000
    """
    envelope = _read_json(file, "proposed change")
    try:
        tx = parse_tx(envelope)
    except TxError as exc:
        fail(EXIT_USAGE, f"{exc.reason.value}: {exc.detail}")
    if tx.type != "set_validators":
        fail(EXIT_USAGE, f"a {tx.type}, not a change of the validator set")
    with _node(node) as client:
        chain = client.get("/chain")
        current = ValidatorChange(int(chain.get("validators_from", 1)),
                                  tuple(chain.get("validators", ())))
        signed = set(tx.signer_keys) & set(current.keys)
        if len(signed) < validator_quorum(len(current.keys)):
            fail(EXIT_USAGE, f"not submitted: {_count(signed, current)}; more validators must "
                             f"sign it (lien validators sign {file} --dir DIR)")
        status = client.submit(tx)
    _executed(status)
    say(f"[green]Ensemble de validateurs changé[/green] : {len(tx.body['validators'])} "
        f"validateurs à partir du bloc {int(status.get('height') or 0) + 1}")
    say(_where(status))


@validators_app.command("retire-keys")
def retire_keys(dir: Path = DirOption) -> None:
    """Remove from DIR/validator.key this node's keys that are no longer in the validator set
    in force: the last step of a key rotation, once the change executed (a former validator
    key must not leak).

    Example: lien validators retire-keys --dir var/node
    """
    from ..node.setup import SetupError
    from ..node.validators import in_force, retire_keys as retire

    node_dir = _node_dir(dir)
    with _store(dir) as (store, config):
        current = in_force(store, config)
    try:
        removed = retire(node_dir, current.keys)
    except SetupError as exc:
        fail(EXIT_USAGE, str(exc))
    for key in removed:
        say(f"Clé retirée : {key}")
    if not removed:
        say("Aucune clé à retirer : toutes les clés de ce nœud sont dans l'ensemble en vigueur")


def register(app: typer.Typer) -> None:
    app.add_typer(validators_app, name="validators")


__all__ = ["register", "validators_app"]
