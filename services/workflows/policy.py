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
    # A delivery comes before any principal: its signature, checked here with a secret
    # the gateway never sees, is what admits it.
    "DeliverHook": PUBLIC,
}
