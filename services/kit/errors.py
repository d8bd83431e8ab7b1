"""The one error table: every failure a client can see is a DomainError subclass with a
stable code, an HTTP status and a gRPC status. Services raise them; the gRPC interceptor
encodes them as google.rpc.Status; the gateway decodes them and renders the envelope
{"error": {"code", "message", "field"?, "details"?}}.

`details` is a list of JSON objects for what one field name cannot say: the violations of a
batch with item paths (`{"field": "records[17].email", "message": ...}`), the records a
type change would lose, the current version behind a failed If-Match."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import grpc
import orjson
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "tessera"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
# ErrorInfo.metadata keys; metadata values are strings, so details travel as JSON.
_DETAILS_KEY = "details"
_RETRY_AFTER_KEY = "retry_after"

Details = Sequence[Mapping[str, Any]]


class DomainError(Exception):
    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    grpc_status: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    default_message: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        details: Details | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.field = field
        self.details = [dict(item) for item in details] if details else []
        # Seconds a client should wait before retrying (the Retry-After header).
        self.retry_after = retry_after
        super().__init__(self.message)

    def to_envelope(self) -> dict[str, dict[str, Any]]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return {"error": body}


class ValidationFailed(DomainError):
    code = "validation_error"
    http_status = 400
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT
    default_message = "Invalid input"


class Unauthenticated(DomainError):
    code = "unauthenticated"
    http_status = 401
    grpc_status = grpc.StatusCode.UNAUTHENTICATED
    default_message = "Authentication credentials were not provided or are invalid"


class PermissionDenied(DomainError):
    code = "permission_denied"
    http_status = 403
    grpc_status = grpc.StatusCode.PERMISSION_DENIED
    default_message = "You do not have permission to perform this action"


class NotFound(DomainError):
    code = "not_found"
    http_status = 404
    grpc_status = grpc.StatusCode.NOT_FOUND
    default_message = "Not found"


class MethodNotAllowed(DomainError):
    code = "method_not_allowed"
    http_status = 405
    grpc_status = grpc.StatusCode.UNIMPLEMENTED
    default_message = "Method not allowed"


class Conflict(DomainError):
    code = "conflict"
    http_status = 409
    grpc_status = grpc.StatusCode.ALREADY_EXISTS
    default_message = "Conflict"


class PreconditionFailed(DomainError):
    code = "precondition_failed"
    http_status = 412
    grpc_status = grpc.StatusCode.FAILED_PRECONDITION
    default_message = "The resource has changed since the version given"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    http_status = 413
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_message = "Request body is too large"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    http_status = 415
    grpc_status = grpc.StatusCode.INVALID_ARGUMENT
    default_message = "Unsupported media type"


class RateLimited(DomainError):
    code = "rate_limited"
    http_status = 429
    grpc_status = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_message = "Too many requests"


class WorkflowFailed(DomainError):
    """A workflow run the caller waited for ended in failure: the request was fine, a step
    was not. `details` name the run, whose steps' log says more."""

    code = "workflow_failed"
    http_status = 422
    grpc_status = grpc.StatusCode.ABORTED
    default_message = "The workflow run failed"


class UpstreamFailed(DomainError):
    """An external API a connector called answered a failure, or nothing usable: the request
    to Tessera was fine, the other side was not. `details` carry its status."""

    code = "upstream_failed"
    http_status = 502
    grpc_status = grpc.StatusCode.ABORTED
    default_message = "The external API did not answer as expected"


class InternalError(DomainError):
    pass


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
    http_status = 503
    grpc_status = grpc.StatusCode.UNAVAILABLE
    default_message = "A backing service is unavailable; try again shortly"


ERRORS_BY_CODE: dict[str, type[DomainError]] = {
    cls.code: cls
    for cls in (
        ValidationFailed,
        Unauthenticated,
        PermissionDenied,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        UnsupportedMediaType,
        RateLimited,
        WorkflowFailed,
        UpstreamFailed,
        InternalError,
        ServiceUnavailable,
    )
}

# Used when a gRPC error carries no Tessera detail (deadline, transport failure, ...).
_ERRORS_BY_GRPC_STATUS: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.UNAVAILABLE: ServiceUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: ServiceUnavailable,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}


def to_status_details(error: DomainError) -> bytes:
    """Serialises a domain error as a google.rpc.Status for the status-details trailer."""
    info = error_details_pb2.ErrorInfo(reason=error.code, domain=ERROR_DOMAIN)
    if error.details:
        info.metadata[_DETAILS_KEY] = orjson.dumps(error.details).decode()
    if error.retry_after is not None:
        info.metadata[_RETRY_AFTER_KEY] = str(error.retry_after)
    details = [_pack(info)]
    if error.field:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.message
        )
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    status = status_pb2.Status(
        code=error.grpc_status.value[0], message=error.message, details=details
    )
    return status.SerializeToString()


def from_grpc_error(
    code: grpc.StatusCode, details: str | None, trailing_metadata: object
) -> DomainError:
    """Rebuilds the domain error a service raised from a failed call's status."""
    status = _status_from_trailers(trailing_metadata)
    if status is not None:
        decoded = _decode(status)
        cls = ERRORS_BY_CODE.get(decoded.reason)
        if cls is not None:
            return cls(
                status.message,
                field=decoded.field,
                details=decoded.details,
                retry_after=decoded.retry_after,
            )
    fallback = _ERRORS_BY_GRPC_STATUS.get(code, InternalError)
    # Raw transport details are for logs, never for clients.
    return fallback()


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def _status_from_trailers(trailing_metadata: object) -> status_pb2.Status | None:
    for key, value in trailing_metadata or ():  # type: ignore[attr-defined]
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status()
            status.ParseFromString(value)
            return status
    return None


class _Decoded:
    def __init__(self) -> None:
        self.reason = ""
        self.field: str | None = None
        self.details: list[dict[str, Any]] = []
        self.retry_after: int | None = None


def _decode(status: status_pb2.Status) -> _Decoded:
    decoded = _Decoded()
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.domain != ERROR_DOMAIN:
                continue
            decoded.reason = info.reason
            if _DETAILS_KEY in info.metadata:
                loaded = orjson.loads(info.metadata[_DETAILS_KEY])
                if isinstance(loaded, list):
                    decoded.details = [item for item in loaded if isinstance(item, dict)]
            raw_retry = info.metadata.get(_RETRY_AFTER_KEY, "")
            if raw_retry.isdigit():
                decoded.retry_after = int(raw_retry)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            if bad_request.field_violations:
                decoded.field = bad_request.field_violations[0].field
    return decoded


__all__ = [
    "ERRORS_BY_CODE",
    "STATUS_DETAILS_KEY",
    "Conflict",
    "Details",
    "DomainError",
    "InternalError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PreconditionFailed",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthenticated",
    "UnsupportedMediaType",
    "ValidationFailed",
    "from_grpc_error",
    "to_status_details",
]
