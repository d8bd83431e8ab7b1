"""Least-privilege PostgreSQL roles for each service's database.

For a database `<db>` two login roles, named after it (role names are cluster-wide):

- `<db>_owner` owns the database and everything the migrations create; `migrate` runs as
  it and the service never does.
- `<db>_runtime` is what the service connects as: it may connect to its own database only,
  read and write the owner's tables (default privileges cover the tables of later
  migrations too) and draw from their sequences, but not alter, drop or truncate them.
  The records service's role may also create schemas in its database (one per app), which
  it owns and nobody else may use.

Neither is a superuser, creates databases or roles, or bypasses row-level security.
Passwords are generated once, kept under the data directory (0600) and set again on every
run, so the same URLs work against a server that checks passwords (the embedded one trusts
loopback). Everything here is idempotent: it runs on every start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from services.devstack.infra import database_url
from services.kit.db import plain_url

# PostgreSQL truncates longer identifiers, which would make two databases' roles collide.
MAX_IDENTIFIER_LENGTH = 63
_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
# Databases every role may connect to on a fresh cluster.
SHARED_DATABASES = ("postgres", "template1")


@dataclass(frozen=True)
class ServiceDatabase:
    """A service's database: a superuser's URL (to provision it, and for tests to look
    in), the owner's (to migrate) and the runtime role's (to serve)."""

    name: str
    admin_url: str
    owner_url: str
    runtime_url: str


def owner_role(database: str) -> str:
    return f"{database}_owner"


def runtime_role(database: str) -> str:
    return f"{database}_runtime"


def provision_database(
    admin_url: str, database: str, *, passwords_dir: Path, creates_schemas: bool = False
) -> ServiceDatabase:
    """Creates (or brings up to date) the database, its two roles and their grants, through
    a superuser's URL. `creates_schemas`: the runtime role makes schemas at run time."""
    owner, runtime = owner_role(database), runtime_role(database)
    for name in (database, owner, runtime):
        if not _PLAIN_IDENTIFIER.fullmatch(name) or len(name) > MAX_IDENTIFIER_LENGTH:
            raise ValueError(f"{name!r} is not a plain PostgreSQL identifier of at most 63 bytes")
    passwords = {role: stored_password(passwords_dir, role) for role in (owner, runtime)}
    asyncio.run(_provision(admin_url, database, owner, runtime, passwords, creates_schemas))

    def url_as(role: str) -> str:
        url = make_url(admin_url).set(username=role, password=passwords[role], database=database)
        return url.render_as_string(hide_password=False)

    return ServiceDatabase(
        database, database_url(admin_url, database), url_as(owner), url_as(runtime)
    )


def close_shared_databases(admin_url: str) -> None:
    """On a cluster of our own (the embedded server): the maintenance databases stop
    taking every role, so a service's role reaches its own database and nothing else."""

    async def close() -> None:
        server = await asyncpg.connect(plain_url(admin_url))
        try:
            for database in SHARED_DATABASES:
                await server.execute(f"REVOKE CONNECT ON DATABASE {database} FROM PUBLIC")
        finally:
            await server.close()

    asyncio.run(close())


def stored_password(directory: Path, role: str) -> str:
    """The role's password from `directory`, made and kept there (0600) on first use."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / role
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().strip()
    password = secrets.token_urlsafe(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process made it first; its password is the one.
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as file:
        file.write(password + "\n")
    return password


async def _provision(
    admin_url: str,
    database: str,
    owner: str,
    runtime: str,
    passwords: dict[str, str],
    creates_schemas: bool,
) -> None:
    server = await asyncpg.connect(plain_url(admin_url))
    try:
        for role in (owner, runtime):
            exists = await server.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            await server.execute(
                f"{'ALTER' if exists else 'CREATE'} ROLE {role} WITH LOGIN NOSUPERUSER"
                " NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
                f" PASSWORD {_literal(passwords[role])}"
            )
        if await server.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await server.execute(f"ALTER DATABASE {database} OWNER TO {owner}")
        else:
            # CREATE DATABASE cannot run in a transaction; asyncpg runs it on its own.
            await server.execute(f"CREATE DATABASE {database} OWNER {owner}")
        # Nobody but the two roles connects; nobody makes temporary tables.
        await server.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
        await server.execute(f"GRANT CONNECT ON DATABASE {database} TO {runtime}")
        schema_rights = "GRANT CREATE" if creates_schemas else "REVOKE CREATE"
        await server.execute(
            f"{schema_rights} ON DATABASE {database} {'TO' if creates_schemas else 'FROM'}"
            f" {runtime}"
        )
    finally:
        await server.close()
    inside = await asyncpg.connect(plain_url(database_url(admin_url, database)))
    try:
        async with inside.transaction():
            await _adopt(inside, owner, runtime)
            await _grant(inside, owner, runtime)
    finally:
        await inside.close()


async def _adopt(conn: asyncpg.Connection, owner: str, runtime: str) -> None:
    """Objects made before the roles existed (a data directory from an earlier version,
    where everything ran as the superuser) pass to the role that would have made them:
    the migrations' tables in public to the owner, the apps' schemas to the runtime."""
    statements = await conn.fetch(
        """
        SELECT format('ALTER SCHEMA %I OWNER TO %I', nspname, $2::text)
        FROM pg_namespace
        WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
          AND pg_get_userbyid(nspowner) <> $2
        UNION ALL
        SELECT format(
            'ALTER %s %I.%I OWNER TO %I',
            CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
            n.nspname, c.relname, CASE n.nspname WHEN 'public' THEN $1::text ELSE $2::text END)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm')
          AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
          AND pg_get_userbyid(c.relowner) NOT IN ($1, $2)
        UNION ALL
        SELECT format('ALTER FUNCTION %s OWNER TO %I', p.oid::regprocedure, $2::text)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('public', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
          AND pg_get_userbyid(p.proowner) <> $2
        """,
        owner,
        runtime,
    )
    for (statement,) in statements:
        await conn.execute(statement)


async def _grant(conn: asyncpg.Connection, owner: str, runtime: str) -> None:
    # Owned by the owner on any server version (before 15, public belonged to the
    # superuser and let everyone create in it).
    await conn.execute(f"ALTER SCHEMA public OWNER TO {owner}")
    await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    await conn.execute(f"GRANT USAGE ON SCHEMA public TO {runtime}")
    tables = "SELECT, INSERT, UPDATE, DELETE"
    sequences = "USAGE, SELECT"
    # The migrations' tables: those there already, and those later migrations make.
    await conn.execute(f"GRANT {tables} ON ALL TABLES IN SCHEMA public TO {runtime}")
    await conn.execute(f"GRANT {sequences} ON ALL SEQUENCES IN SCHEMA public TO {runtime}")
    defaults = f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
    await conn.execute(f"{defaults} GRANT {tables} ON TABLES TO {runtime}")
    await conn.execute(f"{defaults} GRANT {sequences} ON SEQUENCES TO {runtime}")
    # What the runtime role makes in its own schemas stays its own: functions and types
    # are open to PUBLIC by default (tables and schemas are not).
    mine = f"ALTER DEFAULT PRIVILEGES FOR ROLE {runtime}"
    await conn.execute(f"{mine} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC")
    await conn.execute(f"{mine} REVOKE USAGE ON TYPES FROM PUBLIC")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


__all__ = [
    "ServiceDatabase",
    "close_shared_databases",
    "owner_role",
    "provision_database",
    "runtime_role",
    "stored_password",
]
