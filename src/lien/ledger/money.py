"""Money: integer minor units (centimes) in two units per currency. Never floats.

* ``nantie`` — euro-backed (monnaie nantie): issued at a comptoir against euros, destroyed by
  reconversion. Never negative.
* ``credit`` — crédit mutualisé: created by payments between members; each balance stays within
  its floor (≤ 0) and ceiling (≥ 0); the sum over all accounts of a currency is always zero.
"""

from __future__ import annotations

UNITS = ("nantie", "credit")
MINOR_PER_MAJOR = 100


def format_amount(amount_minor: int, code: str = "", locale: str = "fr") -> str:
    """French by default: ``123456`` → ``1 234,56 LIEN`` (narrow no-break space for thousands).

    English: ``1,234.56 LIEN``. Pure integer arithmetic: no float ever touches an amount.
    """
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool):
        raise TypeError("amounts are integers of minor units")
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), MINOR_PER_MAJOR)
    group, decimal = ("\u202f", ",") if locale == "fr" else (",", ".")
    digits = f"{major:,}".replace(",", group)
    text = f"{sign}{digits}{decimal}{minor:02d}"
    return f"{text} {code}" if code else text


def parse_amount(text: str) -> int:
    """``"12,50"``, ``"12.5"`` or ``"1 234,56"`` → minor units; raises ValueError otherwise."""
    cleaned = text.strip().replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
    cleaned = cleaned.replace(",", ".")
    negative = cleaned.startswith("-")
    if cleaned[:1] in ("+", "-"):
        cleaned = cleaned[1:]  # one sign at most: "--5" and "+-5" are typos, not amounts
    if not cleaned.isascii():
        raise ValueError(f"{text!r} is not an amount")
    major, _, minor = cleaned.partition(".")
    if not major.isdigit() and not (major == "" and minor.isdigit()):
        raise ValueError(f"{text!r} is not an amount")
    if minor and (not minor.isdigit() or len(minor) > 2):
        raise ValueError(f"{text!r}: at most two decimals")
    value = int(major or "0") * MINOR_PER_MAJOR + int((minor or "0").ljust(2, "0"))
    return -value if negative else value
