"""``/api/docs``: the API's documentation, made from its OpenAPI schema on this server.

A page of its own rather than Swagger UI, which loads its scripts from a CDN: the API and the
console share an origin, so a script from elsewhere could act as whoever is logged in; and the
documentation should work with no internet, as the console does.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1b1f24}
h2{margin-top:2rem;border-bottom:1px solid #d0d7de}
.op{margin:1rem 0;padding:.5rem .75rem;border:1px solid #d0d7de;border-radius:6px}
.m{font-weight:700;font-family:monospace;margin-right:.5rem}
code,.p{font-family:monospace}
table{border-collapse:collapse;margin:.25rem 0}td,th{padding:.1rem .6rem;text-align:left}
th{color:#57606a;font-weight:600}
"""


@router.get("/api/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    spec: dict[str, Any] = request.app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})
    by_tag: dict[str, list[str]] = {}
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append(_operation(method, path, op, schemas))
    info = spec.get("info", {})
    title = escape(info.get("title", ""))
    parts = [
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{title} API</title>"
        f"<link rel=stylesheet href=/api/docs.css><h1>{title} API "
        f"{escape(info.get('version', ''))}</h1><p>{escape(info.get('summary', ''))}</p>"
        "<p>Every call carries <code>Authorization: Bearer TOKEN</code> (or a console "
        "session and its <code>X-CSRF-Token</code>). The schema: "
        '<a href="/api/openapi.json">/api/openapi.json</a>.</p>'
    ]
    for tag, ops in by_tag.items():
        parts.append(f"<h2>{escape(tag)}</h2>{''.join(ops)}")
    return HTMLResponse("".join(parts))


@router.get("/api/docs.css")
def style() -> Response:
    return Response(STYLE, media_type="text/css")


def _operation(method: str, path: str, op: dict[str, Any], schemas: dict[str, Any]) -> str:
    out = [
        f"<div class=op><span class=m>{escape(method.upper())}</span>"
        f"<span class=p>{escape(path)}</span>"
        f"<p>{escape(op.get('description') or op.get('summary') or '')}</p>"
    ]
    params = op.get("parameters", [])
    if params:
        out.append("<table><tr><th>parameter<th>in<th>type<th>required")
        for p in params:
            kind = p.get("schema", {}).get("type") or _any_of(p.get("schema", {}))
            out.append(
                f"<tr><td><code>{escape(p['name'])}</code><td>{escape(p['in'])}"
                f"<td>{escape(str(kind))}<td>{'yes' if p.get('required') else ''}"
            )
        out.append("</table>")
    body = op.get("requestBody", {}).get("content", {})
    for media, content in body.items():
        ref = _ref(content.get("schema", {}))
        fields = schemas.get(ref, {}).get("properties", {}) if ref else {}
        out.append(f"<p>body: <code>{escape(media)}</code></p>")
        if fields:
            out.append("<table><tr><th>field<th>type<th>about")
            for name, field in fields.items():
                kind = field.get("type") or _any_of(field)
                out.append(
                    f"<tr><td><code>{escape(name)}</code><td>{escape(str(kind))}"
                    f"<td>{escape(field.get('description', ''))}"
                )
            out.append("</table>")
    out.append("</div>")
    return "".join(out)


def _ref(schema: dict[str, Any]) -> str | None:
    for candidate in (schema, *schema.get("anyOf", [])):
        if "$ref" in candidate:
            return str(candidate["$ref"]).rsplit("/", 1)[-1]
    return None


def _any_of(schema: dict[str, Any]) -> str:
    kinds = [s.get("type") or _ref(s) or "" for s in schema.get("anyOf", [])]
    return " or ".join(k for k in kinds if k) or "any"
