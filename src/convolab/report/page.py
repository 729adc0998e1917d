"""The page skeleton every convolab HTML page shares: one self-contained document, one style."""

from __future__ import annotations

import html

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8rem; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem 1rem; min-width: 8rem; }
.card .v { font-size: 1.4rem; font-weight: 600; }
.card .k { color: #666; font-size: 0.85rem; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #666; font-size: 0.9rem; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; font-size: 0.85rem; }
"""


def html_page(heading: str, kind: str, subtitle: str, body: str, extra_css: str = "",
              lang: str = "en") -> str:
    """A whole HTML page titled "`heading` · convolab `kind`" (both plain text), with
    `subtitle` and `body` (both HTML) under the heading, in language `lang`."""
    return f"""<!DOCTYPE html>
<html lang="{html.escape(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(heading)} · convolab {html.escape(kind)}</title>
<style>{CSS}{extra_css}</style>
</head>
<body>
<h1>{html.escape(heading)}</h1>
<p class="sub">{subtitle}</p>
{body}
</body>
</html>
"""
