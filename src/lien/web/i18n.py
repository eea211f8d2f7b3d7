"""The words of the pages in French and English, from gettext catalogs (Babel).

Message ids are the English text; ``locale/fr/LC_MESSAGES/messages.po`` holds their French
translations, and French is the default language of every page (the association's). The
catalogs are read from their ``.po`` text when the module loads — no compiled ``.mo`` files to
keep in step; ``tests/test_i18n.py`` extracts every message of the templates and of the Python
code and fails when one has no French translation or a translation is left over.

Add a message: write it in a template (``{{ _("...") }}``) or in Python (``_("...")``, marked
with ``gettext_noop`` where it is looked up later), then run ``scripts/update_messages.py`` and
translate the new entries of the French catalog.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Literal

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

Lang = Literal["fr", "en"]
LANGS: tuple[Lang, ...] = ("fr", "en")
DEFAULT: Lang = "fr"
LOCALE_DIR = Path(__file__).with_name("locale")
#: The locale of each language's dates and numbers.
LOCALES: dict[Lang, Locale] = {"fr": Locale("fr", "FR"), "en": Locale("en", "GB")}


def catalog_path(lang: Lang) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"


@cache
def translations(lang: Lang) -> NullTranslations:
    """The gettext translations of ``lang`` (English is the message ids themselves)."""
    path = catalog_path(lang)
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def gettext_noop(message: str) -> str:
    """Marks ``message`` for extraction; it is translated where it is shown (``gettext``)."""
    return message


def gettext(message: str, lang: Lang) -> str:
    return translations(lang).gettext(message)


def language(requested: str | None, cookie: str | None = None,
             accept_language: str | None = None) -> Lang:
    """The page's language: ``?lang=`` first, then the member's choice (cookie), then the
    browser's preference among ours, French otherwise."""
    for choice in (requested, cookie):
        if choice in LANGS:
            return choice
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGS:
            return tag
    return DEFAULT
