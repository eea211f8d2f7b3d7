"""Genesis and signing helpers shared by the CLI, the demo, the benchmarks and the tests.

``Member`` is a key with its account id; ``TxMaker`` fills the common fields of a body (chain,
expiry, a fresh nonce) and signs. ``make_genesis`` writes the genesis document and the
bootstrap transactions of a chain with one currency: governors create it with its admins, its
association account and its comptoir (issuer).
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from ..ledger import ChainConfig, Tx, account_id_for_key, sign_body

DEFAULT_POLICY = {
    "name": "Le LIEN",
    "reconversion_fee_bp": 500,
    "admin_quorum": 2,
    "issue_quorum_above_minor": 500_000,
    "limit_quorum_above_minor": 100_000,
    "credit_floor_default_minor": -20_000,
    "credit_ceiling_default_minor": 200_000,
    "recovery_delay_ms": 48 * 3600 * 1000,
}


@dataclass(frozen=True)
class Member:
    key: nacl.signing.SigningKey
    kind: str = "personal"
    name: str = ""

    @classmethod
    def new(cls, kind: str = "personal", name: str = "") -> Member:
        return cls(nacl.signing.SigningKey.generate(), kind, name)

    @classmethod
    def from_seed(cls, seed: bytes, kind: str = "personal", name: str = "") -> Member:
        return cls(nacl.signing.SigningKey(seed), kind, name)

    @property
    def public_key(self) -> str:
        return bytes(self.key.verify_key).hex()

    @property
    def account(self) -> str:
        return account_id_for_key(bytes(self.key.verify_key))


@dataclass
class TxMaker:
    """Builds signed transactions for one chain. ``clock`` gives ms since the epoch."""

    chain_id: str
    clock: Callable[[], int]
    expiry_ms: int = 10 * 60 * 1000
    nonces: Iterable[str] = field(default_factory=lambda: (secrets.token_hex(8) for _ in itertools.count()))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def body(self, type_: str, **fields: Any) -> dict[str, Any]:
        with self._lock:  # one maker may serve several threads
            nonce = next(iter(self.nonces))
        return {
            "chain": self.chain_id,
            "type": type_,
            "expires": self.clock() + self.expiry_ms,
            "nonce": nonce,
            **fields,
        }

    def make(self, signers: Sequence[Member], type_: str, **fields: Any) -> Tx:
        return sign_body(self.body(type_, **fields), [m.key for m in signers])

    # -- the common transactions, named as a member would say them -----------------------------
    def open(self, member: Member, currency: str | None = "LIEN") -> Tx:
        fields: dict[str, Any] = {"account": member.account, "key": member.public_key,
                                  "kind": member.kind}
        if currency:
            fields["currency"] = currency
        return self.make([member], "open_account", **fields)

    def approve(self, admin: Member, member: Member, currency: str = "LIEN") -> Tx:
        return self.make([admin], "set_status", by=admin.account, currency=currency,
                         account=member.account, status="active")

    def issue(self, issuers: Sequence[Member], to: Member, amount: int,
              currency: str = "LIEN", deposit_ref: str = "dépôt") -> Tx:
        return self.make(issuers, "issue", by=issuers[0].account, currency=currency,
                         to=to.account, amount=amount, deposit_ref=deposit_ref)

    def pay(self, payer: Member, payee: Member, amount: int, currency: str = "LIEN",
            **options: Any) -> Tx:
        return self.make([payer], "transfer", **{"from": payer.account}, to=payee.account,
                         currency=currency, amount=amount, **options)


@dataclass
class Genesis:
    config: ChainConfig
    governor: Member
    validator: nacl.signing.SigningKey
    admins: list[Member]
    association: Member
    comptoir: Member
    bootstrap: list[Tx]


def make_genesis(
    chain_id: str,
    time_ms: int,
    *,
    currency: str = "LIEN",
    policy: dict[str, Any] | None = None,
    admin_count: int = 2,
    validator: nacl.signing.SigningKey | None = None,
) -> Genesis:
    """A new chain with one currency, its admins, association and comptoir, all active."""
    governor = Member.new("association", "governor")
    validator = validator or nacl.signing.SigningKey.generate()
    config = ChainConfig(
        chain_id=chain_id,
        genesis_time_ms=time_ms,
        validators=(bytes(validator.verify_key).hex(),),
        governors=(governor.public_key,),
        governor_quorum=1,
    )
    admins = [Member.new("association", f"admin {i + 1}") for i in range(admin_count)]
    association = Member.new("association", "association")
    comptoir = Member.new("comptoir", "comptoir")
    maker = TxMaker(chain_id, lambda: time_ms)
    full_policy = {**DEFAULT_POLICY, **(policy or {}), "association": association.account}
    bootstrap = [maker.open(m, currency=None) for m in (*admins, association, comptoir)]
    bootstrap.append(
        maker.make(
            [governor],
            "create_currency",
            code=currency,
            policy=full_policy,
            admins=[a.account for a in admins],
            issuers=[comptoir.account],
        )
    )
    return Genesis(config, governor, validator, admins, association, comptoir, bootstrap)
