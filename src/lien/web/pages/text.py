"""The words of the pages, in one place: each entry is its French text, then its English text.

One table keyed by message (not one dictionary per language) so that a message cannot exist in
one language and be missing in the other; French is the language of the association and the
default.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Lang = Literal["fr", "en"]
LANGS: tuple[Lang, ...] = ("fr", "en")


class Words(NamedTuple):
    fr: str
    en: str


TEXT: dict[str, Words] = {
    "title": Words("Nœud LIEN", "LIEN node"),
    "intro": Words("Ce nœud tient une copie complète du registre partagé de la monnaie locale.",
                   "This node holds a full copy of the local currency's shared ledger."),
    "chain": Words("Chaîne", "Chain"),
    "height": Words("Hauteur", "Height"),
    "accounts": Words("Comptes", "Accounts"),
    "status": Words("État", "Status"),
    "running": Words("en service", "running"),
    "loading": Words("en service, chargement des comptes : les paiements reçus seront exécutés "
                     "dans un instant", "running, loading the accounts: payments received will "
                     "execute in a moment"),
    "halted": Words("arrêté : incident à examiner", "halted: an incident to investigate"),
    "disk_full": Words("disque plein : paiements refusés jusqu'à ce que de la place soit libérée",
                       "disk full: payments refused until space is freed"),
    "currency": Words("Monnaie", "Currency"),
    "nantie": Words("Monnaie nantie en circulation", "Euro-backed money in circulation"),
    "issued": Words("émise", "issued"),
    "reconverted": Words("reconvertie", "reconverted"),
    "api": Words("API du nœud (documentation)", "Node API (documentation)"),
    "other_language": Words("English", "Français"),
}


def language(requested: str | None) -> Lang:
    """The page's language: English when asked for, French otherwise."""
    return "en" if requested == "en" else "fr"


def t(key: str, lang: Lang) -> str:
    """The text of ``key`` in ``lang``."""
    return getattr(TEXT[key], lang)  # type: ignore[no-any-return]
