"""A schema of an app seen from the client's side: its records, fields and lists, driven
through the gateway. Shared by the e2e tests of field types, queries, cursors and schema
evolution."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema
from tests.support.wait import eventually

# Pages a cursor walk may take before it is declared endless.
MAX_PAGES = 200

Params = Mapping[str, str | int] | Sequence[tuple[str, str | int]]

# One field of every type the catalogue has, with the slugs the e2e suites use.
ONE_OF_EACH_TYPE: list[dict[str, Any]] = [
    {"slug": "name", "type": "text"},
    {"slug": "body", "type": "long_text"},
    {"slug": "amount", "type": "number"},
    {"slug": "qty", "type": "integer"},
    {"slug": "done", "type": "boolean"},
    {"slug": "due", "type": "date"},
    {"slug": "at", "type": "datetime"},
    {"slug": "mail", "type": "email"},
    {"slug": "site", "type": "url"},
    {"slug": "tel", "type": "phone"},
    {"slug": "stage", "type": "select", "options": ["new", "won", "lost"]},
    {"slug": "tags", "type": "multi_select", "options": ["red", "green", "blue"]},
    {"slug": "stars", "type": "rating", "max": 5},
    {"slug": "took", "type": "duration"},
    {"slug": "meta", "type": "json"},
    {"slug": "made", "type": "created_at"},
    {"slug": "changed", "type": "updated_at"},
    {"slug": "maker", "type": "created_by"},
    {"slug": "changer", "type": "updated_by"},
    {"slug": "no", "type": "autonumber"},
]


def error_of(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The error envelope of a failed response, checked for its status and, when given,
    the parameter or field it names."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) <= {"code", "message", "field", "details"}, error
    assert error["message"], error
    if field is not None:
        assert error.get("field") == field, error
    return dict(error)


def invalid(response: httpx.Response, field: str) -> dict[str, Any]:
    """A 400 validation error naming `field`."""
    error = error_of(response, 400, field)
    assert error["code"] == "validation_error", error
    return error


@dataclass(frozen=True)
class Table:
    """One schema of one app, owned by `tenant`."""

    tenant: Tenant
    app_slug: str
    slug: str

    @property
    def path(self) -> str:
        return f"/api/apps/{self.app_slug}/schemas/{self.slug}"

    @property
    def records(self) -> str:
        return f"{self.path}/records"

    # --- records -------------------------------------------------------------------------

    def create(self, values: Mapping[str, Any]) -> httpx.Response:
        return self.tenant.post(self.records, json=dict(values))

    def create_raw(self, body: bytes) -> httpx.Response:
        """A body sent as written, for numbers JSON encoders would change."""
        return self.tenant.post(
            self.records, content=body, headers={"Content-Type": "application/json"}
        )

    def insert(self, **values: Any) -> dict[str, Any]:
        response = self.create(values)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def update(self, record_id: str, values: Mapping[str, Any]) -> httpx.Response:
        return self.tenant.patch(f"{self.records}/{record_id}", json=dict(values))

    def update_raw(self, record_id: str, body: bytes) -> httpx.Response:
        return self.tenant.patch(
            f"{self.records}/{record_id}",
            content=body,
            headers={"Content-Type": "application/json"},
        )

    def get(self, record_id: str) -> dict[str, Any]:
        response = self.tenant.get(f"{self.records}/{record_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def query(self, params: Params = ()) -> httpx.Response:
        return self.tenant.get(self.records, params=params)

    def page(self, params: Params = ()) -> dict[str, Any]:
        response = self.query(params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def search(self, body: Any) -> httpx.Response:
        return self.tenant.post(f"{self.records}/search", json=body)

    def names(self, params: Params = (), key: str = "name") -> set[Any]:
        """The `key` values of every record a list (at most 100) returns."""
        given = list(params.items()) if isinstance(params, Mapping) else list(params)
        return {r[key] for r in self.page([*given, ("per_page", 100)])["records"]}

    def walk(self, params: Mapping[str, str | int], *, per_page: int) -> list[dict[str, Any]]:
        """Every record of a list, following next_cursor from the first page to the last;
        fails as soon as a record comes back a second time."""
        seen: list[dict[str, Any]] = []
        seen_ids: set[str] = set()
        cursor = None
        for _ in range(MAX_PAGES):
            query = {**params, "per_page": per_page}
            if cursor is not None:
                query["cursor"] = cursor
            body = self.page(query)
            assert len(body["records"]) <= per_page
            for record in body["records"]:
                assert record["id"] not in seen_ids, f"{record['id']} came back on a later page"
                seen_ids.add(record["id"])
            seen.extend(body["records"])
            cursor = body["next_cursor"]
            if cursor is None:
                return seen
        raise AssertionError(f"the cursors did not end within {MAX_PAGES} pages")

    def settled(self, record_id: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The record once a schema change shows in it; the records service learns of
        changes through events, so a read may briefly see the previous version."""

        def probe() -> dict[str, Any] | None:
            record = self.get(record_id)
            return record if done(record) else None

        return eventually(probe)

    # --- the schema ----------------------------------------------------------------------

    def schema(self) -> dict[str, Any]:
        response = self.tenant.get(self.path)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def field(self, slug: str) -> dict[str, Any]:
        return next(f for f in self.schema()["fields"] if f["slug"] == slug)

    def add_field(self, body: Mapping[str, Any]) -> httpx.Response:
        return self.tenant.post(f"{self.path}/fields", json=dict(body))

    def change_field(self, slug: str, body: Mapping[str, Any]) -> httpx.Response:
        return self.tenant.patch(f"{self.path}/fields/{slug}", json=dict(body))

    def delete_field(self, slug: str) -> httpx.Response:
        return self.tenant.delete(f"{self.path}/fields/{slug}")


def new_table(tenant: Tenant, fields: Sequence[Mapping[str, Any]], *, slug: str = "items") -> Table:
    """A fresh app holding one schema with `fields`."""
    app = create_app(tenant, name=f"QA {secrets.token_hex(3)}")
    create_schema(tenant, app["slug"], name=slug.title(), slug=slug, fields=list(fields))
    return Table(tenant=tenant, app_slug=str(app["slug"]), slug=slug)
