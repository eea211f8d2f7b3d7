"""Payment requests as a wallet reads them from one account's history.

A ``request_payment`` moves no money and leaves no ledger state: its status is derived here,
the same way on every node of a federation, from the history of either party (every item
below names both accounts, so both histories hold them all). docs/protocol.md, "Payment
requests"::

    paid      an executed (``ok``) transfer names the request in ``request``, with the
              request's ``from``, ``to``, ``currency`` and ``amount``
    declined  else, an executed ``decline_request`` by the asked payer names it
    expired   else, the request's ``expires`` is at or before ``now_ms``
    open      else

A request the ledger refused is no request: it is left out. Items are the API's history items
(``{seq, height, id, tx: {body, signatures}, result}``), newest first or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["open", "paid", "declined", "expired"]
Role = Literal["payer", "payee"]


@dataclass(frozen=True)
class PaymentRequest:
    """One request seen from ``account``'s side.

    ``id``: the request's transaction id. ``payer`` (the body's ``from``, asked to pay) and
    ``payee`` (``to``, who asks and signed). ``role``: which of the two the viewing account is.
    ``amount_minor`` in ``currency``; ``reference`` (a hash, section 15.4) and ``memo`` (a
    sealed box, section 15.3) as on chain, ``""`` when absent; ``payee_key``: the key that
    signed the request (the payer opens the memo with it). ``expires_ms``: the end of its
    validity. ``settled_by``: the id of the transfer that paid it or of the decline, else ``""``.
    ``refused_payments``: how many transfers naming it the ledger refused (the wallet's next
    attempt takes a new nonce, docs/protocol.md "Payment requests").
    """

    id: str
    seq: int
    payer: str
    payee: str
    role: Role
    currency: str
    amount_minor: int
    reference: str
    memo: str
    payee_key: str
    expires_ms: int
    status: Status
    settled_by: str
    refused_payments: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "seq": self.seq, "from": self.payer, "to": self.payee,
            "role": self.role, "currency": self.currency, "amount_minor": self.amount_minor,
            "reference": self.reference, "memo": self.memo, "payee_key": self.payee_key,
            "expires_ms": self.expires_ms, "status": self.status, "settled_by": self.settled_by,
            "refused_payments": self.refused_payments,
        }


def _ok(item: Any) -> bool:
    return bool(item.get("result", {}).get("code") == "ok")


def requests_of(account: str, items: Iterable[Any], now_ms: int) -> list[PaymentRequest]:
    """The requests in ``items`` where ``account`` is payer or payee, newest first."""
    asked: list[Any] = []
    paid: dict[str, list[tuple[dict[str, Any], str]]] = {}
    declined: dict[str, list[tuple[dict[str, Any], str]]] = {}
    refused: dict[str, int] = {}
    for item in items:
        body = item["tx"]["body"]
        kind = body.get("type")
        if not _ok(item):
            if kind == "transfer" and "request" in body:
                refused[body["request"]] = refused.get(body["request"], 0) + 1
            continue
        if kind == "request_payment" and account in (body["from"], body["to"]):
            asked.append(item)
        elif kind == "transfer" and "request" in body:
            paid.setdefault(body["request"], []).append((body, item["id"]))
        elif kind == "decline_request":
            declined.setdefault(body["request"], []).append((body, item["id"]))
    found = []
    for item in sorted(asked, key=lambda i: -int(i["seq"])):
        body = item["tx"]["body"]
        parties = (body["from"], body["to"], body["currency"])

        def matches(other: dict[str, Any], parties: tuple[str, str, str] = parties,
                    amount: int = body["amount"]) -> bool:
            return ((other["from"], other["to"], other["currency"]) == parties
                    and ("amount" not in other or other["amount"] == amount))

        status: Status = "open"
        settled = ""
        pay = next((i for b, i in paid.get(item["id"], []) if matches(b)), None)
        decline = next((i for b, i in declined.get(item["id"], []) if matches(b)), None)
        if pay is not None:
            status, settled = "paid", pay
        elif decline is not None:
            status, settled = "declined", decline
        elif body["expires"] <= now_ms:
            status = "expired"
        signatures = item["tx"].get("signatures") or [{}]
        found.append(PaymentRequest(
            id=item["id"], seq=int(item["seq"]), payer=body["from"], payee=body["to"],
            role="payer" if body["from"] == account else "payee", currency=body["currency"],
            amount_minor=int(body["amount"]), reference=body.get("reference", ""),
            memo=body.get("memo", ""), payee_key=str(signatures[0].get("key", "")),
            expires_ms=int(body["expires"]), status=status, settled_by=settled,
            refused_payments=refused.get(item["id"], 0)))
    return found
