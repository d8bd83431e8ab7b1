"""The check that the baselines issue the records service's SQL, made before every run.

Each scenario's request goes once through the records service's own code (its servicer,
in this process, with the stored cursor key) and once through bench/baseline.py's
Records, both on connections whose transaction is rolled back afterwards, so nothing is
written. SQLAlchemy's before_cursor_execute event records what the service sends; a thin
wrapper records what the baseline sends. The statements on the app's tables must be the
same text in the same order; what the service sends besides (the tenant setting, the outbox
row) is what the baselines skip, and the report lists it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from tessera.common.v1 import common_pb2
from tessera.records.v1 import records_pb2
from tessera.schema.v1 import schema_pb2

from bench.baseline import Records
from services.gateway.queries import list_request
from services.kit.db import async_url, create_read_engine
from services.records.cursors import CursorCodec
from services.records.imports import Importer
from services.records.provisioning import Provisioner
from services.records.repository import RecordTables, load_service_key
from services.records.schemas import SchemaDef, schema_from_proto
from services.records.server import RecordsServicer
from services.records.service import RecordsService


@dataclass(frozen=True)
class Request:
    method: str
    # Relative to the records, "{id}" filled in, e.g. "/rec_…" or "?sort=name".
    path: str
    body: bytes = b""


@dataclass
class Issued:
    """What one request sends to PostgreSQL."""

    # Statements on the record table and its counters, the same from both.
    shared: list[str] = field(default_factory=list)
    # Statements only the service sends.
    service_only: list[str] = field(default_factory=list)


class FixedSchema:
    """The schema source the in-process service reads: the one definition, always."""

    def __init__(self, schema: SchemaDef) -> None:
        self.schema = schema

    async def get(
        self,
        ctx: common_pb2.RequestContext,
        app_slug: str,
        schema_slug: str,
        *,
        fresh: bool = False,
    ) -> SchemaDef:
        return self.schema

    async def by_id(self, ctx: common_pb2.RequestContext, schema_id: str) -> SchemaDef:
        return self.schema


class RecordingConnection:
    """An asyncpg connection seen as Records' pool, keeping every statement it runs."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.statements: list[str] = []

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[RecordingConnection]:
        yield self

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        self.statements.append(query)
        return list(await self.connection.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> Any:
        self.statements.append(query)
        return await self.connection.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        self.statements.append(query)
        return await self.connection.fetchval(query, *args)


async def _service_call(
    servicer: RecordsServicer, ctx: common_pb2.RequestContext, app: str, schema: str, r: Request
) -> None:
    ref = records_pb2.SchemaRef(app_slug=app, schema_slug=schema)
    # The servicer never looks at its gRPC context.
    context = cast(Any, None)
    parts = urlsplit(r.path)
    record_id = parts.path.removeprefix("/")
    if r.method == "GET" and record_id:
        await servicer.GetRecord(
            records_pb2.GetRecordRequest(ctx=ctx, schema=ref, record_id=record_id), context
        )
    elif r.method == "GET":
        message = list_request(parse_qsl(parts.query, keep_blank_values=True))
        message.ctx.CopyFrom(ctx)
        message.schema.CopyFrom(ref)
        await servicer.ListRecords(message, context)
    elif r.method == "POST" and record_id == "batch":
        records = orjson.dumps(orjson.loads(r.body)["records"])
        await servicer.CreateRecords(
            records_pb2.CreateRecordsRequest(ctx=ctx, schema=ref, records_json=records), context
        )
    elif r.method == "POST":
        await servicer.CreateRecord(
            records_pb2.CreateRecordRequest(ctx=ctx, schema=ref, values_json=r.body), context
        )
    elif r.method == "PATCH":
        await servicer.UpdateRecord(
            records_pb2.UpdateRecordRequest(
                ctx=ctx, schema=ref, record_id=record_id, values_json=r.body
            ),
            context,
        )
    else:
        raise ValueError(f"no servicer call for {r.method} {r.path}")


async def _baseline_call(records: Records, r: Request) -> None:
    parts = urlsplit(r.path)
    record_id = parts.path.removeprefix("/")
    if r.method == "GET":
        operation = "get" if record_id else "list"
    elif r.method == "POST":
        operation = "batch" if record_id == "batch" else "create"
    else:
        operation = "update"
    reply = await records.dispatch(operation, record_id, parts.query, r.body)
    if reply.status >= 400:
        raise RuntimeError(f"the baseline answered {r.method} {r.path} with {reply.body!r}")


async def compare(
    dsn: str,
    schema_message: schema_pb2.Schema,
    ctx: common_pb2.RequestContext,
    requests: dict[str, tuple[Request, Request]],
    *,
    cursor_key: bytes,
) -> dict[str, Issued]:
    """Per name, what (the service's request, the baseline's request) send; RuntimeError
    when the statements on the app's tables differ."""
    schema = schema_from_proto(schema_message)
    engine = create_async_engine(async_url(dsn), poolclass=NullPool)
    # The service's reads run outside a transaction on a pool of their own, where a
    # filtered total is remembered and the driver gets its statements directly.
    read_engine = create_read_engine(async_url(dsn), pool_size=1)
    captured: list[str] = []

    def record(*args: Any) -> None:
        # (conn, cursor, statement, parameters, context, executemany)
        statement, parameters, executemany = args[2], args[3], args[5]
        if executemany:
            statement += f" -- executed for {len(parameters)} rows"
        captured.append(statement)

    def attach(dbapi_connection: Any, _record: Any) -> None:
        # What the service sends the driver itself (a plain get), which the engine does
        # not see; the driver logs none of what the engine sends (prepared statements).
        dbapi_connection.driver_connection.add_query_logger(
            lambda logged: captured.append(logged.query)
        )

    try:
        service_key = await load_service_key(async_sessionmaker(engine), "cursor")
        provisioner = Provisioner(async_sessionmaker(engine), RecordTables())
        await provisioner.ensure(ctx.tenant_id, schema)
        service = RecordsService(FixedSchema(schema), provisioner, cursor_key=service_key)
        for each in (engine, read_engine):
            event.listen(each.sync_engine, "before_cursor_execute", record)
            event.listen(each.sync_engine, "connect", attach)
        results: dict[str, Issued] = {}
        connection = await asyncpg.connect(dsn)
        # One of each for all the requests, as the service's remembered totals are.
        recording = RecordingConnection(connection)
        records = Records(cast(Any, recording), schema, ctx.principal_id)
        records.cursors = CursorCodec(cursor_key)
        try:
            for name, (service_request, baseline_request) in requests.items():
                captured.clear()
                async with engine.connect() as conn:
                    await conn.begin()
                    sessionmaker = async_sessionmaker(
                        bind=conn, join_transaction_mode="create_savepoint"
                    )
                    # Reads take their own connection, outside the transaction.
                    servicer = RecordsServicer(
                        sessionmaker, read_engine, service, Importer(sessionmaker, service)
                    )
                    await _service_call(
                        servicer, ctx, schema.app_slug, schema.slug, service_request
                    )
                    await conn.rollback()
                sent = [s for s in captured if not s.startswith(_TRANSACTION_CONTROL)]
                recording.statements.clear()
                transaction = connection.transaction()
                await transaction.start()
                try:
                    await _baseline_call(records, baseline_request)
                finally:
                    await transaction.rollback()
                results[name] = _split(name, schema, sent, recording.statements)
        finally:
            await connection.close()
    finally:
        for each in (engine, read_engine):
            event.remove(each.sync_engine, "connect", attach)
            event.remove(each.sync_engine, "before_cursor_execute", record)
            await each.dispose()
    return results


# Shown once in the report ("inside its transaction"), not per statement.
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def _split(name: str, schema: SchemaDef, service: list[str], baseline: list[str]) -> Issued:
    # Every table of the app lives in the PostgreSQL schema named by the app's id.
    on_app = [s for s in service if f"{schema.app_id}." in s]
    # The same statements, in any order: the driver reports the ones sent to it directly
    # only after the statement the engine sends next. The baseline's order is the order
    # both send them in.
    if sorted(on_app) != sorted(baseline):
        raise RuntimeError(
            f"{name}: the baseline's statements are not the service's:\n"
            f"service:  {[s[:400] for s in on_app]}\nbaseline: {[s[:400] for s in baseline]}"
        )
    return Issued(shared=list(baseline), service_only=[s for s in service if s not in on_app])


_SELECT_LIST = re.compile(r"^SELECT ([^\n]+?) \nFROM", re.DOTALL)
_RETURNING = re.compile(r" RETURNING .*$", re.DOTALL)
_VALUES = re.compile(r"VALUES (\([^)]*\))(?:, \([^)]*\))+")


def shorten(sql: str, aliases: dict[str, str]) -> str:
    """A statement on one line for the report: ids replaced by their aliases (slugs),
    select, RETURNING and long VALUES lists elided."""
    text = _SELECT_LIST.sub(lambda m: "SELECT … FROM" if "," in m.group(1) else m.group(0), sql)
    text = _RETURNING.sub(" RETURNING …", text)
    text = _VALUES.sub(lambda m: f"VALUES {m.group(1)}, … ({m.group(0).count('(')} rows)", text)
    for name, alias in aliases.items():
        text = text.replace(name, alias)
    return " ".join(text.split())
