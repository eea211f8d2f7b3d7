"""Extract the pages' messages and update the French catalog (new entries untranslated).

    .venv/bin/python scripts/update_messages.py

Messages come from the templates (``{{ _("...") }}``) and from the Python code of the web layer
and the members' service (``_``, ``gettext``, ``gettext_noop``/``N_``). Translate the entries
left with an empty ``msgstr`` in ``src/lien/web/locale/fr/LC_MESSAGES/messages.po``.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "src" / "lien" / "web", ROOT / "src" / "lien" / "members"]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "gettext_noop": None, "N_": None}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
CATALOG = ROOT / "src" / "lien" / "web" / "locale" / "fr" / "LC_MESSAGES" / "messages.po"


def extract() -> Catalog:
    template = Catalog(project="LIEN", charset="utf-8")
    for source in SOURCES:
        if not source.exists():
            continue
        for filename, lineno, message, comments, context in extract_from_dir(
            source, METHODS, keywords=KEYWORDS,
            options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        ):
            template.add(message, None, [(str((source / filename).relative_to(ROOT)), lineno)],
                         auto_comments=comments, context=context)
    return template


def main() -> int:
    template = extract()
    with CATALOG.open("rb") as po:
        catalog = read_po(po, locale="fr")
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    # A date in the header would change at every run and make every merge of the catalog a
    # conflict: the history of the file is in git.
    catalog.creation_date = catalog.revision_date = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with CATALOG.open("wb") as po:
        write_po(po, catalog, width=100, omit_header=False, no_location=True, sort_output=True)
    missing = [m.id for m in catalog if m.id and not m.string]
    print(f"{len(catalog)} messages, {len(missing)} to translate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
