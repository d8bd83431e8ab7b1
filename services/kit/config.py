"""Typed settings shared by every service. Each service subclasses BaseServiceSettings with
its own env_prefix; nothing outside a config module reads os.environ."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit.nats.connection import NatsIdentity


class TrustSettings(BaseSettings):
    """What a process proves itself with on gRPC hops (services.kit.grpc.trust): one set of
    TESSERA_* variables for every service. A service refuses to serve or call without them."""

    model_config = SettingsConfigDict(env_prefix="TESSERA_", extra="ignore", frozen=True)

    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # The Ed25519 key this process signs request contexts with: the gateway's, or the
    # key of a service that acts for callers (workflows runs act as whoever started them).
    context_signing_key_file: Path | None = None
    # The gateway's public key (one PEM or several, while a new key is rolled out): every
    # service.
    context_verify_key_file: Path | None = None
    # The public keys of the services that act for callers (services.kit.grpc.trust's
    # DELEGATES): set only where such calls are taken (records).
    delegated_context_verify_key_file: Path | None = None


class BaseServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    log_level: str = Field(
        default="INFO", validation_alias=AliasChoices("TESSERA_LOG_LEVEL", "LOG_LEVEL")
    )
    nats_url: str = Field(
        default="nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL")
    )
    # The service's NATS credentials, as files (<PREFIX>_NATS_SEED_FILE, ..._CREDS_FILE):
    # an nkey seed, or a .creds file for a server in operator mode. Neither: anonymous.
    nats_seed_file: Path | None = None
    nats_creds_file: Path | None = None
    # How long a stop waits for in-flight calls before cancelling them.
    shutdown_grace_seconds: float = 5.0
    trust: TrustSettings = Field(default_factory=TrustSettings)

    def nats_identity(self, role: str) -> NatsIdentity:
        return NatsIdentity(role, seed_file=self.nats_seed_file, creds_file=self.nats_creds_file)


class DatabaseServiceSettings(BaseServiceSettings):
    """Settings of a service that owns a PostgreSQL database and serves gRPC."""

    database_url: str
    # What `migrate` connects as, when the role that owns the tables is not the one the
    # service runs as (it should not be); unset, migrate uses database_url.
    migration_database_url: str | None = None
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    # A plaintext port answering the gRPC health service and nothing else, for probes that
    # cannot present a certificate (Kubernetes' grpc probes); off unless set.
    grpc_health_port: int | None = None
    db_pool_size: int = 10
    # The outbox relay wakes on NOTIFY; this poll only covers a lost notification.
    outbox_poll_seconds: float = 1.0

    @property
    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

    @property
    def grpc_health_address(self) -> str | None:
        if self.grpc_health_port is None:
            return None
        return f"{self.grpc_host}:{self.grpc_health_port}"
