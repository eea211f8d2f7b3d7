"""The power-user wallet: ``lien keys new``, ``lien account open``, ``lien pay``, ``lien balance``,
``lien history``, ``lien receipt get|verify``. A thin shell over a node's HTTP API
(``--node URL``, env ``LIEN_NODE``, default http://127.0.0.1:8000) and over ``lien.wallet``,
which holds what any wallet does: the keystore, signing, and reading a statement or a balance
from the account's side (the web wallet uses the same).

The private key never leaves this process: it is unsealed from the keystore, signs the body
here, and only the signed envelope is sent. Errors of the node are one small tree::

    NodeError                the node could not be asked, or refused the request
     ├── NodeUnreachable     no answer, a 5xx (halted, busy) or not the LIEN API  → exit 4
     └── NodeRefused         a 4xx answer {"error": {"code", "detail"}}           → exit 2

turned into exit codes in ``_node`` only. Every exit goes through ``common.fail``: 1 when the
ledger executed the transaction with a refusal (``insufficient_funds``... is printed), 2 for
bad input (amount, account id, keystore, wrong password) or a 4xx, 3 when a receipt does not
verify (naming the check), 4 when the node is unreachable or did not execute the transaction
within its wait (202: it may still execute; ``lien receipt get`` tells later).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from ..ledger import (
    DESCRIPTIONS,
    ChainConfig,
    GenesisInvalid,
    Reason,
    Tx,
    TxError,
    format_account_id,
    format_amount,
    limits,
    parse_account_id,
    parse_amount,
)
from ..node.node import wall_clock_ms
from ..wallet import (
    AnswerInvalid,
    Member,
    TxMaker,
    amount_text,
    balance_for,
    entry_for,
    keystore,
)
from ..wallet import memo as memos
from .common import EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, EXIT_VERIFY, _password, console
from .common import fail

DEFAULT_NODE = "http://127.0.0.1:8000"
#: Longest one request may take: a submission waits for its block (the node answers 202 after
#: its own bounded wait, 10 s by default).
request_timeout_s = 30.0
connect_timeout_s = 5.0
#: Items asked per history page (the API's own maximum), and the most ``--all`` shows.
history_page_items_max = 200
history_items_max = 100_000
#: A receipt or genesis file larger than this is not one.
document_bytes_max = 10_000_000

_TX_ID_RE = re.compile(r"^[0-9a-f]{64}$")

NodeOption = typer.Option(DEFAULT_NODE, "--node", envvar="LIEN_NODE", show_envvar=True,
                          help="URL of the node to talk to.")
KeystoreOption = typer.Option(..., "--keystore", help="The keystore file (see `lien keys new`).")
PasswordOption = typer.Option(
    None, "--password",
    help="Keystore password (default: $LIEN_PASSWORD, else a hidden prompt).")
CurrencyOption = typer.Option("LIEN", "--currency", help="The currency code.")


def say(renderable: RenderableType) -> None:
    """Print to standard output; ids and amounts are not coloured like numbers."""
    console.print(renderable, highlight=False)


# -- the node's HTTP API ---------------------------------------------------------------------------


class NodeError(Exception):
    """The node could not be asked, or refused the request."""


class NodeUnreachable(NodeError):
    """No answer, a server error (5xx: halted, busy) or an answer that is not the LIEN API."""


class NodeRefused(NodeError):
    """A 4xx answer: the request or the transaction was refused at admission."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.status = status
        self.code = code
        self.detail = detail


class NodeClient:
    """The few calls the wallet makes. ``transport`` is the test seam (an httpx transport)."""

    def __init__(self, url: str, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{self.url}/api/v1", transport=transport,
            timeout=httpx.Timeout(request_timeout_s, connect=connect_timeout_s),
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise NodeUnreachable(f"node unreachable at {self.url}: {exc}") from None
        try:
            data = response.json()
        except ValueError:
            raise NodeUnreachable(f"{self.url} answered HTTP {response.status_code} without "
                                  "JSON: is it a LIEN node?") from None
        if response.status_code >= 500:
            code, detail = _error_parts(data)
            raise NodeUnreachable(f"node unavailable (HTTP {response.status_code}): {code}"
                                  + (f": {detail}" if detail else ""))
        if response.status_code >= 400:
            raise NodeRefused(response.status_code, *_error_parts(data))
        return data

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params)

    def chain_id(self) -> str:
        chain = self.get("/chain")
        chain_id = chain.get("chain_id") if isinstance(chain, dict) else None
        if not isinstance(chain_id, str):
            raise NodeUnreachable(f"{self.url}/api/v1/chain has no chain_id: is it a LIEN node?")
        return chain_id

    def submit(self, tx: Tx, wait: str = "executed") -> dict[str, Any]:
        """POST the envelope; the node's status ``{id, status, result?, height?, seq?}``."""
        try:
            data = self._call("POST", "/transactions", params={"wait": wait},
                              content=tx.encode(), headers={"content-type": "application/json"})
        except NodeUnreachable as exc:  # it may have arrived: say how to know before a retry
            raise NodeUnreachable(f"{exc}; transaction {tx.id} may still execute: check with "
                                  f"`lien receipt get {tx.id}` before trying again") from None
        if not isinstance(data, dict) or data.get("id") != tx.id:
            raise NodeUnreachable(f"unexpected answer to a submission: {data!r}")
        return data


def _error_parts(data: Any) -> tuple[str, str]:
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("code", "error")), str(error.get("detail", ""))
    return "error", json.dumps(data, ensure_ascii=False)[:200]


@contextmanager
def _node(url: str) -> Iterator[NodeClient]:
    """``with _node(url) as client:`` — the one place node errors become exit codes."""
    client = NodeClient(url)
    try:
        yield client
    except NodeUnreachable as exc:
        fail(EXIT_UNREACHABLE, str(exc))
    except NodeRefused as exc:
        fail(EXIT_USAGE, f"refused by the node: {_described(exc.code)}"
                         + (f" ({exc.detail})" if exc.detail else ""))
    finally:
        client.close()


def _described(code: str) -> str:
    """``insufficient_funds — Not enough nantie...`` for a ledger reason code."""
    try:
        return f"{code} — {DESCRIPTIONS[Reason(code)]}"
    except (ValueError, KeyError):
        return code


# -- reading what a person typed -------------------------------------------------------------------


def _account(text: str) -> str:
    try:
        return parse_account_id(text)
    except TxError as exc:
        fail(EXIT_USAGE, exc.detail)


def _amount(text: str, what: str = "amount", zero_ok: bool = False) -> int:
    """Minor units from ``12,50`` / ``12.50`` / ``1 234,56``: never through a float."""
    try:
        minor = parse_amount(text)
    except ValueError as exc:
        fail(EXIT_USAGE, f"{what}: {exc} (write 12,50 or 12.50)")
    if minor < 0 or (minor == 0 and not zero_ok):
        fail(EXIT_USAGE, f"{what}: {text!r} must be {'zero or ' if zero_ok else ''}positive")
    if minor > limits.amount_minor_max:
        fail(EXIT_USAGE, f"{what}: at most {format_amount(limits.amount_minor_max)}")
    return minor


def _tx_id(text: str) -> str:
    tx_id = text.strip().lower()
    if not _TX_ID_RE.match(tx_id):
        fail(EXIT_USAGE, f"{text!r} is not a transaction id (64 hex digits)")
    return tx_id


def _read_json(path: Path, what: str) -> Any:
    try:
        with path.open("rb") as f:
            data = f.read(document_bytes_max + 1)
    except OSError as exc:
        fail(EXIT_USAGE, f"cannot read {what} {path}: {exc.strerror}")
    if len(data) > document_bytes_max:
        fail(EXIT_USAGE, f"{path} is larger than {document_bytes_max} bytes: not a {what}")
    try:
        return json.loads(data)
    except ValueError as exc:
        fail(EXIT_USAGE, f"{path} is not a {what} (not JSON: {exc})")


def _unlock(path: Path, password: str | None) -> Member:
    """The keystore's key; exits 2 on a missing, damaged file or a wrong password."""
    try:
        data = keystore.read(path)
    except keystore.KeystoreError as exc:
        fail(EXIT_USAGE, str(exc))
    try:
        key = keystore.unseal(data, _password(password))
    except keystore.KeystoreError as exc:
        fail(EXIT_USAGE, f"{path}: {exc}")
    return Member(key, str(data.get("kind", "personal")))


def _sign(maker: TxMaker, signer: Member, type_: str, **fields: Any) -> Tx:
    try:
        return maker.make([signer], type_, **fields)
    except TxError as exc:  # a memo too long, a bad currency code...
        fail(EXIT_USAGE, f"{exc.reason.value}: {exc.detail}")


def _executed(status: dict[str, Any]) -> dict[str, Any]:
    """The result of an executed transaction; ends the command unless its code is ``ok``."""
    result = status.get("result")
    if status.get("status") not in ("executed", "final") or not isinstance(result, dict):
        fail(EXIT_UNREACHABLE, f"transaction {status.get('id')} accepted but not executed "
                               "within the node's wait: it may still execute; check with "
                               f"`lien receipt get {status.get('id')}` before trying again")
    code = str(result.get("code"))
    if code != Reason.OK:
        fail(EXIT_REFUSED, f"refused by the ledger: {_described(code)} "
                           f"(transaction {status.get('id')})")
    return result


def _where(status: dict[str, Any]) -> str:
    state = "finale" if status.get("status") == "final" else "exécutée"
    return (f"transaction {status['id']} — bloc {status.get('height')}, "
            f"n° {status.get('seq')}, {state}")


# -- lien keys -------------------------------------------------------------------------------------


class Kind(StrEnum):
    personal = "personal"
    business = "business"
    association = "association"
    comptoir = "comptoir"


keys_app = typer.Typer(help="Keys: create an encrypted keystore.", no_args_is_help=True)


@keys_app.command("new")
def keys_new(
    out: Path = typer.Option(..., "--out", help="The keystore file to create (never overwritten)."),
    kind: Kind = typer.Option(Kind.personal, "--kind", help="The kind of account it will open."),
    password: str | None = PasswordOption,
) -> None:
    """Create a new Ed25519 key in an encrypted keystore (argon2id, 64 MiB, 3 passes) and print
    the account id it opens. The password is asked twice and never shown.

    Example: lien keys new --out camille.json --kind personal
    """
    if out.exists():
        fail(EXIT_USAGE, f"{out} already exists: a keystore is never overwritten")
    secret = _password(password, confirm=True)
    if not secret:
        fail(EXIT_USAGE, "the password is empty")
    member = Member.new(kind.value)
    try:
        keystore.write(out, keystore.seal(member.key, secret, kind.value))
    except FileExistsError:
        fail(EXIT_USAGE, f"{out} already exists: a keystore is never overwritten")
    except OSError as exc:
        fail(EXIT_USAGE, f"cannot write {out}: {exc.strerror}")
    say(f"compte    {format_account_id(member.account)}")
    say(f"clé       {member.public_key}")
    say(f"keystore  {escape(str(out))} ({kind.value}) — ouvrez le compte avec "
                  f"`lien account open --keystore {escape(str(out))}`")


# -- lien account ----------------------------------------------------------------------------------

account_app = typer.Typer(help="Accounts: open one on the chain.", no_args_is_help=True)


@account_app.command("open")
def account_open(
    keystore_file: Path = KeystoreOption,
    currency: str = CurrencyOption,
    password: str | None = PasswordOption,
    node: str = NodeOption,
) -> None:
    """Open the keystore's account on the chain, joining a currency; the currency's admins then
    approve it (status pending → active) before it can pay or be paid.

    Example: lien account open --keystore camille.json --currency LIEN
    """
    member = _unlock(keystore_file, password)
    code = currency.upper()
    with _node(node) as client:
        maker = TxMaker(client.chain_id(), wall_clock_ms)
        tx = _sign(maker, member, "open_account", account=member.account,
                   key=member.public_key, kind=member.kind, currency=code)
        status = client.submit(tx)
    _executed(status)
    say(f"[green]Compte {format_account_id(member.account)} ouvert[/green] "
                  f"({member.kind}, {escape(code)} : en attente d'approbation par un admin)")
    say(_where(status))


# -- lien pay --------------------------------------------------------------------------------------


def pay(
    keystore_file: Path = KeystoreOption,
    to: str = typer.Option(..., "--to", help="The payee's account id (K7QM-3XZ9-WT42)."),
    amount: str = typer.Option(..., "--amount", help="The amount: 12,50 or 12.50."),
    nantie: str | None = typer.Option(
        None, "--nantie",
        help="How much of the amount is nantie (euro-backed); the rest is crédit mutualisé. "
             "Default: positive credit first, then nantie, then credit down to the floor."),
    memo: str = typer.Option(
        "", "--memo",
        help=f"A note for the payee, at most {memos.text_bytes_max} bytes: encrypted so that "
             "only the payee and you can read it (docs/protocol.md §15)."),
    reference: str = typer.Option(
        "", "--reference",
        help="An invoice or order reference: the chain gets only its hash, which the payee "
             "recomputes from its own invoice numbers."),
    currency: str = CurrencyOption,
    password: str | None = PasswordOption,
    node: str = NodeOption,
) -> None:
    """Pay another account from the keystore's account and wait until the ledger executes it;
    print the split between nantie and crédit mutualisé. Exits 1 with the reason code when the
    ledger refuses (insufficient_funds, payee_not_active...). The memo is sealed to the payee's
    key, never written in clear on the shared chain.

    Example: lien pay --keystore camille.json --to K7QM-3XZ9-WT42 --amount 12,50 --memo pain
    """
    payee = _account(to)
    minor = _amount(amount)
    options: dict[str, Any] = {}
    if nantie is not None:
        options["nantie"] = _amount(nantie, "nantie", zero_ok=True)
        if options["nantie"] > minor:
            fail(EXIT_USAGE, "nantie: larger than the amount")
    _memo_fits(memo)
    if reference:
        options["reference"] = memos.reference_hash(payee, reference)
    code = currency.upper()
    member = _unlock(keystore_file, password)
    with _node(node) as client:
        if memo:
            options["memo"] = _sealed_memo(client, member, payee, memo)
        maker = TxMaker(client.chain_id(), wall_clock_ms)
        tx = _sign(maker, member, "transfer", **{"from": member.account}, to=payee,
                   currency=code, amount=minor, **options)
        status = client.submit(tx)
    result = _executed(status)
    say(f"[green]Paiement exécuté[/green] : {format_amount(minor, code)} "
                  f"à {format_account_id(payee)}")
    say(f"  dont nantie {format_amount(int(result.get('nantie', 0)), code)}, "
                  f"crédit mutualisé {format_amount(int(result.get('credit', 0)), code)}")
    say(f"  {_where(status)}")


def _memo_fits(memo: str) -> None:
    size = len(unicodedata.normalize("NFC", memo).encode())
    if size > memos.text_bytes_max:
        fail(EXIT_USAGE, f"--memo: {memos.MemoTooLong(size)}")


def _account_keys(client: NodeClient, account_id: str) -> list[str] | None:
    """The owner keys of an account (hex), as the node knows them; None for no such account."""
    try:
        data = client.get(f"/accounts/{account_id}")
    except NodeRefused as exc:
        if exc.status == 404:
            return None
        raise
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise NodeUnreachable(f"unexpected answer for account {account_id}: no keys")
    return keys


def _sealed_memo(client: NodeClient, member: Member, payee: str, memo: str) -> str:
    """The memo box to the payee's first owner key (docs/protocol.md §15.3)."""
    keys = _account_keys(client, payee)
    if keys is None:
        fail(EXIT_REFUSED, f"refused by the ledger: {_described('unknown_account')}")
    try:
        return memos.encrypt(memo, bytes(member.key), keys[0])
    except memos.MemoError as exc:
        fail(EXIT_USAGE, f"--memo: cannot seal it to the payee's key: {exc}")


# -- lien balance / history ------------------------------------------------------------------------

def balance(
    account: str = typer.Argument(..., help="The account id (K7QM-3XZ9-WT42)."),
    node: str = NodeOption,
) -> None:
    """Show an account's balances in each currency: nantie, crédit mutualisé, its floor and
    ceiling, what it can spend, and its status.

    Example: lien balance K7QM-3XZ9-WT42
    """
    account_id = _account(account)
    with _node(node) as client:
        data = client.get(f"/accounts/{account_id}")
        rows = _answer(_balance_row, data.get("currencies") if isinstance(data, dict) else None)
    table = Table("devise", "nantie", "crédit mutualisé", "plancher", "plafond", "disponible",
                  "statut", title=f"Compte {format_account_id(account_id)} ({data.get('kind')})")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    say(table)
    if not rows:
        say("(membre d'aucune monnaie)")


def _answer(row: Callable[[Any], tuple[str, ...]], items: Any) -> list[tuple[str, ...]]:
    """Table rows from a list in a node's answer; an answer of another shape is not the API."""
    try:
        return [row(item) for item in items]
    except (AnswerInvalid, TypeError) as exc:  # TypeError: no list at all
        raise NodeUnreachable(f"unexpected answer from the node: {exc}") from None


def _balance_row(membership: Any) -> tuple[str, ...]:
    b = balance_for(membership)
    return (b.currency, format_amount(b.nantie_minor), format_amount(b.credit_minor),
            format_amount(b.floor_minor), format_amount(b.ceiling_minor),
            format_amount(b.spendable_minor), b.status_label)


def _history_items(client: NodeClient, account_id: str, wanted: int,
                   page_items: int) -> Iterator[dict[str, Any]]:
    """Up to ``wanted`` history items, newest first, following the ``next`` cursor."""
    before: int | None = None
    given = 0
    while given < wanted:
        params: dict[str, Any] = {"limit": min(page_items, wanted - given)}
        if before is not None:
            params["before"] = before
        page = client.get(f"/accounts/{account_id}/history", **params)
        items = page.get("items") if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise NodeUnreachable(f"unexpected answer for a history page: {page!r}")
        for item in items[: wanted - given]:
            yield item
            given += 1
        before = page.get("next")
        if before is None or not items:
            return


def history(
    account: str = typer.Argument(..., help="The account id (K7QM-3XZ9-WT42)."),
    limit: int = typer.Option(20, "--limit", min=1, max=history_items_max,
                              help="How many of the latest operations to show."),
    all_: bool = typer.Option(False, "--all",
                              help=f"Show the whole history (at most {history_items_max})."),
    page_size: int = typer.Option(history_page_items_max, "--page-size", min=1,
                                  max=history_page_items_max,
                                  help="Operations asked of the node per request."),
    keystore_file: Path | None = typer.Option(
        None, "--keystore", help="The account's keystore: to read its encrypted memos."),
    password: str | None = PasswordOption,
    node: str = NodeOption,
) -> None:
    """Show an account's latest operations, newest first: the amount from its point of view
    (French format), the other account, the ledger's result and the memo. An operation the
    ledger refused moved no money: it shows no amount, and why it was refused. Memos are
    encrypted for payer and payee: with the account's --keystore they are shown in clear,
    without it as "(mémo chiffré)".

    Example: lien history K7QM-3XZ9-WT42 --limit 50 --keystore camille.json
    """
    account_id = _account(account)
    reader = _unlock(keystore_file, password) if keystore_file is not None else None
    if reader is not None and reader.account != account_id:
        fail(EXIT_USAGE, f"{keystore_file} holds the key of {format_account_id(reader.account)}, "
                         f"not of {format_account_id(account_id)}")
    with _node(node) as client:
        items = _history_items(client, account_id, history_items_max if all_ else limit,
                               page_size)
        memo_of = _MemoReader(client, account_id, reader)
        rows = _answer(lambda item: _history_row(account_id, item, memo_of), items)
    table = Table("n°", "bloc", "opération", "montant", "autre compte", "résultat", "mémo",
                  title=f"Historique du compte {format_account_id(account_id)}")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    say(table)
    if not rows:
        say("(aucune opération)")


SEALED_MEMO = "(mémo chiffré)"
UNREADABLE_MEMO = "(mémo illisible)"


class _MemoReader:
    """The memo of a history item as its account reads it: opened with the account's key
    (``reader``) when it is a box, the payer's signature keys or the payee's account keys as
    the other side (docs/protocol.md §15.3); a clear memo (another wallet's) as it is."""

    def __init__(self, client: NodeClient, account_id: str, reader: Member | None) -> None:
        self.client, self.account_id, self.reader = client, account_id, reader
        self._keys: dict[str, list[str]] = {}

    def __call__(self, item: Any, memo: str) -> str:
        if not memos.is_box(memo):
            return memo
        if self.reader is None:
            return SEALED_MEMO
        tx = item["tx"]
        if tx["body"].get("to") == self.account_id:
            others = [s.get("key", "") for s in tx.get("signatures", []) if isinstance(s, dict)]
        else:
            payee = str(tx["body"].get("to"))
            if payee not in self._keys:
                self._keys[payee] = _account_keys(self.client, payee) or []
            others = self._keys[payee]
        try:
            return memos.decrypt_any(memo, bytes(self.reader.key), others)
        except memos.MemoError:
            return UNREADABLE_MEMO


def _history_row(account_id: str, item: Any,
                 memo_of: Callable[[Any, str], str]) -> tuple[str, ...]:
    e = entry_for(account_id, item)
    return (str(e.seq), str(e.height), e.label, amount_text(e.amount_minor, e.currency),
            format_account_id(e.counterpart) if e.counterpart else "", e.outcome,
            memo_of(item, e.memo))


# -- lien receipt ----------------------------------------------------------------------------------

receipt_app = typer.Typer(help="Receipts: proof that a transaction executed, checkable offline.",
                          no_args_is_help=True)


@receipt_app.command("get")
def receipt_get(
    tx_id: str = typer.Argument(..., help="The transaction id (64 hex digits)."),
    out: Path = typer.Option(..., "--out", help="The file to write (never overwritten)."),
    node: str = NodeOption,
) -> None:
    """Fetch the receipt of an executed transaction from a node: the signed transaction, its
    result, the Merkle proof and the validators' signatures of its block.

    Example: lien receipt get 3f9a0c…e2 --out receipt.json
    """
    tx_id = _tx_id(tx_id)
    if out.exists():
        fail(EXIT_USAGE, f"{out} already exists")
    with _node(node) as client:
        receipt = client.get(f"/transactions/{tx_id}/receipt")
    try:
        with out.open("x") as f:
            json.dump(receipt, f, ensure_ascii=False, indent=2)
            f.write("\n")
    except OSError as exc:
        fail(EXIT_USAGE, f"cannot write {out}: {exc.strerror}")
    say(f"Reçu de la transaction {tx_id} écrit dans {escape(str(out))} — "
                  f"vérifiable hors ligne : `lien receipt verify {escape(str(out))} "
                  "--genesis genesis.json`")


@receipt_app.command("verify")
def receipt_verify(
    file: Path = typer.Argument(..., help="The receipt file (see `lien receipt get`)."),
    genesis: Path | None = typer.Option(
        None, "--genesis",
        help="The chain's genesis.json: trust only its validators and chain id. Without it the "
             "receipt is checked only against the validators it names itself."),
) -> None:
    """Check a receipt offline: the transaction's signatures, its inclusion in the block (Merkle
    proof), and that more than 2/3 of the validators signed the block. Exits 3 naming the
    failed check.

    Example: lien receipt verify receipt.json --genesis var/demo/genesis.json
    """
    from ..chain import ReceiptInvalid, verify_receipt
    from ..ledger import parse_tx

    receipt = _read_json(file, "receipt")
    trusted: ChainConfig | None = None
    if genesis is not None:
        try:
            trusted = ChainConfig.from_json(_read_json(genesis, "genesis document"))
        except GenesisInvalid as exc:
            fail(EXIT_USAGE, f"{genesis} is not a valid genesis document: {exc}")
    try:
        header = verify_receipt(receipt, trusted.validators if trusted else None)
    except ReceiptInvalid as exc:
        fail(EXIT_VERIFY, f"receipt invalid: {exc}")
    if trusted is not None and header.chain != trusted.chain_id:
        fail(EXIT_VERIFY, f"receipt invalid: its chain {header.chain!r} is not the trusted "
                          f"genesis' {trusted.chain_id!r}")
    tx = parse_tx(receipt["tx"])
    result = receipt["result"]
    code = result.get("code") if isinstance(result, dict) else result
    say(f"[green]valide[/green] : transaction {tx.id} ({tx.type}), résultat "
                  f"{escape(str(code))}, bloc {header.height} de la chaîne {header.chain}")
    if trusted is None:
        say("[yellow]attention[/yellow] : validateurs non comparés à une genèse de "
                      "confiance (ajoutez --genesis DIR/genesis.json)")


# -- registration ----------------------------------------------------------------------------------

COMMANDS = (pay, balance, history)
GROUPS = (("keys", keys_app), ("account", account_app), ("receipt", receipt_app))


def register(app: typer.Typer) -> None:
    """Add the wallet's commands and groups to the ``lien`` app."""
    for command in COMMANDS:
        app.command()(command)
    for name, group in GROUPS:
        app.add_typer(group, name=name)


__all__ = ["NodeClient", "NodeError", "NodeRefused", "NodeUnreachable", "register"]
