from tessera.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class App(_message.Message):
    __slots__ = ("id", "slug", "name", "description", "created_at", "public_id", "settings")
    ID_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_ID_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    slug: str
    name: str
    description: str
    created_at: str
    public_id: str
    settings: AppSettings
    def __init__(self, id: _Optional[str] = ..., slug: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., created_at: _Optional[str] = ..., public_id: _Optional[str] = ..., settings: _Optional[_Union[AppSettings, _Mapping]] = ...) -> None: ...

class AppSettings(_message.Message):
    __slots__ = ("default_app_role",)
    DEFAULT_APP_ROLE_FIELD_NUMBER: _ClassVar[int]
    default_app_role: str
    def __init__(self, default_app_role: _Optional[str] = ...) -> None: ...

class ResolvePublicAppRequest(_message.Message):
    __slots__ = ("public_id",)
    PUBLIC_ID_FIELD_NUMBER: _ClassVar[int]
    public_id: str
    def __init__(self, public_id: _Optional[str] = ...) -> None: ...

class PublicApp(_message.Message):
    __slots__ = ("tenant_id", "app_id", "app_slug", "settings")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    app_id: str
    app_slug: str
    settings: AppSettings
    def __init__(self, tenant_id: _Optional[str] = ..., app_id: _Optional[str] = ..., app_slug: _Optional[str] = ..., settings: _Optional[_Union[AppSettings, _Mapping]] = ...) -> None: ...

class Field(_message.Message):
    __slots__ = ("id", "slug", "name", "type", "required", "options", "position", "unique", "primary", "default_json", "config_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_JSON_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    slug: str
    name: str
    type: str
    required: bool
    options: _containers.RepeatedScalarFieldContainer[str]
    position: int
    unique: bool
    primary: bool
    default_json: bytes
    config_json: bytes
    def __init__(self, id: _Optional[str] = ..., slug: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., required: _Optional[bool] = ..., options: _Optional[_Iterable[str]] = ..., position: _Optional[int] = ..., unique: _Optional[bool] = ..., primary: _Optional[bool] = ..., default_json: _Optional[bytes] = ..., config_json: _Optional[bytes] = ...) -> None: ...

class Schema(_message.Message):
    __slots__ = ("id", "app_id", "app_slug", "slug", "name", "fields", "version", "created_at", "trashed_field_ids", "privacy_rules_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TRASHED_FIELD_IDS_FIELD_NUMBER: _ClassVar[int]
    PRIVACY_RULES_JSON_FIELD_NUMBER: _ClassVar[int]
    id: str
    app_id: str
    app_slug: str
    slug: str
    name: str
    fields: _containers.RepeatedCompositeFieldContainer[Field]
    version: int
    created_at: str
    trashed_field_ids: _containers.RepeatedScalarFieldContainer[str]
    privacy_rules_json: bytes
    def __init__(self, id: _Optional[str] = ..., app_id: _Optional[str] = ..., app_slug: _Optional[str] = ..., slug: _Optional[str] = ..., name: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[Field, _Mapping]]] = ..., version: _Optional[int] = ..., created_at: _Optional[str] = ..., trashed_field_ids: _Optional[_Iterable[str]] = ..., privacy_rules_json: _Optional[bytes] = ...) -> None: ...

class CreateAppRequest(_message.Message):
    __slots__ = ("ctx", "name", "slug", "description")
    CTX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    name: str
    slug: str
    description: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., name: _Optional[str] = ..., slug: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ListAppsRequest(_message.Message):
    __slots__ = ("ctx",)
    CTX_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class ListAppsResponse(_message.Message):
    __slots__ = ("apps",)
    APPS_FIELD_NUMBER: _ClassVar[int]
    apps: _containers.RepeatedCompositeFieldContainer[App]
    def __init__(self, apps: _Optional[_Iterable[_Union[App, _Mapping]]] = ...) -> None: ...

class GetAppRequest(_message.Message):
    __slots__ = ("ctx", "app_slug")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ...) -> None: ...

class FieldInput(_message.Message):
    __slots__ = ("slug", "name", "type", "required", "options", "unique", "primary", "default_json", "config_json")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_JSON_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    slug: str
    name: str
    type: str
    required: bool
    options: _containers.RepeatedScalarFieldContainer[str]
    unique: bool
    primary: bool
    default_json: bytes
    config_json: bytes
    def __init__(self, slug: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., required: _Optional[bool] = ..., options: _Optional[_Iterable[str]] = ..., unique: _Optional[bool] = ..., primary: _Optional[bool] = ..., default_json: _Optional[bytes] = ..., config_json: _Optional[bytes] = ...) -> None: ...

class CreateSchemaRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "name", "slug", "fields")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    name: str
    slug: str
    fields: _containers.RepeatedCompositeFieldContainer[FieldInput]
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., name: _Optional[str] = ..., slug: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[FieldInput, _Mapping]]] = ...) -> None: ...

class ListSchemasRequest(_message.Message):
    __slots__ = ("ctx", "app_slug")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ...) -> None: ...

class ListSchemasResponse(_message.Message):
    __slots__ = ("schemas",)
    SCHEMAS_FIELD_NUMBER: _ClassVar[int]
    schemas: _containers.RepeatedCompositeFieldContainer[Schema]
    def __init__(self, schemas: _Optional[_Iterable[_Union[Schema, _Mapping]]] = ...) -> None: ...

class GetSchemaRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "schema_slug", "schema_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_SLUG_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    schema_slug: str
    schema_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., schema_slug: _Optional[str] = ..., schema_id: _Optional[str] = ...) -> None: ...

class UpdateAppRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "name", "slug", "description", "default_app_role")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_APP_ROLE_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    name: str
    slug: str
    description: str
    default_app_role: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., name: _Optional[str] = ..., slug: _Optional[str] = ..., description: _Optional[str] = ..., default_app_role: _Optional[str] = ...) -> None: ...

class UpdateSchemaRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "schema_slug", "name", "slug")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    schema_slug: str
    name: str
    slug: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., schema_slug: _Optional[str] = ..., name: _Optional[str] = ..., slug: _Optional[str] = ...) -> None: ...

class AddFieldRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "schema_slug", "field")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_SLUG_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    schema_slug: str
    field: FieldInput
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., schema_slug: _Optional[str] = ..., field: _Optional[_Union[FieldInput, _Mapping]] = ...) -> None: ...

class UpdateFieldRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "schema_slug", "field_slug", "name", "slug", "type", "required", "unique", "primary", "has_options", "options", "default_json", "config_json", "validate_only")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_SLUG_FIELD_NUMBER: _ClassVar[int]
    FIELD_SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    HAS_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_JSON_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    schema_slug: str
    field_slug: str
    name: str
    slug: str
    type: str
    required: bool
    unique: bool
    primary: bool
    has_options: bool
    options: _containers.RepeatedScalarFieldContainer[str]
    default_json: bytes
    config_json: bytes
    validate_only: bool
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., schema_slug: _Optional[str] = ..., field_slug: _Optional[str] = ..., name: _Optional[str] = ..., slug: _Optional[str] = ..., type: _Optional[str] = ..., required: _Optional[bool] = ..., unique: _Optional[bool] = ..., primary: _Optional[bool] = ..., has_options: _Optional[bool] = ..., options: _Optional[_Iterable[str]] = ..., default_json: _Optional[bytes] = ..., config_json: _Optional[bytes] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class DeleteFieldRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "schema_slug", "field_slug")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_SLUG_FIELD_NUMBER: _ClassVar[int]
    FIELD_SLUG_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    schema_slug: str
    field_slug: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., schema_slug: _Optional[str] = ..., field_slug: _Optional[str] = ...) -> None: ...

class DeleteAppRequest(_message.Message):
    __slots__ = ("ctx", "app_slug")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ...) -> None: ...

class DeleteSchemaRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "schema_slug")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_SLUG_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    schema_slug: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., schema_slug: _Optional[str] = ...) -> None: ...

class TrashEntry(_message.Message):
    __slots__ = ("id", "type", "app", "schema", "field", "name", "deleted_at", "expires_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: str
    app: str
    schema: str
    field: str
    name: str
    deleted_at: str
    expires_at: str
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., app: _Optional[str] = ..., schema: _Optional[str] = ..., field: _Optional[str] = ..., name: _Optional[str] = ..., deleted_at: _Optional[str] = ..., expires_at: _Optional[str] = ...) -> None: ...

class ListTrashRequest(_message.Message):
    __slots__ = ("ctx",)
    CTX_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class ListTrashResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[TrashEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[TrashEntry, _Mapping]]] = ...) -> None: ...

class RestoreTrashRequest(_message.Message):
    __slots__ = ("ctx", "trash_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    TRASH_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    trash_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., trash_id: _Optional[str] = ...) -> None: ...

class GetPrivacyRulesRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "schema_slug")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_SLUG_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    schema_slug: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., schema_slug: _Optional[str] = ...) -> None: ...

class SetPrivacyRulesRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "schema_slug", "rules_json")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_SLUG_FIELD_NUMBER: _ClassVar[int]
    RULES_JSON_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    schema_slug: str
    rules_json: bytes
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., schema_slug: _Optional[str] = ..., rules_json: _Optional[bytes] = ...) -> None: ...

class PrivacyRules(_message.Message):
    __slots__ = ("rules_json", "version")
    RULES_JSON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    rules_json: bytes
    version: int
    def __init__(self, rules_json: _Optional[bytes] = ..., version: _Optional[int] = ...) -> None: ...
