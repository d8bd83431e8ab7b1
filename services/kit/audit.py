"""The audit log's vocabulary: what a security event records (who, what, from where), the
actions there are, and the event a service other than identity publishes to have one
recorded (`<service>.<tenant>.audit.recorded`; identity owns the log and consumes it).

An entry never holds a secret: details are small flat values under keys that name no
secret, and the constructors refuse anything else, so a slip fails loudly in tests
instead of landing in the log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tessera.common.v1 import common_pb2

from services.kit.access import Kind
from services.kit.nats.events import Event


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


class Action(StrEnum):
    """Every kind of entry. The first word names what it is about."""

    ACCOUNT_CREATED = "account.created"
    # details.method: "jwt" (token-auth) or "session" (the session cookie)
    LOGIN = "login"
    LOGOUT = "logout"
    # A spent refresh token presented again: every token of that login was revoked.
    REFRESH_TOKEN_REUSED = "refresh_token.reused"  # noqa: S105 (an action, not a secret)
    PASSWORD_CHANGED = "password.changed"  # noqa: S105
    WORKSPACE_CREATED = "workspace.created"
    MEMBER_ADDED = "member.added"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    API_TOKEN_CREATED = "api_token.created"  # noqa: S105
    API_TOKEN_UPDATED = "api_token.updated"  # noqa: S105
    API_TOKEN_ROTATED = "api_token.rotated"  # noqa: S105
    API_TOKEN_REVOKED = "api_token.revoked"  # noqa: S105
    USER_KEY_CREATED = "user_key.created"
    USER_KEY_REVOKED = "user_key.revoked"
    ADMIN_TOKEN_CREATED = "admin_token.created"  # noqa: S105
    ADMIN_TOKEN_REVOKED = "admin_token.revoked"  # noqa: S105
    PRIVACY_RULES_CHANGED = "privacy_rules.changed"
    APP_SETTINGS_CHANGED = "app.settings_changed"
    APP_USER_SIGNED_UP = "app_user.signed_up"
    APP_USER_LOGIN = "app_user.login"
    APP_USER_LOGOUT = "app_user.logout"
    APP_USER_CREATED = "app_user.created"
    APP_USER_ROLE_CHANGED = "app_user.role_changed"
    APP_USER_PASSWORD_SET = "app_user.password_set"  # noqa: S105
    APP_USER_DELETED = "app_user.deleted"
    SSO_CONFIGURED = "sso.configured"
    SSO_REMOVED = "sso.removed"


# What the schema service reports; identity records nothing else from its events.
SCHEMA_ACTIONS = frozenset({Action.PRIVACY_RULES_CHANGED, Action.APP_SETTINGS_CHANGED})

AUDIT_ENTITY = "audit"
AUDIT_ACTION = "recorded"
# Subject filter for the audit events of every service but identity itself.
SCHEMA_AUDIT_SUBJECT = f"schema.*.{AUDIT_ENTITY}.{AUDIT_ACTION}"

MAX_DETAIL_KEYS = 20
MAX_DETAIL_TEXT = 200
MAX_USER_AGENT = 512
# Keys a detail may never have: whatever is under them would be a credential.
SECRET_KEYS = frozenset(
    {
        "password",
        "old_password",
        "new_password",
        "password_hash",
        "secret",
        "secret_hash",
        "token",
        "refresh_token",
        "access_token",
        "session_id",
        "csrf_token",
    }
)

Detail = str | int | bool | None | list[str]


def _checked_details(details: Mapping[str, Any]) -> dict[str, Detail]:
    if len(details) > MAX_DETAIL_KEYS:
        raise ValueError(f"an audit entry has at most {MAX_DETAIL_KEYS} details")
    checked: dict[str, Detail] = {}
    for key, value in details.items():
        if key in SECRET_KEYS:
            raise ValueError(f"an audit entry may not hold {key!r}")
        if isinstance(value, str):
            checked[key] = value[:MAX_DETAIL_TEXT]
        elif value is None or isinstance(value, bool | int):
            checked[key] = value
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            checked[key] = [item[:MAX_DETAIL_TEXT] for item in value[:MAX_DETAIL_KEYS]]
        else:
            raise ValueError(f"audit detail {key!r} must be text, a number, a flag or a list")
    return checked


@dataclass(frozen=True)
class AuditEntry:
    """One security event, without its id, tenant and time (the log assigns those)."""

    action: Action
    outcome: Outcome = Outcome.SUCCESS
    # Who: the principal (its kind and id), the account behind it, the credential used.
    principal_kind: str = Kind.ANONYMOUS
    principal_id: str = ""
    account_id: str = ""
    credential_id: str = ""
    # What it acted on.
    target_type: str = ""
    target_id: str = ""
    details: Mapping[str, Detail] = field(default_factory=dict)
    # From where, as the gateway saw the request.
    client_ip: str = ""
    user_agent: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", _checked_details(self.details))
        object.__setattr__(self, "user_agent", self.user_agent[:MAX_USER_AGENT])

    @classmethod
    def by(
        cls,
        ctx: common_pb2.RequestContext,
        action: Action,
        *,
        target_type: str = "",
        target_id: str = "",
        details: Mapping[str, Detail] | None = None,
        outcome: Outcome = Outcome.SUCCESS,
    ) -> AuditEntry:
        """An entry for what the caller of `ctx` did, from where it called."""
        kind = ctx.principal_kind or (Kind.USER if ctx.principal_id else Kind.ANONYMOUS)
        return cls(
            action=action,
            outcome=outcome,
            principal_kind=kind,
            principal_id=ctx.principal_id,
            account_id=ctx.account_id or (ctx.principal_id if kind == Kind.USER else ""),
            credential_id=ctx.credential_id,
            target_type=target_type,
            target_id=target_id,
            details=details or {},
            client_ip=ctx.client_ip,
            user_agent=ctx.user_agent,
        )

    def to_data(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "outcome": str(self.outcome),
            "principal_kind": self.principal_kind,
            "principal_id": self.principal_id,
            "account_id": self.account_id,
            "credential_id": self.credential_id,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "details": dict(self.details),
            "client_ip": self.client_ip,
            "user_agent": self.user_agent,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> AuditEntry:
        """The entry an audit event carries; KeyError, TypeError or ValueError when it is
        not one."""
        texts = {
            key: data.get(key, "")
            for key in (
                "principal_kind",
                "principal_id",
                "account_id",
                "credential_id",
                "target_type",
                "target_id",
                "client_ip",
                "user_agent",
            )
        }
        if not all(isinstance(value, str) for value in texts.values()):
            raise TypeError("audit entry fields are text")
        details = data.get("details") or {}
        if not isinstance(details, Mapping):
            raise TypeError("audit entry details are an object")
        return cls(
            action=Action(data["action"]),
            outcome=Outcome(data.get("outcome", Outcome.SUCCESS)),
            details=details,
            **texts,
        )


def audit_event(service: str, tenant_id: str, entry: AuditEntry) -> Event:
    """The event that has identity record `entry` in the tenant's audit log; written to the
    publishing service's outbox in the transaction of the change it reports."""
    return Event.new(
        service=service,
        tenant=tenant_id,
        entity=AUDIT_ENTITY,
        action=AUDIT_ACTION,
        data={"entry": entry.to_data()},
    )


__all__ = [
    "SCHEMA_ACTIONS",
    "SCHEMA_AUDIT_SUBJECT",
    "SECRET_KEYS",
    "Action",
    "AuditEntry",
    "Detail",
    "Outcome",
    "audit_event",
]
