"""Identity's failures, as entries of the kit error table."""

from __future__ import annotations

from services.kit.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)

# A hash takes tens of milliseconds; in a second the line has moved.
HASHING_BUSY_RETRY_AFTER_SECONDS = 1


class InvalidCredentials(Unauthenticated):
    # One message for an unknown email and a wrong password: nothing to enumerate.
    default_message = "Invalid email or password"

    def __init__(self, *, account_id: str = "") -> None:
        super().__init__()
        # Never shown to the client: whose password was wrong ("": no such email), for
        # the audit log.
        self.account_id = account_id


class WrongPassword(ValidationFailed):
    # A 400 naming the field, as Baserow answers a wrong old password; not a 401, which a
    # client would take for its own credentials having failed.
    default_message = "The current password is not correct"

    def __init__(self) -> None:
        super().__init__(field="old_password")


class RefreshTokenInvalid(Unauthenticated):
    default_message = "Refresh token is invalid or expired"


class SessionInvalid(Unauthenticated):
    default_message = "Session has expired or ended"


class RefreshTokenReused(Unauthenticated):
    # A spent token presented after the grace: it may have been stolen, so every token of
    # its login has been revoked.
    default_message = "Refresh token has already been used; log in again"

    def __init__(self, *, family_id: str, account_id: str) -> None:
        super().__init__()
        # Never shown to the client: which login the servicer revokes, and whose.
        self.family_id = family_id
        self.account_id = account_id


class EmailTaken(Conflict):
    default_message = "An account with this email address already exists"

    def __init__(self) -> None:
        super().__init__(field="email")


class AppUserEmailTaken(Conflict):
    default_message = "A user of this app already has this email address"

    def __init__(self) -> None:
        super().__init__(field="email")


class AppNotFound(NotFound):
    default_message = "App not found"


class AppUserNotFound(NotFound):
    default_message = "App user not found"


class NotYourMemberships(PermissionDenied):
    default_message = "You can only list your own workspaces"


class NoSigningKey(Exception):
    """Startup did not provision a signing key; an operator problem, never a client one."""


class MemberNotFound(NotFound):
    default_message = "Member not found"


class NoAccountWithEmail(NotFound):
    default_message = "No account has this email address; create it through the users API"

    def __init__(self) -> None:
        super().__init__(field="email")


class AlreadyMember(Conflict):
    default_message = "This account is already a member of the workspace"

    def __init__(self) -> None:
        super().__init__(field="email")


class LastOwner(Conflict):
    default_message = "A workspace must keep at least one owner; make someone else owner first"


class OwnersOnly(PermissionDenied):
    default_message = "Only an owner may make, change or remove an owner"


class TokenNotFound(NotFound):
    default_message = "Token not found"


class NoUserKey(NotFound):
    default_message = "You have no API key"


class StoredSecretsUnreadable(Exception):
    """The key-encryption key cannot open what identity stored; the service refuses to
    start rather than fail every login. An operator problem, never a client one."""


class HashingBusy(RateLimited):
    # As many password checks as identity runs and lets wait are under way; this one is
    # refused at once rather than queued (and its memory spent) without end.
    default_message = "Too many password checks at once; try again in a moment"

    def __init__(self) -> None:
        super().__init__(retry_after=HASHING_BUSY_RETRY_AFTER_SECONDS)


class LoginThrottled(RateLimited):
    # Said alike for an unknown email and a real account, before any password is checked.
    default_message = "Too many failed attempts; try again later"

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(
            f"Too many failed attempts; try again in {retry_after} second(s)",
            retry_after=retry_after,
        )
