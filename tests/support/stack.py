"""The whole Tessera stack for end-to-end tests, built on the session's infra."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services.devstack.infra import free_port
from services.devstack.stack import DATABASE_SERVICES, Stack
from tests.support.infra import Infra


@contextmanager
def running_stack(infra: Infra) -> Iterator[Stack]:
    stack = Stack(
        data_dir=infra.work_dir / "stack",
        gateway_port=free_port(),
        database_urls={name: infra.new_database(name) for name in DATABASE_SERVICES},
        nats_url=infra.nats_url,
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
