"""`make run`'s stack with embedded PostgreSQL and NATS keeps everything across a restart."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from services.devstack.infra import free_port
from services.devstack.stack import Stack
from tests.factories.accounts import sign_up
from tests.factories.apps import create_app, create_schema, records_path


def embedded_stack(data_dir: Path) -> Stack:
    return Stack(
        data_dir=data_dir,
        gateway_port=free_port(),
        database_urls={"identity": None, "schema": None, "records": None},
    )


def test_accounts_apps_schemas_and_records_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    tmp_path.chmod(0o755)
    first = embedded_stack(data_dir)
    first.start()
    try:
        with httpx.Client(base_url=first.gateway_url, timeout=30) as http:
            tenant = sign_up(http)
            app = create_app(tenant, name="Durable")
            create_schema(tenant, app["slug"])
            record = tenant.post(records_path(app["slug"]), json={"name": "Kept"}).json()
    finally:
        first.stop()
    # The key-encryption key was made on first run, for its owner's eyes only; the second
    # run reuses it (else identity could not open its signing keys and would not start).
    key_file = data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text()

    second = embedded_stack(data_dir)
    second.start()
    try:
        with httpx.Client(base_url=second.gateway_url, timeout=30) as http:
            login = http.post(
                "/api/user/token-auth/",
                json={"username": tenant.email, "password": tenant.password},
            )
            assert login.status_code == 200
            auth = {"Authorization": f"JWT {login.json()['token']}"}
            assert http.get("/api/apps", headers=auth).json()["apps"] == [app]
            schemas = http.get(f"/api/apps/{app['slug']}/schemas", headers=auth).json()["schemas"]
            assert [s["slug"] for s in schemas] == ["contacts"]
            fetched = http.get(f"{records_path(app['slug'])}/{record['id']}", headers=auth)
            assert fetched.json() == record
            # A JWT issued before the restart still verifies: the signing key persisted.
            old = http.get("/api/apps", headers={"Authorization": f"JWT {tenant.token}"})
            assert old.status_code == 200
    finally:
        second.stop()
    assert key_file.read_text() == key
