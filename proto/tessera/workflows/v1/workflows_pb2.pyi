from tessera.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkflowRef(_message.Message):
    __slots__ = ("app_slug", "name")
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    app_slug: str
    name: str
    def __init__(self, app_slug: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class Workflow(_message.Message):
    __slots__ = ("id", "app_id", "name", "version", "definition_json", "triggers_json", "created_at", "updated_at", "new_hook_secret", "hook_path", "hook_scheme")
    ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_JSON_FIELD_NUMBER: _ClassVar[int]
    TRIGGERS_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    NEW_HOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    HOOK_PATH_FIELD_NUMBER: _ClassVar[int]
    HOOK_SCHEME_FIELD_NUMBER: _ClassVar[int]
    id: str
    app_id: str
    name: str
    version: int
    definition_json: bytes
    triggers_json: bytes
    created_at: str
    updated_at: str
    new_hook_secret: str
    hook_path: str
    hook_scheme: str
    def __init__(self, id: _Optional[str] = ..., app_id: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., definition_json: _Optional[bytes] = ..., triggers_json: _Optional[bytes] = ..., created_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., new_hook_secret: _Optional[str] = ..., hook_path: _Optional[str] = ..., hook_scheme: _Optional[str] = ...) -> None: ...

class CreateWorkflowRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "definition_json")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_JSON_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    definition_json: bytes
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., definition_json: _Optional[bytes] = ...) -> None: ...

class ListWorkflowsRequest(_message.Message):
    __slots__ = ("ctx", "app_slug")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ...) -> None: ...

class ListWorkflowsResponse(_message.Message):
    __slots__ = ("workflows",)
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    workflows: _containers.RepeatedCompositeFieldContainer[Workflow]
    def __init__(self, workflows: _Optional[_Iterable[_Union[Workflow, _Mapping]]] = ...) -> None: ...

class GetWorkflowRequest(_message.Message):
    __slots__ = ("ctx", "workflow", "version")
    CTX_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    workflow: WorkflowRef
    version: int
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., workflow: _Optional[_Union[WorkflowRef, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class UpdateWorkflowRequest(_message.Message):
    __slots__ = ("ctx", "workflow", "definition_json", "if_match")
    CTX_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_JSON_FIELD_NUMBER: _ClassVar[int]
    IF_MATCH_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    workflow: WorkflowRef
    definition_json: bytes
    if_match: int
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., workflow: _Optional[_Union[WorkflowRef, _Mapping]] = ..., definition_json: _Optional[bytes] = ..., if_match: _Optional[int] = ...) -> None: ...

class DeleteWorkflowRequest(_message.Message):
    __slots__ = ("ctx", "workflow")
    CTX_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    workflow: WorkflowRef
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., workflow: _Optional[_Union[WorkflowRef, _Mapping]] = ...) -> None: ...

class DeleteWorkflowResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunWorkflowRequest(_message.Message):
    __slots__ = ("ctx", "workflow", "parameters_json", "parameters_from_form", "asynchronous")
    CTX_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FROM_FORM_FIELD_NUMBER: _ClassVar[int]
    ASYNCHRONOUS_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    workflow: WorkflowRef
    parameters_json: bytes
    parameters_from_form: bool
    asynchronous: bool
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., workflow: _Optional[_Union[WorkflowRef, _Mapping]] = ..., parameters_json: _Optional[bytes] = ..., parameters_from_form: _Optional[bool] = ..., asynchronous: _Optional[bool] = ...) -> None: ...

class RunWorkflowResponse(_message.Message):
    __slots__ = ("run_id", "state", "result_json", "error")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    state: str
    result_json: bytes
    error: str
    def __init__(self, run_id: _Optional[str] = ..., state: _Optional[str] = ..., result_json: _Optional[bytes] = ..., error: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("ctx", "workflow", "cursor", "per_page")
    CTX_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    PER_PAGE_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    workflow: WorkflowRef
    cursor: str
    per_page: int
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., workflow: _Optional[_Union[WorkflowRef, _Mapping]] = ..., cursor: _Optional[str] = ..., per_page: _Optional[int] = ...) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs", "next_cursor")
    RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    next_cursor: str
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("ctx", "workflow", "run_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    workflow: WorkflowRef
    run_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., workflow: _Optional[_Union[WorkflowRef, _Mapping]] = ..., run_id: _Optional[str] = ...) -> None: ...

class ReplayRunRequest(_message.Message):
    __slots__ = ("ctx", "workflow", "run_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    workflow: WorkflowRef
    run_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., workflow: _Optional[_Union[WorkflowRef, _Mapping]] = ..., run_id: _Optional[str] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("id", "workflow_id", "version", "state", "trigger", "parameters_json", "result_json", "error", "started_at", "finished_at", "replay_of", "steps", "created_at", "workflow")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    REPLAY_OF_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    id: str
    workflow_id: str
    version: int
    state: str
    trigger: str
    parameters_json: bytes
    result_json: bytes
    error: str
    started_at: str
    finished_at: str
    replay_of: str
    steps: _containers.RepeatedCompositeFieldContainer[StepLog]
    created_at: str
    workflow: str
    def __init__(self, id: _Optional[str] = ..., workflow_id: _Optional[str] = ..., version: _Optional[int] = ..., state: _Optional[str] = ..., trigger: _Optional[str] = ..., parameters_json: _Optional[bytes] = ..., result_json: _Optional[bytes] = ..., error: _Optional[str] = ..., started_at: _Optional[str] = ..., finished_at: _Optional[str] = ..., replay_of: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[StepLog, _Mapping]]] = ..., created_at: _Optional[str] = ..., workflow: _Optional[str] = ...) -> None: ...

class StepLog(_message.Message):
    __slots__ = ("step_id", "type", "attempt", "state", "input_json", "output_json", "error", "duration_ms", "place")
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    PLACE_FIELD_NUMBER: _ClassVar[int]
    step_id: str
    type: str
    attempt: int
    state: str
    input_json: bytes
    output_json: bytes
    error: str
    duration_ms: int
    place: str
    def __init__(self, step_id: _Optional[str] = ..., type: _Optional[str] = ..., attempt: _Optional[int] = ..., state: _Optional[str] = ..., input_json: _Optional[bytes] = ..., output_json: _Optional[bytes] = ..., error: _Optional[str] = ..., duration_ms: _Optional[int] = ..., place: _Optional[str] = ...) -> None: ...

class SetHookSecretRequest(_message.Message):
    __slots__ = ("ctx", "workflow", "secret", "keep_previous_seconds")
    CTX_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    KEEP_PREVIOUS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    workflow: WorkflowRef
    secret: str
    keep_previous_seconds: int
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., workflow: _Optional[_Union[WorkflowRef, _Mapping]] = ..., secret: _Optional[str] = ..., keep_previous_seconds: _Optional[int] = ...) -> None: ...

class DeliverHookRequest(_message.Message):
    __slots__ = ("app_public_id", "name", "headers", "body", "content_type", "client_ip")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    APP_PUBLIC_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_IP_FIELD_NUMBER: _ClassVar[int]
    app_public_id: str
    name: str
    headers: _containers.ScalarMap[str, str]
    body: bytes
    content_type: str
    client_ip: str
    def __init__(self, app_public_id: _Optional[str] = ..., name: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., body: _Optional[bytes] = ..., content_type: _Optional[str] = ..., client_ip: _Optional[str] = ...) -> None: ...

class Webhook(_message.Message):
    __slots__ = ("id", "app_id", "url", "description", "events", "schemas", "fields", "active", "disabled_reason", "disabled_at", "failed_in_a_row", "secret_set_at", "previous_secret_until", "created_at", "updated_at", "new_secret")
    ID_FIELD_NUMBER: _ClassVar[int]
    APP_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SCHEMAS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    DISABLED_REASON_FIELD_NUMBER: _ClassVar[int]
    DISABLED_AT_FIELD_NUMBER: _ClassVar[int]
    FAILED_IN_A_ROW_FIELD_NUMBER: _ClassVar[int]
    SECRET_SET_AT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SECRET_UNTIL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    NEW_SECRET_FIELD_NUMBER: _ClassVar[int]
    id: str
    app_id: str
    url: str
    description: str
    events: _containers.RepeatedScalarFieldContainer[str]
    schemas: _containers.RepeatedScalarFieldContainer[str]
    fields: _containers.RepeatedScalarFieldContainer[str]
    active: bool
    disabled_reason: str
    disabled_at: str
    failed_in_a_row: int
    secret_set_at: str
    previous_secret_until: str
    created_at: str
    updated_at: str
    new_secret: str
    def __init__(self, id: _Optional[str] = ..., app_id: _Optional[str] = ..., url: _Optional[str] = ..., description: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., schemas: _Optional[_Iterable[str]] = ..., fields: _Optional[_Iterable[str]] = ..., active: _Optional[bool] = ..., disabled_reason: _Optional[str] = ..., disabled_at: _Optional[str] = ..., failed_in_a_row: _Optional[int] = ..., secret_set_at: _Optional[str] = ..., previous_secret_until: _Optional[str] = ..., created_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., new_secret: _Optional[str] = ...) -> None: ...

class CreateWebhookRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "body_json")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    body_json: bytes
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., body_json: _Optional[bytes] = ...) -> None: ...

class ListWebhooksRequest(_message.Message):
    __slots__ = ("ctx", "app_slug")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ...) -> None: ...

class ListWebhooksResponse(_message.Message):
    __slots__ = ("webhooks",)
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    webhooks: _containers.RepeatedCompositeFieldContainer[Webhook]
    def __init__(self, webhooks: _Optional[_Iterable[_Union[Webhook, _Mapping]]] = ...) -> None: ...

class WebhookRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "webhook_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    webhook_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., webhook_id: _Optional[str] = ...) -> None: ...

class UpdateWebhookRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "webhook_id", "body_json")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    webhook_id: str
    body_json: bytes
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., webhook_id: _Optional[str] = ..., body_json: _Optional[bytes] = ...) -> None: ...

class DeleteWebhookResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NewWebhookSecretRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "webhook_id", "keep_previous_seconds")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_PREVIOUS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    webhook_id: str
    keep_previous_seconds: int
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., webhook_id: _Optional[str] = ..., keep_previous_seconds: _Optional[int] = ...) -> None: ...

class ListWebhookDeliveriesRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "webhook_id", "cursor", "per_page", "state")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    PER_PAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    webhook_id: str
    cursor: str
    per_page: int
    state: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., webhook_id: _Optional[str] = ..., cursor: _Optional[str] = ..., per_page: _Optional[int] = ..., state: _Optional[str] = ...) -> None: ...

class ListWebhookDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries", "next_cursor")
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[WebhookDelivery]
    next_cursor: str
    def __init__(self, deliveries: _Optional[_Iterable[_Union[WebhookDelivery, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class WebhookDeliveryRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "webhook_id", "delivery_id")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    webhook_id: str
    delivery_id: str
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., webhook_id: _Optional[str] = ..., delivery_id: _Optional[str] = ...) -> None: ...

class WebhookDelivery(_message.Message):
    __slots__ = ("id", "webhook_id", "event_id", "event_type", "state", "attempts", "next_attempt_at", "last_status", "last_error", "created_at", "finished_at", "payload_json", "attempt_log")
    ID_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_LOG_FIELD_NUMBER: _ClassVar[int]
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    state: str
    attempts: int
    next_attempt_at: str
    last_status: int
    last_error: str
    created_at: str
    finished_at: str
    payload_json: bytes
    attempt_log: _containers.RepeatedCompositeFieldContainer[WebhookAttempt]
    def __init__(self, id: _Optional[str] = ..., webhook_id: _Optional[str] = ..., event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., state: _Optional[str] = ..., attempts: _Optional[int] = ..., next_attempt_at: _Optional[str] = ..., last_status: _Optional[int] = ..., last_error: _Optional[str] = ..., created_at: _Optional[str] = ..., finished_at: _Optional[str] = ..., payload_json: _Optional[bytes] = ..., attempt_log: _Optional[_Iterable[_Union[WebhookAttempt, _Mapping]]] = ...) -> None: ...

class WebhookAttempt(_message.Message):
    __slots__ = ("attempt", "at", "request_headers", "response_status", "response_body", "error", "latency_ms")
    class RequestHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HEADERS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_STATUS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_BODY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    at: str
    request_headers: _containers.ScalarMap[str, str]
    response_status: int
    response_body: str
    error: str
    latency_ms: int
    def __init__(self, attempt: _Optional[int] = ..., at: _Optional[str] = ..., request_headers: _Optional[_Mapping[str, str]] = ..., response_status: _Optional[int] = ..., response_body: _Optional[str] = ..., error: _Optional[str] = ..., latency_ms: _Optional[int] = ...) -> None: ...

class ConnectorRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "connector_id", "call", "body_json")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    connector_id: str
    call: str
    body_json: bytes
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., connector_id: _Optional[str] = ..., call: _Optional[str] = ..., body_json: _Optional[bytes] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("ctx", "app_slug", "name", "body_json")
    CTX_FIELD_NUMBER: _ClassVar[int]
    APP_SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    ctx: _common_pb2.RequestContext
    app_slug: str
    name: str
    body_json: bytes
    def __init__(self, ctx: _Optional[_Union[_common_pb2.RequestContext, _Mapping]] = ..., app_slug: _Optional[str] = ..., name: _Optional[str] = ..., body_json: _Optional[bytes] = ...) -> None: ...

class JsonDocument(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: bytes
    def __init__(self, json: _Optional[bytes] = ...) -> None: ...
