"""Refresh the catalogues from the code: `python -m service.i18n.extract` (run from the checkout).

The same extraction by hand: `pybabel extract -F babel.cfg -k translate:2
-k translate_plural:2,3 -c TRANSLATORS: -o messages.pot .`

New words appear with an empty Japanese translation (the catalogue test fails until it is
written); the English catalogue repeats its message ids; words no longer used are dropped.
"""

from __future__ import annotations

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from service.i18n import LOCALES, catalogue_path
from service.paths import REPO_DIR

MAPPING = REPO_DIR / "babel.cfg"
# Python calls `translate(locale, message)`: the message is the second argument.
KEYWORDS = {**DEFAULT_KEYWORDS, "translate": (2,), "translate_plural": (2, 3)}


def extract() -> Catalog:
    """Every message the code, the page templates and the browser scripts mark."""
    with MAPPING.open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config, filename=str(MAPPING))
    template = Catalog(project="Relay", charset="utf-8")
    found = extract_from_dir(
        str(REPO_DIR),
        method_map,
        options_map,
        keywords=KEYWORDS,
        comment_tags=("TRANSLATORS:",),
        strip_comment_tags=True,
    )
    for filename, line, message, comments, context in found:
        template.add(message, None, [(filename, line)], auto_comments=comments, context=context)
    return template


def update(*, template: Catalog) -> None:
    """Bring each catalogue's messages in line with `template`, keeping translations made."""
    for locale in LOCALES:
        path = catalogue_path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as po:
                catalog = read_po(po, locale=locale)
        else:
            catalog = Catalog(locale=locale, project="Relay", charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        if locale == "en":
            for message in catalog:
                if message.id and not all(_strings(message.string)):
                    message.string = message.id
        with path.open("wb") as po:
            write_po(po, catalog, width=100, omit_header=False, sort_by_file=True)


def main() -> None:
    """Extract and update both catalogues, then say what is left to translate."""
    update(template=extract())
    for locale in LOCALES:
        with catalogue_path(locale).open("rb") as po:
            catalog = read_po(po, locale=locale)
        missing = [m.id for m in catalog if m.id and not all(_strings(m.string))]
        print(f"{locale}: {len(catalog)} messages, {len(missing)} untranslated")


def _strings(string: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if isinstance(string, tuple | list):
        return tuple(string)
    return (string or "",)


if __name__ == "__main__":
    main()
