"""Reading request bodies within a size limit, and validating them into models whose
failures speak the error envelope."""

from __future__ import annotations

import re
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationError

from services.kit.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from services.kit.json import loads_exact

Model = TypeVar("Model", bound=BaseModel)


class StrictInput(BaseModel):
    """Request bodies: unknown keys and wrong JSON types are errors, never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


async def read_body(request: Request, *, limit: int | None = None) -> bytes:
    """The whole body, refused past `limit` (the configured maximum by default)."""
    if limit is None:
        limit = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_json(request: Request, *, limit: int | None = None) -> Any:
    """The body as JSON, numbers kept exact (fractions and large ones as Decimal)."""
    body = await read_body(request, limit=limit)
    if not body.strip():
        raise ValidationFailed("Request body is required")
    return json_of(body)


def json_of(body: bytes) -> Any:
    """A body read already, as JSON (numbers kept exact)."""
    try:
        return loads_exact(body)
    except ValueError:
        raise ValidationFailed("Request body is not valid JSON") from None
    except RecursionError:
        raise ValidationFailed("Request body is nested too deeply") from None


async def read_form_or_json(request: Request) -> Any:
    """AppBuilder's login takes a form post or JSON."""
    kind = media_type(request)
    if kind == "application/x-www-form-urlencoded":
        body = await read_body(request)
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise ValidationFailed("Form body is not valid UTF-8") from None
    if kind in ("", "application/json") or kind.endswith("+json"):
        return await read_json(request)
    raise UnsupportedMediaType(f"Unsupported media type '{kind}'; send JSON or a form")


def parse(model: type[Model], data: Any) -> Model:
    if not isinstance(data, dict):
        raise ValidationFailed("Request body must be a JSON object")
    unreadable = _unencodable(data)
    if unreadable is not None:
        raise ValidationFailed(
            f"Field '{unreadable}' holds text that is not valid Unicode (a lone surrogate)",
            field=unreadable,
        )
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            message = f"Unknown field '{field}'"
        elif first["type"] == "missing":
            message = f"Field '{field}' is required"
        else:
            message = f"Field '{field}': {first['msg']}"
        raise ValidationFailed(message, field=field) from None


def encodable(text: str) -> bool:
    """Whether UTF-8 can carry `text`: JSON's "\ud800" cannot be sent to any service."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unencodable(data: Any, path: str = "") -> str | None:
    """Where `data` holds a string UTF-8 cannot carry; None when nowhere."""
    if isinstance(data, str):
        return None if encodable(data) else (path or "body")
    if isinstance(data, dict):
        for key, value in data.items():
            found = _unencodable(key, path) or _unencodable(
                value, f"{path}.{key}" if path else str(key)
            )
            if found is not None:
                return found[:100]
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = _unencodable(value, f"{path}[{index}]")
            if found is not None:
                return found
    return None


async def parse_json(request: Request, model: type[Model]) -> Model:
    return parse(model, await read_json(request))


_ETAG = re.compile(r'(?:W/)?"?(\d{1,18})"?')


def expected_version(request: Request) -> int | None:
    """The version an If-Match header names ("3", 3 or W/"3"); None for none or *."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    match = _ETAG.fullmatch(raw.strip())
    if match is None:
        raise ValidationFailed(
            "If-Match must name a record version, as the ETag header gives it", field="If-Match"
        )
    return int(match.group(1))
