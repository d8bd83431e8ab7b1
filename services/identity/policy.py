"""What each identity call is, for the role table (services.kit.access)."""

from __future__ import annotations

from services.kit.access import Op
from services.kit.grpc.policy import ACCOUNT, APP_USER, PUBLIC, PolicyTable

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
    # The gateway's anonymous context names the app (resolved from its public id).
    "SignUpAppUser": PUBLIC,
    "LogInAppUser": PUBLIC,
    "EndAppSession": APP_USER,
    "EndOtherAppSessions": APP_USER,
    "ListAppUsers": Op.APP_USERS_MANAGE,
    "CreateAppUser": Op.APP_USERS_MANAGE,
    "GetAppUser": Op.APP_USERS_MANAGE,
    "UpdateAppUser": Op.APP_USERS_MANAGE,
    "DeleteAppUser": Op.APP_USERS_MANAGE,
}
