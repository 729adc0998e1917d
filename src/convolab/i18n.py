"""The languages of convolab's HTML pages: gettext catalogs (locales/<lang>/LC_MESSAGES/
convolab.po) read with Babel. The English text is the message id; an untranslated message
shows its English text.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from .errors import ConvolabError, did_you_mean

LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT_LANGUAGE = "en"
DOMAIN = "convolab"


def check_language(lang: str, source: str = "--lang") -> str:
    """`lang` if convolab has it, else a ConvolabError naming `source` (a flag or variable)."""
    if lang not in LANGUAGES:
        raise ConvolabError(f"{source} {lang!r} is not one of {', '.join(LANGUAGES)}"
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


def translator(lang: str):
    """A gettext-like function: English text -> the text in `lang`."""
    messages = catalog(lang)
    return lambda text: messages.get(text, text)


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
