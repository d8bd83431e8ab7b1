"""Identity's events. Each is added to the outbox in the transaction of the change it
reports. Passwords and their hashes never appear here."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity import tables
from services.identity.models import Account, AppUser, Workspace
from services.kit.nats.events import Event
from services.kit.nats.outbox import OutboxWriter
from services.kit.nats.permissions import SSO_ENFORCEMENT_CHANGED

SERVICE = "identity"
# The kind of a revocation that ends every login of an account (a password change).
EVERY_LOGIN = "account"
# The kind of a revocation that ends one cookie session of an account (a logout).
ONE_SESSION = "session"

_outbox = OutboxWriter(tables.outbox)


async def record(session: AsyncSession, event: Event) -> None:
    await _outbox.add(session, event)


def account_created(workspace_id: str, account: Account) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=workspace_id,
        entity="account",
        action="created",
        data={"account": {"id": account.id, "name": account.name, "email": account.email}},
    )


def workspace_created(workspace: Workspace) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=workspace.id,
        entity="workspace",
        action="created",
        data={"workspace": {"id": workspace.id, "name": workspace.name, "slug": workspace.slug}},
    )


def member_added(workspace_id: str, account_id: str, role: str) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=workspace_id,
        entity="member",
        action="added",
        data={"workspace_id": workspace_id, "account_id": account_id, "role": role},
    )


def session_started(workspace_id: str, account_id: str) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=workspace_id,
        entity="session",
        action="started",
        data={"account_id": account_id},
    )


def session_ended(workspace_id: str, account_id: str) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=workspace_id,
        entity="session",
        action="ended",
        data={"account_id": account_id},
    )


def member_role_changed(workspace_id: str, account_id: str, role: str, previous: str) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=workspace_id,
        entity="member",
        action="role_changed",
        data={
            "workspace_id": workspace_id,
            "account_id": account_id,
            "role": role,
            "previous_role": previous,
        },
    )


def member_removed(workspace_id: str, account_id: str) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=workspace_id,
        entity="member",
        action="removed",
        data={"workspace_id": workspace_id, "account_id": account_id},
    )


def sso_enforcement_changed(workspace_id: str) -> Event:
    """Whether the workspace enforces single sign-on, or on whom, changed: which
    workspaces a password login opens changed for its members. Gateways drop what they
    hold of the memberships of this workspace's members."""
    return Event.new(
        service=SERVICE,
        tenant=workspace_id,
        entity="member",
        action=SSO_ENFORCEMENT_CHANGED,
        data={"workspace_id": workspace_id},
    )


def credential_issued(workspace_id: str, credential_id: str, kind: str, account_id: str) -> Event:
    return Event.new(
        service=SERVICE,
        tenant=workspace_id,
        entity="credential",
        action="issued",
        data={"credential_id": credential_id, "kind": kind, "account_id": account_id},
    )


def credential_revoked(
    workspace_id: str,
    *,
    credential_id: str | None = None,
    kind: str = "",
    account_id: str | None = None,
) -> Event:
    """Gateways drop the named credential from their caches, or, given only an account id
    (for app end users: theirs), every credential of that principal: the reason a
    revocation reaches every replica within a second rather than a cache lifetime."""
    data: dict[str, str | None] = {"account_id": account_id}
    if credential_id:
        data["credential_id"] = credential_id
    if kind:
        data["kind"] = kind
    return Event.new(
        service=SERVICE,
        tenant=workspace_id,
        entity="credential",
        action="revoked",
        data=data,
    )


def app_user_changed(workspace_id: str, action: str, user: AppUser) -> Event:
    """`created`, `updated` or `deleted`."""
    return Event.new(
        service=SERVICE,
        tenant=workspace_id,
        entity="app_user",
        action=action,
        data={
            "app_user": {
                "id": user.id,
                "app_id": user.app_id,
                "email": user.email,
                "name": user.name,
                "app_role": user.app_role,
            }
        },
    )
