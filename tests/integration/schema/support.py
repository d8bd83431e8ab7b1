"""Helpers for the schema service's integration tests: decoded gRPC errors, row counts
and events read back from JetStream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
import psycopg
import pytest
from nats.aio.msg import Msg
from tessera.schema.v1 import schema_pb2_grpc

from services.kit.errors import DomainError, from_grpc_error
from tests.support.bus import BusReader

TIMEOUT = 10.0
STREAM = "SCHEMA"


@dataclass(frozen=True)
class SchemaService:
    stub: schema_pb2_grpc.SchemaServiceStub
    # A superuser's URL of the service's database, to look into it past its roles.
    database_url: str
    bus: BusReader


@dataclass(frozen=True)
class Failure:
    code: grpc.StatusCode
    error: DomainError


def fails(call: Callable[..., Any], request: Any) -> Failure:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=TIMEOUT)
    error = caught.value
    return Failure(
        error.code(), from_grpc_error(error.code(), error.details(), error.trailing_metadata())
    )


def count(database_url: str, table: str, tenant_id: str) -> int:
    """Rows of one tenant in apps, schemas or fields."""
    assert table in {"apps", "schemas", "fields"}
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {table} WHERE tenant_id = %s",
            (tenant_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def outbox_subjects(database_url: str, tenant_id: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT subject FROM outbox WHERE subject LIKE %s ORDER BY seq",
            (f"schema.{tenant_id}.%",),
        ).fetchall()
    return [row[0] for row in rows]


@dataclass(frozen=True)
class Received:
    subject: str
    headers: dict[str, str]
    body: dict[str, Any]
    # How many messages the stream holds on that subject.
    on_subject: int


def next_event(bus: BusReader, subject: str) -> Received:
    """The first event on `subject` in the SCHEMA stream, waiting for it up to TIMEOUT."""
    return asyncio.run(_next_event(bus, subject))


async def _next_event(bus: BusReader, subject: str) -> Received:
    nc = await bus.connect()
    try:
        js = nc.jetstream()
        subscription = await js.subscribe(subject, stream=STREAM, ordered_consumer=True)
        message: Msg = await subscription.next_msg(timeout=TIMEOUT)
        info = await js.stream_info(STREAM, subjects_filter=subject)
        on_subject = (info.state.subjects or {}).get(subject, 0)
        return Received(
            subject=message.subject,
            headers=dict(message.headers or {}),
            body=orjson.loads(message.data),
            on_subject=on_subject,
        )
    finally:
        await nc.close()
