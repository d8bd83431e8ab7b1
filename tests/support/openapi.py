"""Holding real responses to an OpenAPI document: each must be a documented status of
its operation, and its JSON body must match the schema documented for that status."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
from jsonschema import Draft202012Validator


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]


class SpecChecker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.operations = [
            Operation(
                method.upper(),
                template,
                re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"),
                operation,
            )
            for template, operations in spec["paths"].items()
            for method, operation in operations.items()
        ]
        self.seen: set[str] = set()

    def operation(self, method: str, path: str) -> Operation:
        # A literal segment beats a parameter (/records/batch is not a record id).
        found = [o for o in self.operations if o.method == method and o.pattern.match(path)]
        if not found:
            raise AssertionError(f"{method} {path} is not in the document")
        return max(found, key=lambda o: o.template.count("/") * 100 - o.template.count("{"))

    def check(self, response: httpx.Response) -> None:
        """An httpx response hook: holds `response` to the document."""
        response.read()
        request = response.request
        operation = self.operation(request.method, request.url.path)
        self.seen.add(operation.spec["operationId"])
        responses = operation.spec["responses"]
        documented = responses.get(str(response.status_code)) or responses.get("default")
        assert documented is not None, (
            f"{request.method} {request.url.path} answered {response.status_code}, "
            f"documented: {sorted(responses)}"
        )
        documented = self._resolve(documented)
        content = documented.get("content", {})
        if response.status_code == 204 or not response.content:
            assert not content or response.status_code in (204, 304), documented
            return
        media_type = response.headers.get("content-type", "").split(";")[0]
        if media_type != "application/json":
            return
        schema = content.get("application/json", {}).get("schema")
        assert schema is not None, f"{operation.spec['operationId']}: no JSON body documented"
        validator = Draft202012Validator({**schema, "components": self.spec["components"]})
        errors = sorted(validator.iter_errors(response.json()), key=lambda e: list(e.path))
        assert not errors, (
            f"{request.method} {request.url.path} {response.status_code}: "
            + "; ".join(f"{list(e.path)}: {e.message[:300]}" for e in errors[:5])
        )

    def _resolve(self, item: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in item:
            _, _, kind, name = item["$ref"].split("/")
            item = self.spec["components"][kind][name]
        return item
