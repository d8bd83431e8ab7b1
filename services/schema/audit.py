"""The schema service's security events, for the audit log identity keeps: published as
`schema.<tenant>.audit.recorded` through the outbox, in the transaction of the change."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from tessera.common.v1 import common_pb2

from services.kit.audit import Action, AuditEntry, audit_event
from services.schema import events
from services.schema.models import App, Schema


async def privacy_rules_changed(
    session: AsyncSession, ctx: common_pb2.RequestContext, tenant_id: str, schema: Schema
) -> None:
    rules = schema.privacy_rules
    entry = AuditEntry.by(
        ctx,
        Action.PRIVACY_RULES_CHANGED,
        target_type="schema",
        target_id=schema.id,
        details={
            "app_id": schema.app_id,
            "app": schema.app_slug,
            "schema": schema.slug,
            # Removed rules open the schema to members by role again.
            "removed": rules is None,
            "rule_names": [rule["name"] for rule in rules["rules"]] if rules else [],
        },
    )
    await events.publish(session, audit_event(events.SERVICE, tenant_id, entry))


async def app_settings_changed(
    session: AsyncSession,
    ctx: common_pb2.RequestContext,
    tenant_id: str,
    before: App,
    after: App,
) -> None:
    if after.settings == before.settings:
        return
    entry = AuditEntry.by(
        ctx,
        Action.APP_SETTINGS_CHANGED,
        target_type="app",
        target_id=after.id,
        details={
            "app": after.slug,
            "public_id": after.public_id,
            "default_app_role": after.settings.default_app_role,
            "previous_default_app_role": before.settings.default_app_role,
        },
    )
    await events.publish(session, audit_event(events.SERVICE, tenant_id, entry))
