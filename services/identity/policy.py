"""What each identity call is, for the role table (services.kit.access)."""

from __future__ import annotations

from services.kit.grpc.policy import ACCOUNT, PUBLIC, PolicyTable

POLICY: PolicyTable = {
    # Signing up, logging in and presenting a credential come before any principal.
    "CreateAccount": PUBLIC,
    "IssueTokens": PUBLIC,
    "RefreshTokens": PUBLIC,
    "RevokeRefreshToken": PUBLIC,
    "CreateSession": PUBLIC,
    "ResolveSession": PUBLIC,
    "EndSession": PUBLIC,
    "GetSigningKeys": PUBLIC,
    "ResolveCredential": PUBLIC,
    "CreateWorkspace": ACCOUNT,
    "ListMemberships": ACCOUNT,
}
