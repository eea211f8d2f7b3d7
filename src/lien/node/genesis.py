"""Genesis: the first document and transactions of a chain.

``make_genesis`` writes the genesis document and the bootstrap transactions of a chain with one
currency: governors create it with its admins, its association account and its comptoir
(issuer). The keys are ``lien.wallet.Member``s, signed for by ``lien.wallet.TxMaker`` as any
wallet signs.
"""

from __future__ import annotations

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
    admins = [Member.new("association", f"admin {i + 1}") for i in range(admin_count)]
    association = Member.new("association", "association")
    comptoir = Member.new("comptoir", "comptoir")
    maker = TxMaker(config.chain_id, lambda: time_ms)
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
