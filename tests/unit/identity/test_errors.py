from __future__ import annotations

import grpc
import pytest

from services.identity.errors import (
    EmailTaken,
    InvalidCredentials,
    NotYourMemberships,
    RefreshTokenInvalid,
    SessionInvalid,
)
from services.kit.errors import STATUS_DETAILS_KEY, DomainError, from_grpc_error, to_status_details


@pytest.mark.parametrize(
    ("error", "status", "code", "field"),
    [
        (InvalidCredentials(), grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", None),
        (RefreshTokenInvalid(), grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", None),
        (SessionInvalid(), grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", None),
        (EmailTaken(), grpc.StatusCode.ALREADY_EXISTS, "conflict", "email"),
        (NotYourMemberships(), grpc.StatusCode.PERMISSION_DENIED, "permission_denied", None),
    ],
)
def test_identity_errors_survive_the_wire(
    error: DomainError, status: grpc.StatusCode, code: str, field: str | None
) -> None:
    assert error.grpc_status == status
    trailers = ((STATUS_DETAILS_KEY, to_status_details(error)),)

    decoded = from_grpc_error(status, error.message, trailers)

    assert decoded.code == code
    assert decoded.field == field
    assert decoded.message == error.message


def test_messages_are_fixed_and_name_no_detail() -> None:
    assert InvalidCredentials().message == "Invalid email or password"
    assert RefreshTokenInvalid().message == "Refresh token is invalid or expired"
    assert SessionInvalid().message == "Session has expired or ended"
    assert EmailTaken().message == "An account with this email address already exists"
