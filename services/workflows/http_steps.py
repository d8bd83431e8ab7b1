"""http_request steps over the SSRF-safe client (services.kit.outbound): a body that is an
object or a list goes as JSON, text as it is; the answer comes back as the step's result,
and its status decides whether the step is tried again, fails or succeeds."""

from __future__ import annotations

from typing import Any

import httpx

from services.kit.errors import ServiceUnavailable
from services.kit.json import dumps_exact, holds_nul, loads_exact
from services.kit.outbound import OutboundClient

# An answer a step keeps in its journal: larger ones fail the step.
MAX_ANSWER_BYTES = 1024 * 1024
# Statuses that may pass: the other side is busy or down for a moment.
PASSING = frozenset({408, 425, 429, 500, 502, 503, 504})


class HttpStatusFailed(Exception):
    """The server answered a status that will not change by asking again."""


class OutboundHttp:
    def __init__(self, client: OutboundClient) -> None:
        self.client = client

    async def send(
        self, method: str, url: str, headers: dict[str, str], body: Any
    ) -> dict[str, Any]:
        sent = dict(headers)
        content: bytes | None = None
        if isinstance(body, dict | list):
            content = dumps_exact(body)
            if not any(name.lower() == "content-type" for name in sent):
                sent["Content-Type"] = "application/json"
        elif body is not None:
            content = str(body).encode("utf-8")
        try:
            answer = await self.client.request(method, url, headers=sent, content=content)
        except httpx.TimeoutException as error:
            raise TimeoutError(str(error)) from None
        except httpx.TransportError as error:
            raise ServiceUnavailable(f"{url[:200]} could not be reached ({error})") from None
        if answer.status_code in PASSING:
            raise ServiceUnavailable(f"{url[:200]} answered {answer.status_code}")
        if answer.status_code >= 400:
            raise HttpStatusFailed(f"{url[:200]} answered {answer.status_code}")
        # PostgreSQL's jsonb, where the journal keeps the result, holds no NUL.
        text = answer.content.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        try:
            parsed = loads_exact(text) if text.strip() else None
        except ValueError:
            parsed = None
        if holds_nul(parsed):
            # An escaped NUL ("\u0000") parses into one, which the journal cannot keep.
            raise HttpStatusFailed(f"{url[:200]} answered JSON with a NUL character")
        return {
            "status": answer.status_code,
            "headers": dict(answer.headers),
            "body": text,
            "json": parsed,
        }


def step_client() -> OutboundClient:
    """The client steps use: the operator's allow-list, answers capped for the journal."""
    return OutboundClient(max_response_bytes=MAX_ANSWER_BYTES)
