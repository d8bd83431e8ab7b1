from tessera.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SchemaRef(_message.Message):
    __slots__ = ("app_slug", "schema_slug")
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_SLUG_FIELD_NUMBER: _ClassVar[int]
    app_slug: str
    schema_slug: str
    def __init__(self, app_slug: _Optional[str] = ..., schema_slug: _Optional[str] = ...) -> None: ...

class RecordResponse(_message.Message):
    __slots__ = ("record_json",)
    RECORD_JSON_FIELD_NUMBER: _ClassVar[int]
    record_json: bytes
    def __init__(self, record_json: _Optional[bytes] = ...) -> None: ...

class CreateRecordRequest(_message.Message):
    __slots__ = ("ctx", "schema", "values_json")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    VALUES_JSON_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    values_json: bytes
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., values_json: _Optional[bytes] = ...) -> None: ...

class GetRecordRequest(_message.Message):
    __slots__ = ("ctx", "schema", "record_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    record_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., record_id: _Optional[str] = ...) -> None: ...

class UpdateRecordRequest(_message.Message):
    __slots__ = ("ctx", "schema", "record_id", "values_json")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_JSON_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    record_id: str
    values_json: bytes
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., record_id: _Optional[str] = ..., values_json: _Optional[bytes] = ...) -> None: ...

class DeleteRecordRequest(_message.Message):
    __slots__ = ("ctx", "schema", "record_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    record_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., record_id: _Optional[str] = ...) -> None: ...

class DeleteRecordResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SortKey(_message.Message):
    __slots__ = ("field", "descending")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCENDING_FIELD_NUMBER: _ClassVar[int]
    field: str
    descending: bool
    def __init__(self, field: _Optional[str] = ..., descending: _Optional[bool] = ...) -> None: ...

class Filter(_message.Message):
    __slots__ = ("field", "op", "value")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    field: str
    op: str
    value: str
    def __init__(self, field: _Optional[str] = ..., op: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class ListRecordsRequest(_message.Message):
    __slots__ = ("ctx", "schema", "page", "per_page", "sort", "filters")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PER_PAGE_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    page: int
    per_page: int
    sort: _containers.RepeatedCompositeFieldContainer[SortKey]
    filters: _containers.RepeatedCompositeFieldContainer[Filter]
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., page: _Optional[int] = ..., per_page: _Optional[int] = ..., sort: _Optional[_Iterable[_Union[SortKey, _Mapping]]] = ..., filters: _Optional[_Iterable[_Union[Filter, _Mapping]]] = ...) -> None: ...

class ListRecordsResponse(_message.Message):
    __slots__ = ("records_json", "total")
    RECORDS_JSON_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    records_json: bytes
    total: int
    def __init__(self, records_json: _Optional[bytes] = ..., total: _Optional[int] = ...) -> None: ...
