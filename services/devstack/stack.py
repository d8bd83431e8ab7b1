"""The whole Tessera stack on one machine: PostgreSQL and NATS (embedded unless URLs are
given), one database per service with its own least-privilege roles, migrations (as each
database's owner), the services (each as its runtime role), then the gateway."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from services.devstack.infra import EmbeddedNats, EmbeddedPostgres, free_port
from services.devstack.nats_auth import NatsKeyring, service_env, service_users
from services.devstack.pki import Pki, ensure_pki
from services.devstack.processes import ServiceProcess, migrate
from services.devstack.roles import ServiceDatabase, close_shared_databases, provision_database
from services.devstack.secret_key import stored_secret_key
from services.kit.secrets import SECRET_KEY_ENV

log = logging.getLogger(__name__)

# The services that own a database, in start order; records resolves schemas at start.
DATABASE_SERVICES = ("identity", "schema", "records", "workflows")
# Who asks the schema service for apps and schemas (<SERVICE>_SCHEMA_ADDR).
SCHEMA_READERS = ("records", "workflows")
# Who acts on records for its callers (<SERVICE>_RECORDS_ADDR).
RECORDS_CALLERS = ("workflows",)
# Its runtime role creates a PostgreSQL schema per app.
CREATES_SCHEMAS = frozenset({"records"})


@dataclass
class Stack:
    data_dir: Path
    gateway_port: int
    # Per service: a database URL to use as is (for migrations too, unless the
    # environment names a <SERVICE>_MIGRATION_DATABASE_URL), or None for a database the
    # stack provisions, with its roles, on postgres_admin_url or else in embedded PostgreSQL.
    database_urls: dict[str, str | None]
    postgres_admin_url: str | None = None
    nats_url: str | None = None
    database_prefix: str = "tessera"
    gateway_host: str = "127.0.0.1"
    extra_env: dict[str, str] = field(default_factory=dict)
    # TESSERA_SECRET_KEY for the services; None: the one kept under data_dir.
    secret_key: str | None = None
    postgres: EmbeddedPostgres | None = None
    nats: EmbeddedNats | None = None
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    # What the services actually use once started, embedded servers included.
    resolved_database_urls: dict[str, str] = field(default_factory=dict)
    # The databases the stack provisioned, with their owner's and a superuser's URLs.
    databases: dict[str, ServiceDatabase] = field(default_factory=dict)
    resolved_nats_url: str | None = None
    # The CA, certificates and context keys the services prove themselves with.
    pki: Pki | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pki = ensure_pki(self.data_dir / "pki", ("gateway", *DATABASE_SERVICES))
        urls = self.resolved_database_urls = self._databases()
        nats_url, nats_credentials = self._nats()
        self.resolved_nats_url = nats_url
        # The services that store anything get the key-encryption key; the gateway does not.
        secret = {SECRET_KEY_ENV: self.secret_key or stored_secret_key(self.data_dir)}
        with ThreadPoolExecutor(len(DATABASE_SERVICES)) as pool:
            list(
                pool.map(
                    lambda name: migrate(
                        f"services.{name}", {**self._migration_env(name), **secret}
                    ),
                    DATABASE_SERVICES,
                )
            )
        addresses = {name: f"127.0.0.1:{free_port()}" for name in DATABASE_SERVICES}
        common = {"NATS_URL": nats_url, **nats_credentials, **self.extra_env}
        for name in DATABASE_SERVICES:
            prefix = name.upper()
            env = {
                **common,
                **secret,
                f"{prefix}_DATABASE_URL": urls[name],
                f"{prefix}_GRPC_PORT": addresses[name].rsplit(":", 1)[1],
            }
            if name in SCHEMA_READERS:
                env[f"{prefix}_SCHEMA_ADDR"] = addresses["schema"]
            if name in RECORDS_CALLERS:
                env[f"{prefix}_RECORDS_ADDR"] = addresses["records"]
            self._launch(name, env, grpc_address=addresses[name])
        for name in DATABASE_SERVICES:
            self.processes[name].wait_ready()
        gateway_env = {
            **common,
            "GATEWAY_HOST": self.gateway_host,
            "GATEWAY_PORT": str(self.gateway_port),
            "GATEWAY_IDENTITY_ADDR": addresses["identity"],
            "GATEWAY_SCHEMA_ADDR": addresses["schema"],
            "GATEWAY_RECORDS_ADDR": addresses["records"],
            "GATEWAY_WORKFLOWS_ADDR": addresses["workflows"],
        }
        self._launch("gateway", gateway_env, http_ready_url=f"{self.gateway_url}/readyz")
        self.processes["gateway"].wait_ready()

    def _databases(self) -> dict[str, str]:
        missing = [name for name in DATABASE_SERVICES if not self.database_urls.get(name)]
        urls = {name: url for name, url in self.database_urls.items() if url}
        if missing:
            admin_url = self.postgres_admin_url
            if admin_url is None:
                self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
                self.postgres.start()
                admin_url = self.postgres.admin_url
                close_shared_databases(admin_url)
            for name in missing:
                database = provision_database(
                    admin_url,
                    f"{self.database_prefix}_{name}",
                    passwords_dir=self.data_dir / "postgres-roles",
                    creates_schemas=name in CREATES_SCHEMAS,
                )
                self.databases[name] = database
                urls[name] = database.runtime_url
        return urls

    def _migration_env(self, name: str) -> dict[str, str]:
        prefix = name.upper()
        env = {f"{prefix}_DATABASE_URL": self.resolved_database_urls[name]}
        if name in self.databases:
            env[f"{prefix}_MIGRATION_DATABASE_URL"] = self.databases[name].owner_url
        return env

    def _nats(self) -> tuple[str, dict[str, str]]:
        """The URL, and the variables that hand each service its NATS credentials: its
        own nkey for the embedded server; for a server of the operator's, none (each
        service reads what the operator set, <SERVICE>_NATS_SEED_FILE or _CREDS_FILE)."""
        if self.nats_url:
            return self.nats_url, {}
        keyring = NatsKeyring(self.data_dir / "nats-keys")
        self.nats = EmbeddedNats(self.data_dir / "nats", service_users(keyring))
        self.nats.start()
        return self.nats.url, service_env(keyring)

    def _launch(
        self,
        name: str,
        env: dict[str, str],
        *,
        grpc_address: str | None = None,
        http_ready_url: str | None = None,
    ) -> None:
        assert self.pki is not None
        process = ServiceProcess(
            name=name,
            module=f"services.{name}",
            env={**env, **self.pki.env_for(name)},
            log_path=self.log_dir / f"{name}.log",
            grpc_address=grpc_address,
            grpc_credentials=self.pki.channel_credentials(name),
            http_ready_url=http_ready_url,
        )
        self.processes[name] = process
        process.start()

    @contextmanager
    def another_gateway(self, **settings: str) -> Iterator[str]:
        """A second gateway process in front of the same services and NATS, as a replica
        behind a load balancer would be, with `settings` (environment variables) on top of
        the first one's; yields its URL."""
        port = free_port()
        first = self.processes["gateway"]
        url = f"http://{self.gateway_host}:{port}"
        process = ServiceProcess(
            name="gateway-2",
            module="services.gateway",
            env={**first.env, "GATEWAY_PORT": str(port), **settings},
            log_path=self.log_dir / f"gateway-{port}.log",
            http_ready_url=f"{url}/readyz",
        )
        process.start()
        try:
            process.wait_ready()
            yield url
        finally:
            process.stop()

    def exited(self) -> list[str]:
        """Services whose process has ended on its own."""
        return [
            name
            for name, process in self.processes.items()
            if process.process is not None and process.process.poll() is not None
        ]

    def stop(self) -> None:
        for name in ("gateway", *reversed(DATABASE_SERVICES)):
            process = self.processes.pop(name, None)
            if process is not None:
                process.stop()
        if self.nats is not None:
            self.nats.stop()
            self.nats = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
