"""Settings of the workflows service, read from WORKFLOWS_* variables (and NATS_URL)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.kit.config import DatabaseServiceSettings
from services.kit.secrets import SECRET_KEY_ENV
from services.workflows.deliveries import DeliverySettings
from services.workflows.engine import RetryPolicy
from services.workflows.runs import RunSettings


class WorkflowsSettings(DatabaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WORKFLOWS_", extra="ignore", frozen=True)

    # host:port of the schema service, which finds an app by its slug, and of the records
    # service, which runs' steps act on. Required to serve; `migrate` does not need them.
    schema_addr: str = ""
    records_addr: str = ""

    # Runs (services.workflows.runs.RunSettings says what each is).
    run_lease_seconds: float = Field(default=30.0, gt=0)
    run_poll_seconds: float = Field(default=1.0, gt=0)
    # How often schedules are looked at for a slot that has come.
    schedule_poll_seconds: float = Field(default=5.0, gt=0)
    max_concurrent_runs: int = Field(default=50, ge=1)
    max_concurrent_runs_per_workspace: int = Field(default=10, ge=1)
    sync_run_budget_seconds: float = Field(default=10.0, ge=0)
    # A failed step's next attempt waits retry_base_seconds, doubling each time, at most
    # retry_max_delay_seconds.
    retry_base_seconds: float = Field(default=1.0, ge=0)
    retry_max_delay_seconds: float = Field(default=60.0, ge=0)

    # Outgoing webhooks (services.workflows.deliveries.DeliverySettings says what each is).
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0)
    webhook_retry_max_delay_seconds: float = Field(default=3 * 3600.0, gt=0)
    webhook_horizon_seconds: float = Field(default=24 * 3600.0, ge=0)
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)
    webhook_disable_after_failures: int = Field(default=5, ge=1)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    webhook_concurrency: int = Field(default=10, ge=1)

    # The key-encryption key(s) incoming webhooks' secrets are sealed with
    # (services.kit.secrets): comma-separated, the first seals, all open. Required to serve.
    secret_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices(SECRET_KEY_ENV)
    )

    def delivery_settings(self) -> DeliverySettings:
        return DeliverySettings(
            retry_base_seconds=self.webhook_retry_base_seconds,
            retry_max_delay_seconds=self.webhook_retry_max_delay_seconds,
            horizon_seconds=self.webhook_horizon_seconds,
            timeout_seconds=self.webhook_timeout_seconds,
            disable_after_failures=self.webhook_disable_after_failures,
            poll_seconds=self.webhook_poll_seconds,
            concurrency=self.webhook_concurrency,
        )

    def run_settings(self) -> RunSettings:
        return RunSettings(
            lease_seconds=self.run_lease_seconds,
            poll_seconds=self.run_poll_seconds,
            max_concurrent_runs=self.max_concurrent_runs,
            max_concurrent_runs_per_workspace=self.max_concurrent_runs_per_workspace,
            sync_budget_seconds=self.sync_run_budget_seconds,
            retry=RetryPolicy(self.retry_base_seconds, self.retry_max_delay_seconds),
        )
