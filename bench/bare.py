"""The baseline for `make bench`: one uvicorn process, an asyncpg pool and the same SQL the
records service issues, with no gateway, no gRPC and no auth. Configured by env vars that
bench/records.py sets: BARE_DSN, BARE_TABLE ("schema"."table"), BARE_COUNTS_TABLE and
BARE_SCHEMA_ID (the records service's row counters), BARE_COLUMNS (JSON list of
[column, output key, kind]), BARE_SORT_COLUMN, BARE_PORT."""

from __future__ import annotations

import datetime
import decimal
import json
import os
from typing import Any

import asyncpg
import orjson
import uvicorn

DSN = os.environ["BARE_DSN"]
TABLE = os.environ["BARE_TABLE"]
COLUMNS: list[list[str]] = json.loads(os.environ["BARE_COLUMNS"])
SORT_COLUMN = os.environ["BARE_SORT_COLUMN"]
SELECT_LIST = ", ".join(f'{TABLE}."{column}"' for column, _, _ in COLUMNS)
GET_SQL = f"SELECT {SELECT_LIST} FROM {TABLE} WHERE {TABLE}.id = $1"
LIST_SQL = (
    f'SELECT {SELECT_LIST} FROM {TABLE} ORDER BY {TABLE}."{SORT_COLUMN}" ASC, {TABLE}.id ASC '
    "LIMIT $1 OFFSET $2"
)
# The records service answers an unfiltered total from its trigger-kept counters.
COUNT_SQL = f"SELECT sum(n) AS sum_1 FROM {os.environ['BARE_COUNTS_TABLE']} WHERE schema_id = $1"
SCHEMA_ID = os.environ["BARE_SCHEMA_ID"]

pool: asyncpg.Pool | None = None


def render(row: asyncpg.Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for (_, key, _), value in zip(COLUMNS, row.values(), strict=True):
        if isinstance(value, decimal.Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        elif isinstance(value, datetime.datetime):
            value = value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
        out[key] = value
    return out


async def send_json(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                pool = await asyncpg.create_pool(DSN, min_size=10, max_size=10)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if pool is not None:
                    await pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert pool is not None
    path: str = scope["path"]
    if path == "/records":
        async with pool.acquire() as connection:
            rows = await connection.fetch(LIST_SQL, 50, 0)
            total = int(await connection.fetchval(COUNT_SQL, SCHEMA_ID))
        body = orjson.dumps(
            {"records": [render(r) for r in rows], "page": 1, "per_page": 50, "total": total}
        )
        await send_json(send, 200, body)
    elif path.startswith("/records/"):
        async with pool.acquire() as connection:
            row = await connection.fetchrow(GET_SQL, path.removeprefix("/records/"))
        await send_json(send, 200 if row else 404, orjson.dumps(render(row)) if row else b"{}")
    elif path == "/healthz":
        await send_json(send, 200, b"{}")
    else:
        await send_json(send, 404, b"{}")


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ["BARE_PORT"]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
