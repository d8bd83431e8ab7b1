"""A Python client generated from an app's OpenAPI document by openapi-python-client
works against the API: the document is good enough for the tools users feed it to."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema

PACKAGE = "tessera_books_client"
FIELDS: list[dict[str, Any]] = [
    {"slug": "title", "type": "text", "required": True},
    {"slug": "genre", "type": "select", "options": ["novel", "essay"]},
    {"slug": "pages", "type": "integer"},
    {"slug": "read", "type": "boolean"},
]


@pytest.fixture
def client_package(tenant: Tenant, tmp_path: Path) -> Iterator[tuple[str, ModuleType]]:
    app = create_app(tenant)["slug"]
    create_schema(tenant, app, slug="books", name="Books", fields=FIELDS)
    spec = tenant.get(f"/api/apps/{app}/openapi.json")
    assert spec.status_code == 200, spec.text
    (tmp_path / "openapi.json").write_bytes(spec.content)
    (tmp_path / "config.yml").write_text(
        f"project_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\npost_hooks: []\n"
    )
    generated = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(tmp_path / "openapi.json"),
            "--config",
            str(tmp_path / "config.yml"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        yield app, importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_the_generated_client_creates_lists_filters_updates_and_deletes(
    stack: Stack, tenant: Tenant, client_package: tuple[str, ModuleType]
) -> None:
    _, package = client_package
    models = importlib.import_module(f"{PACKAGE}.models")
    client = package.AuthenticatedClient(
        base_url=stack.gateway_url, token=tenant.token, prefix="JWT"
    )
    create = importlib.import_module(f"{PACKAGE}.api.books.create_books")
    listing = importlib.import_module(f"{PACKAGE}.api.books.list_books")
    search = importlib.import_module(f"{PACKAGE}.api.books.search_books")
    update = importlib.import_module(f"{PACKAGE}.api.books.update_books")
    delete = importlib.import_module(f"{PACKAGE}.api.books.delete_books")
    get = importlib.import_module(f"{PACKAGE}.api.books.get_books")

    made = []
    for title, genre, pages in (("Emma", "novel", 474), ("Walden", "essay", 352)):
        book = create.sync(
            client=client,
            body=models.BooksInput(
                title=title, genre=models.BooksInputGenreType0(genre), pages=pages
            ),
        )
        assert book is not None
        assert book.title == title
        made.append(book)
    page = listing.sync(client=client, sort="title")
    assert [b.title for b in page.records] == ["Emma", "Walden"]
    assert page.total == 2
    found = search.sync(
        client=client,
        body=models.RecordSearch.from_dict({"filter": {"field": "genre", "value": "essay"}}),
    )
    assert [b.title for b in found.records] == ["Walden"]
    changed = update.sync(client=client, record_id=made[0].id, body=models.BooksChange(pages=475))
    assert changed.pages == 475
    assert changed.version == made[0].version + 1
    deleted = delete.sync_detailed(client=client, record_id=made[1].id)
    assert deleted.status_code == 204
    gone = get.sync_detailed(client=client, record_id=made[1].id)
    assert gone.status_code == 404
    assert listing.sync(client=client).total == 1
