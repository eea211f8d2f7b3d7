"""Creating and opening a node directory.

    DIR/node.toml       settings (chain id, database URL, validator key file; optionally the
                        API's rate limits, ``[limits]``); written last, so its presence means
                        the directory is complete
    DIR/genesis.json    the genesis document (share it with every node of the chain)
    DIR/validator.key   this node's validator seed (hex, mode 0600); during a key rotation, its
                        new seed on a second line (``lien.node.validators``)
    DIR/signing.json    the last height and block hash the validator signed (node.signing)
    DIR/node.db         the SQLite database (chain and state, node-local log, personal data);
                        its schema is upgraded when the node opens it (``Store.upgrade``)
    DIR/keys/*.json     encrypted keystores of the founding keys (governor, admins,
                        association, comptoir) and, with --demo, of the demo members and of
                        the founders of the demo's second currency (``solv-*.json``)
    DIR/demo.json       with --demo: the demo logins (names are node-local, never on chain)
                        and the second currency's founders and members
    DIR/web.secret      the node's secret for the members' wallet (hex, mode 0600): the fake
                        KDF salts that hide which e-mails have an account (``lien.members``)
    DIR/mail/           the e-mails to members, one .eml file each (node.toml's [mail] may
                        send them by SMTP instead)
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import tomllib
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import nacl.signing

from ..ledger import ChainConfig, Tx, limits
from ..ledger.crypto import signing_key_from_seed
from ..ledger.fields import CHAIN_NAME_RE
from ..ordering import OrderingLog
from ..store import Login, NodeStore, Profile, Store, StoreError
from ..wallet import Member, TxMaker, backup, keystore
from ..wallet import memo as memos
from .genesis import Founders, Genesis, found_currency, make_genesis
from .integrity import ChainDamaged, CheckReport, StartupCheck, quick_check
from .node import Node, NodeSettings, wall_clock_ms
from .signing import SigningRecord, SigningRefused

T = TypeVar("T")

DEMO_PASSWORD = "demo"
DEMO_EMAIL_DOMAIN = "demo.lelien.fr"
#: the node's secret for the members' wallet (``lien.members.node_secret`` reads it)
WEB_SECRET = "web.secret"
DEMO_KDF = {"name": "argon2id", "time_cost": 2, "memory_kib": 19456, "parallelism": 1}


class SetupError(Exception):
    """The directory is not a node, or already is one."""


#: Peers a node's ``[federation]`` table may list.
peers_max = 32
#: Longest peer URL.
peer_url_chars_max = 2000


def check_peer_url(url: str) -> None:
    """Raise SetupError unless ``url`` is the base URL of a node (``http(s)://host[:port]``,
    perhaps with a path prefix: the API is under ``URL/api/v1``)."""
    parts = urllib.parse.urlsplit(url)
    if (len(url) > peer_url_chars_max or parts.scheme not in ("http", "https")
            or not parts.hostname or parts.query or parts.fragment or not url.isprintable()
            or any(c.isspace() for c in url)):
        raise SetupError(f"peer {url!r} is not the base URL of a node, such as "
                         "http://node.example.org:8000")


@dataclass(frozen=True)
class NodeDir:
    path: Path

    @property
    def settings_file(self) -> Path:
        return self.path / "node.toml"

    def settings(self) -> dict[str, Any]:
        if not self.settings_file.exists():
            raise SetupError(f"{self.path} is not a node directory (run `lien init --dir {self.path}`)")
        with self.settings_file.open("rb") as f:
            return tomllib.load(f)

    def limits(self) -> dict[str, Any]:
        """The optional ``[limits]`` table: the API's rate limits (``lien.web.ratelimit``)."""
        table = self.settings().get("limits", {})
        if not isinstance(table, dict):
            raise SetupError(f"{self.settings_file}: limits must be a table ([limits])")
        return table

    @property
    def database_url(self) -> str:
        url = str(self.settings()["database"])
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            return f"sqlite:///{(self.path / url.removeprefix('sqlite:///')).resolve()}"
        return url

    @property
    def signing_record(self) -> Path:
        return self.path / "signing.json"

    @property
    def validator_key_file(self) -> Path | None:
        """None for a node that signs no block (one that joined a federation with ``lien
        join``: node.toml names no ``validator_key``)."""
        name = self.settings().get("validator_key")
        return None if name is None else self.path / str(name)

    def validator_keys(self) -> tuple[nacl.signing.SigningKey, ...]:
        """This validator's keys: one seed (hex) per line, the first the one it began with;
        a second during a key rotation (``lien.node.validators``); none for a node that
        signs no block."""
        path = self.validator_key_file
        if path is None:
            return ()
        lines = path.read_text().split()
        if not lines:
            raise SetupError(f"{path} holds no validator key")
        try:
            return tuple(signing_key_from_seed(bytes.fromhex(line)) for line in lines)
        except ValueError:
            raise SetupError(f"{path}: a line is not a 32-byte seed in hex") from None

    def validator_key(self) -> nacl.signing.SigningKey | None:
        keys = self.validator_keys()
        return keys[0] if keys else None

    def peers(self) -> list[str]:
        """The ``[federation]`` table's ``peers``: the base URLs of the nodes this node
        catches up from (``lien catch-up``), in the order they are tried; none by default."""
        return peers_from(self.settings(), self.settings_file)


def peers_from(settings: dict[str, Any], where: Path | str) -> list[str]:
    """The ``[federation]`` ``peers`` of node.toml's ``settings`` (read from ``where``),
    checked: at most ``peers_max`` http(s) URLs (``SetupError`` naming the fault)."""
    table = settings.get("federation", {})
    if not isinstance(table, dict):
        raise SetupError(f"{where}: federation must be a table ([federation])")
    peers = table.get("peers", [])
    if not isinstance(peers, list) or not all(isinstance(p, str) for p in peers):
        raise SetupError(f"{where}: [federation] peers must be a list of URLs")
    if len(peers) > peers_max:
        raise SetupError(f"{where}: more than peers_max ({peers_max}) peers")
    for peer in peers:
        check_peer_url(peer)
    return list(peers)


def open_store(path: Path) -> Store:
    """The node's store, its schema upgraded to this code's revision (``StoreError`` for a
    database without a chain, written by a newer lien, or whose genesis document is not valid:
    edited, or of a newer protocol)."""
    store = Store(NodeDir(path).database_url)
    try:
        store.upgrade()
        store.config()  # a genesis document this code accepts (StoreError naming the fault)
    except BaseException:
        store.dispose()
        raise
    return store


def open_node(path: Path, settings: NodeSettings | None = None,
              clock: Callable[[], int] = wall_clock_ms,
              load_in_background: bool = False,
              startup_check: StartupCheck | None = None,
              ordering: OrderingLog | None = None) -> Node:
    """The node of directory ``path``. ``startup_check``: first run ``integrity.quick_check``
    on its database and raise ``ChainDamaged`` (naming what failed) if it fails.
    ``ordering``: the log of a federation (``lien.federation``); the embedded log otherwise."""
    node_dir = NodeDir(path)
    store = open_store(path)
    try:
        if startup_check is not None:
            # On its own read-only connections, closed after: their page cache is not the node's.
            checked = Store(store.url, read_only=True)
            try:
                report = check_node(path, checked, startup_check)
            finally:
                checked.dispose()
            if not report.ok:
                raise ChainDamaged(f"the start-up check failed ({report.check}): "
                                   f"{report.problem}")
        keys = node_dir.validator_keys()
        first, more = (keys[0], list(keys[1:])) if keys else (None, [])
        return Node(store, validator_key=first, settings=settings,
                    clock=clock, signing_record=node_dir.signing_record,
                    load_in_background=load_in_background, ordering=ordering,
                    more_validator_keys=more, mirror=first is None and ordering is None)
    except SigningRefused as exc:
        store.dispose()
        raise SetupError(f"refusing to start: {exc}") from None
    except BaseException:
        store.dispose()
        raise


def check_node(path: Path, store: NodeStore, settings: StartupCheck | None = None
               ) -> CheckReport:
    """``integrity.quick_check`` of the node in ``path``, told what its validator signed."""
    node_dir = NodeDir(path)
    chain_id = str(node_dir.settings()["chain_id"])
    signed = SigningRecord(node_dir.signing_record, chain_id).last.height
    return quick_check(store, settings, signed_height=signed)


def check_signing_record(path: Path, height: int, block_hash: str,
                         rebuild: bool = False) -> bool:
    """For ``lien verify``: raise SetupError when the chain is behind what this node's
    validator signed (blocks lost), its last block is not the one signed, or the record is
    missing while the chain has blocks — unless ``rebuild``: a missing record is then written
    at the (verified) last block. True when it was. A node that signs no block (no
    ``validator_key``) keeps no record: nothing to check."""
    node_dir = NodeDir(path)
    if node_dir.settings().get("validator_key") is None:
        return False
    try:
        record = SigningRecord(node_dir.signing_record, str(node_dir.settings()["chain_id"]))
        if rebuild and not record.found and height > 0:
            record.rebuild(height, block_hash)
            return True
        record.check_database(height, block_hash)
    except SigningRefused as exc:
        raise SetupError(str(exc)) from None
    return False


def check_chain_name(name: str) -> None:
    """Raise SetupError unless ``name`` can begin a chain id (the genesis document's ``name``)."""
    if not CHAIN_NAME_RE.fullmatch(name):
        raise SetupError(f"--name {name!r} is not a chain name: 1 to {limits.chain_name_bytes_max}"
                         " of a-z, 0-9, '.' and '-', beginning with a letter or a digit")


def write_genesis(path: Path, config: ChainConfig) -> None:
    """``path``/genesis.json: the genesis document, to share with every node of the chain."""
    (path / "genesis.json").write_text(json.dumps(config.to_json(), indent=2) + "\n")


def write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def init_node(
    path: Path,
    *,
    name: str = "lien-local",
    password: str,
    database: str = "sqlite:///node.db",
    demo: bool = False,
    progress: Callable[[str], None] = lambda message: None,
    genesis: Genesis | None = None,
) -> dict[str, Any]:
    """Create a node directory with a new chain; returns what was created (for printing).

    The chain id is ``name`` followed by a digest of the new genesis document (new keys, the
    time): unique to this chain, so no transaction of another chain is valid on it.

    Atomic: the directory is built as a hidden sibling (``.NAME.init-*``) and renamed into
    place once complete, so an interrupted init (Ctrl-C, ``kill -9``, a full disk) leaves no
    half-made node; the next init removes such leftovers and starts again. ``genesis`` lets a
    caller that must hold the founding keys (benchmarks, tests) bring its own."""
    if genesis is None:
        check_chain_name(name)
        genesis = make_genesis(name, wall_clock_ms())
    chosen = genesis
    return build_directory(path, lambda building: _build_node(
        building, password=password, database=database, demo=demo, progress=progress,
        genesis=chosen))


def build_directory(path: Path, build: Callable[[Path], T]) -> T:
    """Make the node directory ``path`` with ``build(building)`` (which writes node.toml last)
    and return what it returns: built as a hidden sibling (``.NAME.init-*``) and renamed into
    place once complete, so an interrupted build leaves no half-made node; the next build
    removes such leftovers. ``init_node`` and ``lien join`` (``lien.federation.join``)."""
    node_dir = NodeDir(path)
    if node_dir.settings_file.exists():
        raise SetupError(f"{path} already holds a node")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise SetupError(f"{path} exists and is not a node directory: remove it or choose "
                         "another --dir")
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(f".{path.name}.init-*"):
        shutil.rmtree(leftover, ignore_errors=True)  # an interrupted init of this directory
    building = Path(tempfile.mkdtemp(prefix=f".{path.name}.init-", dir=path.parent))
    try:
        built = build(building)
        if path.exists():
            path.rmdir()  # empty, checked above
        os.rename(building, path)
        _fsync_directory(path.parent)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return built


def create_database(path: Path, database: str, config: ChainConfig) -> str:
    """Create the chain's database for the node directory ``path`` (a relative SQLite URL is
    under it) and record the genesis; returns its SQLAlchemy URL."""
    url = database
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{(path / url.removeprefix('sqlite:///')).resolve()}"
    store = Store(url)
    try:
        store.create(config)
    except StoreError as exc:  # a PostgreSQL database that already holds a chain
        raise SetupError(f"{exc}: drop and recreate that database, or choose another") from None
    finally:
        store.dispose()
    return url


def write_settings(path: Path, chain_id: str, database: str, *,
                   validator_key: str | None = None, peers: Sequence[str] = ()) -> None:
    """Write ``path``/node.toml: the last file of a node directory (its presence means the
    directory is complete). A node without ``validator_key`` signs no block; ``peers`` are
    the ``[federation]`` peers it catches up from."""
    lines = [f"chain_id = {_toml_string(chain_id)}", f"database = {_toml_string(database)}"]
    if validator_key is not None:
        lines.append(f"validator_key = {_toml_string(validator_key)}")
    if peers:
        lines += ["", "[federation]",
                  f"peers = [{', '.join(_toml_string(peer) for peer in peers)}]"]
    NodeDir(path).settings_file.write_text("\n".join(lines) + "\n")


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _fsync_directory(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _build_node(path: Path, *, password: str, database: str, demo: bool,
                progress: Callable[[str], None], genesis: Genesis) -> dict[str, Any]:
    """Everything of a node directory in ``path`` (a fresh, empty directory)."""
    node_dir = NodeDir(path)
    chain_id = genesis.config.chain_id
    write_genesis(path, genesis.config)
    write_secret(path / "validator.key", bytes(genesis.validator).hex())
    write_secret(path / WEB_SECRET, os.urandom(32).hex())
    url = create_database(path, database, genesis.config)
    node = Node(Store(url), validator_key=genesis.validator,
                signing_record=node_dir.signing_record)
    node.start()
    try:
        expect_ok(node.run(genesis.bootstrap), "genesis")
        kdf = DEMO_KDF if demo else None
        founders = {
            "governor": genesis.governor, "association": genesis.association,
            "comptoir": genesis.comptoir,
            **{f"admin-{i + 1}": a for i, a in enumerate(genesis.admins)},
        }
        pw = DEMO_PASSWORD if demo else password
        for name, member in founders.items():
            keystore.write(path / "keys" / f"{name}.json",
                           keystore.seal(member.key, pw, member.kind, kdf))
        created: dict[str, Any] = {
            "chain_id": chain_id,
            "founders": {name: m.account for name, m in founders.items()},
        }
        if demo:
            progress("demo members and history")
            created["demo"] = make_demo(node, genesis, path)
    finally:
        node.stop()
        node.store.dispose()
    write_settings(path, chain_id, database, validator_key="validator.key")
    return created


def expect_ok(statuses: list[Any], what: str) -> None:
    bad = [s for s in statuses if s.result is None or s.result["code"] != "ok"]
    if bad:
        raise SetupError(f"{what}: {bad[0].to_json()}")


DEMO_PEOPLE = [
    "Camille Martin", "Léa Bernard", "Hugo Thomas", "Chloé Petit", "Louis Robert",
    "Manon Richard", "Jules Durand", "Inès Dubois", "Arthur Moreau", "Zoé Laurent",
    "Nathan Simon", "Lina Michel",
]
DEMO_BUSINESSES = [
    "Boulangerie du Crêt de Roc", "Librairie Le Furet", "Épicerie Vrac & Co",
    "Café des Ursules", "Atelier Vélo Solidaire", "Maraîcher du Pilat",
]
DEMO_MEMOS = ["pain et viennoiseries", "livres", "légumes de saison", "café ☕", "réparation vélo",
              "panier AMAP", "cadeau", "remboursement", "facture n° {n}", ""]


#: The demo's second currency on the same chain (``make_demo``): a neighbour of the network
#: with its own admins, association and comptoir. Its code sorts after LIEN: the web wallet
#: serves the node's first currency by code (``NodeSummary.currencies[0]``).
DEMO_SECOND_CODE = "SOLV"
DEMO_SECOND_POLICY: dict[str, Any] = {
    "name": "Le Sol-Violette",
    "reconversion_fee_bp": 300,
    "credit_floor_default_minor": -10_000,
    "credit_ceiling_default_minor": 100_000,
}
#: Who joins it (indices in DEMO_PEOPLE and DEMO_BUSINESSES): they hold both currencies.
#: Not the first person, whose wallet the browser tests and screenshots show with LIEN alone.
DEMO_SECOND_PEOPLE = (1, 2, 7)
DEMO_SECOND_BUSINESSES = (3, 4)
DEMO_SECOND_MEMOS = ["café ☕", "réparation vélo", "goûter", "remboursement", ""]


DEMO_CATEGORIES = ["alimentation", "culture", "alimentation", "restauration", "mobilite",
                   "agriculture"]


def demo_email(name: str) -> str:
    """``Camille Martin`` -> ``camille.martin@demo.lelien.fr``."""
    import re
    import unicodedata

    plain = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return ".".join(re.findall(r"[a-z0-9]+", plain)) + "@" + DEMO_EMAIL_DOMAIN


def demo_siret(n: int) -> str:
    """A made-up SIRET with a right Luhn key (the 14th digit)."""
    body = f"9{n:08d}0001"
    for last in "0123456789":
        digits = [int(c) for c in reversed(body + last)]
        if sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
               for i, d in enumerate(digits)) % 10 == 0:
            return body + last
    raise AssertionError("unreachable")


def _demo_login(store: Store, m: Member, email: str, n: int) -> None:
    """The demo member's personal rows, as the web wallet's sign-up stores them: the login
    secret's argon2id hash and the seed sealed with the demo password's key (never the key)."""
    from argon2 import PasswordHasher

    params = backup.KdfParams.new()
    derived = backup.derive(DEMO_PASSWORD, params)
    now = wall_clock_ms()
    sealed = backup.seal(bytes(m.key), derived.kek, m.account)
    login = Login(m.account, email, m.kind, PasswordHasher().hash(derived.login_secret.hex()),
                  params.to_json(), sealed, m.public_key, now, "open")
    if m.kind == "business":
        shop = DEMO_BUSINESSES.index(m.name)
        profile = Profile(m.account, m.name, email, now, trading_name=m.name,
                          siret=demo_siret(n), category=DEMO_CATEGORIES[shop],
                          town="Saint-Étienne", address=f"{shop + 1} rue de la Demo",
                          description="Commerce de démonstration.", directory=True)
    else:
        profile = Profile(m.account, m.name, email, now)
    store.personal.add_member(login, profile)


def make_demo(node: Node, genesis: Genesis, path: Path, payments: int = 300) -> list[dict[str, str]]:
    """A second currency on the same chain (``found_demo_second_currency``); members,
    businesses and a few hundred payments in LIEN, reproducibly shuffled; then a few of them
    join the second currency too and pay in it (``demo_second_currency_members``). Returns
    the logins (``demo.json``'s members)."""
    # Founded first: the start-up check takes the transactions before a currency's creation
    # as concerning at least the accounts their stored history lists (node.integrity, "latest
    # history"), so a currency founded after the history would blind it there.
    second = found_demo_second_currency(node, genesis)
    rng = random.Random(42)
    maker = TxMaker(node.chain_id, wall_clock_ms)
    admins = genesis.admins
    people = [Member.new("personal", name) for name in DEMO_PEOPLE]
    shops = [Member.new("business", name) for name in DEMO_BUSINESSES]
    everyone = people + shops
    txs: list[Tx] = [maker.open(m) for m in everyone]
    txs += [maker.approve(admins[0], m) for m in everyone]
    txs += [
        maker.make(admins, "set_limits", by=admins[0].account, currency="LIEN",
                   account=shop.account, floor=-100_000, ceiling=1_000_000)
        for shop in shops
    ]
    txs += [maker.issue([genesis.comptoir], m, rng.randrange(5_000, 40_000, 500)) for m in people]
    txs += [maker.issue([genesis.comptoir], m, rng.randrange(20_000, 200_000, 1000)) for m in shops]
    expect_ok(node.run(txs), "demo members")
    history: list[Tx] = []
    for n in range(payments):
        payer = rng.choice(people) if rng.random() < 0.7 else rng.choice(shops)
        payee = rng.choice([m for m in (shops if rng.random() < 0.8 else everyone) if m != payer])
        memo = rng.choice(DEMO_MEMOS).format(n=n + 1)  # sealed: no memo in clear on chain
        options: dict[str, Any] = (
            {"memo": memos.encrypt(memo, bytes(payer.key), payee.public_key)} if memo else {})
        if payer.kind == "business" and payee.kind == "business":
            options["invoice_minor"] = rng.randrange(1_000, 50_000, 100)
        history.append(maker.pay(payer, payee, rng.randrange(100, 6_000, 10), **options))
    history += [
        maker.make([shop], "reconvert", account=shop.account, currency="LIEN",
                   amount=5_000, payout_ref=f"virement {i + 1}")
        for i, shop in enumerate(shops[:2])
    ]
    node.run(history)  # some payments are refused (not enough money): that is history too
    joined = demo_second_currency_members(node, second, people, shops)
    second_founders = _founders_by_name(second)
    for name, founder in second_founders.items():
        keystore.write(path / "keys" / f"{second.code.lower()}-{name}.json",
                       keystore.seal(founder.key, DEMO_PASSWORD, founder.kind, DEMO_KDF))
    logins = []
    for m in everyone:
        keystore.write(path / "keys" / f"{m.account}.json",
                       keystore.seal(m.key, DEMO_PASSWORD, m.kind, DEMO_KDF))
        email = demo_email(m.name)
        logins.append({"name": m.name, "kind": m.kind, "account": m.account, "email": email})
    if isinstance(node.store, Store):
        for i, m in enumerate(everyone):
            _demo_login(node.store, m, demo_email(m.name), i)
    currency = {"code": second.code, "name": DEMO_SECOND_POLICY["name"],
                "founders": {name: m.account for name, m in second_founders.items()},
                "members": [m.account for m in joined]}
    (path / "demo.json").write_text(
        json.dumps({"password": DEMO_PASSWORD, "members": logins, "second_currency": currency},
                   ensure_ascii=False, indent=2)
        + "\n"
    )
    return logins


def _founders_by_name(founders: Founders) -> dict[str, Member]:
    """``admin-1``, ``admin-2``..., ``association``, ``comptoir``: the keystores' names."""
    return {**{f"admin-{i + 1}": a for i, a in enumerate(founders.admins)},
            "association": founders.association, "comptoir": founders.comptoir}


def found_demo_second_currency(node: Node, genesis: Genesis) -> Founders:
    """The demo's second currency, SOLV (``DEMO_SECOND_CODE``), on the chain of the first.

    One chain serves several local currencies of the Mouvement SOL network (docs/protocol.md
    §7, "Several currencies on one chain"). The demo's second one is named after the
    Sol-Violette of Toulouse, a currency of that network. It is founded as any currency is
    (``found_currency``: the chain's governor creates it), with its own two admins,
    association and comptoir, none of them the first currency's: no admin of one currency has
    any power in the other."""
    maker = TxMaker(node.chain_id, wall_clock_ms)
    founders = found_currency(maker, [genesis.governor], DEMO_SECOND_CODE,
                              policy=DEMO_SECOND_POLICY, label=str(DEMO_SECOND_POLICY["name"]))
    expect_ok(node.run(founders.txs), f"currency {DEMO_SECOND_CODE}")
    return founders


def demo_second_currency_members(node: Node, founders: Founders, people: list[Member],
                                 shops: list[Member], payments: int = 40) -> list[Member]:
    """A few LIEN members (``DEMO_SECOND_PEOPLE``, ``DEMO_SECOND_BUSINESSES``) join the
    second currency (``join_currency``), its admin approves them and its comptoir issues to
    them, and they pay each other in it, reproducibly shuffled like the first currency's
    payments: each of them then holds both currencies, with balances of each. Returns them."""
    rng = random.Random(7)
    maker = TxMaker(node.chain_id, wall_clock_ms)
    code = founders.code
    joined_people = [people[i] for i in DEMO_SECOND_PEOPLE]
    joined_shops = [shops[i] for i in DEMO_SECOND_BUSINESSES]
    joined = joined_people + joined_shops
    admin, comptoir = founders.admins[0], founders.comptoir
    txs = [maker.make([m], "join_currency", account=m.account, currency=code) for m in joined]
    txs += [maker.approve(admin, m, currency=code) for m in joined]
    txs += [maker.issue([comptoir], m, rng.randrange(2_000, 15_000, 500), currency=code)
            for m in joined_people]
    txs += [maker.issue([comptoir], m, rng.randrange(10_000, 60_000, 1000), currency=code)
            for m in joined_shops]
    expect_ok(node.run(txs), f"{code} members")
    history: list[Tx] = []
    for _ in range(payments):
        payer = rng.choice(joined)
        payee = rng.choice([m for m in joined if m != payer])
        memo = rng.choice(DEMO_SECOND_MEMOS)  # sealed, as in the first currency
        options: dict[str, Any] = (
            {"memo": memos.encrypt(memo, bytes(payer.key), payee.public_key)} if memo else {})
        history.append(maker.pay(payer, payee, rng.randrange(100, 3_000, 10), currency=code,
                                 **options))
    history.append(maker.make([joined_shops[0]], "reconvert", account=joined_shops[0].account,
                              currency=code, amount=2_000, payout_ref="virement SOLV 1"))
    node.run(history)  # as in the first currency, a payment may be refused: history too
    return joined
