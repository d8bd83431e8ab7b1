"""The whole Tessera stack for end-to-end tests, built on the session's infra."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services.devstack.infra import free_port
from services.devstack.stack import DATABASE_SERVICES, Stack
from tests.support.infra import Infra
from tests.support.nats_users import nats_env

# The suite plays many people from one address and tries wrong passwords on purpose,
# which login throttling would take for an attack; tests/e2e/test_login_throttling.py
# tries the real limits on a stack of its own.
SUITE_LOGIN_LIMITS = {
    **{
        f"IDENTITY_LOGIN_FREE_FAILURES_PER_{scope}": "1000000"
        for scope in ("ACCOUNT_ADDRESS", "ACCOUNT", "ADDRESS")
    },
    "GATEWAY_RATE_LIMIT_SIGN_IN": "1000000",
}

# Outgoing HTTP (webhooks, HTTP steps) reaches the tests' own receivers on 127.0.0.1, and
# webhook deliveries are retried within seconds instead of a day.
SUITE_OUTBOUND = {
    "TESSERA_OUTBOUND_ALLOWLIST": "127.0.0.1/32",
    "WORKFLOWS_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "WORKFLOWS_WEBHOOK_RETRY_MAX_DELAY_SECONDS": "1",
    "WORKFLOWS_WEBHOOK_HORIZON_SECONDS": "3",
    "WORKFLOWS_WEBHOOK_TIMEOUT_SECONDS": "2",
    "WORKFLOWS_WEBHOOK_DISABLE_AFTER_FAILURES": "3",
    "WORKFLOWS_WEBHOOK_POLL_SECONDS": "0.2",
}


@contextmanager
def running_stack(
    infra: Infra, *, secret_key: str | None = None, **extra_env: str
) -> Iterator[Stack]:
    """A stack of its own (databases, data and logs), `extra_env` (environment variables)
    set for every process, and the key-encryption key `secret_key` (by default one the
    stack makes). The stack provisions its databases, roles and all, as `make run` does."""
    port = free_port()
    stack = Stack(
        data_dir=infra.work_dir / f"stack-{port}",
        gateway_port=port,
        database_urls=dict.fromkeys(DATABASE_SERVICES),
        postgres_admin_url=infra.postgres_admin_url,
        database_prefix=infra.database_prefix("stack"),
        nats_url=infra.nats_url,
        extra_env={**nats_env(infra), **SUITE_LOGIN_LIMITS, **SUITE_OUTBOUND, **extra_env},
        secret_key=secret_key,
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
