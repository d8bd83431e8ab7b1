"""Background jobs that run on a fixed pace until the service stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def run_every(
    seconds: float, job: Callable[[], Awaitable[object]], stop: asyncio.Event, *, name: str
) -> None:
    """Runs `job` now and then every `seconds` until `stop`; a failing run is logged and
    the next one comes on time."""
    while not stop.is_set():
        try:
            await job()
        except Exception:
            log.exception("%s failed; trying again in %.0f s", name, seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


__all__ = ["run_every"]
