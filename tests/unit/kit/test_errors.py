from __future__ import annotations

import grpc
import pytest

from services.kit.errors import (
    ERRORS_BY_CODE,
    STATUS_DETAILS_KEY,
    Conflict,
    DomainError,
    InternalError,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
    from_grpc_error,
    to_status_details,
)


@pytest.mark.parametrize("cls", list(ERRORS_BY_CODE.values()))
def test_every_error_survives_the_grpc_round_trip(cls: type[DomainError]) -> None:
    error = cls("something specific", field="email")
    rebuilt = from_grpc_error(
        error.grpc_status, error.message, [(STATUS_DETAILS_KEY, to_status_details(error))]
    )
    assert type(rebuilt) is cls
    assert rebuilt.message == "something specific"
    assert rebuilt.field == "email"
    assert rebuilt.http_status == error.http_status


def test_envelope_shape() -> None:
    assert ValidationFailed("Field 'email' is required", field="email").to_envelope() == {
        "error": {
            "code": "validation_error",
            "message": "Field 'email' is required",
            "field": "email",
        }
    }
    assert NotFound().to_envelope() == {"error": {"code": "not_found", "message": "Not found"}}


def test_codes_and_statuses_are_unique_per_class() -> None:
    assert len(ERRORS_BY_CODE) == len({cls.code for cls in ERRORS_BY_CODE.values()})
    assert Conflict.http_status == 409
    assert ValidationFailed.http_status == 400


def test_transport_failures_never_leak_their_details() -> None:
    unavailable = from_grpc_error(grpc.StatusCode.UNAVAILABLE, "connect to 10.0.0.1 failed", ())
    assert isinstance(unavailable, ServiceUnavailable)
    assert "10.0.0.1" not in unavailable.message
    unknown = from_grpc_error(grpc.StatusCode.UNKNOWN, "Traceback (most recent call last)", ())
    assert isinstance(unknown, InternalError)
    assert "Traceback" not in unknown.message


def test_details_and_retry_after_survive_the_grpc_round_trip() -> None:
    details: list[dict[str, object]] = [
        {"field": "records[17].email", "message": "Field 'email' must be an email address"},
        {"lost": 3, "record_ids": ["rec_a", "rec_b"]},
    ]
    error = Conflict("Busy", details=details, retry_after=2)
    rebuilt = from_grpc_error(
        error.grpc_status, error.message, [(STATUS_DETAILS_KEY, to_status_details(error))]
    )
    assert isinstance(rebuilt, Conflict)
    assert rebuilt.details == details
    assert rebuilt.retry_after == 2
    assert rebuilt.to_envelope() == {
        "error": {"code": "conflict", "message": "Busy", "details": details}
    }


def test_no_details_means_no_details_key() -> None:
    assert "details" not in ValidationFailed("x", field="f").to_envelope()["error"]
