"""End-to-end fixtures: the running stack, an HTTP client, and tenants."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant, sign_up
from tests.support.bus import BusReader
from tests.support.infra import Infra
from tests.support.stack import running_stack


@pytest.fixture(scope="session")
def stack(infra: Infra) -> Iterator[Stack]:
    with running_stack(infra) as running:
        yield running


@pytest.fixture(scope="session")
def bus(infra: Infra) -> BusReader:
    """What the services publish, read as the suite's observer."""
    return BusReader.of(infra)


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30.0) as http:
        yield http


@pytest.fixture(scope="module")
def module_client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30.0) as http:
        yield http


@pytest.fixture(scope="module")
def shared_tenant(module_client: httpx.Client) -> Tenant:
    """One account for a whole module, whose tests each make their own app: signing up
    costs a password hash, an app costs a few milliseconds."""
    return sign_up(module_client)


@pytest.fixture(scope="module")
def shared_other_tenant(module_client: httpx.Client) -> Tenant:
    return sign_up(module_client, name="Grace Hopper")


@pytest.fixture
def tenant(client: httpx.Client) -> Tenant:
    return sign_up(client)


@pytest.fixture
def other_tenant(client: httpx.Client) -> Tenant:
    return sign_up(client, name="Grace Hopper")


def accounts_with(stack: Stack, email: str) -> int:
    """How many accounts have the address, read in identity's database."""
    with psycopg.connect(database_url(stack, "identity")) as db:
        row = db.execute("SELECT count(*) FROM accounts WHERE email = %s", (email,)).fetchone()
    assert row is not None
    return int(row[0])


def database_url(stack: Stack, service: str) -> str:
    """A superuser's URL of the service's database, to check what a request did (the
    service's own role sees one tenant's rows at a time)."""
    return stack.databases[service].admin_url
