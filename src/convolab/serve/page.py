"""The page at `/`: static/index.html with its texts in the reader's language.

Texts to translate are marked `{{ _("English text") }}` in the HTML and `T("English text")`
in app.js; both are looked up in the gettext catalogs (`convolab.i18n`). The page and its
script and style come from this package: nothing is fetched from elsewhere.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from pathlib import Path

from ..i18n import LANGUAGES, translator

STATIC_DIR = Path(__file__).parent / "static"
HTML_MESSAGE = re.compile(r'\{\{ _\("(.+?)"\) \}\}')
JS_MESSAGE = re.compile(r'\bT\("(.+?)"\)')


def messages() -> list[str]:
    """Every English text of the page and its script (what the catalogs must hold)."""
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    script = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    return sorted(set(HTML_MESSAGE.findall(page)) | set(JS_MESSAGE.findall(script)))


@lru_cache(maxsize=None)
def render_page(lang: str) -> str:
    """The page in `lang` ("en" or "es")."""
    _ = translator(lang)
    template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    script = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    page = HTML_MESSAGE.sub(lambda m: html.escape(_(m.group(1))), template)
    script_texts = {text: _(text) for text in JS_MESSAGE.findall(script)}
    other = next(code for code in LANGUAGES if code != lang)
    values = {"lang": lang, "other_lang": other, "other_lang_name": LANGUAGES[other],
              "i18n_json": json.dumps(script_texts, ensure_ascii=False).replace("</", "<\\/")}
    for key, value in values.items():
        page = page.replace("{{" + key + "}}", value)
    return page
