"""Who may do what: the principal every service reads from a RequestContext, the workspace
roles and the one table of operations they allow.

The gateway turns any credential into a RequestContext; each service names, in its own
`policy` module, which operation each of its calls is, and checks it here. Row- and
field-level decisions (privacy rules) build on this in `services.kit.privacy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tessera.common.v1 import common_pb2

from services.kit.errors import NotFound, PermissionDenied, Unauthenticated


class Kind(StrEnum):
    USER = "user"
    API_TOKEN = "api_token"  # noqa: S105 (a kind of principal, not a secret)
    USER_KEY = "user_key"
    ADMIN_TOKEN = "admin_token"  # noqa: S105
    APP_USER = "app_user"
    ANONYMOUS = "anonymous"
    # A service asking another for what it needs to serve its own caller (the records
    # service reading a schema definition); the caller's own checks happen where it acts.
    SERVICE = "service"
    # A workflow run that no caller started (a record event, a schedule, an incoming
    # hook): it acts in its own app, on records only, as the app's builders would, so
    # privacy rules do not bind it. Only the workflows service speaks as one.
    WORKFLOW = "workflow"


# Every opaque secret identity issues starts so (then its kind and 43 random characters):
# scanners can spot a leaked one, and the gateway tells it from an access JWT at a glance.
CREDENTIAL_PREFIX = "tsr_"
# Longer than any secret identity issues: anything longer is refused unread.
MAX_SECRET_LENGTH = 200

# Workspace roles, weakest first.
ROLES = ("viewer", "editor", "builder", "admin", "owner")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
# App end users' roles (Budibase's), weakest first; "public" is also the anonymous caller's.
APP_ROLES = ("public", "basic", "power", "admin")
DEFAULT_APP_ROLE = "basic"

# The four things an API token can be granted, each on records.
GRANT_OPERATIONS = ("create", "read", "update", "delete")


class Op(StrEnum):
    """Everything a principal can be allowed to do. ROLE_TABLE says who may."""

    WORKSPACE_READ = "workspace.read"
    WORKSPACE_MANAGE = "workspace.manage"
    MEMBERS_READ = "members.read"
    MEMBERS_MANAGE = "members.manage"
    USERS_MANAGE = "users.manage"
    TOKENS_OWN = "tokens.own"
    ADMIN_TOKENS_MANAGE = "admin_tokens.manage"
    AUDIT_LOG_READ = "audit_log.read"
    SSO_MANAGE = "sso.manage"
    APPS_READ = "apps.read"
    APPS_WRITE = "apps.write"
    PRIVACY_RULES_MANAGE = "privacy_rules.manage"
    APP_USERS_MANAGE = "app_users.manage"
    RECORDS_READ = "records.read"
    RECORDS_CREATE = "records.create"
    RECORDS_UPDATE = "records.update"
    RECORDS_DELETE = "records.delete"
    RECORDS_IMPORT = "records.import"
    RECORDS_EXPORT = "records.export"
    TRASH_READ = "trash.read"
    TRASH_RESTORE = "trash.restore"
    WORKFLOWS_READ = "workflows.read"
    WORKFLOWS_WRITE = "workflows.write"
    WORKFLOWS_RUN = "workflows.run"


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may perform one operation."""

    # The weakest workspace role that may, for members and for the tokens they made.
    role: str
    summary: str
    # The record operation an API token needs a grant for; "" when tokens may not at all.
    grant: str = ""
    # Whether app end users and anonymous callers reach it (privacy rules then decide).
    app_users: bool = False
    # Whether admin tokens (full access to the workspace's apps) may.
    admin_tokens: bool = False


ROLE_TABLE: dict[Op, Rule] = {
    Op.WORKSPACE_READ: Rule("viewer", "See the workspace, its apps and schemas"),
    Op.WORKSPACE_MANAGE: Rule("owner", "Rename or delete the workspace"),
    Op.MEMBERS_READ: Rule("viewer", "List the workspace's members"),
    Op.MEMBERS_MANAGE: Rule("admin", "Add, re-role and remove members (owners: only an owner)"),
    Op.USERS_MANAGE: Rule("admin", "Use the users API"),
    Op.TOKENS_OWN: Rule("viewer", "Create and manage one's own API tokens and API key"),
    Op.ADMIN_TOKENS_MANAGE: Rule("admin", "Create, list and revoke admin tokens"),
    Op.AUDIT_LOG_READ: Rule("admin", "Read the workspace's audit log"),
    Op.SSO_MANAGE: Rule("admin", "Configure the workspace's single sign-on"),
    Op.APPS_READ: Rule("viewer", "Read apps, schemas and fields", admin_tokens=True),
    Op.APPS_WRITE: Rule(
        "builder", "Create, change and delete apps, schemas and fields", admin_tokens=True
    ),
    Op.PRIVACY_RULES_MANAGE: Rule("builder", "Read and set privacy rules", admin_tokens=True),
    Op.APP_USERS_MANAGE: Rule(
        "builder", "Manage an app's end users (also app role admin)", admin_tokens=True
    ),
    Op.RECORDS_READ: Rule(
        "viewer", "Read, list and search records", "read", app_users=True, admin_tokens=True
    ),
    Op.RECORDS_CREATE: Rule(
        "editor", "Create records", "create", app_users=True, admin_tokens=True
    ),
    Op.RECORDS_UPDATE: Rule(
        "editor", "Update records", "update", app_users=True, admin_tokens=True
    ),
    Op.RECORDS_DELETE: Rule(
        "editor", "Delete records", "delete", app_users=True, admin_tokens=True
    ),
    Op.RECORDS_IMPORT: Rule("editor", "Import records", "create", admin_tokens=True),
    Op.RECORDS_EXPORT: Rule("viewer", "Export records", "read", admin_tokens=True),
    Op.TRASH_READ: Rule("editor", "See the workspace's trash", admin_tokens=True),
    Op.TRASH_RESTORE: Rule("editor", "Restore from the trash", admin_tokens=True),
    Op.WORKFLOWS_READ: Rule("builder", "Read an app's workflows and their runs", admin_tokens=True),
    Op.WORKFLOWS_WRITE: Rule(
        "builder", "Create, change and delete an app's workflows; replay runs", admin_tokens=True
    ),
    Op.WORKFLOWS_RUN: Rule(
        "viewer",
        "Run an app's workflows (end users: public ones; anonymous callers: those that run "
        "without authentication)",
        app_users=True,
        admin_tokens=True,
    ),
}

SERVICE_OPERATIONS = frozenset({Op.APPS_READ})
WORKFLOW_OPERATIONS = frozenset(
    {Op.RECORDS_READ, Op.RECORDS_CREATE, Op.RECORDS_UPDATE, Op.RECORDS_DELETE}
)
# Roles that design apps and see all of their data: privacy rules do not bind them.
DESIGNER_ROLES = frozenset({"owner", "admin", "builder"})
# Callers whose role comes from the workspace membership.
MEMBER_KINDS = frozenset({Kind.USER, Kind.USER_KEY, Kind.API_TOKEN, Kind.ADMIN_TOKEN})
APP_KINDS = frozenset({Kind.APP_USER, Kind.ANONYMOUS})


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Kind
    id: str
    tenant_id: str
    account_id: str
    role: str
    grants: frozenset[str]
    app_id: str
    app_role: str
    bypass_privacy_rules: bool

    @classmethod
    def of(cls, ctx: common_pb2.RequestContext) -> Principal:
        """The caller; a context without a tenant or with an unknown kind is refused."""
        if not ctx.tenant_id:
            raise Unauthenticated("The call carries no workspace")
        try:
            kind = Kind(ctx.principal_kind or Kind.USER)
        except ValueError:
            raise Unauthenticated("The call carries an unknown kind of principal") from None
        return cls(
            kind=kind,
            id=ctx.principal_id,
            tenant_id=ctx.tenant_id,
            account_id=ctx.account_id or (ctx.principal_id if kind == Kind.USER else ""),
            role=ctx.role,
            grants=frozenset(ctx.permissions),
            app_id=ctx.app_id,
            app_role=ctx.app_role or ("public" if kind == Kind.ANONYMOUS else ""),
            bypass_privacy_rules=ctx.bypass_privacy_rules,
        )

    @property
    def current_user(self) -> str | None:
        """What privacy rules call `$current_user` and `created_by` records: the app end
        user, or the account behind a member's credential; None for anonymous callers."""
        if self.kind == Kind.APP_USER:
            return self.id or None
        if self.kind == Kind.ANONYMOUS:
            return None
        return self.account_id or None

    @property
    def bound_by_privacy_rules(self) -> bool:
        if self.kind == Kind.USER and self.role in DESIGNER_ROLES:
            return False
        if self.kind == Kind.WORKFLOW:
            return False
        return not (self.kind == Kind.ADMIN_TOKEN and self.bypass_privacy_rules)

    @property
    def is_member(self) -> bool:
        return self.kind in MEMBER_KINDS

    def may(self, op: Op) -> bool:
        """Whether the role table lets this principal perform `op` at all. Grants of API
        tokens on particular apps and schemas are checked by `may_on`."""
        rule = ROLE_TABLE[op]
        if self.kind == Kind.SERVICE:
            return op in SERVICE_OPERATIONS
        if self.kind == Kind.WORKFLOW:
            return op in WORKFLOW_OPERATIONS
        if self.kind in APP_KINDS:
            if op == Op.APP_USERS_MANAGE:
                return self.kind == Kind.APP_USER and self.app_role == "admin"
            return rule.app_users
        if self.kind == Kind.API_TOKEN and not rule.grant:
            return False
        if self.kind == Kind.ADMIN_TOKEN and not rule.admin_tokens:
            return False
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[rule.role]

    def may_on(self, op: Op, *, app_id: str, schema_id: str) -> bool:
        """`may`, and for an API token a grant covering this app or schema; for an app end
        user or anonymous caller, the app must be theirs."""
        if not self.may(op):
            return False
        if self.kind in APP_KINDS or self.kind == Kind.WORKFLOW:
            return bool(self.app_id) and self.app_id == app_id
        if self.kind != Kind.API_TOKEN:
            return True
        grant = ROLE_TABLE[op].grant
        return bool(
            self.grants & {f"{grant}:*", f"{grant}:app:{app_id}", f"{grant}:schema:{schema_id}"}
        )

    def require(self, op: Op) -> None:
        if not self.may(op):
            raise PermissionDenied(_refusal(op))

    def require_on(self, op: Op, *, app_id: str, schema_id: str) -> None:
        if self.may_on(op, app_id=app_id, schema_id=schema_id):
            return
        if (self.kind in APP_KINDS or self.kind == Kind.WORKFLOW) and self.app_id != app_id:
            # Another app does not exist for an app end user (or a workflow): the same
            # answer as for an app that exists nowhere.
            raise NotFound("App not found")
        raise PermissionDenied(_refusal(op))


def _refusal(op: Op) -> str:
    return f"You are not allowed to {ROLE_TABLE[op].summary[0].lower()}{ROLE_TABLE[op].summary[1:]}"


def require(ctx: common_pb2.RequestContext, op: Op) -> Principal:
    """The caller, once it is known to be allowed `op`."""
    principal = Principal.of(ctx)
    principal.require(op)
    return principal


def grant_strings(operation: str, scope: bool | Iterable[tuple[str, ...]]) -> list[str]:
    """A token permission (`true`, `false` or a list of resolved ("app", app id) and
    ("schema", schema id) scopes) as the grant strings a RequestContext carries."""
    if scope is True:
        return [f"{operation}:*"]
    if scope is False:
        return []
    return [f"{operation}:{kind}:{ident}" for kind, ident in scope]


def roles_table_markdown() -> str:
    """The role table as the README prints it."""
    header = "| Operation | " + " | ".join(ROLES) + " | API token grant | Admin token |"
    lines = [header, "|" + "---|" * (len(ROLES) + 3)]
    for rule in ROLE_TABLE.values():
        cells = ["yes" if ROLE_RANK[role] >= ROLE_RANK[rule.role] else "" for role in ROLES]
        lines.append(
            f"| {rule.summary} | "
            + " | ".join(cells)
            + f" | {rule.grant or ''} | {'yes' if rule.admin_tokens else ''} |"
        )
    return "\n".join(lines)
