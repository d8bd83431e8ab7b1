from tessera.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FieldType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIELD_TYPE_UNSPECIFIED: _ClassVar[FieldType]
    FIELD_TYPE_TEXT: _ClassVar[FieldType]
    FIELD_TYPE_LONG_TEXT: _ClassVar[FieldType]
    FIELD_TYPE_NUMBER: _ClassVar[FieldType]
    FIELD_TYPE_BOOLEAN: _ClassVar[FieldType]
    FIELD_TYPE_DATE: _ClassVar[FieldType]
    FIELD_TYPE_DATETIME: _ClassVar[FieldType]
    FIELD_TYPE_EMAIL: _ClassVar[FieldType]
    FIELD_TYPE_URL: _ClassVar[FieldType]
    FIELD_TYPE_SELECT: _ClassVar[FieldType]
    FIELD_TYPE_MULTI_SELECT: _ClassVar[FieldType]
FIELD_TYPE_UNSPECIFIED: FieldType
FIELD_TYPE_TEXT: FieldType
FIELD_TYPE_LONG_TEXT: FieldType
FIELD_TYPE_NUMBER: FieldType
FIELD_TYPE_BOOLEAN: FieldType
FIELD_TYPE_DATE: FieldType
FIELD_TYPE_DATETIME: FieldType
FIELD_TYPE_EMAIL: FieldType
FIELD_TYPE_URL: FieldType
FIELD_TYPE_SELECT: FieldType
FIELD_TYPE_MULTI_SELECT: FieldType

class App(_message.Message):
    __slots__ = ("id", "slug", "name", "description", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    slug: str
    name: str
    description: str
    created_at: str
    def __init__(self, id: _Optional[str] = ..., slug: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class Field(_message.Message):
    __slots__ = ("id", "slug", "name", "type", "required", "options", "position")
    ID_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    id: str
    slug: str
    name: str
    type: FieldType
    required: bool
    options: _containers.RepeatedScalarFieldContainer[str]
    position: int
    def __init__(self, id: _Optional[str] = ..., slug: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[_Union[FieldType, str]] = ..., required: _Optional[bool] = ..., options: _Optional[_Iterable[str]] = ..., position: _Optional[int] = ...) -> None: ...

class Schema(_message.Message):
    __slots__ = ("id", "app_id", "app_slug", "slug", "name", "fields", "version", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    app_id: str
    app_slug: str
    slug: str
    name: str
    fields: _containers.RepeatedCompositeFieldContainer[Field]
    version: int
    created_at: str
    def __init__(self, id: _Optional[str] = ..., app_id: _Optional[str] = ..., app_slug: _Optional[str] = ..., slug: _Optional[str] = ..., name: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[Field, _Mapping]]] = ..., version: _Optional[int] = ..., created_at: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("slug", "name", "type", "required", "options")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    slug: str
    name: str
    type: FieldType
    required: bool
    options: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, slug: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[_Union[FieldType, str]] = ..., required: _Optional[bool] = ..., options: _Optional[_Iterable[str]] = ...) -> None: ...

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
    __slots__ = ("ctx", "app_slug", "schema_slug")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_SLUG_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    schema_slug: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., schema_slug: _Optional[str] = ...) -> None: ...
