"""Baseline (a) of `make bench`: one uvicorn process, a raw ASGI app and an asyncpg pool
issuing the records service's statements (bench/baseline.py); no gateway, no gRPC, no
auth, no transaction, no outbox. Serves GET/POST /records, POST /records/batch and
GET/PATCH /records/{id} on BASELINE_PORT."""

from __future__ import annotations

import os

from bench.baseline import (
    NOT_FOUND,
    Receive,
    Records,
    Reply,
    Scope,
    Send,
    lifespan,
    read_body,
    respond,
    route,
    serve,
)

records: Records | None = None


async def startup() -> None:
    global records
    records = await Records.from_env()


async def shutdown() -> None:
    if records is not None:
        await records.close()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send, startup, shutdown)
        return
    if scope["path"] == "/healthz":
        await respond(send, Reply(200, b"{}"))
        return
    target = route(scope["method"], scope["path"])
    if target is None or records is None:
        await respond(send, NOT_FOUND)
        return
    operation, record_id = target
    body = await read_body(receive) if operation in ("create", "update", "batch") else b""
    query = scope["query_string"].decode("latin-1")
    await respond(send, await records.dispatch(operation, record_id, query, body))


if __name__ == "__main__":
    serve(app, int(os.environ["BASELINE_PORT"]))
