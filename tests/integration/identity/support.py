"""Helpers for identity's integration tests: unique accounts, decoded errors, database
reads and JetStream reads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, LiteralString

import grpc
import orjson
import psycopg
import pytest
from tessera.identity.v1 import identity_pb2, identity_pb2_grpc

from services.devstack.pki import Pki
from services.kit.errors import DomainError, from_grpc_error
from services.kit.ids import new_id
from tests.support.bus import BusReader

PASSWORD = "correct horse battery"
DEADLINE = 10.0
EVENT_WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class IdentityStack:
    stub: identity_pb2_grpc.IdentityServiceStub
    # A superuser's URL of the service's database, to look into it past its roles.
    database_url: str
    bus: BusReader
    # host:port and the key material, for tests that open their own (asyncio) channel.
    address: str = ""
    pki: Pki | None = None


@dataclass(frozen=True)
class NewAccount:
    account: identity_pb2.Account
    workspace: identity_pb2.Workspace
    email: str
    password: str


def unique_email() -> str:
    return f"{new_id('u')}@example.com"


def create_account(
    stub: identity_pb2_grpc.IdentityServiceStub,
    *,
    name: str = "Bram",
    email: str | None = None,
    password: str = PASSWORD,
) -> NewAccount:
    email = email or unique_email()
    reply = stub.CreateAccount(
        identity_pb2.CreateAccountRequest(name=name, email=email, password=password),
        timeout=DEADLINE,
    )
    return NewAccount(reply.account, reply.workspace, email, password)


def call_error(call: Callable[[], Any]) -> tuple[grpc.StatusCode, DomainError]:
    """Runs a call that must fail; returns its status code and the decoded domain error."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error: Any = caught.value
    return error.code(), from_grpc_error(error.code(), error.details(), error.trailing_metadata())


@contextmanager
def database(url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


def scalar(url: str, sql: LiteralString, params: tuple[Any, ...] = ()) -> Any:
    with database(url) as connection:
        row = connection.execute(sql, params).fetchone()
        return None if row is None else row[0]


_COUNTS: dict[str, LiteralString] = {
    "accounts": "SELECT count(*) FROM accounts",
    "workspaces": "SELECT count(*) FROM workspaces",
    "memberships": "SELECT count(*) FROM memberships",
    "sessions": "SELECT count(*) FROM sessions",
    "refresh_tokens": "SELECT count(*) FROM refresh_tokens",
    "outbox": "SELECT count(*) FROM outbox",
}


def table_counts(url: str) -> dict[str, int]:
    return {table: int(scalar(url, sql)) for table, sql in _COUNTS.items()}


@dataclass(frozen=True)
class ReceivedEvent:
    subject: str
    body: dict[str, Any]
    headers: dict[str, str]


def read_event(bus: BusReader, subject: str) -> ReceivedEvent:
    """The first event on `subject` in the IDENTITY stream, waiting for it with a bound."""

    async def read() -> ReceivedEvent:
        connection = await bus.connect()
        try:
            js = connection.jetstream()
            subscription = await js.pull_subscribe(subject, stream="IDENTITY")
            messages = await subscription.fetch(1, timeout=EVENT_WAIT_SECONDS)
            message = messages[0]
            return ReceivedEvent(
                subject=message.subject,
                body=orjson.loads(message.data),
                headers=dict(message.headers or {}),
            )
        finally:
            await connection.close()

    return asyncio.run(read())
