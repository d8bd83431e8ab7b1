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
    "ChangePassword": ACCOUNT,
    "CreateWorkspace": ACCOUNT,
    "ListMemberships": ACCOUNT,
    "ListMembers": Op.MEMBERS_READ,
    "GetMember": Op.MEMBERS_READ,
    "AddMember": Op.MEMBERS_MANAGE,
    "UpdateMember": Op.MEMBERS_MANAGE,
    "RemoveMember": Op.MEMBERS_MANAGE,
    "ListUsers": Op.USERS_MANAGE,
    "GetUser": Op.USERS_MANAGE,
    "CreateUser": Op.USERS_MANAGE,
    "UpdateUser": Op.USERS_MANAGE,
    "RemoveUser": Op.USERS_MANAGE,
    # API tokens belong to the member who made them; tokens themselves may not make more.
    "CreateApiToken": Op.TOKENS_OWN,
    "ListApiTokens": Op.TOKENS_OWN,
    "GetApiToken": Op.TOKENS_OWN,
    "UpdateApiToken": Op.TOKENS_OWN,
    "RotateApiToken": Op.TOKENS_OWN,
    "DeleteApiToken": Op.TOKENS_OWN,
    # The key is the account's, in no particular workspace.
    "CreateUserKey": ACCOUNT,
    "DeleteUserKey": ACCOUNT,
    "CreateAdminToken": Op.ADMIN_TOKENS_MANAGE,
    "ListAdminTokens": Op.ADMIN_TOKENS_MANAGE,
    "DeleteAdminToken": Op.ADMIN_TOKENS_MANAGE,
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
    "ListAuditLog": Op.AUDIT_LOG_READ,
    "PutSsoConfig": Op.SSO_MANAGE,
    "GetSsoConfig": Op.SSO_MANAGE,
    "DeleteSsoConfig": Op.SSO_MANAGE,
    # The login itself comes before any principal; only the gateway may run it.
    "DiscoverSso": PUBLIC,
    "StartSsoLogin": PUBLIC,
    "ClaimSsoLogin": PUBLIC,
    "CompleteSsoLogin": PUBLIC,
    "EndSsoSessions": PUBLIC,
    "GetSsoProvider": PUBLIC,
}
