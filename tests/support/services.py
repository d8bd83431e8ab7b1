"""One service process for integration tests: a fresh database, its migrations, the real
`python -m services.<name>` on a free port, stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc

from services.devstack.infra import free_port
from services.devstack.pki import Pki
from services.devstack.processes import ServiceProcess, migrate
from services.devstack.roles import ServiceDatabase
from services.devstack.stack import CREATES_SCHEMAS
from services.kit.secrets import SECRET_KEY_ENV, generate_key
from tests.support.infra import Infra
from tests.support.nats_users import nats_env
from tests.support.trust import gateway_channel, session_pki

# The key-encryption key of the suite's services; a test may pass its own.
SECRET_KEY = generate_key()


@dataclass(frozen=True)
class RunningService:
    process: ServiceProcess
    address: str
    database: ServiceDatabase
    pki: Pki

    def channel(self) -> grpc.Channel:
        """A channel to the service as the gateway opens one."""
        return gateway_channel(self.pki, self.address, self.process.name)


@contextmanager
def running_service(infra: Infra, name: str, **extra_env: str) -> Iterator[RunningService]:
    """Migrated as its database's owner, serving as its runtime role, as `make run` does."""
    prefix = name.upper()
    database = infra.new_database(name, creates_schemas=name in CREATES_SCHEMAS)
    port = free_port()
    pki = session_pki(infra)
    env = {
        f"{prefix}_DATABASE_URL": database.runtime_url,
        f"{prefix}_GRPC_PORT": str(port),
        "NATS_URL": infra.nats_url,
        **nats_env(infra),
        **pki.env_for(name),
        SECRET_KEY_ENV: SECRET_KEY,
        **extra_env,
    }
    migrate_as_owner(name, database, **{SECRET_KEY_ENV: SECRET_KEY})
    address = f"127.0.0.1:{port}"
    process = ServiceProcess(
        name,
        f"services.{name}",
        env,
        log_path=infra.work_dir / f"{name}-{port}.log",
        grpc_address=address,
        grpc_credentials=pki.channel_credentials(name),
    )
    process.start()
    try:
        process.wait_ready()
        yield RunningService(process, address, database, pki)
    finally:
        process.stop()


def migrate_as_owner(name: str, database: ServiceDatabase, **env: str) -> None:
    """`python -m services.<name> migrate` as the database's owner, as `make run` runs it,
    with `env` (environment variables) on top."""
    prefix = name.upper()
    migrate(
        f"services.{name}",
        {
            f"{prefix}_DATABASE_URL": database.runtime_url,
            f"{prefix}_MIGRATION_DATABASE_URL": database.owner_url,
            **env,
        },
    )
