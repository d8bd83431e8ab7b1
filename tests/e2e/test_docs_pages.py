"""The docs pages as a browser shows them: Debian's Chromium (tests/ensure-chromium.sh,
run by `make test`) renders each page headless with its scripts, from this server alone,
and the test reads what it rendered and keeps a screenshot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema

# Long enough for the page's scripts to fetch the document and render it.
RENDER_BUDGET_MS = 20_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("Chromium is missing: `make test` installs it (tests/ensure-chromium.sh)")
    return found


def render(url: str, screenshot: Path) -> str:
    """The page's DOM once its scripts ran; a screenshot of it in `screenshot`."""
    common = [
        chromium(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        # Nothing may come from outside this server: a CDN reference would fail.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--window-size=1280,1600",
        f"--virtual-time-budget={RENDER_BUDGET_MS}",
    ]
    subprocess.run(
        [*common, f"--screenshot={screenshot}", url], check=True, capture_output=True, timeout=120
    )
    dom = subprocess.run([*common, "--dump-dom", url], check=True, capture_output=True, timeout=120)
    return dom.stdout.decode()


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        # Swagger UI shows every operation with its id; ReDoc its summary.
        ("/api/docs", ["token_auth", "list_workspaces", "create_record", "Authorize"]),
        ("/api/redoc", ["Token Auth", "List Workspaces", "Create Record"]),
    ],
)
def test_the_platform_docs_render_their_operations(
    stack: Stack, tmp_path: Path, page: str, expected: list[str]
) -> None:
    screenshot = tmp_path / "page.png"
    dom = render(stack.gateway_url + page, screenshot)
    for text in expected:
        assert text in dom, f"{text!r} not on {page}"
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
    assert screenshot.stat().st_size > 20_000


def test_an_apps_docs_render_its_schemas_for_an_anonymous_visitor(
    stack: Stack, tenant: Tenant, tmp_path: Path
) -> None:
    app = create_app(tenant)
    create_schema(
        tenant, app["slug"], slug="books", name="Books", fields=[{"slug": "title", "type": "text"}]
    )
    rules = {"rules": [], "default": {"find": True, "read_fields": "all"}}
    assert (
        tenant.put(f"/api/apps/{app['slug']}/schemas/books/privacy-rules", json=rules).status_code
        == 200
    )
    screenshot = tmp_path / "app.png"
    dom = render(f"{stack.gateway_url}/api/apps/{app['public_id']}/docs", screenshot)
    assert "list_books" in dom
    assert "get_books" in dom
    assert "create_books" not in dom
    assert screenshot.stat().st_size > 20_000
