"""What each records call is, for the role table (services.kit.access). The call's
schema-specific checks (API token grants, an app end user's app, privacy rules) follow in
the service once the schema is known."""

from __future__ import annotations

from services.kit.access import Op
from services.kit.grpc.policy import PUBLIC, PolicyTable

POLICY: PolicyTable = {
    "CreateRecord": Op.RECORDS_CREATE,
    "GetRecord": Op.RECORDS_READ,
    "UpdateRecord": Op.RECORDS_UPDATE,
    "DeleteRecord": Op.RECORDS_DELETE,
    "ListRecords": Op.RECORDS_READ,
    # Asked by the schema service on behalf of a builder changing a field.
    "PreviewFieldChange": Op.APPS_WRITE,
    "CreateRecords": Op.RECORDS_CREATE,
    "UpdateRecords": Op.RECORDS_UPDATE,
    "DeleteRecords": Op.RECORDS_DELETE,
    "UpsertRecord": Op.RECORDS_CREATE,
    "ListTrash": Op.TRASH_READ,
    "RestoreTrash": Op.TRASH_RESTORE,
    "ImportRecords": Op.RECORDS_IMPORT,
    "GetImport": Op.RECORDS_IMPORT,
    "ExportRecords": Op.RECORDS_EXPORT,
    # The gateway only, for its realtime subscribers: the records service judges each
    # viewer's rights itself (services.records.service.RecordsService.view_changes).
    "ViewChanges": PUBLIC,
}
