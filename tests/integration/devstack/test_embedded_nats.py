"""`make run`'s nats-server: each service's nkey is generated on the first run, readable
by its owner only, and reused on the next, when the server admits the same keys again
and still refuses anyone else."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import nats
import pytest
from nats.errors import Error as NatsError

from services.devstack.infra import EmbeddedNats
from services.devstack.nats_auth import NatsKeyring, service_env, service_users
from services.kit.nats.connection import NatsIdentity, connect, ensure_stream
from services.kit.nats.permissions import ROLES


def published_as_records(url: str, seed_file: Path) -> int:
    async def publish() -> int:
        nc = await connect(url, name="records", identity=NatsIdentity("records", seed_file))
        try:
            js = nc.jetstream()
            await ensure_stream(js, name="RECORDS", subjects=["records.>"])
            ack = await js.publish("records.ws_1.record.created", b"{}")
            return ack.seq
        finally:
            await nc.close()

    return asyncio.run(publish())


def anonymous_refused(url: str) -> None:
    async def attempt() -> None:
        with pytest.raises(NatsError, match="Authorization Violation"):
            await nats.connect(url, allow_reconnect=False, connect_timeout=5)

    asyncio.run(attempt())


def test_service_keys_are_private_and_survive_a_restart(tmp_path: Path) -> None:
    keys = tmp_path / "nats-keys"
    env = service_env(NatsKeyring(keys))
    assert set(env) == {f"{name.upper()}_NATS_SEED_FILE" for name in ROLES}
    seeds = {name: Path(path).read_bytes() for name, path in env.items()}
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for path in env.values():
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    assert len(set(seeds.values())) == len(seeds)

    seed_file = Path(env["RECORDS_NATS_SEED_FILE"])
    for expected_seq in (1, 2):
        # A keyring of its own each time, as a new `make run` makes.
        server = EmbeddedNats(tmp_path / "nats", service_users(NatsKeyring(keys)))
        server.start()
        try:
            assert published_as_records(server.url, seed_file) == expected_seq
            anonymous_refused(server.url)
        finally:
            server.stop()

    assert {name: Path(path).read_bytes() for name, path in env.items()} == seeds
