"""NATS credentials for the embedded nats-server: one nkey per role, generated on first
run and reused, and the server configuration that admits those keys, each with its
role's subject permissions (services.kit.nats.permissions), and nobody else.

Nkeys rather than passwords: a client proves it holds the seed by signing the server's
nonce, so no secret crosses the (unencrypted, in the devstack) connection, and the
server's configuration holds only public keys."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import nkeys

from services.kit.nats.permissions import ROLES, Permissions

# Every Ed25519 seed is this long.
SEED_BYTES = 32


@dataclass(frozen=True)
class NatsUser:
    """One user of the server: an nkey's public half and what it may do."""

    nkey: str
    permissions: Permissions


class NatsKeyring:
    """The roles' nkey seeds, one file per role under `directory`: readable by the owner
    only, created on first use and reused afterwards, so a restarted stack keeps its keys."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def seed_file(self, role: str) -> Path:
        path = self.directory / f"{role}.nk"
        if not path.exists():
            self._write_new_seed(path)
        return path

    def user(self, role: str, permissions: Permissions) -> NatsUser:
        seed = self.seed_file(role).read_bytes().strip()
        return NatsUser(nkeys.from_seed(bytearray(seed)).public_key.decode(), permissions)

    def _write_new_seed(self, path: Path) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        seed = nkeys.encode_seed(secrets.token_bytes(SEED_BYTES), nkeys.PREFIX_BYTE_USER)
        # O_EXCL: of two stacks starting at once on one directory, the second reuses the
        # first's seed instead of overwriting a key a running service already holds.
        with contextlib.suppress(FileExistsError):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(seed + b"\n")


def service_users(keyring: NatsKeyring) -> list[NatsUser]:
    """A user per service role, with the role's permissions."""
    return [keyring.user(name, role.permissions()) for name, role in ROLES.items()]


def service_env(keyring: NatsKeyring) -> dict[str, str]:
    """The variables that hand each service its own seed (<SERVICE>_NATS_SEED_FILE)."""
    return {f"{name.upper()}_NATS_SEED_FILE": str(keyring.seed_file(name)) for name in ROLES}


def server_config(
    *, host: str, port: int, store_dir: Path, log_file: Path, users: Iterable[NatsUser]
) -> str:
    """nats-server's configuration (its format reads JSON): JetStream, the listen address
    and an authorization that admits `users` only; anonymous clients are refused."""
    config = {
        "listen": f"{host}:{port}",
        "log_file": str(log_file),
        "jetstream": {"store_dir": str(store_dir)},
        "authorization": {
            "users": [
                {
                    "nkey": user.nkey,
                    "permissions": {
                        "publish": _allow(
                            user.permissions.publish, user.permissions.publish_denied
                        ),
                        "subscribe": _allow(user.permissions.subscribe),
                    },
                }
                for user in users
            ]
        },
    }
    return json.dumps(config, indent=2) + "\n"


def _allow(subjects: tuple[str, ...], denied: tuple[str, ...] = ()) -> Mapping[str, list[str]]:
    # An empty allow list would allow everything; nothing allowed is a deny of all.
    if not subjects:
        return {"deny": [">"]}
    return {"allow": list(subjects), **({"deny": list(denied)} if denied else {})}


__all__ = ["NatsKeyring", "NatsUser", "server_config", "service_env", "service_users"]
