from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class RequestContext(_message.Message):
    __slots__ = ("tenant_id", "principal_id", "principal_kind", "role", "permissions", "request_id", "idempotency_key", "account_id", "app_id", "app_role", "bypass_privacy_rules", "credential_id", "client_ip", "user_agent")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_KIND_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ROLE_FIELD_NUMBER: _ClassVar[int]
    BYPASS_PRIVACY_RULES_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    principal_id: str
    principal_kind: str
    role: str
    permissions: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    idempotency_key: str
    account_id: str
    app_id: str
    app_role: str
    bypass_privacy_rules: bool
    credential_id: str
    client_ip: str
    user_agent: str
    def __init__(self, tenant_id: _Optional[str] = ..., principal_id: _Optional[str] = ..., principal_kind: _Optional[str] = ..., role: _Optional[str] = ..., permissions: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., account_id: _Optional[str] = ..., app_id: _Optional[str] = ..., app_role: _Optional[str] = ..., bypass_privacy_rules: _Optional[bool] = ..., credential_id: _Optional[str] = ..., client_ip: _Optional[str] = ..., user_agent: _Optional[str] = ...) -> None: ...
