"""/docs: the OpenAPI description as one self-contained page (no CDN, works offline)."""

from __future__ import annotations

import html
import json


def _schema_text(schema) -> str:
    return json.dumps(schema, indent=2) if schema else ""


def docs_page(openapi: dict) -> str:
    """Every path and method of `openapi`, its summary, parameters and request body."""
    from ..report.page import html_page

    sections = []
    for path, methods in openapi.get("paths", {}).items():
        for method, op in methods.items():
            params = ", ".join(f"{p['name']} ({p['in']})" for p in op.get("parameters", []))
            body = op.get("requestBody", {}).get("content", {})
            body_text = "".join(
                f"<p>Body ({html.escape(kind)}):</p>"
                f"<pre>{html.escape(_schema_text(c.get('schema')))}</pre>"
                for kind, c in body.items())
            sections.append(
                f"<h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                f"<p>{html.escape(op.get('summary', ''))}</p>"
                + (f"<p>Parameters: {html.escape(params)}</p>" if params else "")
                + body_text)
    components = openapi.get("components", {}).get("schemas", {})
    if components:
        sections.append("<h2>Schemas</h2><pre>" + html.escape(_schema_text(components))
                        + "</pre>")
    intro = ("<p>Errors are <code>{\"error\": \"...\"}</code> with the status: 404, 413, "
             "415, 422 or 500. The machine-readable description is "
             "<a href=\"/openapi.json\">/openapi.json</a>.</p>")
    return html_page("convolab API", "API", html.escape(openapi.get("info", {})
                                                     .get("description", "")),
                     intro + "".join(sections))
