"""One service process for integration tests: a fresh database, its migrations, the real
`python -m services.<name>` on a free port, stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from services.devstack.infra import free_port
from services.devstack.processes import ServiceProcess, migrate
from services.kit.secrets import SECRET_KEY_ENV, generate_key
from tests.support.infra import Infra

# The key-encryption key of the suite's services; a test may pass its own.
SECRET_KEY = generate_key()


@dataclass(frozen=True)
class RunningService:
    process: ServiceProcess
    address: str
    database_url: str


@contextmanager
def running_service(infra: Infra, name: str, **extra_env: str) -> Iterator[RunningService]:
    prefix = name.upper()
    url = infra.new_database(name)
    port = free_port()
    env = {
        f"{prefix}_DATABASE_URL": url,
        f"{prefix}_GRPC_PORT": str(port),
        "NATS_URL": infra.nats_url,
        SECRET_KEY_ENV: SECRET_KEY,
        **extra_env,
    }
    migrate(f"services.{name}", env)
    address = f"127.0.0.1:{port}"
    process = ServiceProcess(
        name,
        f"services.{name}",
        env,
        log_path=infra.work_dir / f"{name}-{port}.log",
        grpc_address=address,
    )
    process.start()
    try:
        process.wait_ready()
        yield RunningService(process, address, url)
    finally:
        process.stop()
