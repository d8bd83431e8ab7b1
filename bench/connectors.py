"""make bench: the API connector and outgoing webhooks against a bare external API.

One stack (one process per service) whose operator allows 127.0.0.1, and bench/external.py
as the external API, in its own uvicorn process. wrk (-t2 -c16) drives, in turn:

  external API, direct   GET /v1/items on the external API itself, with its key: the floor
  saved query            POST …/queries/items/execute: the gateway, the workflows service
                         (query, connector and sealed key read, the call made with the key)
                         and the external API, answering its data

then record creates on a schema a webhook subscribes to, and the rate at which their
deliveries succeed (signed, sent, logged), read from the deliveries table once all are
done. Every delivery must have succeeded. Each rate is the median of BENCH_ROUNDS runs;
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

from bench.external import API_KEY
from bench.records import (
    APP,
    CONNECTIONS,
    RECORDS_PATH,
    RESULTS_DIR,
    ROUNDS,
    SCHEMA,
    SECONDS,
    THREADS,
    MemorySampler,
    sign_up_and_define,
)
from bench.workflows import CREATE, measure
from bench.wrk import Measurement, Scenario, Target
from services.devstack.infra import free_port
from services.devstack.processes import ServiceProcess
from services.devstack.stack import Stack

DIRECT = Scenario("external API, direct", "GET", "")
EXECUTE = Scenario("saved query", "POST", "/execute", "{}")
DRAIN_TIMEOUT_SECONDS = 300


def drained_deliveries(dsn: str, since: datetime.datetime) -> tuple[int, float, dict[str, int]]:
    """Deliveries made since `since`, once none is pending: how many, their rate (from the
    first one made to the last one finished), and how many ended in each state."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    with psycopg.connect(dsn, autocommit=True) as connection:
        while True:
            rows = connection.execute(
                "SELECT state, count(*), min(created_at), max(finished_at)"
                " FROM webhook_deliveries WHERE created_at >= %s GROUP BY state",
                (since,),
            ).fetchall()
            states = {state: int(count) for state, count, _, _ in rows}
            if not states.get("pending"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{states['pending']} deliveries still pending")
            time.sleep(0.5)
    first = min((row[2] for row in rows), default=None)
    last = max((row[3] for row in rows if row[3] is not None), default=None)
    total = sum(states.values())
    seconds = (last - first).total_seconds() if first and last else 0.0
    return total, (total / seconds if seconds else 0.0), states


def define(http: httpx.Client, auth: dict[str, str], external: str) -> None:
    """The connector, its initialized call, the saved query, and a webhook on the schema."""
    made = http.post(
        f"/api/apps/{APP}/connectors",
        json={
            "name": "Inventory",
            "base_url": external,
            "auth": {"type": "key_in_header", "key_name": "X-Api-Key", "key": API_KEY},
            "calls": [{"name": "list_items", "url": "/v1/items"}],
        },
        headers=auth,
    )
    made.raise_for_status()
    connector = made.json()["id"]
    http.post(
        f"/api/apps/{APP}/connectors/{connector}/calls/list_items/initialize", headers=auth
    ).raise_for_status()
    http.post(
        f"/api/apps/{APP}/queries",
        json={"name": "items", "connector_id": connector, "call": "list_items"},
        headers=auth,
    ).raise_for_status()
    http.post(
        f"/api/apps/{APP}/webhooks",
        json={"url": f"{external}/hooks", "events": ["record.created"], "schemas": [SCHEMA]},
        headers=auth,
    ).raise_for_status()


def main() -> None:
    results: dict[str, list[Measurement]] = {}
    drained: list[tuple[int, float, dict[str, int]]] = []
    with tempfile.TemporaryDirectory(prefix="tessera-bench-connectors-") as tmp:
        Path(tmp).chmod(0o755)
        port = free_port()
        external = f"http://127.0.0.1:{port}"
        api = ServiceProcess(
            name="external API",
            module="bench.external",
            env={"EXTERNAL_PORT": str(port)},
            log_path=Path(tmp) / "external.log",
            http_ready_url=f"{external}/healthz",
        )
        stack = Stack(
            data_dir=Path(tmp) / "data",
            gateway_port=free_port(),
            database_urls={},
            extra_env={"TESSERA_OUTBOUND_ALLOWLIST": "127.0.0.1/32"},
        )
        print("starting the stack and the external API ...", flush=True)
        api.start()
        api.wait_ready()
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
                    define(http, account.auth, external)
                direct = Target("external", external, "/v1/items", {"X-Api-Key": API_KEY})
                query = Target(
                    "tessera", stack.gateway_url, f"/api/apps/{APP}/queries/items", account.auth
                )
                records = Target("tessera", stack.gateway_url, RECORDS_PATH, account.auth)
                ids_file = Path(tmp) / "ids.txt"
                ids_file.write_text("")
                for round_number in range(ROUNDS):
                    for target, scenario in ((direct, DIRECT), (query, EXECUTE)):
                        measured = measure(target, scenario, ids_file)
                        results.setdefault(scenario.name, []).append(measured)
                        print(
                            f"round {round_number + 1}/{ROUNDS}  {scenario.name:<22}"
                            f"{measured.rate:>8,.0f} req/s{measured.p50_ms:>8.1f} ms p50"
                            f"{measured.p99_ms:>8.1f} ms p99",
                            flush=True,
                        )
                    since = datetime.datetime.now(datetime.UTC)
                    created = measure(records, CREATE, ids_file)
                    results.setdefault("record creates, webhook on", []).append(created)
                    drained.append(drained_deliveries(dsn, since))
                    print(
                        f"round {round_number + 1}/{ROUNDS}  webhook deliveries"
                        f"{drained[-1][1]:>10,.0f}/s succeeded ({drained[-1][0]:,})",
                        flush=True,
                    )
        finally:
            stack.stop()
            api.stop()
    for _, _, states in drained:
        if set(states) != {"succeeded"}:
            raise RuntimeError(f"not every delivery succeeded: {states}")
    text = report(results, drained, memory)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{datetime.date.today().isoformat()}.md"
    with path.open("a") as out:
        out.write("\n" + text)
    print(f"\n{text}\nappended to {path}")


def report(
    results: dict[str, list[Measurement]],
    drained: list[tuple[int, float, dict[str, int]]],
    memory: MemorySampler,
) -> str:
    rate = {name: statistics.median(m.rate for m in runs) for name, runs in results.items()}
    p50 = {name: statistics.median(m.p50_ms for m in runs) for name, runs in results.items()}
    p99 = {name: statistics.median(m.p99_ms for m in runs) for name, runs in results.items()}
    deliveries = statistics.median(r for _, r, _ in drained)
    lines = [
        f"## API connector and outgoing webhooks ({datetime.date.today().isoformat()})",
        "",
        f"A saved query of a connector with a key in a header, against a bare uvicorn API"
        f" on the same machine; wrk -t{THREADS} -c{CONNECTIONS}, {SECONDS} s x {ROUNDS}"
        " rounds (median).",
        "",
        "| workload | req/s | p50 ms | p99 ms |",
        "|---|--:|--:|--:|",
    ]
    for name in rate:
        lines.append(f"| {name} | {rate[name]:,.0f} | {p50[name]:.1f} | {p99[name]:.1f} |")
    lines += [
        f"| webhook deliveries succeeded per second | {deliveries:,.0f} | | |",
        "",
        f"A saved query runs at {rate[EXECUTE.name] / rate[DIRECT.name]:.0%} of the rate of"
        " the external API called directly (both share the two cores). Every delivery"
        f" succeeded ({sum(total for total, _, _ in drained):,}).",
        "",
        "Peak resident memory, MiB: "
        + ", ".join(f"{name} {mb:.0f}" for name, mb in sorted(memory.peak.items()))
        + f"; all processes at once {memory.peak_total:.0f} (PSS {memory.peak_pss_total:.0f}).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
