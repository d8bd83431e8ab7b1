"""python -m bench.transfer (part of make bench): a big import and a big export through the
whole stack.

Starts the stack with embedded PostgreSQL and NATS, streams a CSV of BENCH_ROWS simple rows
(name, email, score, active) into one schema through the gateway and times it end to end
(the request's start to the job's answer), then exports every record as NDJSON and as CSV,
reading the response as it comes, while sampling the resident memory of the gateway and
the records service. Prints rows per second and the memory seen.

    BENCH_ROWS (default 1000000)
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

from services.devstack.infra import free_port
from services.devstack.stack import Stack

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
FIELDS = [
    {"slug": "name", "type": "text", "required": True},
    {"slug": "email", "type": "email"},
    {"slug": "score", "type": "number"},
    {"slug": "active", "type": "boolean"},
]
PATH = "/api/apps/bench/schemas/people"


def csv_body(rows: int) -> Iterator[bytes]:
    yield b"name,email,score,active\n"
    batch = 2000
    for start in range(0, rows, batch):
        yield "".join(
            f"person {i},p{i}@example.com,{i % 1000}.5,{'true' if i % 2 else 'false'}\n"
            for i in range(start, min(start + batch, rows))
        ).encode()


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU time spent by the whole machine (all cores), idle and iowait excluded."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


class MemoryWatch:
    """Peak resident memory of some processes, sampled every 50 ms in a thread, and the
    CPU time they and the whole machine spent meanwhile."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak = {name: rss_mb(pid) for name, pid in pids.items()}
        self.start = dict(self.peak)
        self.cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.machine = machine_cpu_seconds()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu = {name: cpu_seconds(pid) - self.cpu[name] for name, pid in self.pids.items()}
        self.machine = machine_cpu_seconds() - self.machine

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], rss_mb(pid))

    def report(self) -> str:
        memory = ", ".join(
            f"{name} {self.start[name]:.0f} -> peak {self.peak[name]:.0f} MB" for name in self.pids
        )
        cpu = ", ".join(f"{name} {self.cpu[name]:.0f}s" for name in self.pids)
        others = self.machine - sum(self.cpu.values())
        return (
            f"memory: {memory}\n  cpu: {cpu}, everything else (PostgreSQL, NATS, the client)"
            f" {others:.0f}s, load average {os.getloadavg()[0]:.1f}"
        )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
        Path(tmp).chmod(0o755)
        stack = Stack(
            data_dir=Path(tmp) / "data",
            gateway_port=free_port(),
            database_urls={"identity": None, "schema": None, "records": None},
        )
        print("starting the stack ...", flush=True)
        stack.start()
        try:
            pids = {
                name: process.process.pid
                for name, process in stack.processes.items()
                if name in ("gateway", "records") and process.process is not None
            }
            with httpx.Client(base_url=stack.gateway_url, timeout=600) as http:
                email, password = "bench@example.com", "bench password 1"
                http.post(
                    "/api/user/", json={"name": "Bench", "email": email, "password": password}
                ).raise_for_status()
                token = http.post(
                    "/api/user/token-auth/", json={"username": email, "password": password}
                ).json()["token"]
                auth = {"Authorization": f"JWT {token}"}
                http.post(
                    "/api/apps", json={"name": "Bench", "slug": "bench"}, headers=auth
                ).raise_for_status()
                http.post(
                    "/api/apps/bench/schemas",
                    json={"name": "People", "slug": "people", "fields": FIELDS},
                    headers=auth,
                ).raise_for_status()

                print(f"importing {ROWS:,} rows of CSV ...", flush=True)
                with MemoryWatch(pids) as memory:
                    began = time.perf_counter()
                    response = http.post(
                        f"{PATH}/records/import",
                        content=csv_body(ROWS),
                        headers={**auth, "Content-Type": "text/csv"},
                    )
                    took = time.perf_counter() - began
                job = response.json()
                print(
                    f"  {response.status_code} {job['state']}: {job['rows_done']:,} rows in"
                    f" {took:.1f}s ({job['rows_done'] / took:,.0f} rows/s);"
                    f" rejected {job['rows_rejected']}"
                )
                print(f"  {memory.report()}")

                for fmt in ("ndjson", "csv"):
                    print(f"exporting everything as {fmt} ...", flush=True)
                    with MemoryWatch(pids) as memory:
                        began = time.perf_counter()
                        size = lines = 0
                        with http.stream(
                            "GET", f"{PATH}/records/export", params={"format": fmt}, headers=auth
                        ) as stream:
                            for chunk in stream.iter_bytes():
                                size += len(chunk)
                                lines += chunk.count(b"\n")
                        took = time.perf_counter() - began
                    print(
                        f"  {stream.status_code}: {lines:,} lines, {size / 2**20:,.0f} MiB in"
                        f" {took:.1f}s ({lines / took:,.0f} lines/s)"
                    )
                    print(f"  {memory.report()}")
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
