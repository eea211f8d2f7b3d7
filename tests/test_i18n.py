"""The pages' words: every message has its French translation, none is left over, and the
language of a page is chosen as documented (``lien.web.i18n``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from babel.messages.pofile import read_po

from lien.web.i18n import catalog_path, gettext, language

ROOT = Path(__file__).resolve().parents[1]


def _extracted() -> set[str]:
    spec = importlib.util.spec_from_file_location("update_messages",
                                                  ROOT / "scripts" / "update_messages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {m.id for m in module.extract() if m.id}


def test_every_message_of_the_pages_is_translated_into_french() -> None:
    with catalog_path("fr").open("rb") as po:
        catalog = read_po(po, locale="fr")
    translated = {m.id: m.string for m in catalog if m.id}
    extracted = _extracted()
    assert extracted, "no message found: the extraction is broken"
    assert sorted(extracted - translated.keys()) == [], "run scripts/update_messages.py"
    assert sorted(translated.keys() - extracted) == [], "left over: run scripts/update_messages.py"
    assert [m for m, fr in translated.items() if not fr] == []


def test_french_is_the_default_and_english_the_other_language() -> None:
    assert gettext("Status", "fr") == "État" and gettext("Status", "en") == "Status"
    assert language(None) == language("de") == "fr" and language("en") == "en"
    assert language(None, cookie="en") == "en"
    assert language("fr", cookie="en") == "fr"
    assert language(None, accept_language="en-US,en;q=0.9") == "en"
    assert language(None, accept_language="de-DE, fr;q=0.8, en;q=0.5") == "fr"
