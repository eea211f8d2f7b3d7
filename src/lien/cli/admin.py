"""``lien admin``: the few verbs of a currency's admins until the back office exists —
``approve`` a sign-up, ``issue`` nantie at the comptoir, set ``limits``, and list the sign-ups
``pending`` with their node-local names.

Signing commands unseal an admin keystore (by default the ones ``lien init`` wrote in
``DIR/keys/``: ``admin-1.json``, ``comptoir.json``), sign here and submit the envelope to a node
over HTTP like the wallet's commands (``--node``, env ``LIEN_NODE``); the key never leaves this
process. ``pending`` reads the node directory's database (names are never on chain).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from ..ledger import TxError, format_account_id, format_amount, limits, parse_amount
from ..node.node import wall_clock_ms
from ..wallet import Member, TxMaker
from .common import EXIT_USAGE, _password, fail
from .wallet import (
    CurrencyOption,
    NodeOption,
    PasswordOption,
    _account,
    _amount,
    _executed,
    _node,
    _unlock,
    _where,
    say,
)

admin_app = typer.Typer(
    help="Admin verbs of a currency (approve a sign-up, issue nantie, set limits, list the "
         "sign-ups pending), signed with the admin keystores of the node directory.",
    no_args_is_help=True)

DirOption = typer.Option(Path("var/node"), "--dir",
                         help="The node directory (its keys/ and database).")


def _keystore(dir: Path, given: Path | None, default: str) -> Path:
    path = given if given is not None else dir / "keys" / default
    if not path.exists():
        fail(EXIT_USAGE, f"no keystore {path}: pass --keystore")
    return path


def _submit_signed(node: str, signers: list[Member], type_: str, **fields: Any
                   ) -> dict[str, Any]:
    with _node(node) as client:
        maker = TxMaker(client.chain_id(), wall_clock_ms)
        try:
            tx = maker.make(signers, type_, **fields)
        except TxError as exc:  # a reference too long, a bad currency code...
            fail(EXIT_USAGE, f"{exc.reason.value}: {exc.detail}")
        status = client.submit(tx)
    _executed(status)
    return status


@admin_app.command("approve")
def approve(
    account: str = typer.Argument(..., help="The account to approve (K7QM-3XZ9-WT42)."),
    dir: Path = DirOption,
    keystore_file: Path | None = typer.Option(
        None, "--keystore", help="An admin's keystore (default: DIR/keys/admin-1.json)."),
    currency: str = CurrencyOption,
    password: str | None = PasswordOption,
    node: str = NodeOption,
) -> None:
    """Approve an account waiting for validation: its status in the currency becomes active
    (set_status, signed by an admin).

    Example: lien admin approve K7QM-3XZ9-WT42 --dir var/demo
    """
    account_id = _account(account)
    admin = _unlock(_keystore(dir, keystore_file, "admin-1.json"), password)
    status = _submit_signed(node, [admin], "set_status", by=admin.account,
                            currency=currency.upper(), account=account_id, status="active")
    say(f"[green]Compte {format_account_id(account_id)} approuvé[/green] "
        f"({escape(currency.upper())} : actif)")
    say(_where(status))


@admin_app.command("issue")
def issue(
    account: str = typer.Argument(..., help="The account credited (K7QM-3XZ9-WT42)."),
    amount: str = typer.Argument(..., help="The nantie issued: 50 or 12,50."),
    reference: str = typer.Option(
        "dépôt au comptoir", "--reference",
        help=f"The deposit's reference (at most {limits.reference_bytes_max} bytes)."),
    dir: Path = DirOption,
    keystore_file: Path | None = typer.Option(
        None, "--keystore", help="The comptoir's keystore (default: DIR/keys/comptoir.json)."),
    currency: str = CurrencyOption,
    password: str | None = PasswordOption,
    node: str = NodeOption,
) -> None:
    """Issue nantie (euro-backed LIEN) to an account against a deposit at the comptoir.

    Example: lien admin issue K7QM-3XZ9-WT42 50 --reference "dépôt 2024-031" --dir var/demo
    """
    account_id = _account(account)
    minor = _amount(amount)
    comptoir = _unlock(_keystore(dir, keystore_file, "comptoir.json"), password)
    status = _submit_signed(node, [comptoir], "issue", by=comptoir.account,
                            currency=currency.upper(), to=account_id, amount=minor,
                            deposit_ref=reference)
    say(f"[green]{format_amount(minor, currency.upper())} émis[/green] "
        f"pour {format_account_id(account_id)}")
    say(_where(status))


def _signed_amount(text: str, what: str) -> int:
    try:
        return parse_amount(text)
    except ValueError as exc:
        fail(EXIT_USAGE, f"{what}: {exc} (write -100 or -100,00)")


@admin_app.command("limits")
def set_limits(
    account: str = typer.Argument(..., help="The account (K7QM-3XZ9-WT42)."),
    floor: str = typer.Option(..., "--floor", help="The crédit mutualisé floor, ≤ 0: -100."),
    ceiling: str = typer.Option(..., "--ceiling", help="The crédit mutualisé ceiling, ≥ 0."),
    dir: Path = DirOption,
    keystore_files: list[Path] | None = typer.Option(  # noqa: B008
        None, "--keystore",
        help="Admin keystores, repeated for an M-of-N policy (default: every "
             "DIR/keys/admin-*.json), one password for all."),
    currency: str = CurrencyOption,
    password: str | None = PasswordOption,
    node: str = NodeOption,
) -> None:
    """Set an account's crédit mutualisé floor and ceiling (set_limits, signed by admins).

    Example: lien admin limits K7QM-3XZ9-WT42 --floor -100 --ceiling 1000 --dir var/demo
    """
    account_id = _account(account)
    low, high = _signed_amount(floor, "floor"), _signed_amount(ceiling, "ceiling")
    if low > 0 or high < 0:
        fail(EXIT_USAGE, "the floor is zero or negative, the ceiling zero or positive")
    paths = keystore_files or sorted((dir / "keys").glob("admin-*.json"))
    if not paths:
        fail(EXIT_USAGE, f"no admin keystore in {dir / 'keys'}: pass --keystore")
    secret = _password(password)
    admins = [_unlock(path, secret) for path in paths]
    status = _submit_signed(node, admins, "set_limits", by=admins[0].account,
                            currency=currency.upper(), account=account_id, floor=low,
                            ceiling=high)
    say(f"[green]Limites de {format_account_id(account_id)}[/green] : plancher "
        f"{format_amount(low, currency.upper())}, plafond {format_amount(high, currency.upper())}")
    say(_where(status))


@admin_app.command("pending")
def pending(
    dir: Path = DirOption,
    currency: str = CurrencyOption,
) -> None:
    """List the sign-ups of the web wallet waiting for approval in the currency, with their
    names and e-mails (node-local, never on chain).

    Example: lien admin pending --dir var/demo
    """
    from ..node.setup import SetupError, open_store
    from ..store import StoreError

    try:
        store = open_store(dir)
    except (SetupError, StoreError) as exc:
        fail(EXIT_USAGE, str(exc))
    code = currency.upper()
    rows = []
    try:
        profiles = store.personal
        for login in profiles.logins("open"):
            found = store.account_row(login.account)
            memberships = found[1] if found else []
            if not any(m.currency == code and m.status == "pending" for m in memberships):
                continue
            profile = profiles.profile(login.account)
            name = (profile.trading_name or profile.name) if profile else ""
            when = datetime.fromtimestamp(login.created_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
            rows.append((format_account_id(login.account), login.kind, name, login.email,
                         when))
    finally:
        store.dispose()
    table = Table("compte", "type", "nom", "e-mail", "demandé le (UTC)",
                  title=f"Comptes en attente de validation ({escape(code)})")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    say(table)
    if not rows:
        say("(aucune demande en attente)")
    else:
        say(f"Approuver : lien admin approve {rows[0][0]} --dir {escape(str(dir))}")


def register(app: typer.Typer) -> None:
    app.add_typer(admin_app, name="admin")


__all__ = ["admin_app", "register"]
