"""Provisioning a service's database and its roles, as make run and the tests do it."""

from __future__ import annotations

import stat

import psycopg
from sqlalchemy.engine import make_url

from services.devstack.roles import owner_role, provision_database, runtime_role
from tests.support.infra import Infra


def test_passwords_are_made_once_kept_private_and_set_on_the_roles(infra: Infra) -> None:
    passwords = infra.work_dir / "roles-once"
    name = infra.database_prefix("roles")
    first = provision_database(infra.postgres_admin_url, name, passwords_dir=passwords)
    again = provision_database(infra.postgres_admin_url, name, passwords_dir=passwords)

    assert again == first
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o700
    for role, url in ((owner_role(name), first.owner_url), (runtime_role(name), first.runtime_url)):
        stored = passwords / role
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert stored.read_text().strip() == make_url(url).password
    with psycopg.connect(first.admin_url, autocommit=True) as admin:
        verifiers = admin.execute(
            "SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN (%s, %s)",
            (owner_role(name), runtime_role(name)),
        ).fetchall()
    assert len(verifiers) == 2
    assert all(verifier.startswith("SCRAM-SHA-256$") for _, verifier in verifiers)


def test_a_database_from_before_the_roles_passes_to_them(infra: Infra) -> None:
    """A data directory of an earlier version: the superuser made the database, the
    migrations' tables and the apps' schemas."""
    name = infra.database_prefix("adopted")
    with psycopg.connect(infra.postgres_admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    admin_url = provision_database(
        infra.postgres_admin_url, name, passwords_dir=infra.work_dir / "unused"
    ).admin_url
    with psycopg.connect(admin_url, autocommit=True) as admin:
        # Undo what provisioning just did, to stand for the earlier version.
        admin.execute(f"ALTER DATABASE {name} OWNER TO CURRENT_USER")
        admin.execute("ALTER SCHEMA public OWNER TO CURRENT_USER")
        admin.execute("CREATE TABLE public.things (id text PRIMARY KEY, tenant_id text)")
        admin.execute("INSERT INTO public.things VALUES ('t_1', 'ws_a')")
        admin.execute("CREATE SCHEMA app_1")
        admin.execute("CREATE TABLE app_1.sch_1 (id text)")
        admin.execute("CREATE FUNCTION app_1.counted() RETURNS integer LANGUAGE sql AS 'SELECT 1'")

    database = provision_database(
        infra.postgres_admin_url,
        name,
        passwords_dir=infra.work_dir / "postgres-roles",
        creates_schemas=True,
    )

    with psycopg.connect(database.admin_url, autocommit=True) as admin:
        owners = admin.execute(
            "SELECT (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s),"
            " (SELECT tableowner FROM pg_tables WHERE tablename = 'things'),"
            " (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'app_1'),"
            " (SELECT tableowner FROM pg_tables WHERE tablename = 'sch_1'),"
            " (SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'counted')",
            (name,),
        ).fetchone()
    owner, runtime = owner_role(name), runtime_role(name)
    assert owners == (owner, owner, runtime, runtime, runtime)
    with psycopg.connect(database.runtime_url, autocommit=True) as connection:
        # The migrations' tables are the runtime role's to read and write.
        connection.execute("UPDATE things SET tenant_id = 'ws_b'")
        row = connection.execute("SELECT tenant_id FROM things").fetchone()
    assert row == ("ws_b",)
