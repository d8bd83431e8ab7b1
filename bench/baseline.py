"""What both baselines of `make bench` (bench/bare.py, bench/twohop.py) do with a request:
the records service's own statements for one schema, sent straight through asyncpg.

The statements are not written here: they are built by the records service's code
(services.records.repository: build_table, list_statement, count_statement, the insert
and update shapes of insert_record, insert_records and update_record) and compiled once
per request shape with the service's dialect, so the SQL text is the service's, byte for
byte; bench/statements.py checks that before every run. Parameters are parsed, validated
and serialised by the same catalogue and helpers the service uses (queries.list_request,
sort_specs, filter_tree, validate_values, RecordTable.to_record, CursorCodec).

What a baseline leaves out, by design: the gateway (auth, FastAPI), the schema service
(the definition arrives once, at start), gRPC (bare only), the transaction around a call
(each statement commits on its own), the outbox row of every write (and its trigger's
notification), the Idempotency-Key claim, and the If-Match check.

Configured by env vars that bench/records.py sets: BASELINE_DSN, BASELINE_SCHEMA (the
schema definition as the schema service returns it: a serialized tessera.schema.v1.Schema,
base64), BASELINE_ACTOR (the account id written to created_by / updated_by) and
BASELINE_CURSOR_KEY (hex; the key signing its cursors). Also the few ASGI helpers the two
raw HTTP front ends share."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qsl

import asyncpg
import orjson
import uvicorn
from sqlalchemy import bindparam, func, insert, update
from tessera.schema.v1 import schema_pb2

from services.gateway.queries import list_request
from services.kit.db import DriverStatement
from services.kit.errors import DomainError, ValidationFailed
from services.kit.ids import new_id
from services.records import repository
from services.records.cursors import CursorCodec, binding
from services.records.errors import RecordNotFound
from services.records.repository import (
    CREATED_AT,
    ID,
    SYSTEM_FIELDS,
    UPDATED_AT,
    VERSION,
    Keyset,
    ListQuery,
    RecordTable,
    SortSpec,
)
from services.records.schemas import SchemaDef, schema_from_proto
from services.records.service import (
    MAX_BATCH,
    filter_tree,
    page_bounds,
    parse_body,
    parse_json_array,
    search_terms,
    selected_keys,
    sort_specs,
    validate_values,
    writable,
)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

POOL_SIZE = 10
OPERATIONS = ("get", "list", "create", "update", "batch")


class Reply(NamedTuple):
    status: int
    body: bytes


NOT_FOUND = Reply(404, b'{"error":{"code":"not_found","message":"Not found"}}')


def error_reply(error: DomainError) -> Reply:
    return Reply(error.http_status, orjson.dumps(error.to_envelope()))


class Database(Protocol):
    """What Records needs of an asyncpg pool (bench/statements.py records through it)."""

    def acquire(self) -> Any: ...

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...

    async def fetchrow(self, query: str, *args: Any) -> Any: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...


def _exact(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f").encode())
    raise TypeError(type(value))


def _param(name: str, value: Any) -> Any:
    """A named parameter standing for a value; typed from the value, as a literal is."""
    return bindparam(name, value)


@dataclass(frozen=True)
class ListPlan:
    """A list request's statements, compiled once per set of parameters (bar the cursor)."""

    query: ListQuery
    per_page: int
    page: int
    # The count with the table's change counter beside it (see services.records.totals).
    counted: DriverStatement | None
    rows: DriverStatement
    specs: tuple[SortSpec, ...]
    bound_to: str
    ranked: bool
    keep: frozenset[str] | None


class Records:
    """One schema's records over an asyncpg pool: the records service's statements and
    record handling, without its machinery (see the module docstring)."""

    def __init__(self, db: Database, schema: SchemaDef, actor: str) -> None:
        self.db = db
        self.rt: RecordTable = repository.build_table(schema)
        self.actor = actor or None
        self.get_statement = DriverStatement.of(self.rt.get_statement)
        self.total_statement = DriverStatement.of(self.rt.total_statement)
        self.changes_statement = DriverStatement.of(self.rt.changes_statement)
        # A filtered list's total, as the service keeps it: list shape -> (counter, total).
        self._totals: dict[tuple[tuple[str, str], ...], tuple[int, int]] = {}
        self.cursors = CursorCodec(secrets.token_bytes(32))
        self._plans: dict[tuple[tuple[str, str], ...], ListPlan] = {}
        self._after: dict[tuple[Any, ...], DriverStatement] = {}
        self._inserts: dict[tuple[Any, ...], DriverStatement] = {}
        self._updates: dict[tuple[str, ...], DriverStatement] = {}

    @classmethod
    async def from_env(cls) -> Records:
        pool = await asyncpg.create_pool(
            os.environ["BASELINE_DSN"], min_size=POOL_SIZE, max_size=POOL_SIZE
        )
        message = schema_pb2.Schema.FromString(base64.b64decode(os.environ["BASELINE_SCHEMA"]))
        records = cls(pool, schema_from_proto(message), os.environ.get("BASELINE_ACTOR", ""))
        key = os.environ.get("BASELINE_CURSOR_KEY")
        if key:
            records.cursors = CursorCodec(bytes.fromhex(key))
        return records

    async def close(self) -> None:
        if isinstance(self.db, asyncpg.Pool):
            await self.db.close()

    async def dispatch(self, operation: str, record_id: str, query: str, body: bytes) -> Reply:
        try:
            if operation == "get":
                return await self.get(record_id)
            if operation == "list":
                return await self.list(query)
            if operation == "create":
                return await self.create(body)
            if operation == "update":
                return await self.update(record_id, body)
            if operation == "batch":
                return await self.create_many(body)
        except DomainError as error:
            return error_reply(error)
        return NOT_FOUND

    def _json(self, row: Sequence[Any]) -> bytes:
        return orjson.dumps(self.rt.to_record(row))

    # --- reads ---------------------------------------------------------------------------

    async def get(self, record_id: str) -> Reply:
        row = await self.db.fetchrow(self.get_statement.sql, record_id)
        return Reply(200, self._json(row)) if row else NOT_FOUND

    def _plan(self, items: tuple[tuple[str, str], ...], with_cursor: bool) -> ListPlan:
        request = list_request(list(items))
        schema = self.rt.schema
        limit, offset = page_bounds(request.page, request.per_page)
        if with_cursor and request.page:
            raise ValidationFailed("Give either 'page' or 'cursor', not both", field="cursor")
        specs = sort_specs(schema, request.sort)
        proto_filter = request.filter if request.HasField("filter") else None
        tree = None if proto_filter is None else filter_tree(schema, proto_filter)
        terms = search_terms(request.search) if request.search else None
        query = ListQuery(
            sort=specs,
            filter=tree,
            limit=limit + 1,
            offset=offset,
            count=not request.skip_count,
            search=terms,
        )
        # Compiled whenever a total is asked for; used, as in the service, when the query
        # has a filter or the counters' sum is NULL.
        counted_statement = repository.with_changes(
            self.rt, repository.count_statement(self.rt, query)
        )
        plan = ListPlan(
            query=query,
            per_page=limit,
            page=request.page or 1,
            counted=DriverStatement.of(counted_statement) if query.count else None,
            rows=DriverStatement.of(repository.list_statement(self.rt, query)),
            specs=specs,
            bound_to=binding(
                schema.id,
                [(s.field.id, s.field.type.name, s.descending) for s in specs],
                proto_filter,
                terms,
            ),
            ranked=repository.rank(self.rt, query) is not None,
            keep=selected_keys(schema, request.fields),
        )
        self._plans[items] = plan
        return plan

    async def _filtered_total(
        self, connection: Any, shape: tuple[tuple[str, str], ...], counted: DriverStatement
    ) -> int:
        changes = await connection.fetchval(
            self.changes_statement.sql, *self.changes_statement.args()
        )
        kept = self._totals.get(shape)
        if kept is not None and kept[0] == changes:
            return kept[1]
        total, changes = await connection.fetchrow(counted.sql, *counted.args())
        self._totals[shape] = (changes, total)
        return int(total)

    def _after_statement(
        self, shape: tuple[tuple[str, str], ...], plan: ListPlan, after: Keyset
    ) -> tuple[DriverStatement, list[Any]]:
        """The page after a keyset: compiled once per list shape (and per pattern of NULL
        boundary values, which change the statement); the boundary values are parameters."""
        key = (shape, tuple(v is None for v in after.values))
        values = [*after.values, after.record_id]
        names = [f"after_{i}" for i in range(len(values))]
        statement = self._after.get(key)
        if statement is None:
            params = [
                None if v is None else _param(n, v) for n, v in zip(names, values, strict=True)
            ]
            keyset = Keyset(values=tuple(params[:-1]), record_id=_param(names[-1], values[-1]))
            query = replace(plan.query, after=keyset, offset=0)
            statement = DriverStatement.of(repository.list_statement(self.rt, query))
            self._after[key] = statement
        given = {n: v for n, v in zip(names, values, strict=True) if v is not None}
        return statement, statement.args(given)

    async def list(self, query: str) -> Reply:
        items = parse_qsl(query, keep_blank_values=True)
        cursor = next((v for k, v in items if k == "cursor"), "")
        shape = tuple((k, v) for k, v in items if k != "cursor")
        plan = self._plans.get(shape) or self._plan(shape, bool(cursor))
        statement, args = plan.rows, plan.rows.args()
        after = None
        if cursor:
            keys = 1 if plan.ranked else len(plan.specs) or 1
            after = self.cursors.decode(cursor, bound_to=plan.bound_to, keys=keys)
            statement, args = self._after_statement(shape, plan, after)
        total = None
        async with self.db.acquire() as connection:
            if plan.query.count:
                if plan.query.filter is None and plan.query.search is None:
                    total = await connection.fetchval(
                        self.total_statement.sql, *self.total_statement.args()
                    )
                if total is None and plan.counted is not None:
                    total = await self._filtered_total(connection, shape, plan.counted)
            if total is not None and total <= plan.query.offset and after is None:
                rows = []
            else:
                rows = await connection.fetch(statement.sql, *args)
        limit = plan.per_page
        more = len(rows) > limit
        rows = rows[:limit]
        width = len(self.rt.columns)
        records = [self.rt.to_record(row[:width]) for row in rows]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            keyset = (
                Keyset(values=(last[width],), record_id=last[0])
                if plan.ranked
                else self._keyset(plan.specs, last)
            )
            next_cursor = self.cursors.encode(keyset, bound_to=plan.bound_to)
        if plan.keep is not None:
            records = [{k: v for k, v in r.items() if k in plan.keep} for r in records]
        shown_total = b"null" if total is None else b"%d" % total
        page = b"" if cursor else b'"page":%d,' % plan.page
        body = b'{"records":%s,%s"per_page":%d,"total":%s,"next_cursor":%s}' % (
            orjson.dumps(records),
            page,
            limit,
            shown_total,
            orjson.dumps(next_cursor),
        )
        return Reply(200, body)

    def _keyset(self, specs: Sequence[SortSpec], row: Sequence[Any]) -> Keyset:
        position = {column.name: index for index, column in enumerate(self.rt.columns)}
        values = []
        for spec in specs or (SortSpec(SYSTEM_FIELDS[CREATED_AT]),):
            raw = row[position[self.rt.field_column(spec.field).name]]
            values.append(spec.field.type.sort_value(raw))
        return Keyset(values=tuple(values), record_id=row[position[ID]])

    # --- writes --------------------------------------------------------------------------

    def _insert(self, columns: tuple[str, ...], rows: int) -> DriverStatement:
        """insert_record's statement (one row) or insert_records' (many), for rows that
        all name these columns."""
        key = (columns, rows)
        statement = self._inserts.get(key)
        if statement is None:
            c = self.rt.table.c
            # Typed like the column, as the service's literal values are.
            if rows == 1:
                values: Any = {n: bindparam(n, type_=c[n].type) for n in columns}
            else:
                values = [
                    {n: bindparam(f"{n}_{i}", type_=c[n].type) for n in columns}
                    for i in range(rows)
                ]
            statement = DriverStatement.of(
                insert(self.rt.table).values(values).returning(*self.rt.columns)
            )
            self._inserts[key] = statement
        return statement

    async def create(self, body: bytes) -> Reply:
        columns = validate_values(self.rt.schema, writable(parse_body(body)), creating=True)
        values = {ID: new_id("rec"), **columns, "created_by": self.actor, "updated_by": self.actor}
        statement = self._insert(tuple(values), 1)
        row = await self.db.fetchrow(statement.sql, *statement.args(values))
        return Reply(201, self._json(row))

    async def create_many(self, body: bytes) -> Reply:
        # The gateway's part: {"records": [...]} to the list the service parses.
        given = parse_body(body).get("records")
        items = parse_json_array(orjson.dumps(given, default=_exact))
        if not items or len(items) > MAX_BATCH or not all(isinstance(i, dict) for i in items):
            raise ValidationFailed(f"A batch holds 1 to {MAX_BATCH} records", field="records")
        schema = self.rt.schema
        actor = {"created_by": self.actor, "updated_by": self.actor}
        rows = [
            {ID: new_id("rec"), **validate_values(schema, writable(item), creating=True), **actor}
            for item in items
        ]
        # As insert_records: the union of the rows' keys, sorted.
        columns = tuple(sorted({key for row in rows for key in row}))
        if any(len(row) != len(columns) for row in rows):
            raise ValidationFailed("This baseline takes batches whose records name the same fields")
        statement = self._insert(columns, len(rows))
        values = {f"{c}_{i}": row[c] for i, row in enumerate(rows) for c in columns}
        result = await self.db.fetch(statement.sql, *statement.args(values))
        order = {row[ID]: index for index, row in enumerate(rows)}
        records = [self.rt.to_record(r) for r in sorted(result, key=lambda r: order[r[0]])]
        return Reply(201, b'{"records":%s}' % orjson.dumps(records))

    def _update(self, columns: tuple[str, ...]) -> DriverStatement:
        statement = self._updates.get(columns)
        if statement is None:
            c = self.rt.table.c
            values = {
                **{name: bindparam(name) for name in columns},
                UPDATED_AT: func.now(),
                VERSION: c[VERSION] + 1,
            }
            statement = DriverStatement.of(
                update(self.rt.table)
                .where(c[ID] == bindparam("record_id"))
                .values(values)
                .returning(*self.rt.columns)
            )
            self._updates[columns] = statement
        return statement

    async def update(self, record_id: str, body: bytes) -> Reply:
        columns = validate_values(self.rt.schema, writable(parse_body(body)), creating=False)
        if not columns:
            return await self.get(record_id)
        values = {**columns, "updated_by": self.actor}
        statement = self._update(tuple(values))
        row = await self.db.fetchrow(
            statement.sql, *statement.args({**values, "record_id": record_id})
        )
        if row is None:
            raise RecordNotFound()
        return Reply(200, self._json(row))


# --- the raw ASGI side both front ends share ---------------------------------------------


def route(method: str, path: str) -> tuple[str, str] | None:
    """(operation, record id) for the records routes, under /records as in the gateway's
    /api/apps/{app}/schemas/{schema}/records; None for anything else."""
    if path == "/records":
        return {"GET": ("list", ""), "POST": ("create", "")}.get(method)
    if path == "/records/batch" and method == "POST":
        return ("batch", "")
    if path.startswith("/records/"):
        record_id = path.removeprefix("/records/")
        return {"GET": ("get", record_id), "PATCH": ("update", record_id)}.get(method)
    return None


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(send: Send, reply: Reply) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(reply.body)).encode()),
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


async def lifespan(
    receive: Receive,
    send: Send,
    startup: Callable[[], Awaitable[None]],
    shutdown: Callable[[], Awaitable[None]],
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def serve(app: Callable[[Scope, Receive, Send], Awaitable[None]], port: int) -> None:
    """uvicorn as the gateway runs it: uvloop, httptools, no access log."""
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        server_header=False,
        log_level="warning",
    )
