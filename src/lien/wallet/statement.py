"""What a member reads about an account: its statement (relevé) and its balances, in words.

The node's API answers in the ledger's terms (a transaction body, its result, a membership);
a wallet shows them from one account's side: a payment is money out for its payer and money in
for its payee, a refused operation moved no money at all. That reading lives here, once, for
every wallet (the ``lien`` command now, the web wallet next)::

    entry_for(account_id, history_item, lang)  -> StatementEntry   one line of the relevé
    balance_for(membership, lang)              -> Balance          one currency of an account
    label(type, lang)                          the operation as a member names it
    status_label(status, lang)                 a membership status in words
    reason_text(code, lang)                    why the ledger refused, in words
    amount_text(amount_minor, currency, lang)  1 234,56 LIEN (French) / 1,234.56 LIEN

French first, English available (``lang="fr" | "en"``). A history item or membership that is
not the API's shape raises ``AnswerInvalid`` (a ``ValueError``): the caller asked something
that is not a LIEN node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..ledger import DESCRIPTIONS, TX_TYPES, Reason, format_amount

Lang = Literal["fr", "en"]
LANGS: tuple[Lang, ...] = ("fr", "en")

_STATUSES: dict[Lang, dict[str, str]] = {
    "fr": {"pending": "en attente", "active": "actif", "locked": "bloqué", "closed": "fermé"},
    "en": {"pending": "pending", "active": "active", "locked": "locked", "closed": "closed"},
}

#: Why the ledger refused, in French words; English uses the ledger's own descriptions.
_REASONS_FR: dict[Reason, str] = {
    Reason.MALFORMED: "transaction mal formée",
    Reason.UNKNOWN_TYPE: "type d'opération inconnu",
    Reason.BAD_FIELD: "champ invalide",
    Reason.AMOUNT_INVALID: "montant invalide",
    Reason.TOO_LARGE: "trop volumineux",
    Reason.BAD_SIGNATURE: "signature invalide",
    Reason.MISSING_SIGNATURE: "signature manquante",
    Reason.WRONG_CHAIN: "transaction d'une autre chaîne",
    Reason.EXPIRED: "transaction expirée",
    Reason.EXPIRY_TOO_FAR: "expiration trop lointaine",
    Reason.DUPLICATE: "transaction déjà soumise",
    Reason.UNKNOWN_SIGNER: "signée par une clé sans compte (ouvrez d'abord un compte)",
    Reason.SIGNER_NOT_ACTIVE: "compte non actif dans cette monnaie (en attente de validation, "
                              "bloqué ou fermé)",
    Reason.UNKNOWN_ACCOUNT: "compte inconnu",
    Reason.UNKNOWN_CURRENCY: "monnaie inconnue",
    Reason.ACCOUNT_EXISTS: "compte déjà ouvert",
    Reason.ACCOUNT_ID_MISMATCH: "numéro de compte ne correspondant pas à la clé",
    Reason.KEY_IN_USE: "clé déjà utilisée par un compte",
    Reason.NOT_MEMBER: "compte non adhérent à cette monnaie",
    Reason.ALREADY_MEMBER: "compte déjà adhérent à cette monnaie",
    Reason.ACCOUNT_NOT_ACTIVE: "compte non actif",
    Reason.PAYEE_NOT_ACTIVE: "compte du bénéficiaire non actif",
    Reason.NOT_AUTHORISED: "opération non autorisée",
    Reason.QUORUM_NOT_MET: "signatures d'admins insuffisantes (quorum)",
    Reason.QUORUM_IMPOSSIBLE: "laisserait moins d'admins que le quorum",
    Reason.INSUFFICIENT_FUNDS: "fonds insuffisants",
    Reason.BELOW_FLOOR: "plancher de crédit mutualisé dépassé",
    Reason.ABOVE_CEILING: "plafond de crédit mutualisé du bénéficiaire dépassé",
    Reason.SUPPLY_LIMIT: "émission maximale atteinte",
    Reason.DELEGATION_CAP: "plafond de la délégation dépassé",
    Reason.INVALID_TRANSITION: "changement de statut impossible",
    Reason.BALANCE_NOT_ZERO: "soldes non nuls",
    Reason.SAME_ACCOUNT: "payeur et bénéficiaire identiques",
    Reason.LIMITS_EXCLUDE_BALANCE: "limites excluant le solde actuel",
    Reason.CURRENCY_EXISTS: "monnaie déjà existante",
    Reason.WRONG_KIND: "type de compte non autorisé",
    Reason.LAST_KEY: "dernière clé du compte",
    Reason.KEYS_LIMIT: "trop de clés ou de délégations",
    Reason.UNKNOWN_KEY: "clé inconnue sur ce compte",
    Reason.NO_PENDING_RECOVERY: "aucune récupération de clé en cours",
    Reason.SYSTEM_TRANSACTION: "opération faite par le registre lui-même, jamais soumise",
    Reason.UNKNOWN_ORDER: "ordre permanent inconnu, révoqué ou terminé",
    Reason.ORDERS_LIMIT: "trop d'ordres permanents actifs sur ce compte",
    Reason.DUE_IN_PAST: "la première échéance est déjà passée",
    Reason.VALIDATORS_CHANGED: "ensemble de validateurs déjà changé dans ce bloc",
}
_REFUSED: dict[Lang, str] = {"fr": "refusé : ", "en": "refused: "}


class AnswerInvalid(ValueError):
    """A history item or membership that is not shaped as the LIEN API answers them."""


def label(type_: str, lang: Lang = "fr") -> str:
    """The operation ``type_`` as a member names it: the label its ledger unit declares (the
    type itself when unknown)."""
    return TX_TYPES.label(type_, lang)


def status_label(status: str, lang: Lang = "fr") -> str:
    """A membership status (``pending``, ``active``...) in words."""
    return _STATUSES[lang].get(status, status)


def reason_text(code: str, lang: Lang = "fr") -> str:
    """Why the ledger refused (``insufficient_funds`` → ``fonds insuffisants``); the code
    itself for a code this wallet does not know."""
    try:
        reason = Reason(code)
    except ValueError:
        return code
    if lang == "fr":
        return _REASONS_FR.get(reason, code)
    text = DESCRIPTIONS[reason].replace("`", "").rstrip(".")
    return text[:1].lower() + text[1:]


def outcome_text(code: str, lang: Lang = "fr") -> str:
    """``ok``, or ``refusé : fonds insuffisants`` for a refusal."""
    return code if code == Reason.OK else _REFUSED[lang] + reason_text(code, lang)


def amount_text(amount_minor: int | None, currency: str = "", lang: Lang = "fr") -> str:
    """``-12,50 LIEN`` (French), ``-12.50 LIEN`` (English); empty when no money moved."""
    return "" if amount_minor is None else format_amount(amount_minor, currency, lang)


@dataclass(frozen=True)
class StatementEntry:
    """One line of an account's statement, from that account's side.

    ``seq``/``height``: the transaction's place in the chain. ``type``: the protocol type;
    ``label``: its name for people. ``amount_minor``: what the account's balance gained
    (positive) or lost (negative), in minor units of ``currency``; ``None`` when no money moved
    for it (a refused operation, an administrative one, an issue seen by its issuer).
    ``counterpart``: the other account concerned, ``""`` if none. ``result``: the ledger's
    reason code (``ok`` when executed); ``refused``: it is not ``ok``; ``outcome``: the result
    in words (``refusé : fonds insuffisants``). ``memo``: the memo field as on chain: a box
    (``m1...``) that only payer and payee open with ``wallet.memo``, or clear text written by
    another client.
    """

    seq: int
    height: int
    type: str
    label: str
    amount_minor: int | None
    currency: str
    counterpart: str
    result: str
    refused: bool
    outcome: str
    memo: str


def entry_for(account_id: str, item: Any, lang: Lang = "fr") -> StatementEntry:
    """The statement line of a history item (``GET /accounts/{id}/history``'s
    ``{seq, height, tx, result}``) for ``account_id``."""
    try:
        body, result = item["tx"]["body"], item["result"]
        type_, code = _text(body["type"]), _text(result["code"])
        amount, counterpart = _money_and_counterpart(account_id, type_, body, result)
        refused = code != Reason.OK
        return StatementEntry(
            seq=_int(item["seq"]),
            height=_int(item["height"]),
            type=type_,
            label=label(type_, lang),
            amount_minor=None if refused else amount,
            currency=_text(body.get("currency", "")),
            counterpart=counterpart,
            result=code,
            refused=refused,
            outcome=outcome_text(code, lang),
            memo=_text(body.get("memo", "")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnswerInvalid(f"not a history item ({_why(exc)})") from None


def _money_and_counterpart(account_id: str, type_: str, body: dict[str, Any],
                           result: dict[str, Any]) -> tuple[int | None, str]:
    """What ``account_id``'s balance gains or loses were the operation executed, and the
    other account concerned."""
    if type_ in ("transfer", "order_run"):  # a run pays like a transfer, under the order
        if body["from"] == account_id:
            return -_int(body["amount"]), _text(body["to"])
        if body["to"] == account_id:
            return _int(body["amount"]), _text(body["from"])
        return None, ""
    if type_ == "issue":
        if body["to"] == account_id:
            return _int(body["amount"]), _text(body["by"])
        return None, _text(body["to"])  # the issuer's own balance does not move
    if type_ == "reconvert":
        if body["account"] == account_id:
            return -_int(body["amount"]), ""  # paid out in euros, outside the ledger
        fee = result.get("fee")  # the association's side: it receives the fee
        return (_int(fee) if fee is not None else None), _text(body["account"])
    if type_ in ("request_payment", "decline_request", "standing_order"):  # no money moves yet
        return None, _text(body["to"] if body["from"] == account_id else body["from"])
    others = (body[f] for f in ("by", "account") if f in body and body[f] != account_id)
    return None, _text(next(others, ""))


@dataclass(frozen=True)
class Balance:
    """One currency of an account, as ``GET /accounts/{id}`` gives it, with what it can spend.

    ``nantie_minor`` (euro-backed, never negative), ``credit_minor`` (mutual credit, between
    ``floor_minor`` ≤ 0 and ``ceiling_minor`` ≥ 0). ``spendable_minor`` = nantie + credit −
    floor: the largest payment the ledger would accept now. ``status`` and its words
    ``status_label``.
    """

    currency: str
    nantie_minor: int
    credit_minor: int
    floor_minor: int
    ceiling_minor: int
    spendable_minor: int
    status: str
    status_label: str


def balance_for(membership: Any, lang: Lang = "fr") -> Balance:
    """The ``Balance`` of one item of an account's ``currencies``."""
    try:
        nantie, credit = _int(membership["nantie_minor"]), _int(membership["credit_minor"])
        floor, status = _int(membership["floor_minor"]), _text(membership["status"])
        return Balance(
            currency=_text(membership["currency"]),
            nantie_minor=nantie,
            credit_minor=credit,
            floor_minor=floor,
            ceiling_minor=_int(membership["ceiling_minor"]),
            spendable_minor=nantie + credit - floor,
            status=status,
            status_label=status_label(status, lang),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnswerInvalid(f"not a membership ({_why(exc)})") from None


def _why(exc: Exception) -> str:
    return f"no {exc}" if isinstance(exc, KeyError) else str(exc)


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"an integer, not {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a text, not {value!r}")
    return value
