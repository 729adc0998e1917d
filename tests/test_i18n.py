"""The es / en catalogs: every text of every HTML page is translated, with the same
placeholders; the language comes from ?lang=, --lang or the browser's Accept-Language."""

import ast
import string
from pathlib import Path

import pytest

import convolab
from convolab.errors import ConvolabError
from convolab.i18n import catalog, check_language, pick_language, translator
from convolab.report import html as report_html
from convolab.serve import inspect as serve_inspect
from convolab.serve.page import messages
from convolab.tune import results as study_results

SOURCE = Path(convolab.__file__).parent
#: The modules that write HTML text through `_`.
TRANSLATED_MODULES = ("report/html.py", "explain/walk_view.py", "explain/walk_html.py",
                      "tune/results.py", "serve/inspect.py")


def texts_in_source() -> set[str]:
    """Every `_("...")` literal of TRANSLATED_MODULES (as `pybabel extract` finds them)."""
    found = set()
    for name in TRANSLATED_MODULES:
        for node in ast.walk(ast.parse((SOURCE / name).read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "_" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
    return found


def every_text() -> set[str]:
    return (texts_in_source() | set(messages()) | set(report_html.DYNAMIC_MESSAGES)
            | set(study_results.DYNAMIC_MESSAGES) | set(serve_inspect.DYNAMIC_MESSAGES))


def placeholders(text: str) -> list[str]:
    return sorted(field for _, field, _, _ in string.Formatter().parse(text) if field)


def test_every_text_has_its_spanish_and_the_catalogs_hold_nothing_else():
    spanish = catalog("es")
    assert sorted(every_text() - set(spanish)) == []
    assert sorted(set(spanish) - every_text()) == []
    for text, translation in spanish.items():
        assert placeholders(text) == placeholders(translation), text


def test_the_english_catalog_lists_the_same_texts():
    from babel.messages.pofile import read_po

    path = SOURCE / "locales" / "en" / "LC_MESSAGES" / "convolab.po"
    with path.open("rb") as handle:
        english = {m.id for m in read_po(handle) if m.id}
    assert english == set(catalog("es"))


def test_the_units_spanish_terms_are_used():
    _ = translator("es")
    assert _("Feature maps") == "Mapas de características"
    assert _("max pooling") == "agrupación máxima"
    assert "aplanado" in _("{name}: Flatten")
    assert translator("en")("Feature maps") == "Feature maps"
    assert _("a text no catalog has") == "a text no catalog has"


@pytest.mark.parametrize("header, requested, expected", [
    ("es-ES,es;q=0.9,en;q=0.8", None, "es"),
    ("fr-FR,en;q=0.5,es;q=0.7", None, "es"),
    ("en-GB,en;q=0.9", None, "en"),
    ("de-DE", None, "en"),
    (None, None, "en"),
    ("es", "en", "en"),
    ("en", "es", "es"),
    ("es;q=bad,en", "xx", "en"),
])
def test_language_choice(header, requested, expected):
    assert pick_language(header, requested) == expected


def test_unknown_language_is_named():
    with pytest.raises(ConvolabError, match="--lang 'fr' is not one of en, es"):
        check_language("fr")
