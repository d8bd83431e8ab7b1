"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending the
next request as soon as the previous response is read. Far lighter than a general client,
so on a two-core machine the servers, not the load, set the pace."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile_ms(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def run(
    host: str,
    port: int,
    path_of: Callable[[int], str],
    *,
    headers: dict[str, str],
    connections: int,
    seconds: float,
) -> Result:
    result = Result()
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    deadline = time.monotonic() + seconds

    async def connection(offset: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        i = offset
        try:
            while time.monotonic() < deadline:
                request = f"GET {path_of(i)} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n"
                started = time.perf_counter()
                writer.write(request.encode())
                status = await _read_response(reader)
                result.latencies.append(time.perf_counter() - started)
                if status != 200:
                    result.errors += 1
                i += connections
        finally:
            writer.close()

    began = time.monotonic()
    await asyncio.gather(*(connection(n) for n in range(connections)))
    result.seconds = time.monotonic() - began
    return result
