"""Money: integer minor units (centimes) in two units per currency. Never floats.

* ``nantie`` — euro-backed (monnaie nantie): issued at a comptoir against euros, destroyed by
  reconversion. Never negative.
* ``credit`` — crédit mutualisé: created by payments between members; each balance stays within
  its floor (≤ 0) and ceiling (≥ 0); the sum over all accounts of a currency is always zero.
"""

from __future__ import annotations

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
    """Text a person typed → minor units; raises ValueError for anything else.

    French and English writing both work: ``"12,50"``, ``"12.5"``, ``"1 234,56"`` (spaces,
    no-break or narrow no-break spaces group thousands), ``"1,234.56"``, ``"1.234,56"``,
    ``"1,234,567"``. The rules, so that no typo becomes another amount:

    * with both ``,`` and ``.``, the last one is the decimal mark and the other groups
      thousands;
    * a mark that appears several times groups thousands;
    * a mark that appears once is the decimal mark (at most two decimals), except when exactly
      three digits follow it: ``"1,234"`` is 1234 in English and 1,234 in French, so it is
      refused as ambiguous rather than guessed;
    * thousands groups are 3 digits (the first 1 to 3).
    """
    cleaned = text.strip()
    for space in ("\u202f", "\u00a0", " "):
        cleaned = cleaned.replace(space, "")
    negative = cleaned.startswith("-")
    if cleaned[:1] in ("+", "-"):
        cleaned = cleaned[1:]  # one sign at most: "--5" and "+-5" are typos, not amounts
    if not cleaned.isascii():
        raise ValueError(f"{text!r} is not an amount")
    major, minor = _split_decimal(text, cleaned)
    if not major.isdigit() and not (major == "" and minor.isdigit()):
        raise ValueError(f"{text!r} is not an amount")
    if minor and (not minor.isdigit() or len(minor) > 2):
        raise ValueError(f"{text!r}: at most two decimals")
    value = int(major or "0") * MINOR_PER_MAJOR + int((minor or "0").ljust(2, "0"))
    return -value if negative else value


def _split_decimal(text: str, cleaned: str) -> tuple[str, str]:
    """(major digits without thousands marks, decimals) of an unsigned amount."""
    marks = [c for c in cleaned if c in ",."]
    if not marks:
        return cleaned, ""
    if len(set(marks)) == 2:
        decimal = marks[-1]
        if marks.count(decimal) > 1:
            raise ValueError(f"{text!r} is not an amount")
        major, _, minor = cleaned.rpartition(decimal)
        return _ungroup(text, major, marks[0]), minor
    mark = marks[0]
    if len(marks) > 1:
        return _ungroup(text, cleaned, mark), ""
    major, _, minor = cleaned.partition(mark)
    if len(minor) == 3 and major:
        raise ValueError(
            f"{text!r} is ambiguous: write {major}{minor} for thousands, or at most two decimals"
        )
    return major, minor


def _ungroup(text: str, digits: str, mark: str) -> str:
    groups = digits.split(mark)
    if not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:]):
        raise ValueError(f"{text!r}: thousands are grouped by three")
    return "".join(groups)
