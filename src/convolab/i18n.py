"""The languages of convolab's HTML pages: gettext catalogs (locales/<lang>/LC_MESSAGES/
convolab.po) read with Babel. The English text is the message id; an untranslated message
shows its English text.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from importlib import resources

from .errors import ConvolabError, did_you_mean

LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT_LANGUAGE = "en"
DOMAIN = "convolab"


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ConvolabError(f"--lang {lang!r} is not one of {', '.join(LANGUAGES)}"
                            f"{did_you_mean(lang, LANGUAGES)}")
    return lang


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    """{English text: translation} of `lang` (only the translated messages)."""
    from babel.messages.pofile import read_po

    path = resources.files("convolab") / "locales" / check_language(lang) / "LC_MESSAGES" \
        / f"{DOMAIN}.po"
    with path.open("rb") as handle:
        po = read_po(handle, locale=lang)
    return {message.id: message.string for message in po
            if message.id and isinstance(message.id, str) and message.string}


#: While `record_messages` runs, every text asked for is added here.
_recorded: set[str] | None = None


def translator(lang: str):
    """A gettext-like function: English text -> the text in `lang`."""
    messages = catalog(lang)

    def _(text: str) -> str:
        if _recorded is not None:
            _recorded.add(text)
        return messages.get(text, text)

    return _


@contextmanager
def record_messages():
    """Collect every text the pages ask to translate meanwhile (for the catalog tests)."""
    global _recorded
    previous, _recorded = _recorded, set()
    try:
        yield _recorded
    finally:
        _recorded = previous


def pick_language(accept_language: str | None, requested: str | None = None) -> str:
    """The page's language: `requested` (?lang=) if known, else the first of the browser's
    Accept-Language (by quality) that convolab has, else English."""
    if requested in LANGUAGES:
        return requested
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.split("-")[0].lower()))
    for _, _, lang in sorted(ranked):
        if lang in LANGUAGES:
            return lang
    return DEFAULT_LANGUAGE
