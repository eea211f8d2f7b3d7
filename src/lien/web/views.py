"""JSON views of the store's records: pure functions, integers for amounts, never floats.

Every amount is an integer of minor units named ``*_minor``, with a ``*_text`` twin formatted
the French way (``1 234,56 LIEN``, narrow no-break space for thousands) for display only.
"""

from __future__ import annotations

from typing import Any

from ..ledger import Account, Membership, format_account_id, format_amount
from ..store.store import RawTx, StoredBlock, StoredTx

_AMOUNTS = ("nantie", "credit", "floor", "ceiling")


def amount(name: str, value: int, code: str) -> dict[str, Any]:
    return {f"{name}_minor": value, f"{name}_text": format_amount(value, code)}


def membership(m: Membership) -> dict[str, Any]:
    data: dict[str, Any] = {"currency": m.currency, "status": m.status, "roles": list(m.roles)}
    for name in _AMOUNTS:
        data.update(amount(name, getattr(m, name), m.currency))
    # What the member can see as "my balance": both units together.
    data.update(amount("balance", m.nantie + m.credit, m.currency))
    return data


def account(a: Account, memberships: list[Membership]) -> dict[str, Any]:
    recovery = None
    if a.recovery is not None:
        recovery = {"key": a.recovery.key, "currency": a.recovery.currency,
                    "effective_ms": a.recovery.effective_ms}
    return {
        "id": a.id,
        "display": format_account_id(a.id),
        "kind": a.kind,
        "keys": list(a.keys),
        "delegations": [
            {"key": key, "currency": d.currency,
             "cap_per_payment_minor": d.cap_per_payment_minor,
             "cap_total_minor": d.cap_total_minor, "spent_minor": d.spent_minor}
            for key, d in sorted(a.delegations.items())
        ],
        "recovery": recovery,
        "currencies": [membership(m) for m in memberships],
    }


def history_item(stored: StoredTx) -> dict[str, Any]:
    return {
        "seq": stored.seq,
        "height": stored.height,
        "id": stored.tx.id,
        "type": stored.tx.type,
        "tx": stored.tx.to_json(),
        "result": stored.result,
    }


def block(stored: StoredBlock, final: bool) -> dict[str, Any]:
    """A block; ``final`` comes from the node, which knows its finality height."""
    header = stored.header
    return {
        "height": header.height,
        "hash": header.hash,
        "header": header.to_json(),
        "signatures": [{"key": k, "sig": s.hex()} for k, s in sorted(stored.signatures.items())],
        "final": final,
        "first_seq": stored.first_seq,
    }


def certified_block(stored: StoredBlock, raws: list[RawTx]) -> dict[str, Any]:
    """A final block whole, for replication: its transactions and results as the exact
    canonical JSON texts the node stores (a peer hashes the same bytes)."""
    header = stored.header
    return {
        "height": header.height,
        "hash": header.hash,
        "header": header.to_json(),
        "signatures": [{"key": k, "sig": s.hex()} for k, s in sorted(stored.signatures.items())],
        "log_position": stored.log_position,
        "transactions": [{"tx": raw.envelope().decode(), "result": raw.result} for raw in raws],
    }
