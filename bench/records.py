"""make bench: the records hot paths through the whole architecture, against a bare endpoint.

Starts the stack with embedded PostgreSQL and NATS, seeds 100,000 records, then drives the
gateway over HTTP with 16 concurrent clients for a fixed time, first getting records by id,
then listing 50 sorted by a text field; then the same against a single uvicorn process with
an asyncpg pool issuing the identical SQL. Prints rate, p50 and p99 and the ratio.

    BENCH_SECONDS (default 15)  BENCH_RECORDS (default 100000)  BENCH_CONCURRENCY (default 16)
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import uvloop

from bench import loadgen
from bench.loadgen import Result
from services.devstack.infra import free_port
from services.devstack.processes import ServiceProcess
from services.devstack.stack import Stack
from services.kit.db import plain_url

SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
RECORDS = int(os.environ.get("BENCH_RECORDS", "100000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
WARMUP_SECONDS = 2.0
FIELDS = [
    {"slug": "name", "type": "text", "required": True},
    {"slug": "email", "type": "email"},
    {"slug": "score", "type": "number"},
    {"slug": "status", "type": "select", "options": ["lead", "customer", "churned"]},
    {"slug": "active", "type": "boolean"},
]


def measure(port: int, path_of: Callable[[int], str], headers: dict[str, str]) -> Result:
    def once(seconds: float) -> Result:
        return uvloop.run(
            loadgen.run(
                "127.0.0.1",
                port,
                path_of,
                headers=headers,
                connections=CONCURRENCY,
                seconds=seconds,
            )
        )

    once(WARMUP_SECONDS)
    return once(SECONDS)


@dataclass
class Seeded:
    dsn: str
    table: str
    counts_table: str
    schema_id: str
    columns: list[list[str]]
    sort_column: str
    ids: list[str]


async def seed(stack: Stack, workspace_id: str) -> Seeded:
    schema_db = await asyncpg.connect(plain_url(stack.resolved_database_urls["schema"]))
    app_id, schema_id = await schema_db.fetchrow(
        "SELECT a.id, s.id FROM apps a JOIN schemas s ON s.app_id = a.id "
        "WHERE a.tenant_id = $1 AND a.slug = 'bench' AND s.slug = 'people'",
        workspace_id,
    )
    fields = await schema_db.fetch(
        "SELECT id, slug FROM fields WHERE schema_id = $1 ORDER BY position", schema_id
    )
    await schema_db.close()
    column = {row["slug"]: row["id"] for row in fields}
    table = f'"{app_id}"."{schema_id}"'
    dsn = plain_url(stack.resolved_database_urls["records"])
    records_db = await asyncpg.connect(dsn)
    await records_db.execute(
        f"""INSERT INTO {table} (id, created_at, updated_at, "{column["name"]}",
                "{column["email"]}", "{column["score"]}", "{column["status"]}",
                "{column["active"]}")
            SELECT 'rec_' || substr(md5(random()::text || i), 1, 26), now(), now(),
                   'person ' || md5(i::text), 'p' || i || '@example.com', i % 1000,
                   (ARRAY['lead','customer','churned'])[1 + i % 3], i % 2 = 0
            FROM generate_series(1, $1) AS i""",
        RECORDS,
    )
    await records_db.execute(f"ANALYZE {table}")
    ids = [
        r["id"]
        for r in await records_db.fetch(f"SELECT id FROM {table} ORDER BY random() LIMIT 2000")
    ]
    await records_db.close()
    columns = [["id", "id", "text"]]
    columns += [[column[f["slug"]], f["slug"], f["type"]] for f in FIELDS]  # type: ignore[index]
    columns += [["created_at", "created_at", "ts"], ["updated_at", "updated_at", "ts"]]
    counts_table = f'"{app_id}"."_record_counts"'
    return Seeded(dsn, table, counts_table, schema_id, columns, column["name"], ids)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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
        bare: ServiceProcess | None = None
        try:
            with httpx.Client(base_url=stack.gateway_url, timeout=60) as http:
                email, password = "bench@example.com", "bench password 1"
                created = http.post(
                    "/api/user/", json={"name": "Bench", "email": email, "password": password}
                )
                workspace_id = created.json()["workspace"]["id"]
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
                # One write through the API provisions the table before the bulk seed.
                http.post(
                    "/api/apps/bench/schemas/people/records", json={"name": "first"}, headers=auth
                ).raise_for_status()
            print(f"seeding {RECORDS:,} records ...", flush=True)
            seeded = asyncio.run(seed(stack, workspace_id))

            port = free_port()
            bare = ServiceProcess(
                name="bare",
                module="bench.bare",
                env={
                    "BARE_DSN": seeded.dsn,
                    "BARE_TABLE": seeded.table,
                    "BARE_COUNTS_TABLE": seeded.counts_table,
                    "BARE_SCHEMA_ID": seeded.schema_id,
                    "BARE_COLUMNS": json.dumps(seeded.columns),
                    "BARE_SORT_COLUMN": seeded.sort_column,
                    "BARE_PORT": str(port),
                },
                log_path=Path(tmp) / "bare.log",
                http_ready_url=f"http://127.0.0.1:{port}/healthz",
            )
            bare.start()
            bare.wait_ready()

            ids = seeded.ids
            random.shuffle(ids)
            records = "/api/apps/bench/schemas/people/records"
            scenarios: list[tuple[str, Callable[[int], str], Callable[[int], str]]] = [
                (
                    "get by id",
                    lambda i: f"{records}/{ids[i % len(ids)]}",
                    lambda i: f"/records/{ids[i % len(ids)]}",
                ),
                (
                    "list 50 sorted by name",
                    lambda i: f"{records}?sort=name&per_page=50",
                    lambda i: "/records",
                ),
            ]
            print(
                f"\n{CONCURRENCY} concurrent clients, {SECONDS:.0f}s per run, {RECORDS:,} records\n"
            )
            header = (
                f"{'scenario':<24}{'target':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
            )
            print(header)
            print("-" * len(header))
            for name, gateway_path, bare_path in scenarios:
                through = measure(stack.gateway_port, gateway_path, auth)
                baseline = measure(port, bare_path, {})
                for target, result in (("tessera", through), ("bare", baseline)):
                    print(
                        f"{name:<24}{target:<10}{result.rate:>9.0f}{result.percentile_ms(0.5):>9.2f}"
                        f"{result.percentile_ms(0.99):>9.2f}{result.errors:>8}"
                    )
                print(
                    f"{'':<24}{'ratio':<10}{through.rate / baseline.rate:>9.0%}"
                    "  (tessera / bare request rate)\n"
                )
            print("resident memory after the runs:")
            for service, process in stack.processes.items():
                if process.process is not None:
                    print(f"  {service:<10}{rss_mb(process.process.pid):>7.0f} MB")
            if bare.process is not None:
                print(f"  {'bare':<10}{rss_mb(bare.process.pid):>7.0f} MB")
        finally:
            if bare is not None:
                bare.stop()
            stack.stop()


if __name__ == "__main__":
    main()
