"""Signing as a wallet does it: a member's key, and bodies filled in and signed for one chain.

``Member`` is a key with its account id (and, for the demo and the tests, a kind and a
node-local name that never goes on chain). ``TxMaker`` fills the common fields of a body
(chain, expiry, a fresh nonce) and signs it with the members' keys; the key never leaves the
process that holds it, only the signed envelope does. Used by the CLI wallet, genesis, the
demo, the benchmarks and the tests alike, so that every client signs the same way.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from ..ledger import Tx, account_id_for_key, sign_body
from ..ledger.crypto import new_signing_key, public_key_hex, signing_key_from_seed

#: How long a transaction made here stays valid (the protocol allows up to
#: ``limits.expiry_window_ms_max``).
expiry_ms_default = 10 * 60 * 1000


@dataclass(frozen=True)
class Member:
    """A signing key with what a wallet says about it.

    ``key``: the Ed25519 signing key (secret). ``kind``: the kind of account it opens
    (``personal``, ``business``, ``association``, ``comptoir``). ``name``: a label for people,
    never sent to a node.
    """

    key: nacl.signing.SigningKey
    kind: str = "personal"
    name: str = ""

    @classmethod
    def new(cls, kind: str = "personal", name: str = "") -> Member:
        return cls(new_signing_key(), kind, name)

    @classmethod
    def from_seed(cls, seed: bytes, kind: str = "personal", name: str = "") -> Member:
        return cls(signing_key_from_seed(seed), kind, name)

    @property
    def public_key(self) -> str:
        return public_key_hex(self.key)

    @property
    def account(self) -> str:
        return account_id_for_key(bytes(self.key.verify_key))


@dataclass
class TxMaker:
    """Builds signed transactions for one chain. ``clock`` gives ms since the epoch (the test
    seam for expiry); ``nonces`` the nonce of each body (random by default)."""

    chain_id: str
    clock: Callable[[], int]
    expiry_ms: int = expiry_ms_default
    nonces: Iterable[str] = field(
        default_factory=lambda: (secrets.token_hex(8) for _ in itertools.count()))
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
        """The body of ``type_`` with ``fields``, signed by every one of ``signers``; raises
        the ledger's ``TxError`` when a field is not valid for the protocol."""
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

    def standing_order(self, payer: Member, payee: Member, amount: int, first_due_ms: int,
                       period: str = "monthly", currency: str = "LIEN", **options: Any) -> Tx:
        """A standing order (``count_max``, ``until_ms``, ``reference``, ``memo`` optional)."""
        return self.make([payer], "standing_order", **{"from": payer.account},
                         to=payee.account, currency=currency, amount=amount,
                         first_due_ms=first_due_ms, period=period, **options)

    def revoke_order(self, by: Member, order_id: str) -> Tx:
        return self.make([by], "revoke_standing_order", account=by.account, order=order_id)

    def set_validators(self, signers: Sequence[nacl.signing.SigningKey],
                       validators: Sequence[str]) -> Tx:
        """A change of the validator set to ``validators`` (hex public keys), signed with
        validators' own keys (``signers``), not with accounts' keys."""
        return sign_body(self.body("set_validators", validators=list(validators)), signers)

