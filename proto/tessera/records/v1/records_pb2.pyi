from tessera.common.v1 import common_pb2 as _common_pb2
from tessera.schema.v1 import schema_pb2 as _schema_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_FORMAT_UNSPECIFIED: _ClassVar[ImportFormat]
    IMPORT_FORMAT_CSV: _ClassVar[ImportFormat]
    IMPORT_FORMAT_NDJSON: _ClassVar[ImportFormat]

class ImportMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_MODE_BEST_EFFORT: _ClassVar[ImportMode]
    IMPORT_MODE_ALL_OR_NOTHING: _ClassVar[ImportMode]
IMPORT_FORMAT_UNSPECIFIED: ImportFormat
IMPORT_FORMAT_CSV: ImportFormat
IMPORT_FORMAT_NDJSON: ImportFormat
IMPORT_MODE_BEST_EFFORT: ImportMode
IMPORT_MODE_ALL_OR_NOTHING: ImportMode

class SchemaRef(_message.Message):
    __slots__ = ("app_slug", "schema_slug")
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_SLUG_FIELD_NUMBER: _ClassVar[int]
    app_slug: str
    schema_slug: str
    def __init__(self, app_slug: _Optional[str] = ..., schema_slug: _Optional[str] = ...) -> None: ...

class RecordResponse(_message.Message):
    __slots__ = ("record_json", "version", "created")
    RECORD_JSON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    record_json: bytes
    version: int
    created: bool
    def __init__(self, record_json: _Optional[bytes] = ..., version: _Optional[int] = ..., created: _Optional[bool] = ...) -> None: ...

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
    __slots__ = ("ctx", "schema", "record_id", "expand")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    EXPAND_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    record_id: str
    expand: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., record_id: _Optional[str] = ..., expand: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateRecordRequest(_message.Message):
    __slots__ = ("ctx", "schema", "record_id", "values_json", "if_match")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_JSON_FIELD_NUMBER: _ClassVar[int]
    IF_MATCH_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    record_id: str
    values_json: bytes
    if_match: int
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., record_id: _Optional[str] = ..., values_json: _Optional[bytes] = ..., if_match: _Optional[int] = ...) -> None: ...

class DeleteRecordRequest(_message.Message):
    __slots__ = ("ctx", "schema", "record_id", "if_match")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    IF_MATCH_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    record_id: str
    if_match: int
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., record_id: _Optional[str] = ..., if_match: _Optional[int] = ...) -> None: ...

class RecordsResponse(_message.Message):
    __slots__ = ("records_json",)
    RECORDS_JSON_FIELD_NUMBER: _ClassVar[int]
    records_json: bytes
    def __init__(self, records_json: _Optional[bytes] = ...) -> None: ...

class CreateRecordsRequest(_message.Message):
    __slots__ = ("ctx", "schema", "records_json", "upsert_on")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RECORDS_JSON_FIELD_NUMBER: _ClassVar[int]
    UPSERT_ON_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    records_json: bytes
    upsert_on: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., records_json: _Optional[bytes] = ..., upsert_on: _Optional[str] = ...) -> None: ...

class UpdateRecordsRequest(_message.Message):
    __slots__ = ("ctx", "schema", "records_json")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RECORDS_JSON_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    records_json: bytes
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., records_json: _Optional[bytes] = ...) -> None: ...

class DeleteRecordsRequest(_message.Message):
    __slots__ = ("ctx", "schema", "record_ids")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    RECORD_IDS_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    record_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., record_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UpsertRecordRequest(_message.Message):
    __slots__ = ("ctx", "schema", "values_json", "upsert_on")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    VALUES_JSON_FIELD_NUMBER: _ClassVar[int]
    UPSERT_ON_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    values_json: bytes
    upsert_on: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., values_json: _Optional[bytes] = ..., upsert_on: _Optional[str] = ...) -> None: ...

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

class Condition(_message.Message):
    __slots__ = ("field", "op", "text", "json", "source")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    field: str
    op: str
    text: str
    json: bytes
    source: str
    def __init__(self, field: _Optional[str] = ..., op: _Optional[str] = ..., text: _Optional[str] = ..., json: _Optional[bytes] = ..., source: _Optional[str] = ...) -> None: ...

class FilterNode(_message.Message):
    __slots__ = ("all_of", "any_of", "condition")
    ALL_OF_FIELD_NUMBER: _ClassVar[int]
    ANY_OF_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    all_of: FilterGroup
    any_of: FilterGroup
    condition: Condition
    def __init__(self, all_of: _Optional[_Union[FilterGroup, _Mapping]] = ..., any_of: _Optional[_Union[FilterGroup, _Mapping]] = ..., condition: _Optional[_Union[Condition, _Mapping]] = ...) -> None: ...

class FilterGroup(_message.Message):
    __slots__ = ("nodes", "source")
    NODES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[FilterNode]
    source: str
    def __init__(self, nodes: _Optional[_Iterable[_Union[FilterNode, _Mapping]]] = ..., source: _Optional[str] = ...) -> None: ...

class ListRecordsRequest(_message.Message):
    __slots__ = ("ctx", "schema", "page", "per_page", "sort", "filter", "cursor", "skip_count", "fields", "search", "expand")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PER_PAGE_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    SKIP_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    EXPAND_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    page: int
    per_page: int
    sort: _containers.RepeatedCompositeFieldContainer[SortKey]
    filter: FilterNode
    cursor: str
    skip_count: bool
    fields: _containers.RepeatedScalarFieldContainer[str]
    search: str
    expand: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., page: _Optional[int] = ..., per_page: _Optional[int] = ..., sort: _Optional[_Iterable[_Union[SortKey, _Mapping]]] = ..., filter: _Optional[_Union[FilterNode, _Mapping]] = ..., cursor: _Optional[str] = ..., skip_count: _Optional[bool] = ..., fields: _Optional[_Iterable[str]] = ..., search: _Optional[str] = ..., expand: _Optional[_Iterable[str]] = ...) -> None: ...

class ListRecordsResponse(_message.Message):
    __slots__ = ("records_json", "total", "has_total", "next_cursor")
    RECORDS_JSON_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    HAS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    records_json: bytes
    total: int
    has_total: bool
    next_cursor: str
    def __init__(self, records_json: _Optional[bytes] = ..., total: _Optional[int] = ..., has_total: _Optional[bool] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class PreviewFieldChangeRequest(_message.Message):
    __slots__ = ("ctx", "schema", "field_slug", "field")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    FIELD_SLUG_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    field_slug: str
    field: _schema_pb2.Field
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., field_slug: _Optional[str] = ..., field: _Optional[_Union[_schema_pb2.Field, _Mapping]] = ...) -> None: ...

class PreviewFieldChangeResponse(_message.Message):
    __slots__ = ("lost", "record_ids", "duplicates")
    LOST_FIELD_NUMBER: _ClassVar[int]
    RECORD_IDS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    lost: int
    record_ids: _containers.RepeatedScalarFieldContainer[str]
    duplicates: int
    def __init__(self, lost: _Optional[int] = ..., record_ids: _Optional[_Iterable[str]] = ..., duplicates: _Optional[int] = ...) -> None: ...

class ListTrashRequest(_message.Message):
    __slots__ = ("ctx",)
    CTX_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ...) -> None: ...

class ListTrashResponse(_message.Message):
    __slots__ = ("items_json",)
    ITEMS_JSON_FIELD_NUMBER: _ClassVar[int]
    items_json: bytes
    def __init__(self, items_json: _Optional[bytes] = ...) -> None: ...

class RestoreTrashRequest(_message.Message):
    __slots__ = ("ctx", "trash_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    TRASH_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    trash_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., trash_id: _Optional[str] = ...) -> None: ...

class RestoreTrashResponse(_message.Message):
    __slots__ = ("item_json",)
    ITEM_JSON_FIELD_NUMBER: _ClassVar[int]
    item_json: bytes
    def __init__(self, item_json: _Optional[bytes] = ...) -> None: ...

class ImportStart(_message.Message):
    __slots__ = ("ctx", "schema", "format", "mode")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    format: ImportFormat
    mode: ImportMode
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., format: _Optional[_Union[ImportFormat, str]] = ..., mode: _Optional[_Union[ImportMode, str]] = ...) -> None: ...

class ImportChunk(_message.Message):
    __slots__ = ("start", "data")
    START_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    start: ImportStart
    data: bytes
    def __init__(self, start: _Optional[_Union[ImportStart, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ImportError(_message.Message):
    __slots__ = ("line", "field", "message")
    LINE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    line: int
    field: str
    message: str
    def __init__(self, line: _Optional[int] = ..., field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ImportJob(_message.Message):
    __slots__ = ("id", "state", "rows_done", "rows_rejected", "errors", "mode", "format", "created_at", "finished_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ROWS_DONE_FIELD_NUMBER: _ClassVar[int]
    ROWS_REJECTED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: str
    rows_done: int
    rows_rejected: int
    errors: _containers.RepeatedCompositeFieldContainer[ImportError]
    mode: ImportMode
    format: ImportFormat
    created_at: str
    finished_at: str
    def __init__(self, id: _Optional[str] = ..., state: _Optional[str] = ..., rows_done: _Optional[int] = ..., rows_rejected: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[ImportError, _Mapping]]] = ..., mode: _Optional[_Union[ImportMode, str]] = ..., format: _Optional[_Union[ImportFormat, str]] = ..., created_at: _Optional[str] = ..., finished_at: _Optional[str] = ...) -> None: ...

class GetImportRequest(_message.Message):
    __slots__ = ("ctx", "schema", "import_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    import_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., import_id: _Optional[str] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("keys", "records_ndjson")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_NDJSON_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    records_ndjson: bytes
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., records_ndjson: _Optional[bytes] = ...) -> None: ...

class Viewer(_message.Message):
    __slots__ = ("ctx", "filter")
    CTX_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    filter: FilterNode
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., filter: _Optional[_Union[FilterNode, _Mapping]] = ...) -> None: ...

class RecordChange(_message.Message):
    __slots__ = ("record_id", "action", "image_json", "previous_image_json")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_JSON_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_IMAGE_JSON_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    action: str
    image_json: bytes
    previous_image_json: bytes
    def __init__(self, record_id: _Optional[str] = ..., action: _Optional[str] = ..., image_json: _Optional[bytes] = ..., previous_image_json: _Optional[bytes] = ...) -> None: ...

class ViewChangesRequest(_message.Message):
    __slots__ = ("ctx", "schema", "schema_id", "viewers", "changes")
    CTX_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWERS_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    schema: SchemaRef
    schema_id: str
    viewers: _containers.RepeatedCompositeFieldContainer[Viewer]
    changes: _containers.RepeatedCompositeFieldContainer[RecordChange]
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., schema: _Optional[_Union[SchemaRef, _Mapping]] = ..., schema_id: _Optional[str] = ..., viewers: _Optional[_Iterable[_Union[Viewer, _Mapping]]] = ..., changes: _Optional[_Iterable[_Union[RecordChange, _Mapping]]] = ...) -> None: ...

class Sight(_message.Message):
    __slots__ = ("change", "action", "record_json")
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RECORD_JSON_FIELD_NUMBER: _ClassVar[int]
    change: int
    action: str
    record_json: bytes
    def __init__(self, change: _Optional[int] = ..., action: _Optional[str] = ..., record_json: _Optional[bytes] = ...) -> None: ...

class ViewerSights(_message.Message):
    __slots__ = ("error_code", "error_message", "error_field", "sights", "readable", "all_fields")
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_FIELD_NUMBER: _ClassVar[int]
    SIGHTS_FIELD_NUMBER: _ClassVar[int]
    READABLE_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELDS_FIELD_NUMBER: _ClassVar[int]
    error_code: str
    error_message: str
    error_field: str
    sights: _containers.RepeatedCompositeFieldContainer[Sight]
    readable: _containers.RepeatedScalarFieldContainer[str]
    all_fields: bool
    def __init__(self, error_code: _Optional[str] = ..., error_message: _Optional[str] = ..., error_field: _Optional[str] = ..., sights: _Optional[_Iterable[_Union[Sight, _Mapping]]] = ..., readable: _Optional[_Iterable[str]] = ..., all_fields: _Optional[bool] = ...) -> None: ...

class ViewChangesResponse(_message.Message):
    __slots__ = ("app_id", "schema_id", "viewers")
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWERS_FIELD_NUMBER: _ClassVar[int]
    app_id: str
    schema_id: str
    viewers: _containers.RepeatedCompositeFieldContainer[ViewerSights]
    def __init__(self, app_id: _Optional[str] = ..., schema_id: _Optional[str] = ..., viewers: _Optional[_Iterable[_Union[ViewerSights, _Mapping]]] = ...) -> None: ...
