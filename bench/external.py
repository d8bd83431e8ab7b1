"""The external API of `make bench`'s connector figures: one uvicorn process answering
GET /v1/items (with the right X-Api-Key) with a small JSON list, and POST /hooks (a webhook
receiver) with 200, as fast as a bare ASGI app does. Serves on EXTERNAL_PORT."""

from __future__ import annotations

import os

from bench.baseline import Receive, Reply, Scope, Send, read_body, respond, serve

API_KEY = "bench-key"
ITEMS = (
    b'{"items":[{"id":1,"name":"Anvil","price":12.5,"tags":["iron"]},'
    b'{"id":2,"name":"Rope","price":3,"tags":[]}],"total":2}'
)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/hooks":
        await read_body(receive)
        await respond(send, Reply(200, b"{}"))
        return
    if path == "/healthz":
        await respond(send, Reply(200, b"{}"))
        return
    headers = dict(scope["headers"])
    if path == "/v1/items" and headers.get(b"x-api-key") == API_KEY.encode():
        await respond(send, Reply(200, ITEMS))
        return
    await respond(send, Reply(401, b'{"error":"unauthorized"}'))


if __name__ == "__main__":
    serve(app, int(os.environ["EXTERNAL_PORT"]))
