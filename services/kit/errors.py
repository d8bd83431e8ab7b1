"""The one error table: every failure a client can see is a DomainError subclass with a
stable code, an HTTP status and a gRPC status. Services raise them; the gRPC interceptor
encodes them as google.rpc.Status; the gateway decodes them and renders the envelope
{"error": {"code", "message", "field"}}."""

from __future__ import annotations

from typing import ClassVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "tessera"
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class DomainError(Exception):
    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    grpc_status: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    default_message: ClassVar[str] = "Internal server error"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        self.field = field
        super().__init__(self.message)

    def to_envelope(self) -> dict[str, dict[str, str]]:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
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
        PayloadTooLarge,
        UnsupportedMediaType,
        RateLimited,
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
        reason, field = _reason_and_field(status)
        cls = ERRORS_BY_CODE.get(reason or "")
        if cls is not None:
            return cls(status.message, field=field)
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


def _reason_and_field(status: status_pb2.Status) -> tuple[str | None, str | None]:
    reason: str | None = None
    field: str | None = None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.domain == ERROR_DOMAIN:
                reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            if bad_request.field_violations:
                field = bad_request.field_violations[0].field
    return reason, field


__all__ = [
    "ERRORS_BY_CODE",
    "STATUS_DETAILS_KEY",
    "Conflict",
    "DomainError",
    "InternalError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthenticated",
    "UnsupportedMediaType",
    "ValidationFailed",
    "from_grpc_error",
    "to_status_details",
]
