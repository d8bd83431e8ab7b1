"""What each workflows call is, for the role table (services.kit.access)."""

from __future__ import annotations

from services.kit.access import Op
from services.kit.grpc.policy import PUBLIC, PolicyTable

POLICY: PolicyTable = {
    "CreateWorkflow": Op.WORKFLOWS_WRITE,
    "ListWorkflows": Op.WORKFLOWS_READ,
    "GetWorkflow": Op.WORKFLOWS_READ,
    "UpdateWorkflow": Op.WORKFLOWS_WRITE,
    "DeleteWorkflow": Op.WORKFLOWS_WRITE,
    "RunWorkflow": Op.WORKFLOWS_RUN,
    "ListRuns": Op.WORKFLOWS_READ,
    "GetRun": Op.WORKFLOWS_READ,
    "ReplayRun": Op.WORKFLOWS_WRITE,
    "SetHookSecret": Op.WORKFLOWS_WRITE,
    "CreateWebhook": Op.WORKFLOWS_WRITE,
    "ListWebhooks": Op.WORKFLOWS_READ,
    "GetWebhook": Op.WORKFLOWS_READ,
    "UpdateWebhook": Op.WORKFLOWS_WRITE,
    "DeleteWebhook": Op.WORKFLOWS_WRITE,
    "NewWebhookSecret": Op.WORKFLOWS_WRITE,
    "ListWebhookDeliveries": Op.WORKFLOWS_READ,
    "GetWebhookDelivery": Op.WORKFLOWS_READ,
    "ReplayWebhookDelivery": Op.WORKFLOWS_WRITE,
    "PingWebhook": Op.WORKFLOWS_WRITE,
    "CreateConnector": Op.WORKFLOWS_WRITE,
    "ListConnectors": Op.WORKFLOWS_READ,
    "GetConnector": Op.WORKFLOWS_READ,
    "UpdateConnector": Op.WORKFLOWS_WRITE,
    "DeleteConnector": Op.WORKFLOWS_WRITE,
    # Calls reach out with the connector's credentials: builders only.
    "InitializeCall": Op.WORKFLOWS_WRITE,
    "RunCall": Op.WORKFLOWS_WRITE,
    "CreateQuery": Op.WORKFLOWS_WRITE,
    "ListQueries": Op.WORKFLOWS_READ,
    "GetQuery": Op.WORKFLOWS_READ,
    "UpdateQuery": Op.WORKFLOWS_WRITE,
    "DeleteQuery": Op.WORKFLOWS_WRITE,
    # End users and anonymous callers too; each query's role decides (connector_api).
    "ExecuteQuery": Op.WORKFLOWS_RUN,
    "DescribeQueries": Op.WORKFLOWS_RUN,
    # Each user connects their own account (end users too); the authorization server's
    # answer comes back before any principal: its state, unguessable, admits it.
    "AuthorizeConnector": Op.WORKFLOWS_RUN,
    "DisconnectConnector": Op.WORKFLOWS_RUN,
    "CompleteConnectorAuthorization": PUBLIC,
    # A delivery comes before any principal: its signature, checked here with a secret
    # the gateway never sees, is what admits it.
    "DeliverHook": PUBLIC,
}
