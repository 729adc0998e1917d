"""The es / en catalogs: every text of the page is translated; the language is chosen
from ?lang= or the browser's Accept-Language."""

import pytest

from convolab.errors import ConvolabError
from convolab.i18n import catalog, check_language, pick_language, translator
from convolab.serve.page import messages


def test_every_text_of_the_page_has_its_spanish():
    spanish = catalog("es")
    missing = [text for text in messages() if not spanish.get(text)]
    assert not missing, missing
    unused = sorted(set(spanish) - set(messages()))
    assert not unused, f"catalog entries no page uses: {unused}"


def test_the_units_spanish_terms_are_used():
    _ = translator("es")
    assert _("Feature maps") == "Mapas de características"
    assert _("max pooling") == "agrupación máxima"
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
