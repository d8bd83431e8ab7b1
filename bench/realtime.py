"""make bench: realtime fan-out. How long a change takes to reach SUBSCRIBERS subscribers
spread over two gateway replicas, and what a subscriber costs a gateway.

One stack (one process per service) and a second gateway in front of the same services.
Half the subscribers connect to each gateway over WebSocket and subscribe to the bench
app's people schema as its owner; WRITES records are then created one at a time, INTERVAL
apart, through the first gateway. Each subscriber notes when each creation reaches it.

  latency       from just before the write's request to the delivery, p50 and p99 over
                every (subscriber, write), and the slowest
  delivered     every subscriber must hear every write exactly once
  memory        each gateway's RSS with its subscribers connected less its RSS before,
                per connection

The clients run in this process with uvloop: they only read, so they take little from what
is measured (two cores: the figures include the clients' share). Each figure is the median
of BENCH_ROUNDS rounds; the report is appended to bench/results/<date>.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import psutil
import uvloop
from websockets.asyncio.client import ClientConnection, connect

from bench.records import APP, RECORDS_PATH, RESULTS_DIR, SCHEMA, sign_up_and_define
from services.devstack.infra import free_port
from services.devstack.stack import Stack

SUBSCRIBERS = int(os.environ.get("BENCH_SUBSCRIBERS", "1000"))
WRITES = int(os.environ.get("BENCH_WRITES", "50"))
INTERVAL_SECONDS = 0.2
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
# Connections opened at once: a gateway answers each handshake with a few calls.
OPENING_AT_ONCE = 50
DELIVERY_TIMEOUT_SECONDS = 30.0


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def websocket_url(base: str) -> str:
    return base.replace("http://", "ws://") + f"/api/apps/{APP}/realtime"


class Subscriber:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        # record id -> when it arrived (perf_counter)
        self.heard: dict[str, float] = {}
        self.repeats = 0
        self.expected = 0
        self.done = asyncio.Event()

    async def listen(self) -> None:
        async for raw in self.ws:
            message = orjson.loads(raw)
            if message["type"] == "record.created":
                record_id = message["record"]["id"]
                if record_id in self.heard:
                    self.repeats += 1
                self.heard.setdefault(record_id, time.perf_counter())
                if len(self.heard) >= self.expected:
                    self.done.set()


async def subscribe(url: str, auth: dict[str, str]) -> Subscriber:
    ws = await connect(url, additional_headers=auth, open_timeout=60, max_queue=None)
    ready = orjson.loads(await ws.recv())
    assert ready["type"] == "ready", ready
    await ws.send(orjson.dumps({"type": "subscribe", "id": "s", "schema": SCHEMA}).decode())
    answer = orjson.loads(await ws.recv())
    assert answer["type"] == "subscribed", answer
    return Subscriber(ws)


async def one_round(
    urls: list[str], writes_to: str, auth: dict[str, str], pids: list[int]
) -> dict[str, float]:
    before = [rss_mb(pid) for pid in pids]
    subscribers: list[Subscriber] = []
    wanted = [urls[index % len(urls)] for index in range(SUBSCRIBERS)]
    for start in range(0, len(wanted), OPENING_AT_ONCE):
        batch = wanted[start : start + OPENING_AT_ONCE]
        subscribers += await asyncio.gather(*(subscribe(u, auth) for u in batch))
    await asyncio.sleep(2)
    after = [rss_mb(pid) for pid in pids]
    for s in subscribers:
        s.expected = WRITES
    listeners = [asyncio.create_task(s.listen()) for s in subscribers]
    sent: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=writes_to, headers=auth, timeout=30) as http:
        for n in range(WRITES):
            began = time.perf_counter()
            response = await http.post(
                RECORDS_PATH, json={"name": f"zz realtime {n}", "status": "lead", "score": n}
            )
            response.raise_for_status()
            sent[response.json()["id"]] = began
            await asyncio.sleep(INTERVAL_SECONDS)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DELIVERY_TIMEOUT_SECONDS):
            await asyncio.gather(*(s.done.wait() for s in subscribers))
    latencies = sorted(
        (s.heard[record_id] - began) * 1000
        for s in subscribers
        for record_id, began in sent.items()
        if record_id in s.heard
    )
    missing = len(sent) * len(subscribers) - len(latencies)
    repeats = sum(s.repeats for s in subscribers)
    for listener in listeners:
        listener.cancel()
    await asyncio.gather(*(s.ws.close() for s in subscribers), return_exceptions=True)
    if missing or repeats:
        raise RuntimeError(f"{missing} deliveries missing, {repeats} repeated")
    per_gateway = SUBSCRIBERS / len(urls)
    return {
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[int(len(latencies) * 0.99)],
        "max_ms": latencies[-1],
        "kib_per_connection": statistics.mean(
            (a - b) * 1024 / per_gateway for a, b in zip(after, before, strict=True)
        ),
        "rss_before_mb": statistics.mean(before),
        "rss_after_mb": statistics.mean(after),
    }


def main() -> None:
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="tessera-bench-realtime-") as tmp:
        Path(tmp).chmod(0o755)
        stack = Stack(data_dir=Path(tmp) / "data", gateway_port=free_port(), database_urls={})
        print("starting the stack ...", flush=True)
        stack.start()
        try:
            with httpx.Client(base_url=stack.gateway_url, timeout=60) as http:
                account = sign_up_and_define(http)
            with stack.another_gateway() as second:
                urls = [websocket_url(stack.gateway_url), websocket_url(second)]
                pids = [
                    proc.pid
                    for proc in psutil.process_iter(["cmdline"])
                    if "services.gateway" in " ".join(proc.info["cmdline"] or ())
                ]
                for number in range(ROUNDS):
                    measured = uvloop.run(one_round(urls, stack.gateway_url, account.auth, pids))
                    rounds.append(measured)
                    print(
                        f"round {number + 1}/{ROUNDS}  p50 {measured['p50_ms']:.1f} ms"
                        f"  p99 {measured['p99_ms']:.1f} ms  max {measured['max_ms']:.1f} ms"
                        f"  {measured['kib_per_connection']:.1f} KiB per connection",
                        flush=True,
                    )
        finally:
            stack.stop()
    text = report(rounds)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{datetime.date.today().isoformat()}.md"
    with path.open("a") as out:
        out.write("\n" + text)
    print(f"\n{text}\nappended to {path}")


def report(rounds: list[dict[str, float]]) -> str:
    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    return (
        f"## Realtime fan-out ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)\n\n"
        f"{SUBSCRIBERS:,} WebSocket subscribers over two gateways, {WRITES} creations"
        f" {INTERVAL_SECONDS * 1000:.0f} ms apart through the first; median of"
        f" {len(rounds)} rounds.\n\n"
        "| write → delivery p50 | p99 | slowest | memory per connection | gateway RSS"
        " before → with subscribers |\n"
        "|--:|--:|--:|--:|--:|\n"
        f"| {median('p50_ms'):.1f} ms | {median('p99_ms'):.1f} ms | {median('max_ms'):.1f} ms"
        f" | {median('kib_per_connection'):.1f} KiB | {median('rss_before_mb'):.0f} →"
        f" {median('rss_after_mb'):.0f} MB |\n"
    )


if __name__ == "__main__":
    main()
