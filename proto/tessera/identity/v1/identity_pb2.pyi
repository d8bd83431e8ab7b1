from tessera.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Account(_message.Message):
    __slots__ = ("id", "name", "email", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    email: str
    created_at: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class Workspace(_message.Message):
    __slots__ = ("id", "name", "slug", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    slug: str
    created_at: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., slug: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class Membership(_message.Message):
    __slots__ = ("workspace", "role", "sso_required")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SSO_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    workspace: Workspace
    role: str
    sso_required: bool
    def __init__(self, workspace: _Optional[_Union[Workspace, _Mapping]] = ..., role: _Optional[str] = ..., sso_required: _Optional[bool] = ...) -> None: ...

class CreateAccountRequest(_message.Message):
    __slots__ = ("name", "email", "password", "ctx")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    CTX_FIELD_NUMBER: _ClassVar[int]
    name: str
    email: str
    password: str
    ctx: _common_pb2.RequestContext
    def __init__(self, name: _Optional[str] = ..., email: _Optional[str] = ..., password: _Optional[str] = ..., ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class CreateAccountResponse(_message.Message):
    __slots__ = ("account", "workspace")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    account: Account
    workspace: Workspace
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ..., workspace: _Optional[_Union[Workspace, _Mapping]] = ...) -> None: ...

class IssueTokensRequest(_message.Message):
    __slots__ = ("username", "password", "ctx")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    CTX_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    ctx: _common_pb2.RequestContext
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ..., ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class IssueTokensResponse(_message.Message):
    __slots__ = ("access_token", "refresh_token", "account", "expires_in")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    refresh_token: str
    account: Account
    expires_in: int
    def __init__(self, access_token: _Optional[str] = ..., refresh_token: _Optional[str] = ..., account: _Optional[_Union[Account, _Mapping]] = ..., expires_in: _Optional[int] = ...) -> None: ...

class RefreshTokensRequest(_message.Message):
    __slots__ = ("refresh_token", "ctx")
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CTX_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    ctx: _common_pb2.RequestContext
    def __init__(self, refresh_token: _Optional[str] = ..., ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class RevokeRefreshTokenRequest(_message.Message):
    __slots__ = ("refresh_token", "ctx")
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CTX_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    ctx: _common_pb2.RequestContext
    def __init__(self, refresh_token: _Optional[str] = ..., ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class RevokeRefreshTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("username", "password", "ctx")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    CTX_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    ctx: _common_pb2.RequestContext
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ..., ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("session_id", "csrf_token", "account", "expires_at")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CSRF_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    csrf_token: str
    account: Account
    expires_at: str
    def __init__(self, session_id: _Optional[str] = ..., csrf_token: _Optional[str] = ..., account: _Optional[_Union[Account, _Mapping]] = ..., expires_at: _Optional[str] = ...) -> None: ...

class ResolveSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ResolveSessionResponse(_message.Message):
    __slots__ = ("account", "csrf_token", "workspace_id")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CSRF_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    account: Account
    csrf_token: str
    workspace_id: str
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ..., csrf_token: _Optional[str] = ..., workspace_id: _Optional[str] = ...) -> None: ...

class EndSessionRequest(_message.Message):
    __slots__ = ("session_id", "ctx")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CTX_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    ctx: _common_pb2.RequestContext
    def __init__(self, session_id: _Optional[str] = ..., ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class EndSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateWorkspaceRequest(_message.Message):
    __slots__ = ("ctx", "name")
    CTX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    name: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., name: _Optional[str] = ...) -> None: ...

class ListMembershipsRequest(_message.Message):
    __slots__ = ("ctx", "account_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    account_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., account_id: _Optional[str] = ...) -> None: ...

class ListMembershipsResponse(_message.Message):
    __slots__ = ("memberships", "tokens_valid_after")
    MEMBERSHIPS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_VALID_AFTER_FIELD_NUMBER: _ClassVar[int]
    memberships: _containers.RepeatedCompositeFieldContainer[Membership]
    tokens_valid_after: int
    def __init__(self, memberships: _Optional[_Iterable[_Union[Membership, _Mapping]]] = ..., tokens_valid_after: _Optional[int] = ...) -> None: ...

class ChangePasswordRequest(_message.Message):
    __slots__ = ("ctx", "old_password", "new_password")
    CTX_FIELD_NUMBER: _ClassVar[int]
    OLD_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    NEW_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    old_password: str
    new_password: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., old_password: _Optional[str] = ..., new_password: _Optional[str] = ...) -> None: ...

class ChangePasswordResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSigningKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SigningKey(_message.Message):
    __slots__ = ("kid", "algorithm", "public_key_pem")
    KID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    kid: str
    algorithm: str
    public_key_pem: str
    def __init__(self, kid: _Optional[str] = ..., algorithm: _Optional[str] = ..., public_key_pem: _Optional[str] = ...) -> None: ...

class GetSigningKeysResponse(_message.Message):
    __slots__ = ("keys", "issuer", "audience")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[SigningKey]
    issuer: str
    audience: str
    def __init__(self, keys: _Optional[_Iterable[_Union[SigningKey, _Mapping]]] = ..., issuer: _Optional[str] = ..., audience: _Optional[str] = ...) -> None: ...

class ResolveCredentialRequest(_message.Message):
    __slots__ = ("secret",)
    SECRET_FIELD_NUMBER: _ClassVar[int]
    secret: str
    def __init__(self, secret: _Optional[str] = ...) -> None: ...

class ResolvedCredential(_message.Message):
    __slots__ = ("ctx", "expires_at")
    CTX_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    expires_at: int
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., expires_at: _Optional[int] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("account", "role", "joined_at")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    JOINED_AT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    role: str
    joined_at: str
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ..., role: _Optional[str] = ..., joined_at: _Optional[str] = ...) -> None: ...

class ListMembersRequest(_message.Message):
    __slots__ = ("ctx", "prefix")
    CTX_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    prefix: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., prefix: _Optional[str] = ...) -> None: ...

class ListMembersResponse(_message.Message):
    __slots__ = ("members",)
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[Member]
    def __init__(self, members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ...) -> None: ...

class GetMemberRequest(_message.Message):
    __slots__ = ("ctx", "account_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    account_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., account_id: _Optional[str] = ...) -> None: ...

class AddMemberRequest(_message.Message):
    __slots__ = ("ctx", "email", "role")
    CTX_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    email: str
    role: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., email: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ("ctx", "email", "role", "name", "password")
    CTX_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    email: str
    role: str
    name: str
    password: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., email: _Optional[str] = ..., role: _Optional[str] = ..., name: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class UpdateMemberRequest(_message.Message):
    __slots__ = ("ctx", "account_id", "role", "name")
    CTX_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    account_id: str
    role: str
    name: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., account_id: _Optional[str] = ..., role: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class RemoveMemberRequest(_message.Message):
    __slots__ = ("ctx", "account_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    account_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., account_id: _Optional[str] = ...) -> None: ...

class RemoveMemberResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TokenPermission(_message.Message):
    __slots__ = ("operation", "all", "scopes")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    operation: str
    all: bool
    scopes: _containers.RepeatedCompositeFieldContainer[TokenScope]
    def __init__(self, operation: _Optional[str] = ..., all: _Optional[bool] = ..., scopes: _Optional[_Iterable[_Union[TokenScope, _Mapping]]] = ...) -> None: ...

class TokenScope(_message.Message):
    __slots__ = ("app_id", "schema_id")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_ID_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    schema_id: str
    def __init__(self, app_id: _Optional[str] = ..., schema_id: _Optional[str] = ...) -> None: ...

class ApiToken(_message.Message):
    __slots__ = ("id", "name", "workspace_id", "permissions", "created_at", "expires_at", "last_used_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    workspace_id: str
    permissions: _containers.RepeatedCompositeFieldContainer[TokenPermission]
    created_at: str
    expires_at: str
    last_used_at: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., workspace_id: _Optional[str] = ..., permissions: _Optional[_Iterable[_Union[TokenPermission, _Mapping]]] = ..., created_at: _Optional[str] = ..., expires_at: _Optional[str] = ..., last_used_at: _Optional[str] = ...) -> None: ...

class CreateApiTokenRequest(_message.Message):
    __slots__ = ("ctx", "name", "permissions", "expires_at")
    CTX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    name: str
    permissions: _containers.RepeatedCompositeFieldContainer[TokenPermission]
    expires_at: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., name: _Optional[str] = ..., permissions: _Optional[_Iterable[_Union[TokenPermission, _Mapping]]] = ..., expires_at: _Optional[str] = ...) -> None: ...

class IssuedApiToken(_message.Message):
    __slots__ = ("token", "secret")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    token: ApiToken
    secret: str
    def __init__(self, token: _Optional[_Union[ApiToken, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListApiTokensRequest(_message.Message):
    __slots__ = ("ctx",)
    CTX_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class ListApiTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[ApiToken]
    def __init__(self, tokens: _Optional[_Iterable[_Union[ApiToken, _Mapping]]] = ...) -> None: ...

class ApiTokenRequest(_message.Message):
    __slots__ = ("ctx", "token_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    token_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., token_id: _Optional[str] = ...) -> None: ...

class UpdateApiTokenRequest(_message.Message):
    __slots__ = ("ctx", "token_id", "name", "replace_permissions", "permissions")
    CTX_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REPLACE_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    token_id: str
    name: str
    replace_permissions: bool
    permissions: _containers.RepeatedCompositeFieldContainer[TokenPermission]
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., token_id: _Optional[str] = ..., name: _Optional[str] = ..., replace_permissions: _Optional[bool] = ..., permissions: _Optional[_Iterable[_Union[TokenPermission, _Mapping]]] = ...) -> None: ...

class DeleteCredentialResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateUserKeyRequest(_message.Message):
    __slots__ = ("ctx",)
    CTX_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class IssuedUserKey(_message.Message):
    __slots__ = ("id", "secret", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    secret: str
    created_at: str
    def __init__(self, id: _Optional[str] = ..., secret: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class DeleteUserKeyRequest(_message.Message):
    __slots__ = ("ctx",)
    CTX_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class AdminToken(_message.Message):
    __slots__ = ("id", "name", "workspace_id", "bypass_privacy_rules", "created_by", "created_at", "last_used_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    BYPASS_PRIVACY_RULES_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    workspace_id: str
    bypass_privacy_rules: bool
    created_by: str
    created_at: str
    last_used_at: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., workspace_id: _Optional[str] = ..., bypass_privacy_rules: _Optional[bool] = ..., created_by: _Optional[str] = ..., created_at: _Optional[str] = ..., last_used_at: _Optional[str] = ...) -> None: ...

class CreateAdminTokenRequest(_message.Message):
    __slots__ = ("ctx", "name", "bypass_privacy_rules")
    CTX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BYPASS_PRIVACY_RULES_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    name: str
    bypass_privacy_rules: bool
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., name: _Optional[str] = ..., bypass_privacy_rules: _Optional[bool] = ...) -> None: ...

class IssuedAdminToken(_message.Message):
    __slots__ = ("token", "secret")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    token: AdminToken
    secret: str
    def __init__(self, token: _Optional[_Union[AdminToken, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListAdminTokensRequest(_message.Message):
    __slots__ = ("ctx",)
    CTX_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class ListAdminTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[AdminToken]
    def __init__(self, tokens: _Optional[_Iterable[_Union[AdminToken, _Mapping]]] = ...) -> None: ...

class DeleteAdminTokenRequest(_message.Message):
    __slots__ = ("ctx", "token_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    token_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., token_id: _Optional[str] = ...) -> None: ...

class AppUser(_message.Message):
    __slots__ = ("id", "app_id", "email", "name", "app_role", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    APP_ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    app_id: str
    email: str
    name: str
    app_role: str
    created_at: str
    def __init__(self, id: _Optional[str] = ..., app_id: _Optional[str] = ..., email: _Optional[str] = ..., name: _Optional[str] = ..., app_role: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class AppSession(_message.Message):
    __slots__ = ("token", "expires_at", "user")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    token: str
    expires_at: str
    user: AppUser
    def __init__(self, token: _Optional[str] = ..., expires_at: _Optional[str] = ..., user: _Optional[_Union[AppUser, _Mapping]] = ...) -> None: ...

class SignUpAppUserRequest(_message.Message):
    __slots__ = ("ctx", "email", "password", "name", "default_app_role")
    CTX_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_APP_ROLE_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    email: str
    password: str
    name: str
    default_app_role: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., email: _Optional[str] = ..., password: _Optional[str] = ..., name: _Optional[str] = ..., default_app_role: _Optional[str] = ...) -> None: ...

class LogInAppUserRequest(_message.Message):
    __slots__ = ("ctx", "email", "password", "keep_logged_in")
    CTX_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    KEEP_LOGGED_IN_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    email: str
    password: str
    keep_logged_in: bool
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., email: _Optional[str] = ..., password: _Optional[str] = ..., keep_logged_in: _Optional[bool] = ...) -> None: ...

class EndAppSessionRequest(_message.Message):
    __slots__ = ("ctx",)
    CTX_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class EndAppSessionResponse(_message.Message):
    __slots__ = ("session_ids",)
    SESSION_IDS_FIELD_NUMBER: _ClassVar[int]
    session_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, session_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListAppUsersRequest(_message.Message):
    __slots__ = ("ctx", "app_id", "page", "per_page")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PER_PAGE_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_id: str
    page: int
    per_page: int
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_id: _Optional[str] = ..., page: _Optional[int] = ..., per_page: _Optional[int] = ...) -> None: ...

class ListAppUsersResponse(_message.Message):
    __slots__ = ("users", "total")
    USERS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[AppUser]
    total: int
    def __init__(self, users: _Optional[_Iterable[_Union[AppUser, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class CreateAppUserRequest(_message.Message):
    __slots__ = ("ctx", "app_id", "email", "name", "password", "app_role", "default_app_role")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    APP_ROLE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_APP_ROLE_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_id: str
    email: str
    name: str
    password: str
    app_role: str
    default_app_role: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_id: _Optional[str] = ..., email: _Optional[str] = ..., name: _Optional[str] = ..., password: _Optional[str] = ..., app_role: _Optional[str] = ..., default_app_role: _Optional[str] = ...) -> None: ...

class AppUserRequest(_message.Message):
    __slots__ = ("ctx", "app_id", "app_user_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_USER_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_id: str
    app_user_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_id: _Optional[str] = ..., app_user_id: _Optional[str] = ...) -> None: ...

class UpdateAppUserRequest(_message.Message):
    __slots__ = ("ctx", "app_id", "app_user_id", "name", "email", "app_role", "password")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_USER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    APP_ROLE_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_id: str
    app_user_id: str
    name: str
    email: str
    app_role: str
    password: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_id: _Optional[str] = ..., app_user_id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., app_role: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class DeleteAppUserResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAuditLogRequest(_message.Message):
    __slots__ = ("ctx", "actions", "actor", "outcome", "since", "until", "target_id", "cursor", "per_page")
    CTX_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    PER_PAGE_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    actions: _containers.RepeatedScalarFieldContainer[str]
    actor: str
    outcome: str
    since: str
    until: str
    target_id: str
    cursor: str
    per_page: int
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., actions: _Optional[_Iterable[str]] = ..., actor: _Optional[str] = ..., outcome: _Optional[str] = ..., since: _Optional[str] = ..., until: _Optional[str] = ..., target_id: _Optional[str] = ..., cursor: _Optional[str] = ..., per_page: _Optional[int] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("id", "occurred_at", "action", "outcome", "principal_kind", "principal_id", "account_id", "credential_id", "target_type", "target_id", "details_json", "client_ip", "user_agent")
    ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_KIND_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    DETAILS_JSON_FIELD_NUMBER: _ClassVar[int]
    CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    occurred_at: str
    action: str
    outcome: str
    principal_kind: str
    principal_id: str
    account_id: str
    credential_id: str
    target_type: str
    target_id: str
    details_json: str
    client_ip: str
    user_agent: str
    def __init__(self, id: _Optional[str] = ..., occurred_at: _Optional[str] = ..., action: _Optional[str] = ..., outcome: _Optional[str] = ..., principal_kind: _Optional[str] = ..., principal_id: _Optional[str] = ..., account_id: _Optional[str] = ..., credential_id: _Optional[str] = ..., target_type: _Optional[str] = ..., target_id: _Optional[str] = ..., details_json: _Optional[str] = ..., client_ip: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...

class ListAuditLogResponse(_message.Message):
    __slots__ = ("entries", "next_cursor")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    next_cursor: str
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class SsoConfig(_message.Message):
    __slots__ = ("workspace_id", "protocol", "issuer", "keycloak_server_url", "keycloak_realm", "client_id", "client_secret_set", "allowed_domains", "group_roles", "default_role", "groups_claim", "enforce", "break_glass_account_id", "created_at", "updated_at", "idp_metadata_xml", "email_attribute")
    class GroupRolesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    KEYCLOAK_SERVER_URL_FIELD_NUMBER: _ClassVar[int]
    KEYCLOAK_REALM_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_SET_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_DOMAINS_FIELD_NUMBER: _ClassVar[int]
    GROUP_ROLES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ROLE_FIELD_NUMBER: _ClassVar[int]
    GROUPS_CLAIM_FIELD_NUMBER: _ClassVar[int]
    ENFORCE_FIELD_NUMBER: _ClassVar[int]
    BREAK_GLASS_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    IDP_METADATA_XML_FIELD_NUMBER: _ClassVar[int]
    EMAIL_ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    protocol: str
    issuer: str
    keycloak_server_url: str
    keycloak_realm: str
    client_id: str
    client_secret_set: bool
    allowed_domains: _containers.RepeatedScalarFieldContainer[str]
    group_roles: _containers.ScalarMap[str, str]
    default_role: str
    groups_claim: str
    enforce: bool
    break_glass_account_id: str
    created_at: str
    updated_at: str
    idp_metadata_xml: str
    email_attribute: str
    def __init__(self, workspace_id: _Optional[str] = ..., protocol: _Optional[str] = ..., issuer: _Optional[str] = ..., keycloak_server_url: _Optional[str] = ..., keycloak_realm: _Optional[str] = ..., client_id: _Optional[str] = ..., client_secret_set: _Optional[bool] = ..., allowed_domains: _Optional[_Iterable[str]] = ..., group_roles: _Optional[_Mapping[str, str]] = ..., default_role: _Optional[str] = ..., groups_claim: _Optional[str] = ..., enforce: _Optional[bool] = ..., break_glass_account_id: _Optional[str] = ..., created_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., idp_metadata_xml: _Optional[str] = ..., email_attribute: _Optional[str] = ...) -> None: ...

class PutSsoConfigRequest(_message.Message):
    __slots__ = ("ctx", "config", "client_secret")
    CTX_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    config: SsoConfig
    client_secret: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., config: _Optional[_Union[SsoConfig, _Mapping]] = ..., client_secret: _Optional[str] = ...) -> None: ...

class SsoConfigRequest(_message.Message):
    __slots__ = ("ctx",)
    CTX_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class DeleteSsoConfigResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DiscoverSsoRequest(_message.Message):
    __slots__ = ("email", "ctx")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CTX_FIELD_NUMBER: _ClassVar[int]
    email: str
    ctx: _common_pb2.RequestContext
    def __init__(self, email: _Optional[str] = ..., ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class DiscoveredSso(_message.Message):
    __slots__ = ("workspace_id", "workspace_name", "enforce")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_NAME_FIELD_NUMBER: _ClassVar[int]
    ENFORCE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    workspace_name: str
    enforce: bool
    def __init__(self, workspace_id: _Optional[str] = ..., workspace_name: _Optional[str] = ..., enforce: _Optional[bool] = ...) -> None: ...

class StartSsoLoginRequest(_message.Message):
    __slots__ = ("workspace", "link_username", "link_password", "response", "return_to", "ctx")
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    LINK_USERNAME_FIELD_NUMBER: _ClassVar[int]
    LINK_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    RETURN_TO_FIELD_NUMBER: _ClassVar[int]
    CTX_FIELD_NUMBER: _ClassVar[int]
    workspace: str
    link_username: str
    link_password: str
    response: str
    return_to: str
    ctx: _common_pb2.RequestContext
    def __init__(self, workspace: _Optional[str] = ..., link_username: _Optional[str] = ..., link_password: _Optional[str] = ..., response: _Optional[str] = ..., return_to: _Optional[str] = ..., ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class StartedSsoLogin(_message.Message):
    __slots__ = ("workspace_id", "issuer", "client_id", "state", "nonce", "code_verifier", "binding", "expires_in", "protocol", "idp_metadata_xml")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CODE_VERIFIER_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    IDP_METADATA_XML_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    issuer: str
    client_id: str
    state: str
    nonce: str
    code_verifier: str
    binding: str
    expires_in: int
    protocol: str
    idp_metadata_xml: str
    def __init__(self, workspace_id: _Optional[str] = ..., issuer: _Optional[str] = ..., client_id: _Optional[str] = ..., state: _Optional[str] = ..., nonce: _Optional[str] = ..., code_verifier: _Optional[str] = ..., binding: _Optional[str] = ..., expires_in: _Optional[int] = ..., protocol: _Optional[str] = ..., idp_metadata_xml: _Optional[str] = ...) -> None: ...

class ClaimSsoLoginRequest(_message.Message):
    __slots__ = ("state", "binding", "ctx")
    STATE_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    CTX_FIELD_NUMBER: _ClassVar[int]
    state: str
    binding: str
    ctx: _common_pb2.RequestContext
    def __init__(self, state: _Optional[str] = ..., binding: _Optional[str] = ..., ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class SsoProvider(_message.Message):
    __slots__ = ("workspace_id", "issuer", "client_id", "client_secret", "groups_claim", "protocol", "idp_metadata_xml", "email_attribute")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    GROUPS_CLAIM_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    IDP_METADATA_XML_FIELD_NUMBER: _ClassVar[int]
    EMAIL_ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    issuer: str
    client_id: str
    client_secret: str
    groups_claim: str
    protocol: str
    idp_metadata_xml: str
    email_attribute: str
    def __init__(self, workspace_id: _Optional[str] = ..., issuer: _Optional[str] = ..., client_id: _Optional[str] = ..., client_secret: _Optional[str] = ..., groups_claim: _Optional[str] = ..., protocol: _Optional[str] = ..., idp_metadata_xml: _Optional[str] = ..., email_attribute: _Optional[str] = ...) -> None: ...

class ClaimedSsoLogin(_message.Message):
    __slots__ = ("provider", "nonce", "code_verifier", "response", "return_to", "link_account_id")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CODE_VERIFIER_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    RETURN_TO_FIELD_NUMBER: _ClassVar[int]
    LINK_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    provider: SsoProvider
    nonce: str
    code_verifier: str
    response: str
    return_to: str
    link_account_id: str
    def __init__(self, provider: _Optional[_Union[SsoProvider, _Mapping]] = ..., nonce: _Optional[str] = ..., code_verifier: _Optional[str] = ..., response: _Optional[str] = ..., return_to: _Optional[str] = ..., link_account_id: _Optional[str] = ...) -> None: ...

class CompleteSsoLoginRequest(_message.Message):
    __slots__ = ("workspace_id", "issuer", "subject", "email", "email_verified", "name", "groups", "sid", "response", "ctx", "assertion_id", "assertion_expires_at", "link_account_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    SID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    CTX_FIELD_NUMBER: _ClassVar[int]
    ASSERTION_ID_FIELD_NUMBER: _ClassVar[int]
    ASSERTION_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LINK_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    issuer: str
    subject: str
    email: str
    email_verified: bool
    name: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    sid: str
    response: str
    ctx: _common_pb2.RequestContext
    assertion_id: str
    assertion_expires_at: int
    link_account_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., issuer: _Optional[str] = ..., subject: _Optional[str] = ..., email: _Optional[str] = ..., email_verified: _Optional[bool] = ..., name: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., sid: _Optional[str] = ..., response: _Optional[str] = ..., ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., assertion_id: _Optional[str] = ..., assertion_expires_at: _Optional[int] = ..., link_account_id: _Optional[str] = ...) -> None: ...

class CompletedSsoLogin(_message.Message):
    __slots__ = ("account", "membership", "session_id", "csrf_token", "session_expires_at", "access_token", "refresh_token", "expires_in", "provisioned")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIP_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CSRF_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SESSION_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    PROVISIONED_FIELD_NUMBER: _ClassVar[int]
    account: Account
    membership: Membership
    session_id: str
    csrf_token: str
    session_expires_at: str
    access_token: str
    refresh_token: str
    expires_in: int
    provisioned: bool
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ..., membership: _Optional[_Union[Membership, _Mapping]] = ..., session_id: _Optional[str] = ..., csrf_token: _Optional[str] = ..., session_expires_at: _Optional[str] = ..., access_token: _Optional[str] = ..., refresh_token: _Optional[str] = ..., expires_in: _Optional[int] = ..., provisioned: _Optional[bool] = ...) -> None: ...

class EndSsoSessionsRequest(_message.Message):
    __slots__ = ("workspace_id", "issuer", "subject", "sid", "token_id", "token_expires_at", "ctx")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CTX_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    issuer: str
    subject: str
    sid: str
    token_id: str
    token_expires_at: int
    ctx: _common_pb2.RequestContext
    def __init__(self, workspace_id: _Optional[str] = ..., issuer: _Optional[str] = ..., subject: _Optional[str] = ..., sid: _Optional[str] = ..., token_id: _Optional[str] = ..., token_expires_at: _Optional[int] = ..., ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class EndSsoSessionsResponse(_message.Message):
    __slots__ = ("ended",)
    ENDED_FIELD_NUMBER: _ClassVar[int]
    ended: int
    def __init__(self, ended: _Optional[int] = ...) -> None: ...
