"""The databases behind the running stack, tried with raw SQL as the services' own roles:
row-level security keeps each tenant's rows to that tenant even past the repositories,
and each runtime role can do no more than read and write its own service's tables."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, LiteralString

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from services.devstack.roles import owner_role
from services.devstack.stack import DATABASE_SERVICES, Stack
from services.identity import tables as identity_tables
from services.records import tables as records_tables
from services.schema import tables as schema_tables
from services.workflows import tables as workflows_tables
from tests.factories.accounts import Tenant, sign_up, unique_email
from tests.factories.apps import create_app, create_schema, records_path
from tests.factories.credentials import create_admin_token, create_token
from tests.factories.workflows import SIMPLE, create_workflow
from tests.support.external_api import CLIENT_ID, CLIENT_SECRET, external_api
from tests.support.openid import CLIENT_SECRET as SSO_CLIENT_SECRET
from tests.support.openid import client_metadata, logout_token, openid_provider, sign_in
from tests.support.wait import eventually

# Every table of a service with a tenant_id column, as its tables module declares them.
TENANT_TABLES = {
    service: sorted(table.name for table in metadata.sorted_tables if "tenant_id" in table.c)
    for service, metadata in (
        ("identity", identity_tables.metadata),
        ("schema", schema_tables.metadata),
        ("records", records_tables.metadata),
        ("workflows", workflows_tables.metadata),
    )
}


def furnish(client: httpx.Client, stack: Stack, tenant: Tenant) -> Tenant:
    """A workspace with a row in every tenant-owned table of every service."""
    app = create_app(tenant)
    slug = app["slug"]
    triggered = {
        **SIMPLE,
        "triggers": [
            {"type": "schedule", "cron": "0 9 * * *", "parameters": {"email": "a@example.com"}},
            {"type": "hook"},
        ],
    }
    create_workflow(stack, tenant, slug, triggered)
    create_schema(
        tenant, slug, name="Companies", slug="companies", fields=[{"slug": "name", "type": "text"}]
    )
    create_schema(
        tenant,
        slug,
        fields=[
            {"slug": "name", "type": "text"},
            {"slug": "employer", "type": "link", "target": "companies"},
        ],
    )
    contacts = records_path(slug)
    kept = tenant.post(contacts, json={"name": "Ada"}, headers={"Idempotency-Key": "first"})
    assert kept.status_code == 201, kept.text
    trashed = tenant.post(contacts, json={"name": "Bo"})
    assert tenant.delete(f"{contacts}/{trashed.json()['id']}").status_code == 204
    imported = tenant.post(
        f"{contacts}/import", content=b"name\nCy\n", headers={"Content-Type": "text/csv"}
    )
    assert imported.status_code == 202, imported.text
    create_token(tenant)
    create_admin_token(tenant)
    # The app has no leads schema: the run fails at its first step, and is kept with it.
    ran = tenant.post(f"/api/apps/{slug}/workflows/new-lead/run", json={"email": "a@x.io"})
    assert ran.status_code == 422, ran.text
    # A webhook, and a delivery of it with its attempt: a ping where nothing listens.
    webhook = tenant.post(f"/api/apps/{slug}/webhooks", json={"url": "http://127.0.0.1:9/x"})
    assert webhook.status_code == 201, webhook.text
    pinged = tenant.post(f"/api/apps/{slug}/webhooks/{webhook.json()['id']}/ping")
    assert pinged.status_code == 200, pinged.text
    connector = tenant.post(
        f"/api/apps/{slug}/connectors",
        json={"name": "Nowhere", "base_url": "http://127.0.0.1:9", "calls": [{"name": "c"}]},
    )
    assert connector.status_code == 201, connector.text
    query = tenant.post(
        f"/api/apps/{slug}/queries",
        json={"name": "q", "connector_id": connector.json()["id"], "call": "c"},
    )
    assert query.status_code == 201, query.text
    # A connector each user connects to: an authorization under way, and one completed.
    with external_api() as remote:
        per_user = tenant.post(
            f"/api/apps/{slug}/connectors",
            json={
                "name": "Per user",
                "auth": {
                    "type": "oauth2_user_agent",
                    "authorize_url": remote.url("/authorize"),
                    "token_url": remote.url("/token"),
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                },
            },
        )
        assert per_user.status_code == 201, per_user.text
        authorize = f"/api/apps/{slug}/connectors/{per_user.json()['id']}/authorize"
        for user in ("ada", None):
            started = tenant.post(authorize)
            assert started.status_code == 200, started.text
            if user is not None:
                back = httpx.get(started.json()["authorize_url"] + f"&user={user}")
                path = back.headers["location"].removeprefix(str(client.base_url).rstrip("/"))
                assert client.get(path).status_code == 200
    signed_up = client.post(
        f"/api/apps/{app['public_id']}/auth/signup",
        json={"email": unique_email(), "password": "correct horse battery"},
    )
    assert signed_up.status_code == 201, signed_up.text
    furnish_single_sign_on(client, stack, tenant)
    # An app in the trash, which the workflows service hears of.
    binned = create_app(tenant)
    assert tenant.delete(f"/api/apps/{binned['slug']}").status_code == 200
    eventually(lambda: trashed_apps(stack, tenant.workspace_id) == 1)
    return tenant


def furnish_single_sign_on(client: httpx.Client, stack: Stack, tenant: Tenant) -> None:
    """The workspace's provider and its domain, an account it linked, a login never called
    back, and a spent logout token."""
    domain = f"roles-{secrets.token_hex(4)}.test"
    with openid_provider("roles") as provider:
        provider.register(client_metadata(stack.gateway_url, "roles"))
        configured = tenant.put(
            f"/api/workspaces/{tenant.workspace_id}/sso",
            json={
                "keycloak_server_url": provider.server_url,
                "keycloak_realm": provider.realm,
                "client_id": "roles",
                "client_secret": SSO_CLIENT_SECRET,
                "allowed_domains": [domain],
                "default_role": "viewer",
            },
        )
        assert configured.status_code == 200, configured.text
        provider.set_user("member", email=f"member@{domain}", email_verified=True)
        with httpx.Client(timeout=30.0) as browser:
            signed_in = sign_in(browser, stack.gateway_url, tenant.workspace_id, login="member")
            assert signed_in.status_code == 302, signed_in.text
        assert client.get(f"/auth/sso/{tenant.workspace_id}/login").status_code == 302
        logout = client.post(
            f"/auth/sso/{tenant.workspace_id}/backchannel-logout",
            data={"logout_token": logout_token(provider, "roles", sub="member")},
        )
        assert logout.status_code == 200, logout.text


def trashed_apps(stack: Stack, workspace_id: str) -> int:
    with connected(stack.databases["workflows"].admin_url) as admin:
        return count(admin, "trashed_apps", "tenant_id = %s", workspace_id)


@pytest.fixture(scope="module")
def workspaces(module_client: httpx.Client, stack: Stack) -> tuple[Tenant, Tenant]:
    return (
        furnish(module_client, stack, sign_up(module_client)),
        furnish(module_client, stack, sign_up(module_client, name="Grace Hopper")),
    )


@contextmanager
def connected(url: str, **settings: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection in autocommit, with session-wide `settings` (tessera.tenant_id, ...)."""
    with psycopg.connect(url, autocommit=True) as connection:
        for name, value in settings.items():
            connection.execute("SELECT set_config(%s, %s, false)", (name, value))
        yield connection


def count(
    connection: psycopg.Connection[Any], table: str, where: LiteralString = "TRUE", *args: Any
) -> int:
    query = sql.SQL("SELECT count(*) FROM {} WHERE " + where).format(sql.Identifier(table))
    row = connection.execute(query, args).fetchone()
    assert row is not None
    return int(row[0])


def on_table(statement: LiteralString, table: str) -> sql.Composed:
    return sql.SQL(statement).format(sql.Identifier(table))


def refused(
    connection: psycopg.Connection[Any], statement: LiteralString | sql.Composed, *args: Any
) -> str:
    """The statement fails for want of privilege; answers PostgreSQL's message."""
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        connection.execute(statement, args)
    return str(caught.value)


def test_every_table_with_a_tenant_id_is_behind_the_tenant_policy(stack: Stack) -> None:
    for service in DATABASE_SERVICES:
        with connected(stack.databases[service].admin_url) as admin:
            rows = admin.execute(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind = 'r' AND EXISTS ("
                "   SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid"
                "   AND a.attname = 'tenant_id' AND NOT a.attisdropped)"
                " ORDER BY c.relname"
            ).fetchall()
        assert [row[0] for row in rows] == TENANT_TABLES[service]
        assert all(row[1:] == (True, True, 1) for row in rows), (service, rows)


def test_a_service_role_acting_in_no_tenant_reads_no_tenants_rows(
    stack: Stack, workspaces: tuple[Tenant, Tenant]
) -> None:
    ids = [w.workspace_id for w in workspaces]
    for service in DATABASE_SERVICES:
        database = stack.databases[service]
        for table in TENANT_TABLES[service]:
            with connected(database.admin_url) as admin:
                for tenant_id in ids:
                    assert count(admin, table, "tenant_id = %s", tenant_id) > 0, (table, tenant_id)
            for url in (database.runtime_url, database.owner_url):
                with connected(url) as connection:
                    assert count(connection, table) == 0, (service, table)
                # Set once, then left behind by an ended transaction: still nothing.
                with connected(url) as connection:
                    with connection.transaction():
                        connection.execute(
                            "SELECT set_config('tessera.tenant_id', %s, true)", (ids[0],)
                        )
                    assert count(connection, table) == 0, (service, table)


def test_a_service_role_acting_in_a_tenant_reads_and_writes_only_that_tenants_rows(
    stack: Stack, workspaces: tuple[Tenant, Tenant]
) -> None:
    mine, theirs = (w.workspace_id for w in workspaces)
    for service in DATABASE_SERVICES:
        database = stack.databases[service]
        for table in TENANT_TABLES[service]:
            with connected(database.admin_url) as admin:
                stored = count(admin, table, "tenant_id = %s", mine)
            with connected(database.runtime_url, **{"tessera.tenant_id": mine}) as connection:
                assert count(connection, table) == stored > 0, (service, table)
                assert count(connection, table, "tenant_id <> %s", mine) == 0
                with connection.transaction(force_rollback=True):
                    statement = on_table("DELETE FROM {} WHERE tenant_id = %s", table)
                    assert connection.execute(statement, (theirs,)).rowcount == 0
                    moved = on_table("UPDATE {} SET tenant_id = %s", table)
                    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
                        connection.execute(moved, (theirs,))
                    assert "row-level security" in str(caught.value)
            with connected(database.admin_url) as admin:
                assert count(admin, table, "tenant_id = %s", theirs) > 0


def test_a_row_for_another_tenant_cannot_be_written(
    stack: Stack, workspaces: tuple[Tenant, Tenant]
) -> None:
    mine, theirs = workspaces
    identity = stack.databases["identity"].runtime_url
    with connected(identity, **{"tessera.tenant_id": mine.workspace_id}) as connection:
        message = refused(
            connection,
            "INSERT INTO memberships (tenant_id, account_id, role) VALUES (%s, %s, 'owner')",
            theirs.workspace_id,
            mine.account_id,
        )
    assert "row-level security" in message
    schema = stack.databases["schema"].runtime_url
    with connected(schema, **{"tessera.tenant_id": mine.workspace_id}) as connection:
        message = refused(
            connection,
            "INSERT INTO apps (id, tenant_id, slug, name, public_id) VALUES (%s, %s, %s, 'X', %s)",
            f"app_{uuid.uuid4().hex}",
            theirs.workspace_id,
            f"planted-{uuid.uuid4().hex[:8]}",
            f"app_{uuid.uuid4().hex}",
        )
    assert "row-level security" in message
    with connected(stack.databases["identity"].admin_url) as admin:
        assert (
            count(
                admin,
                "memberships",
                "tenant_id = %s AND account_id = %s",
                theirs.workspace_id,
                mine.account_id,
            )
            == 0
        )


def test_a_runtime_role_is_no_superuser_and_cannot_change_what_it_was_given(
    stack: Stack,
) -> None:
    for service in DATABASE_SERVICES:
        database = stack.databases[service]
        with connected(database.runtime_url) as connection:
            powers = connection.execute(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication"
                " FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            assert powers == (False, False, False, False, False)
            table = TENANT_TABLES[service][0]
            statements: list[LiteralString | sql.Composed] = [
                "DROP TABLE outbox",
                "ALTER TABLE outbox ADD COLUMN planted integer",
                "TRUNCATE outbox",
                on_table("ALTER TABLE {} DISABLE ROW LEVEL SECURITY", table),
                on_table("ALTER TABLE {} NO FORCE ROW LEVEL SECURITY", table),
                on_table("DROP POLICY tenant_isolation ON {}", table),
                "CREATE TABLE public.planted (a integer)",
                "CREATE TEMPORARY TABLE planted (a integer)",
                "CREATE ROLE planted LOGIN",
                "CREATE DATABASE planted",
                on_table("SET ROLE {}", owner_role(database.name)),
            ]
            for statement in statements:
                refused(connection, statement)
            if service != "records":
                refused(connection, "CREATE SCHEMA planted")


def test_a_runtime_role_reaches_its_own_database_only(stack: Stack) -> None:
    for service in DATABASE_SERVICES:
        for other in DATABASE_SERVICES:
            if other == service:
                continue
            url = make_url(stack.databases[service].runtime_url)
            elsewhere = url.set(database=stack.databases[other].name)
            with pytest.raises(psycopg.OperationalError) as caught:
                psycopg.connect(elsewhere.render_as_string(hide_password=False)).close()
            assert "permission denied for database" in str(caught.value)


def test_an_apps_schema_is_closed_to_every_role_but_the_records_service(
    stack: Stack, workspaces: tuple[Tenant, Tenant]
) -> None:
    records = stack.databases["records"]
    with connected(records.admin_url) as admin:
        provisioned = admin.execute(
            # Contacts: a record of it was deleted, and others kept.
            "SELECT app_id, schema_id FROM trashed_records WHERE tenant_id = %s LIMIT 1",
            (workspaces[0].workspace_id,),
        ).fetchone()
        assert provisioned is not None
        app_id, schema_id = provisioned
        grants = admin.execute(
            "SELECT has_schema_privilege('public', %s, 'USAGE'),"
            " has_schema_privilege(%s, %s, 'USAGE'),"
            " array_agg(has_function_privilege('public', p.oid, 'EXECUTE'))"
            " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s",
            (app_id, owner_role(records.name), app_id, app_id),
        ).fetchone()
    assert grants is not None
    public_usage, owner_usage, functions_open = grants
    assert public_usage is False
    assert owner_usage is False
    assert functions_open
    assert not any(functions_open)
    stored = sql.SQL("SELECT count(*) FROM {}.{}").format(
        sql.Identifier(app_id), sql.Identifier(schema_id)
    )
    with connected(records.runtime_url) as connection:
        row = connection.execute(stored).fetchone()
        assert row is not None
        assert row[0] > 0
    # The records database's owner connects, yet cannot look into the app's schema.
    with (
        connected(records.owner_url) as connection,
        pytest.raises(psycopg.errors.InsufficientPrivilege) as caught,
    ):
        connection.execute(stored)
    assert "permission denied for schema" in str(caught.value)
