"""Settings of the workflows service, read from WORKFLOWS_* variables (and NATS_URL)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.kit.config import DatabaseServiceSettings


class WorkflowsSettings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WORKFLOWS_", extra="ignore", frozen=True)

    # host:port of the schema service, which finds an app by its slug. Required to serve;
    # `migrate` does not need it.
    schema_addr: str = ""
