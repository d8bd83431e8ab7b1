"""make bench: how many runs of a three-step workflow one workflows process sustains.

One stack (one process per service), the bench app's people schema, and a workflow of three
steps: create a record, update it, return its id. wrk (-t2 -c16) drives, in turn:

  run, sync      POST …/workflows/three-steps/run: each answer is a finished run (the
                 Workflow API waits for it), so the rate is runs/s end to end
  create record  POST …/records with the same values: one of the run's two writes, made
                 by the client directly, for scale

then a burst of `?async=true` runs (answered 202 at once, queued and executed by the
process's workers, at most WORKFLOWS_MAX_CONCURRENT_RUNS_PER_WORKSPACE at a time), and the
rate at which they finish, read from the runs table. Every run must have succeeded. The
memory of each process is sampled throughout. Each rate is the median of BENCH_ROUNDS runs;
the report is appended to bench/results/<date>.md.
"""

from __future__ import annotations

import datetime
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from bench import wrk
from bench.records import (
    APP,
    CONNECTIONS,
    RECORDS_PATH,
    RESULTS_DIR,
    ROUNDS,
    SECONDS,
    THREADS,
    WARMUP_SECONDS,
    MemorySampler,
    sign_up_and_define,
)
from bench.wrk import Measurement, Scenario, Target
from services.devstack.infra import free_port
from services.devstack.stack import Stack

NAME = "three-steps"
WORKFLOW = {
    "name": NAME,
    "parameters": [
        {"name": "name", "type": "text", "required": True},
        {"name": "score", "type": "integer"},
    ],
    "steps": [
        {
            "id": "made",
            "type": "create_record",
            "schema": "people",
            "values": {"name": "params.name", "status": "'lead'", "score": "params.score"},
        },
        {
            "type": "update_record",
            "schema": "people",
            "record": "steps.made",
            "values": {"status": "'customer'"},
        },
        {"type": "return", "value": {"id": "steps.made.id"}},
    ],
}
BODY = '{"name":"zz bench run","score":{n}}'
SYNC = Scenario("run, sync", "POST", "/run", BODY)
ASYNC = Scenario("run, async", "POST", "/run?async=true", BODY)
CREATE = Scenario("create record", "POST", "", '{"name":"zz bench run","status":"lead"}')
# Queued runs must all finish within this after the burst.
DRAIN_TIMEOUT_SECONDS = 300


def run_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute("SELECT state, count(*) FROM runs GROUP BY state").fetchall()
    return {state: int(count) for state, count in rows}


def drained_rate(dsn: str, since: datetime.datetime) -> tuple[int, float]:
    """Runs started since `since`, once all are finished, and their rate: how many, over
    the time from the first one's start to the last one's end."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    query = (
        "SELECT count(*), count(*) FILTER (WHERE state IN ('queued', 'running')),"
        " min(started_at), max(finished_at) FROM runs WHERE created_at >= %s"
    )
    with psycopg.connect(dsn, autocommit=True) as connection:
        while True:
            total, pending, first, last = connection.execute(query, (since,)).fetchone() or (
                0,
                0,
                None,
                None,
            )
            if not pending:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{pending} queued runs still unfinished")
            time.sleep(0.5)
    seconds = (last - first).total_seconds() if first and last else 0.0
    return int(total), (total / seconds if seconds else 0.0)


def measure(target: Target, scenario: Scenario, ids_file: Path) -> Measurement:
    measured = None
    for seconds in (WARMUP_SECONDS, SECONDS):
        measured = wrk.run(
            target,
            scenario,
            scenario.path,
            seconds=seconds,
            threads=THREADS,
            connections=CONNECTIONS,
            ids_file=ids_file,
        )
    assert measured is not None
    if measured.errors:
        raise RuntimeError(f"{scenario.name}: {measured.errors} errors")
    return measured


def main() -> None:
    results: dict[str, list[Measurement]] = {}
    drained: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="tessera-bench-workflows-") as tmp:
        Path(tmp).chmod(0o755)
        stack = Stack(data_dir=Path(tmp) / "data", gateway_port=free_port(), database_urls={})
        print("starting the stack ...", flush=True)
        stack.start()
        try:
            dsn = stack.databases["workflows"].admin_url
            pids = {
                name: process.process.pid
                for name, process in stack.processes.items()
                if process.process is not None
            }
            with MemorySampler(pids) as memory:
                with httpx.Client(base_url=stack.gateway_url, timeout=60) as http:
                    account = sign_up_and_define(http)
                    http.post(
                        f"/api/apps/{APP}/workflows", json=WORKFLOW, headers=account.auth
                    ).raise_for_status()
                flow = Target(
                    "tessera", stack.gateway_url, f"/api/apps/{APP}/workflows/{NAME}", account.auth
                )
                records = Target("tessera", stack.gateway_url, RECORDS_PATH, account.auth)
                ids_file = Path(tmp) / "ids.txt"
                ids_file.write_text("")
                for round_number in range(ROUNDS):
                    for target, scenario in ((flow, SYNC), (records, CREATE)):
                        measured = measure(target, scenario, ids_file)
                        results.setdefault(scenario.name, []).append(measured)
                        print(
                            f"round {round_number + 1}/{ROUNDS}  {scenario.name:<14}"
                            f"{measured.rate:>8,.0f} req/s{measured.p50_ms:>8.1f} ms p50"
                            f"{measured.p99_ms:>8.1f} ms p99",
                            flush=True,
                        )
                    since = datetime.datetime.now(datetime.UTC)
                    wrk.run(
                        flow,
                        ASYNC,
                        ASYNC.path,
                        seconds=SECONDS,
                        threads=THREADS,
                        connections=CONNECTIONS,
                        ids_file=ids_file,
                    )
                    drained.append(drained_rate(dsn, since))
                    print(
                        f"round {round_number + 1}/{ROUNDS}  run, async     "
                        f"{drained[-1][1]:>8,.0f} runs/s finished ({drained[-1][0]:,} runs)",
                        flush=True,
                    )
                counts = run_counts(dsn)
        finally:
            stack.stop()
    if set(counts) != {"succeeded"}:
        raise RuntimeError(f"not every run succeeded: {counts}")
    text = report(results, drained, counts, memory)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{datetime.date.today().isoformat()}.md"
    with path.open("a") as out:
        out.write("\n" + text)
    print(f"\n{text}\nappended to {path}")


def report(
    results: dict[str, list[Measurement]],
    drained: list[tuple[int, float]],
    counts: dict[str, int],
    memory: MemorySampler,
) -> str:
    rate = {name: statistics.median(m.rate for m in runs) for name, runs in results.items()}
    p50 = {name: statistics.median(m.p50_ms for m in runs) for name, runs in results.items()}
    p99 = {name: statistics.median(m.p99_ms for m in runs) for name, runs in results.items()}
    queued = statistics.median(r for _, r in drained)
    lines = [
        f"## Workflow runs ({datetime.date.today().isoformat()})",
        "",
        f"A three-step workflow (create a record, update it, return its id) on one workflows"
        f" process; wrk -t{THREADS} -c{CONNECTIONS}, {SECONDS} s x {ROUNDS} rounds (median).",
        "",
        "| workload | req/s | p50 ms | p99 ms |",
        "|---|--:|--:|--:|",
    ]
    for name in rate:
        lines.append(f"| {name} | {rate[name]:,.0f} | {p50[name]:.1f} | {p99[name]:.1f} |")
    lines += [
        f"| run, async (queued runs finished per second) | {queued:,.0f} | | |",
        "",
        f"A synchronous run makes two writes and journals each step; it runs at"
        f" {rate[SYNC.name] / rate[CREATE.name]:.0%} of the rate of one record create."
        f" {sum(counts.values()):,} runs, every one succeeded.",
        "",
        "Peak resident memory, MiB: "
        + ", ".join(f"{name} {mb:.0f}" for name, mb in sorted(memory.peak.items()))
        + f"; all processes at once {memory.peak_total:.0f} (PSS {memory.peak_pss_total:.0f}).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
