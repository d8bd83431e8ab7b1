"""What each schema call is, for the role table (services.kit.access)."""

from __future__ import annotations

from services.kit.access import Op
from services.kit.grpc.policy import PUBLIC, PolicyTable

POLICY: PolicyTable = {
    "CreateApp": Op.APPS_WRITE,
    "ListApps": Op.APPS_READ,
    "GetApp": Op.APPS_READ,
    "CreateSchema": Op.APPS_WRITE,
    "ListSchemas": Op.APPS_READ,
    "GetSchema": Op.APPS_READ,
    "UpdateApp": Op.APPS_WRITE,
    "UpdateSchema": Op.APPS_WRITE,
    "AddField": Op.APPS_WRITE,
    "UpdateField": Op.APPS_WRITE,
    "DeleteField": Op.APPS_WRITE,
    "DeleteApp": Op.APPS_WRITE,
    "DeleteSchema": Op.APPS_WRITE,
    "ListTrash": Op.TRASH_READ,
    "RestoreTrash": Op.APPS_WRITE,
    "GetPrivacyRules": Op.PRIVACY_RULES_MANAGE,
    "SetPrivacyRules": Op.PRIVACY_RULES_MANAGE,
    # Before any principal: app end users signing up or logging in, anonymous callers.
    # The public id is the unguessable secret; the answer names no more than it addresses.
    "ResolvePublicApp": PUBLIC,
}
