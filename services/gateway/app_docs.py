"""What else is made from an app's OpenAPI document (services.gateway.app_spec): a
Postman collection, and a reference page like Baserow's database API docs, listing each
schema's fields and example requests in curl and Python. Both are built from the
document alone, so they show exactly what it shows."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from html import escape
from typing import Any

POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
METHODS = ("get", "post", "put", "patch", "delete")


def _operations(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method in METHODS:
            if method in methods:
                yield method, path, methods[method]


def _example_body(spec: Mapping[str, Any], operation: Mapping[str, Any]) -> Any:
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {})
    ref = schema.get("$ref", "")
    if ref:
        component = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        if "example" in component:
            return component["example"]
        return {}
    if "records" in schema.get("properties", {}):
        items = schema["properties"]["records"].get("items", {})
        ref = items.get("$ref", "")
        if ref:
            return {
                "records": [spec["components"]["schemas"][ref.rsplit("/", 1)[1]].get("example", {})]
            }
    if "ids" in schema.get("properties", {}):
        return {"ids": ["rec_…"]}
    return None


def postman_collection(spec: Mapping[str, Any], *, base_url: str) -> dict[str, Any]:
    """The document's operations as a Postman v2.1 collection, one folder per schema; the
    credential goes in the collection's `token` variable."""
    folders: dict[str, list[dict[str, Any]]] = {}
    for method, path, operation in _operations(spec):
        segments = [
            "{{" + part[1:-1] + "}}" if part.startswith("{") else part
            for part in path.strip("/").split("/")
        ]
        request: dict[str, Any] = {
            "method": method.upper(),
            "header": [],
            "url": {
                "raw": "{{baseUrl}}/" + "/".join(segments),
                "host": ["{{baseUrl}}"],
                "path": segments,
            },
            "description": operation.get("summary", ""),
        }
        example = _example_body(spec, operation)
        if example is not None:
            request["header"].append({"key": "Content-Type", "value": "application/json"})
            request["body"] = {
                "mode": "raw",
                "raw": json.dumps(example, indent=2),
                "options": {"raw": {"language": "json"}},
            }
        tag = (operation.get("tags") or ["Records"])[0]
        folders.setdefault(tag, []).append(
            {"name": operation.get("summary") or operation["operationId"], "request": request}
        )
    return {
        "info": {
            "name": spec["info"]["title"],
            "description": spec["info"].get("description", ""),
            "schema": POSTMAN_SCHEMA,
        },
        "auth": {
            "type": "apikey",
            "apikey": [
                {"key": "key", "value": "Authorization", "type": "string"},
                {"key": "value", "value": "Token {{token}}", "type": "string"},
                {"key": "in", "value": "header", "type": "string"},
            ],
        },
        "variable": [
            {"key": "baseUrl", "value": base_url},
            {"key": "token", "value": ""},
            {"key": "record_id", "value": ""},
        ],
        "item": [{"name": name, "item": items} for name, items in folders.items()],
    }


def _type_text(schema: Mapping[str, Any]) -> str:
    if "anyOf" in schema:
        kinds = [_type_text(s) for s in schema["anyOf"] if s.get("type") != "null"]
        return " or ".join(kinds) + (" or null" if len(kinds) < len(schema["anyOf"]) else "")
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if schema.get("type") == "array":
        return "list of " + _type_text(schema.get("items", {}))
    text = str(schema.get("type", "any JSON value"))
    if "format" in schema:
        text += f" ({schema['format']})"
    return text


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222 }
table { border-collapse: collapse; width: 100%; margin: 1rem 0 }
th, td { border-bottom: 1px solid #ddd; padding: .4rem .6rem; text-align: left }
pre { background: #f5f5f5; padding: .8rem; overflow-x: auto }
code { font-size: .9em }
"""


def api_docs_page(spec: Mapping[str, Any], *, base_url: str) -> str:
    """A reference page of the document: per schema, its fields and an example of each of
    its operations in curl and in Python (httpx)."""
    schemas = spec["components"]["schemas"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(spec['info']['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(spec['info']['title'])}</h1>",
        f"<p>{escape(spec['info'].get('description', ''))}</p>",
        "<p>Send your credential with every request: <code>Authorization: Token &lt;API "
        "token&gt;</code>, <code>JWT &lt;access token&gt;</code> or <code>Bearer …</code>. "
        "The OpenAPI document of this page is <a href='openapi.json'>openapi.json</a>; "
        "try the calls in <a href='docs'>Swagger UI</a>.</p>",
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for method, path, operation in _operations(spec):
        by_tag.setdefault((operation.get("tags") or [""])[0], []).append((method, path, operation))
    for tag, operations in by_tag.items():
        parts.append(f"<h2>{escape(tag)}</h2>")
        record = next(
            (
                schemas[name]
                for name in schemas
                if schemas[name].get("title") == tag and "properties" in schemas[name]
            ),
            None,
        )
        if record is not None:
            parts.append("<table><tr><th>Field</th><th>Type</th><th></th></tr>")
            for slug, field in record["properties"].items():
                note = "read-only" if field.get("readOnly") else ""
                parts.append(
                    f"<tr><td><code>{escape(slug)}</code></td>"
                    f"<td>{escape(_type_text(field))}</td><td>{note}</td></tr>"
                )
            parts.append("</table>")
        for method, path, operation in operations:
            url = base_url + path.replace("{record_id}", "rec_…")
            example = _example_body(spec, operation)
            curl = f"curl -X {method.upper()} '{url}' \\\n  -H 'Authorization: Token $TOKEN'"
            python = (
                f"httpx.{method}(\n    {url!r},\n"
                "    headers={'Authorization': f'Token {token}'},"
            )
            if example is not None:
                data = json.dumps(example)
                curl += f" \\\n  -H 'Content-Type: application/json' \\\n  -d '{data}'"
                python = python.replace("httpx.delete(", "httpx.request('DELETE', ")
                python += f"\n    json={example!r},"
            python += "\n)"
            anchor = escape(operation["operationId"])
            parts.append(
                f"<h3 id='{anchor}'>{escape(operation.get('summary', ''))}</h3>"
                f"<p><code>{method.upper()} {escape(path)}</code></p>"
                f"<pre><code>{escape(curl)}</code></pre>"
                f"<pre><code>import httpx\n\n{escape(python)}</code></pre>"
            )
    parts.append("</body></html>")
    return "".join(parts)
