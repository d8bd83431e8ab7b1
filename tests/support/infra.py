"""The real PostgreSQL and nats-server the suite runs against: embedded servers started
once per session, or the machine's own when TESSERA_TEST_POSTGRES_URL (an admin URL) and
TESSERA_TEST_NATS_URL are set."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.devstack.infra import EmbeddedNats, EmbeddedPostgres
from services.devstack.nats_auth import NatsKeyring
from services.devstack.roles import ServiceDatabase, close_shared_databases, provision_database
from tests.support.nats_users import suite_users


@dataclass(frozen=True)
class Infra:
    postgres_admin_url: str
    nats_url: str
    # Every database this session creates starts with it, so runs never share state.
    run_id: str
    work_dir: Path
    # The nkeys of the suite's own nats-server; None on the machine's own server.
    nats_keys: NatsKeyring | None = None

    def new_database(self, purpose: str, *, creates_schemas: bool = False) -> ServiceDatabase:
        """A fresh database for every call, with its own owner and runtime roles as the
        devstack provisions them: tests never share one by accident."""
        return provision_database(
            self.postgres_admin_url,
            self.database_prefix(purpose),
            passwords_dir=self.work_dir / "postgres-roles",
            creates_schemas=creates_schemas,
        )

    def database_prefix(self, purpose: str) -> str:
        """A name no other database of the run has, to build databases' names on."""
        return f"t_{self.run_id}_{purpose}_{secrets.token_hex(3)}"


@contextmanager
def start_infra() -> Iterator[Infra]:
    run_id = secrets.token_hex(4)
    with tempfile.TemporaryDirectory(prefix="tessera-test-") as tmp:
        work_dir = Path(tmp)
        # PostgreSQL runs as an unprivileged user when we are root; let it in.
        work_dir.chmod(0o755)
        postgres_url = os.environ.get("TESSERA_TEST_POSTGRES_URL")
        nats_url = os.environ.get("TESSERA_TEST_NATS_URL")
        postgres = None if postgres_url else EmbeddedPostgres(work_dir / "postgres")
        nats_keys = None if nats_url else NatsKeyring(work_dir / "nats-keys")
        nats = (
            None
            if nats_keys is None
            else EmbeddedNats(work_dir / "nats", suite_users(nats_keys, run_id))
        )
        try:
            if postgres is not None:
                postgres.start()
                postgres_url = postgres.admin_url
                close_shared_databases(postgres_url)
            if nats is not None:
                nats.start()
                nats_url = nats.url
            assert postgres_url is not None
            assert nats_url is not None
            yield Infra(postgres_url, nats_url, run_id, work_dir, nats_keys)
        finally:
            if nats is not None:
                nats.stop()
            if postgres is not None:
                postgres.stop()
