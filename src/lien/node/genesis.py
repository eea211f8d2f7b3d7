"""Genesis: the first document and transactions of a chain, and the founding of a currency.

``make_genesis`` writes the genesis document and the bootstrap transactions of a chain with one
currency. ``found_currency`` is how any currency is founded, the first one and any later one on
the same chain (the demo's second currency, ``lien.node.setup.make_demo``): its own admins, its
association account and its comptoir (issuer) open their accounts, then governors create the
currency naming them. The keys are ``lien.wallet.Member``s, signed for by
``lien.wallet.TxMaker`` as any wallet signs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nacl.signing

from ..ledger import ChainConfig, Tx
from ..ledger.crypto import new_signing_key, public_key_hex
from ..wallet import Member, TxMaker

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


@dataclass
class Founders:
    """The founding accounts of one currency, its own: no other currency's admins or issuers
    have any power in it (docs/protocol.md §7, "Several currencies on one chain")."""

    code: str
    admins: list[Member]
    #: receives the reconversion fees (the policy's ``association``)
    association: Member
    #: the issuer
    comptoir: Member
    #: the founding transactions, in order: the openings (no currency), then ``create_currency``
    txs: list[Tx]


def found_currency(
    maker: TxMaker,
    governors: Sequence[Member],
    code: str,
    *,
    policy: dict[str, Any] | None = None,
    admin_count: int = 2,
    label: str = "",
) -> Founders:
    """New keys for the admins, association and comptoir of currency ``code``, and the
    transactions that open their accounts and create it, signed by ``governors`` (at least
    the chain's ``governor_quorum`` of them). ``policy`` overrides ``DEFAULT_POLICY`` (the
    association is always the new one); ``label`` begins the members' names (never on chain)."""
    prefix = f"{label} " if label else ""
    admins = [Member.new("association", f"{prefix}admin {i + 1}") for i in range(admin_count)]
    association = Member.new("association", f"{prefix}association")
    comptoir = Member.new("comptoir", f"{prefix}comptoir")
    full_policy = {**DEFAULT_POLICY, **(policy or {}), "association": association.account}
    txs = [maker.open(m, currency=None) for m in (*admins, association, comptoir)]
    txs.append(
        maker.make(
            list(governors),
            "create_currency",
            code=code,
            policy=full_policy,
            admins=[a.account for a in admins],
            issuers=[comptoir.account],
        )
    )
    return Founders(code, admins, association, comptoir, txs)


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
    name: str,
    time_ms: int,
    *,
    currency: str = "LIEN",
    policy: dict[str, Any] | None = None,
    admin_count: int = 2,
    validator: nacl.signing.SigningKey | None = None,
    validators: tuple[nacl.signing.SigningKey, ...] = (),
) -> Genesis:
    """A new chain with one currency, its admins, association and comptoir, all active.

    ``name`` is the human part of the chain id; the rest is derived from the genesis document,
    whose keys are new: every call makes a chain of its own. Raises ``GenesisInvalid`` for a
    name that is not one (``lien.ledger.fields.CHAIN_NAME_RE``). ``validators``: a federation's
    validator set (one key per association's node); ``validator`` is then the first."""
    governor = Member.new("association", "governor")
    validator = validators[0] if validators else (validator or new_signing_key())
    keys = validators or (validator,)
    config = ChainConfig.new(name, time_ms, validators=tuple(public_key_hex(k) for k in keys),
                             governors=(governor.public_key,), governor_quorum=1)
    maker = TxMaker(config.chain_id, lambda: time_ms)
    founders = found_currency(maker, [governor], currency, policy=policy,
                              admin_count=admin_count)
    return Genesis(config, governor, validator, founders.admins, founders.association,
                   founders.comptoir, founders.txs)
