"""The JSON bodies the gateway answers with, as typed dicts: the presenters build them
(mypy holds each presenter to its shape) and the routes name them for the OpenAPI
document (services.gateway.openapi.returns). A key that a body carries only sometimes is
NotRequired; a key always present but possibly null is `| None`.

Records are typed per app (services.gateway.app_spec); here a record is any object."""

from __future__ import annotations

from typing import Any, NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

# --- accounts and workspaces ------------------------------------------------------------


class User(TypedDict):
    id: str
    name: str
    email: str
    # Baserow's names for the same values.
    first_name: str
    username: str


class Workspace(TypedDict):
    id: str
    name: str
    slug: str
    created_at: str
    # The caller's role in it.
    role: NotRequired[str]


class SignedUp(TypedDict):
    user: User
    workspace: Workspace


class Tokens(TypedDict):
    # The access JWT, under Baserow's name and the OAuth name.
    token: str
    access_token: str
    # Rotates: each refresh spends it and returns its successor.
    refresh_token: str
    user: User


class Session(TypedDict):
    user: User
    # Echo it in X-CSRFToken on writes made with the session cookie.
    csrf_token: str


class LoggedOut(TypedDict):
    detail: str


class Member(TypedDict):
    id: str
    name: str
    email: str
    role: str
    joined_at: str


class WorkspaceUser(Member):
    # Budibase's public API name of the id.
    _id: str


class WorkspaceUserBody(TypedDict):
    data: WorkspaceUser


class WorkspaceUsers(TypedDict):
    data: list[WorkspaceUser]


# --- credentials --------------------------------------------------------------------------


class ApiToken(TypedDict):
    id: str
    name: str
    workspace_id: str
    # create, read, update, delete: true, false, or a list of ["app", app] and
    # ["schema", app, schema].
    permissions: dict[str, bool | list[list[str]]]
    created_at: str
    expires_at: str | None
    last_used_at: str | None


class IssuedApiToken(ApiToken):
    # The secret, shown once.
    token: str


class ApiTokens(TypedDict):
    tokens: list[ApiToken]


class ApiKey(TypedDict):
    id: str
    # The secret, shown once.
    api_key: str
    created_at: str


class AdminToken(TypedDict):
    id: str
    name: str
    workspace_id: str
    bypass_privacy_rules: bool
    created_by: str
    created_at: str
    last_used_at: str | None


class IssuedAdminToken(AdminToken):
    token: str


class AdminTokens(TypedDict):
    admin_tokens: list[AdminToken]


class JsonWebKey(TypedDict):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class JsonWebKeySet(TypedDict):
    keys: list[JsonWebKey]


# --- apps and their users -----------------------------------------------------------------


class AppSettings(TypedDict):
    # The app role end users get at signup: admin, power, basic or public.
    default_app_role: str


class App(TypedDict):
    slug: str
    # Addresses the app for its anonymous callers and end users.
    public_id: str
    name: str
    description: str
    created_at: str
    settings: AppSettings


class Apps(TypedDict):
    apps: list[App]


class AppUser(TypedDict):
    id: str
    email: str
    name: str
    app_role: str
    created_at: str


class AppUsers(TypedDict):
    users: list[AppUser]
    page: int
    per_page: int
    total: int


class AppSession(TypedDict):
    # Send as `Authorization: Bearer <token>` to act as this end user.
    token: str
    expires_at: str
    user: AppUser


class SessionsEnded(TypedDict):
    sessions_ended: int


# --- schemas and fields -------------------------------------------------------------------


@with_config(ConfigDict(extra="allow"))
class Field(TypedDict):
    """A field; the settings of its type (e.g. `max_length`, `decimal_places`) sit beside
    the common keys."""

    slug: str
    name: str
    type: str
    required: bool
    unique: bool
    primary: bool
    # Choice types only, never empty.
    options: NotRequired[list[str]]
    default: NotRequired[Any]


class Schema(TypedDict):
    slug: str
    name: str
    fields: list[Field]


class Schemas(TypedDict):
    schemas: list[Schema]


# --- trash --------------------------------------------------------------------------------


@with_config(ConfigDict(extra="allow"))
class TrashEntry(TypedDict):
    """Something deleted, restorable until `expires_at` (POST /api/trash/{id}/restore)."""

    id: str
    # app, schema, field or records.
    type: str
    app: str
    schema: NotRequired[str]
    field: NotRequired[str]
    name: NotRequired[str]
    deleted_at: str
    expires_at: str


class Trashed(TypedDict):
    trash: TrashEntry


class Trash(TypedDict):
    trash: list[TrashEntry]


# --- records ------------------------------------------------------------------------------

Record = dict[str, Any]


@with_config(ConfigDict(extra="allow"))
class RecordValues(TypedDict):
    """Field values by field slug, each as its field type takes it; the app's own
    document (/api/apps/{app}/openapi.json) types every field."""


@with_config(ConfigDict(extra="allow"))
class RecordChange(TypedDict):
    """The id of a record and the values of the fields to change."""

    id: str


class RecordsToCreate(TypedDict):
    records: list[RecordValues]
    # A unique field: a record holding the same value there is updated instead.
    upsert_on: NotRequired[str]


class RecordsToUpdate(TypedDict):
    records: list[RecordChange]


class RecordIds(TypedDict):
    ids: list[str]


def keys_of(shape: Any) -> frozenset[str]:
    """The keys a typed dict may hold."""
    return frozenset(shape.__required_keys__ | shape.__optional_keys__)


class RecordPage(TypedDict):
    records: list[Record]
    # With page numbers; a cursor page has none.
    page: NotRequired[int]
    per_page: int
    # Every record the filter matches; null with count=false.
    total: int | None
    # Pass as `cursor` for the next page; null on the last one.
    next_cursor: str | None


class Records(TypedDict):
    records: list[Record]


class ImportProblem(TypedDict):
    line: int
    field: NotRequired[str]
    message: str


class ImportJob(TypedDict):
    id: str
    # running, done or failed.
    state: str
    mode: str
    format: str
    rows_done: int
    rows_rejected: int
    errors: list[ImportProblem]
    created_at: str
    finished_at: str | None


# --- audit log and health -----------------------------------------------------------------


class AuditActor(TypedDict):
    kind: str
    id: str | None
    account_id: str | None
    credential_id: str | None


class AuditTarget(TypedDict):
    type: str
    id: str


class AuditEntry(TypedDict):
    id: str
    time: str
    action: str
    outcome: str
    actor: AuditActor
    target: AuditTarget | None
    details: dict[str, Any]
    client_ip: str | None
    user_agent: str | None


class AuditLog(TypedDict):
    entries: list[AuditEntry]
    next_cursor: str | None


class Health(TypedDict):
    status: str


class Readiness(TypedDict):
    status: str
    # Each backing service and NATS: reachable or not.
    checks: dict[str, bool]


class RestoredRecord(TypedDict):
    id: str
    type: str
    app: str
    schema: str
    record: Record


# --- privacy rules ------------------------------------------------------------------------


class PrivacyPermissions(TypedDict):
    """What a rule (or the default, when no rule's condition holds) allows."""

    find: bool
    create: bool
    update: bool
    delete: bool
    # "all", or the field slugs the caller may read.
    read_fields: str | list[str]


class PrivacyRule(PrivacyPermissions):
    name: str
    # A condition on the record and $current_user ({"field", "op", "value"}, or groups
    # {"and": [...]} / {"or": [...]}); null holds always.
    condition: dict[str, Any] | None


class PrivacyRules(TypedDict):
    rules: list[PrivacyRule]
    default: PrivacyPermissions | None


# --- documents ----------------------------------------------------------------------------


@with_config(ConfigDict(extra="allow"))
class OpenApiDocument(TypedDict):
    """An OpenAPI 3.1 document."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


@with_config(ConfigDict(extra="allow"))
class PostmanCollection(TypedDict):
    """A Postman collection, format v2.1."""

    info: dict[str, Any]
    item: list[dict[str, Any]]


# --- workflows ------------------------------------------------------------------------------


@with_config(ConfigDict(extra="allow"))
class WorkflowDefinition(TypedDict):
    """A workflow as its builder writes it: `name` (its URL slug), `public`,
    `run_without_authentication`, typed `parameters`, a `condition` and ordered `steps`
    (create_record, update_record, delete_record, find_records, set, loop, schedule,
    return), every value an expression in the Common Expression Language."""

    name: str
    steps: list[dict[str, Any]]
    public: NotRequired[bool]
    parameters: NotRequired[list[dict[str, Any]]]
    # An expression, or a records filter tree over params and $current_user.
    condition: NotRequired[str | dict[str, Any]]


class WorkflowHook(TypedDict):
    """The workflow's incoming webhook: where senders POST deliveries and how they sign
    them. `secret` is in the answer that made the hook or a new secret only: keep it then."""

    path: str
    scheme: str
    secret: NotRequired[str]


class Workflow(TypedDict):
    id: str
    name: str
    # Every edit stores a new version; send it as If-Match to edit only that one.
    version: int
    definition: WorkflowDefinition
    # Present when a trigger of the definition is {"type": "hook"}.
    hook: WorkflowHook | None
    created_at: str
    updated_at: str


class Workflows(TypedDict):
    workflows: list[Workflow]


class RunParameters(TypedDict):
    """The workflow's parameters by name, as JSON, or as form fields (a list parameter's
    field repeated)."""


class RunResult(TypedDict):
    """A run that finished within the time the API waits: what its return step gave."""

    status: str
    response: dict[str, Any]
    run_id: str


class RunAccepted(TypedDict):
    """A run still going (or queued): follow it at …/runs/{run_id}."""

    status: str
    run_id: str
    state: str


class StepLog(TypedDict):
    # The step's place in the definition, with the loop iteration: "steps[2]#0.steps[1]".
    place: str
    step_id: str | None
    type: str
    attempt: int
    # succeeded, failed, skipped or retrying.
    state: str
    input: Any
    output: Any
    error: str | None
    duration_ms: int


class Run(TypedDict):
    id: str
    workflow: str
    version: int
    # queued, running, succeeded or failed.
    state: str
    # api, record, schedule, hook or replay.
    trigger: str
    parameters: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    replay_of: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    steps: NotRequired[list[StepLog]]


class Runs(TypedDict):
    runs: list[Run]
    # Pass as ?cursor= for the next (older) page; null on the last.
    next_cursor: str | None


# --- outgoing webhooks ---------------------------------------------------------------------


class WebhookInput(TypedDict):
    """An outgoing webhook: the endpoint (http or https; an address inside is refused
    unless the operator allows it), the events it is sent (record.created, record.updated,
    record.deleted, schema.created, schema.updated, schema.trashed; all record events by
    default), of which schemas (none: all), for updates only when one of `fields`
    changed, and whether it is on. An update sends only what changes."""

    url: str
    description: NotRequired[str]
    events: NotRequired[list[str]]
    schemas: NotRequired[list[str]]
    fields: NotRequired[list[str]]
    active: NotRequired[bool]


class Webhook(TypedDict):
    id: str
    url: str
    description: str
    events: list[str]
    schemas: list[str]
    fields: list[str]
    active: bool
    # Why Tessera turned it off (repeated failed deliveries) and when; null otherwise.
    disabled_reason: str | None
    disabled_at: str | None
    # Deliveries given up on since the last one that succeeded.
    failed_in_a_row: int
    secret_set_at: str
    # While a renewed secret overlaps the old one: until when both sign.
    previous_secret_until: str | None
    created_at: str
    updated_at: str
    # The signing secret (whsec_...): only in the answer that made the webhook or renewed
    # its secret. Keep it then.
    secret: NotRequired[str]


class Webhooks(TypedDict):
    webhooks: list[Webhook]


class WebhookAttempt(TypedDict):
    attempt: int
    at: str
    request_headers: dict[str, str]
    # null: no answer came (see error).
    response_status: int | None
    # The answer's first two kilobytes.
    response_body: str | None
    error: str | None
    latency_ms: int


class WebhookDelivery(TypedDict):
    # The webhook-id header of every attempt: receivers drop one they have seen.
    id: str
    event_id: str
    event_type: str
    # pending, succeeded or failed.
    state: str
    attempts: int
    next_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    created_at: str
    finished_at: str | None
    # Only when one delivery is asked for: the body sent, and each attempt.
    payload: NotRequired[Any]
    attempt_log: NotRequired[list[WebhookAttempt]]


class WebhookDeliveries(TypedDict):
    deliveries: list[WebhookDelivery]
    # Pass as ?cursor= for the next (older) page; null on the last.
    next_cursor: str | None


# --- the API connector and saved queries -------------------------------------------------


class ConnectorValue(TypedDict):
    """A shared or per-call header or parameter. A private one's value is never shown
    again ("***"); sending "***" back keeps it."""

    name: str
    value: NotRequired[str | None]
    private: NotRequired[bool]


class ConnectorCallParameter(TypedDict):
    """A value the call's URL, headers or body name as `<name>`: its sample and default
    (text, a number, true, false or null), or when private the only value it has."""

    name: str
    value: NotRequired[Any]
    private: NotRequired[bool]
    optional: NotRequired[bool]


class ConnectorAuth(TypedDict):
    """One of none, key_in_url, key_in_header, basic, oauth2_password,
    oauth2_client_credentials, oauth2_custom_token, jwt, client_certificate,
    oauth2_user_agent, with the fields it reads (see the README). key, password,
    client_secret and private_key are write-only."""

    type: str
    key_name: NotRequired[str | None]
    key: NotRequired[str | None]
    username: NotRequired[str | None]
    password: NotRequired[str | None]
    token_url: NotRequired[str | None]
    authorize_url: NotRequired[str | None]
    client_id: NotRequired[str | None]
    client_secret: NotRequired[str | None]
    scope: NotRequired[str | None]
    audience: NotRequired[str | None]
    token_parameters: NotRequired[dict[str, str] | None]
    token_field: NotRequired[str | None]
    certificate: NotRequired[str | None]
    private_key: NotRequired[str | None]
    algorithm: NotRequired[str | None]
    claims: NotRequired[dict[str, Any] | None]
    lifetime_seconds: NotRequired[int]


class ConnectorCallInput(TypedDict):
    """A call: `use_as` data (a saved query may run it) or action; its URL relative to the
    connector's base URL or absolute; `body_type` none, json, form or raw."""

    name: str
    use_as: NotRequired[str]
    method: NotRequired[str]
    url: NotRequired[str]
    headers: NotRequired[list[ConnectorValue]]
    parameters: NotRequired[list[ConnectorCallParameter]]
    body_type: NotRequired[str]
    body: NotRequired[Any]


class CallInitialization(TypedDict):
    # The JSON Schema of the answer to the call's last initialization.
    shape: dict[str, Any]
    at: str


class ConnectorCall(ConnectorCallInput):
    # Null until the call is initialized, and again once its definition changes.
    initialized: CallInitialization | None


class ConnectorInput(TypedDict):
    """A provider of an external API. An update sends only the fields it replaces (a list
    replaces the whole list)."""

    name: str
    base_url: NotRequired[str]
    headers: NotRequired[list[ConnectorValue]]
    parameters: NotRequired[list[ConnectorValue]]
    auth: NotRequired[ConnectorAuth]
    calls: NotRequired[list[ConnectorCallInput]]
    # PEM certificates of the authorities the API's certificate is checked against.
    ca_certificate: NotRequired[str]


class Connector(TypedDict):
    id: str
    name: str
    base_url: str
    headers: list[ConnectorValue]
    parameters: list[ConnectorValue]
    auth: ConnectorAuth
    calls: list[ConnectorCall]
    ca_certificate: str
    created_at: str
    updated_at: str


class Connectors(TypedDict):
    connectors: list[Connector]


class CallParameters(TypedDict):
    """Values of the call's public parameters by name; the others keep their stored ones."""

    parameters: NotRequired[dict[str, Any]]


class CallAnswer(TypedDict):
    status: int
    content_type: str
    # The answer's JSON, or its text when it is not JSON.
    body: Any


class CallInitialized(CallAnswer):
    initialized: CallInitialization


class SavedQueryInput(TypedDict):
    """A connector's data call saved under a name; `parameters` are defaults for its public
    parameters; `app_role` the weakest app end user role that may run it (public, basic,
    power, admin; "public" admits anonymous callers)."""

    name: str
    connector_id: str
    call: str
    description: NotRequired[str]
    parameters: NotRequired[dict[str, Any]]
    app_role: NotRequired[str]


class SavedQuery(TypedDict):
    id: str
    name: str
    connector_id: str
    call: str
    description: str
    parameters: dict[str, Any]
    app_role: str
    created_at: str
    updated_at: str


class SavedQueries(TypedDict):
    queries: list[SavedQuery]


class QueryResult(TypedDict):
    # What the external API answered: its JSON, or its text.
    data: Any
    # The JSON Schema the call's initialization found for `data`.
    schema: dict[str, Any]


class ConnectorAuthorization(TypedDict):
    # Where to send the user to connect their account; good until expires_at.
    authorize_url: str
    expires_at: str


class ConnectorConnected(TypedDict):
    connected: bool
    connector_id: str
    connector: str


class SsoProviderCheck(TypedDict):
    # Whether the provider answered its discovery document when the settings were saved.
    ok: bool
    message: NotRequired[str]
    authorization_endpoint: NotRequired[str]
    end_session_endpoint: NotRequired[str]
    # SAML: where the provider signs in, from its metadata.
    sso_url: NotRequired[str]


class SsoSettings(TypedDict):
    workspace_id: str
    protocol: str
    issuer: str
    keycloak_server_url: str
    keycloak_realm: str
    client_id: str
    # The secret itself is never shown.
    client_secret_set: bool
    allowed_domains: list[str]
    group_roles: dict[str, str]
    default_role: str
    groups_claim: str
    enforce: bool
    break_glass_account_id: str
    created_at: str
    updated_at: str
    login_url: str
    # What to register at an OpenID provider.
    redirect_uri: NotRequired[str]
    post_logout_redirect_uri: NotRequired[str]
    backchannel_logout_uri: NotRequired[str]
    # SAML: the provider's metadata as given; what to register at it.
    idp_metadata_xml: NotRequired[str]
    email_attribute: NotRequired[str]
    sp_entity_id: NotRequired[str]
    sp_metadata_url: NotRequired[str]
    acs_url: NotRequired[str]
    provider_check: NotRequired[SsoProviderCheck]


class SsoDiscovery(TypedDict):
    sso: bool
    workspace_id: NotRequired[str]
    workspace_name: NotRequired[str]
    enforce: NotRequired[bool]
    login_url: NotRequired[str]


class SsoTokens(TypedDict):
    token: str
    access_token: str
    refresh_token: str
    expires_in: int
    user: User
    # The one workspace these tokens open, with the role the provider's groups gave.
    workspace: Workspace
    # Whether this login made the account.
    provisioned: bool


class SsoLoggedOut(TypedDict):
    detail: str
    # Where to send the browser to end the provider's session too; null when not asked
    # or the provider offers no logout.
    provider_logout_url: str | None


class SsoBackchannel(TypedDict):
    # How many accounts' logins ended.
    ended: int


class SsoLinkStarted(TypedDict):
    # Where to send the browser; the login that comes back is linked to the caller.
    authorization_url: str
    expires_in: int
