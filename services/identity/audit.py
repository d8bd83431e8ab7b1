"""The audit log: identity owns it. Identity's own security events are written here in the
transaction of the change they report; other services' arrive as audit events
(services.identity.consumers). Like service.py, every function only flushes.

Where an entry goes: a workspace's events into that workspace. What an account does as
itself (logging in and out, changing its password, its API key) goes into every
workspace it is a member of, where owners and admins see their members' sign-ins. A
failed login for an email that belongs to no account has no workspace to go to and
must not let a stranger write into one: it is a line in identity's log, with where it
came from and never the email or the password tried."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.identity.audit_repository import AuditFilter, AuditLogRepository, StoredEntry
from services.kit.access import Kind, Principal
from services.kit.audit import Action, AuditEntry, Detail, Outcome
from services.kit.clock import utcnow
from services.kit.errors import ValidationFailed
from services.kit.paging import DEFAULT_PER_PAGE, MAX_PER_PAGE

log = logging.getLogger(__name__)

MAX_FILTER_VALUES = 20
MAX_ID_LENGTH = 100
MAX_CURSOR_LENGTH = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def record(session: AsyncSession, tenant_id: str, entry: AuditEntry) -> None:
    await AuditLogRepository(session).insert([tenant_id], entry, utcnow())


async def record_for_account(session: AsyncSession, account_id: str, entry: AuditEntry) -> None:
    """`entry` in every workspace the account is a member of (none: nowhere)."""
    repo = AuditLogRepository(session)
    await repo.insert(await repo.workspaces_of_account(account_id), entry, utcnow())


async def account_of_refresh_family(session: AsyncSession, family_id: str) -> str:
    return await AuditLogRepository(session).account_of_refresh_family(family_id)


async def login_failed(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    account_id: str,
    *,
    method: str,
) -> None:
    """A refused member login: in the account's workspaces, or, for an email that is no
    account's, in the log only."""
    entry = account_entry(
        ctx, Action.LOGIN, account_id, outcome=Outcome.FAILURE, details={"method": method}
    )
    if account_id:
        await record_for_account(session, account_id, entry)
    else:
        log_unattributed(entry)


def account_entry(
    ctx: common_pb2.RequestContext,
    action: Action,
    account_id: str,
    *,
    credential_id: str = "",
    outcome: Outcome = Outcome.SUCCESS,
    details: dict[str, Detail] | None = None,
) -> AuditEntry:
    """An account acting as itself (or, failing to log in, someone trying to), from where
    `ctx` says the request came."""
    # A failed login was made by nobody yet: the account is only its target.
    signed_in = bool(ctx.principal_id) or outcome == Outcome.SUCCESS
    return AuditEntry(
        action=action,
        outcome=outcome,
        principal_kind=ctx.principal_kind or (Kind.USER if signed_in else Kind.ANONYMOUS),
        principal_id=ctx.principal_id or (account_id if signed_in else ""),
        account_id=ctx.account_id or (account_id if signed_in else ""),
        credential_id=credential_id or ctx.credential_id,
        target_type="account",
        target_id=account_id,
        details=details or {},
        client_ip=ctx.client_ip,
        user_agent=ctx.user_agent,
    )


def log_unattributed(entry: AuditEntry) -> None:
    """A security event no workspace owns (a login failing for an unknown email)."""
    log.warning(
        "%s %s for no known account",
        entry.action,
        entry.outcome,
        extra={
            "audit_action": str(entry.action),
            "client_ip": entry.client_ip,
            "user_agent": entry.user_agent,
            **{f"audit_{key}": value for key, value in entry.details.items()},
        },
    )


@dataclass(frozen=True)
class AuditQuery:
    actions: Sequence[str] = ()
    actor: str = ""
    outcome: str = ""
    since: str = ""
    until: str = ""
    target_id: str = ""
    cursor: str = ""
    per_page: int = 0


@dataclass(frozen=True)
class AuditPage:
    entries: list[StoredEntry]
    next_cursor: str


async def list_entries(
    session: AsyncSession, ctx: common_pb2.RequestContext, query: AuditQuery
) -> AuditPage:
    """The caller's workspace's entries, newest first, filtered; a page and the cursor
    of the next one ("" at the end)."""
    tenant_id = Principal.of(ctx).tenant_id
    per_page = query.per_page or DEFAULT_PER_PAGE
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationFailed(f"per_page must be between 1 and {MAX_PER_PAGE}", field="per_page")
    since = _moment(query.since, "since")
    until = _moment(query.until, "until")
    if since is not None and until is not None and since >= until:
        raise ValidationFailed("'since' must be earlier than 'until'", field="since")
    where = AuditFilter(
        actions=_actions(query.actions),
        account_id=_identifier(query.actor, "actor"),
        outcome=_outcome(query.outcome),
        target_id=_identifier(query.target_id, "target"),
        since=since,
        until=until,
        before=decode_cursor(query.cursor) if query.cursor else None,
    )
    found = await AuditLogRepository(session).page(tenant_id, where, per_page + 1)
    if len(found) <= per_page:
        return AuditPage(entries=found, next_cursor="")
    last = found[per_page - 1]
    return AuditPage(entries=found[:per_page], next_cursor=encode_cursor(last))


async def prune(session: AsyncSession, *, retention_days: int) -> int:
    return await AuditLogRepository(session).prune(utcnow() - timedelta(days=retention_days))


def encode_cursor(entry: StoredEntry) -> str:
    micros = (entry.occurred_at - EPOCH) // timedelta(microseconds=1)
    raw = f"{micros}:{entry.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The keyset position a cursor stands for; a cursor this service did not write is a
    400 naming it."""
    refused = ValidationFailed("'cursor' is not a cursor this list gave out", field="cursor")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        micros, _, entry_id = raw.partition(":")
        moment = EPOCH + timedelta(microseconds=int(micros))
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        raise refused from None
    if not entry_id.startswith("aud_") or len(entry_id) > MAX_ID_LENGTH:
        raise refused
    return moment, entry_id


def _actions(given: Sequence[str]) -> list[str]:
    names = [name.strip() for value in given for name in value.split(",") if name.strip()]
    if len(names) > MAX_FILTER_VALUES:
        raise ValidationFailed(f"At most {MAX_FILTER_VALUES} actions", field="action")
    known = {str(action) for action in Action}
    for name in names:
        if name not in known:
            shown = name if len(name) <= 64 else name[:63] + "…"
            raise ValidationFailed(
                f"Unknown action {shown!r}; actions are {', '.join(sorted(known))}",
                field="action",
            )
    return names


def _outcome(given: str) -> str:
    if given and given not in {str(outcome) for outcome in Outcome}:
        raise ValidationFailed("'outcome' is success or failure", field="outcome")
    return given


def _identifier(given: str, field: str) -> str:
    if len(given) > MAX_ID_LENGTH:
        raise ValidationFailed(
            f"'{field}' is an id of at most {MAX_ID_LENGTH} characters", field=field
        )
    return given


def _moment(given: str, field: str) -> datetime | None:
    """ISO 8601; without an offset, UTC."""
    if not given:
        return None
    try:
        moment = datetime.fromisoformat(given)
    except ValueError:
        raise ValidationFailed(
            f"'{field}' must be an ISO 8601 time, e.g. 2026-12-01T09:30:00Z", field=field
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
