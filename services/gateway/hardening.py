"""What every response tells a browser, whatever route made it: do not sniff content
types, send no referrer onwards, and keep nothing in a cache (responses carry credentials,
records and tokens; a route that may be cached says so itself)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


class SecurityHeaders:
    """Pure ASGI, so it costs one header merge per response and wraps no body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"]:
            # No id, slug or name holds a NUL, and PostgreSQL text cannot: nothing is there.
            await send_with_headers_of(scope, send, NOT_FOUND_NUL)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in DEFAULT_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


NOT_FOUND_NUL = b'{"error":{"code":"not_found","message":"Not found"}}'


async def send_with_headers_of(scope: Scope, send: Send, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in DEFAULT_HEADERS
    ]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": body})
