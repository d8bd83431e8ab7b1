"""What the identity service hands back to its servicer: plain, immutable values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    email: str
    created_at: datetime


@dataclass(frozen=True)
class Credentials:
    """An account with its password hash; never leaves the service layer."""

    account: Account
    password_hash: str
    # What a login made now must not predate (see tables.accounts.tokens_valid_after).
    tokens_valid_after: datetime | None = None


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    slug: str
    created_at: datetime


@dataclass(frozen=True)
class Membership:
    workspace: Workspace
    role: str
    sso_required: bool = False


@dataclass(frozen=True)
class AccountMemberships:
    memberships: list[Membership]
    # Access JWTs issued before it are revoked; None: no cutoff.
    tokens_valid_after: datetime | None


@dataclass(frozen=True)
class CreatedAccount:
    account: Account
    workspace: Workspace


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    account: Account
    expires_in: int


@dataclass(frozen=True)
class LoginScope:
    """A single sign-on login: the one workspace it opens, and the provider's subject and
    session id that a back-channel logout names."""

    workspace_id: str
    subject: str = ""
    sid: str = ""


@dataclass(frozen=True)
class OpenedSession:
    session_id: str
    csrf_token: str
    account: Account
    expires_at: datetime


@dataclass(frozen=True)
class ResolvedSession:
    account: Account
    csrf_token: str
    # A single sign-on session's workspace; "" for a password session.
    workspace_id: str = ""


@dataclass(frozen=True)
class PublicKey:
    kid: str
    algorithm: str
    public_key_pem: str


@dataclass(frozen=True)
class PublicKeys:
    keys: list[PublicKey]
    issuer: str
    audience: str


@dataclass(frozen=True)
class Member:
    account: Account
    role: str
    joined_at: datetime


# A token permission for one operation: True (everything), False, or scopes as stored:
# ("app", app id) and ("schema", app id, schema id).
Scope = tuple[str, ...]
Permission = bool | list[Scope]


@dataclass(frozen=True)
class ApiToken:
    id: str
    name: str
    workspace_id: str
    account_id: str
    # Keyed by operation (create, read, update, delete), every operation present.
    permissions: dict[str, Permission]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class IssuedApiToken:
    token: ApiToken
    secret: str


@dataclass(frozen=True)
class IssuedUserKey:
    id: str
    secret: str
    created_at: datetime


@dataclass(frozen=True)
class RefreshTokenState:
    """A refresh token row with its account; never leaves the service layer."""

    account: Account
    family_id: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    rotated_at: datetime | None
    successor_hash: str | None
    sealed_successor: bytes | None
    scope: LoginScope | None
    tokens_valid_after: datetime | None = None


@dataclass(frozen=True)
class AppUser:
    id: str
    app_id: str
    email: str
    name: str
    app_role: str
    created_at: datetime


@dataclass(frozen=True)
class AdminToken:
    id: str
    name: str
    workspace_id: str
    created_by: str
    bypass_privacy_rules: bool
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class IssuedAdminToken:
    token: AdminToken
    secret: str


@dataclass(frozen=True)
class AppUserCredentials:
    """An app user with their password hash; never leaves the service layer."""

    user: AppUser
    password_hash: str


@dataclass(frozen=True)
class OpenedAppSession:
    token: str
    expires_at: datetime
    user: AppUser
    # The session's public id (aps_...), as the audit log names it; not the secret.
    session_id: str = ""


@dataclass(frozen=True)
class LiveAppSession:
    session_id: str
    expires_at: datetime
    app_user_id: str
    tenant_id: str
    app_id: str
    app_role: str


@dataclass(frozen=True)
class AppUserPage:
    users: list[AppUser]
    total: int


@dataclass(frozen=True)
class ThrottleState:
    """One row of login throttling (see throttling.py)."""

    blocked_until: datetime | None
    last_success_at: datetime | None
