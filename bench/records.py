"""make bench: the records hot paths through the whole architecture, against two baselines.

Starts the stack with embedded PostgreSQL and NATS, seeds BENCH_RECORDS records into one
schema, then drives every scenario with wrk (-t2 -c16, BENCH_SECONDS after a short
warm-up) against three HTTP targets, each in its own process(es):

  tessera  the gateway -> gRPC -> records service, as deployed
  bare     one uvicorn process with an asyncpg pool issuing the records service's own
           statements (bench/bare.py, bench/baseline.py)
  two-hop  a raw ASGI app making one generic grpc.aio call to a tiny gRPC server that issues
           the same statements (bench/twohop.py): the ceiling of the gateway -> service design

Before timing anything it proves that the baselines send PostgreSQL the service's SQL
(bench/statements.py) and that all three targets answer each read with the same page.
The set runs BENCH_ROUNDS times; the report gives the median of each figure, the resident
memory of Tessera's service processes (sampled throughout: peak and end), the statements
per request, and is written to bench/results/<date>.md.

    BENCH_SECONDS (default 10)  BENCH_ROUNDS (default 3)  BENCH_RECORDS (default 100000)
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import os
import secrets
import statistics
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg
import grpc
import httpx
import psutil
from tessera.common.v1 import common_pb2
from tessera.schema.v1 import schema_pb2, schema_pb2_grpc

from bench import statements, wrk
from bench.statements import Issued, Request
from bench.wrk import Measurement, Scenario, Target
from services.devstack.infra import free_port
from services.devstack.processes import ServiceProcess
from services.devstack.stack import Stack
from services.kit.db import plain_url
from services.kit.grpc.trust import server_name_option

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
RECORDS = int(os.environ.get("BENCH_RECORDS", "100000"))
THREADS = 2
CONNECTIONS = 16
WARMUP_SECONDS = 2
# Record ids the get and update scenarios draw from.
ID_SAMPLE = 10_000
# How often the service processes' memory is sampled.
RSS_INTERVAL_SECONDS = 0.5
# A cursor page's rate should stay within this of the first page's.
CURSOR_TOLERANCE = 0.20
RESULTS_DIR = Path(__file__).with_name("results")

FIELDS: list[dict[str, object]] = [
    {"slug": "name", "type": "text", "required": True},
    {"slug": "email", "type": "email"},
    {"slug": "status", "type": "select", "options": ["lead", "customer"]},
    {"slug": "score", "type": "integer"},
    {"slug": "created", "type": "datetime"},
]
APP, SCHEMA = "bench", "people"
# The account sign_up_and_define makes, owner of the app.
OWNER_EMAIL, OWNER_PASSWORD = "bench@example.com", "bench password 1"
RECORDS_PATH = f"/api/apps/{APP}/schemas/{SCHEMA}/records"
# Rows the write scenarios add carry this name and are deleted after each run, so every
# round reads the same data; as leads they stay out of the filtered scenario.
CREATED_NAME = "zz bench created"
NEW_RECORD = (
    f'{{"name":"{CREATED_NAME}","email":"new@example.com","status":"lead",'
    '"score":{n},"created":"2024-05-01T12:00:00Z"}'
)
BATCH_SIZE = 1000
PAGE_ONE = "list 50 sorted by name"
CURSOR_PAGE = "cursor page 1,000"
FILTERED = "filter status=customer, sort -score"
FILTERED_PATH = "?per_page=50&sort=-score&filter[status]=customer"
FILTERED_UNCOUNTED = f"{FILTERED}, count=false"
# The same page right after the update scenario: the table has changed (its remembered
# totals are stale) and holds the updates' dead tuples.
FILTERED_AFTER_UPDATES = f"{FILTERED}, after the updates"
# A filtered list's rate (with its total) should stay within this of an unfiltered one's.
FILTERED_TOLERANCE = 0.5
# All of Tessera's processes (the gateway, the services and nats-server) together, MiB.
RSS_BUDGET_AT_REST = 400
RSS_BUDGET_UNDER_LOAD = 600

# Add a scenario here and every target runs it (a new route needs its operation in
# bench/baseline.py and bench/statements.py too).
SCENARIOS = [
    Scenario("get by id", "GET", "/{id}"),
    Scenario(PAGE_ONE, "GET", "?per_page=50&sort=name"),
    Scenario(FILTERED, "GET", FILTERED_PATH),
    Scenario(FILTERED_UNCOUNTED, "GET", f"{FILTERED_PATH}&count=false"),
    # Page 1,000 of the list above: its next_cursor followed 999 times before the run.
    Scenario(CURSOR_PAGE, "GET", "?per_page=50&sort=name", follow_cursor=999),
    Scenario("create", "POST", "", body=NEW_RECORD, adds_rows=True),
    Scenario("update", "PATCH", "/{id}", body='{"score":{n}}'),
    Scenario(FILTERED_AFTER_UPDATES, "GET", FILTERED_PATH, warm_up=False),
    Scenario(
        f"batch create {BATCH_SIZE:,}",
        "POST",
        "/batch",
        body='{"records":[' + ",".join([NEW_RECORD] * BATCH_SIZE) + "]}",
        adds_rows=True,
        records_per_request=BATCH_SIZE,
        timeout_seconds=60,
        min_seconds=30,
        warm_up=False,
    ),
    # Import and export stream one long request each; bench/transfer.py times them.
]
# BENCH_ONLY="get by id;list 50 sorted by name" runs those scenarios alone, e.g. to
# compare two builds quickly.
if os.environ.get("BENCH_ONLY"):
    _chosen = {name.strip() for name in os.environ["BENCH_ONLY"].split(";")}
    SCENARIOS = [scenario for scenario in SCENARIOS if scenario.name in _chosen]


@dataclass
class Seeded:
    dsn: str
    table: str
    schema: schema_pb2.Schema
    ids: list[str]


def fetch_schema(stack: Stack, workspace_id: str) -> schema_pb2.Schema:
    """The definition exactly as the records service receives it from the schema service."""
    address = stack.processes["schema"].grpc_address
    assert address is not None
    assert stack.pki is not None
    # Asked as the records service asks: with its certificate, in its name.
    credentials = stack.pki.channel_credentials("records")
    with grpc.secure_channel(
        address, credentials, options=[server_name_option("schema")]
    ) as channel:
        stub = schema_pb2_grpc.SchemaServiceStub(channel)
        request = schema_pb2.GetSchemaRequest(
            ctx=common_pb2.RequestContext(
                tenant_id=workspace_id, principal_kind="service", principal_id="records"
            ),
            app_slug=APP,
            schema_slug=SCHEMA,
        )
        reply: schema_pb2.Schema = stub.GetSchema(request, timeout=10)
    return reply


async def seed(stack: Stack, schema: schema_pb2.Schema) -> Seeded:
    """Bulk rows straight into the table the records service provisioned (with its
    indexes and row-counting triggers), then checks both are right."""
    column = {f.slug: f.id for f in schema.fields}
    table = f'"{schema.app_id}"."{schema.id}"'
    counts_table = f'"{schema.app_id}"."_record_counts"'
    dsn = plain_url(stack.resolved_database_urls["records"])
    db = await asyncpg.connect(dsn)
    try:
        # One statement, so the statement-level triggers add the rows to the counters.
        await db.execute(
            f"""INSERT INTO {table} (id, "{column["name"]}", "{column["email"]}",
                    "{column["status"]}", "{column["score"]}", "{column["created"]}")
                SELECT 'rec_' || substr(md5(random()::text || i), 1, 26),
                       'person ' || md5(i::text), 'p' || i || '@example.com',
                       CASE WHEN i % 3 = 0 THEN 'customer' ELSE 'lead' END, i % 1000,
                       timestamptz '2020-01-01 00:00:00+00' + i * interval '1 minute'
                FROM generate_series(1, $1) AS i""",
            RECORDS,
        )
        rows = await db.fetchval(f"SELECT count(*) FROM {table}")
        counted = await db.fetchval(
            f"SELECT sum(n) FROM {counts_table} WHERE schema_id = $1", schema.id
        )
        if rows != counted:
            raise RuntimeError(f"row counters say {counted}, the table holds {rows}")
        definitions = [
            r["indexdef"]
            for r in await db.fetch(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2",
                schema.app_id,
                schema.id,
            )
        ]
        missing = [slug for slug, name in column.items() if not any(name in d for d in definitions)]
        if missing:
            raise RuntimeError(f"the records service created no index on {missing}")
        ids = [
            r["id"]
            for r in await db.fetch(f"SELECT id FROM {table} ORDER BY random() LIMIT $1", ID_SAMPLE)
        ]
    finally:
        await db.close()
    return Seeded(dsn, table, schema, ids)


async def vacuum(seeded: Seeded) -> None:
    """The steady state autovacuum would reach (statistics, a set visibility map), so a
    run's reads do not pay for the previous run's updates and deletes."""
    db = await asyncpg.connect(seeded.dsn)
    try:
        await db.execute(f"VACUUM (ANALYZE) {seeded.table}")
    finally:
        await db.close()


async def settle(seeded: Seeded, *, limit_seconds: float = 120.0) -> None:
    """Waits until the table's row count holds still for a second: wrk stops with requests
    in flight, and the server finishes them after it has gone."""
    db = await asyncpg.connect(seeded.dsn)
    try:
        count = f"SELECT count(*) FROM {seeded.table}"
        before = await db.fetchval(count)
        for _ in range(int(limit_seconds)):
            await asyncio.sleep(1.0)
            now = await db.fetchval(count)
            if now == before:
                return
            before = now
    finally:
        await db.close()


async def remove_created(seeded: Seeded) -> None:
    name_column = next(f.id for f in seeded.schema.fields if f.slug == "name")
    db = await asyncpg.connect(seeded.dsn)
    try:
        await db.execute(f'DELETE FROM {seeded.table} WHERE "{name_column}" = $1', CREATED_NAME)
        await db.execute(f"VACUUM (ANALYZE) {seeded.table}")
    finally:
        await db.close()


@dataclass
class Account:
    workspace_id: str
    account_id: str
    auth: dict[str, str]


def sign_up_and_define(http: httpx.Client) -> Account:
    """A user (OWNER_EMAIL), an app and the schema, through the API."""
    created = http.post(
        "/api/user/",
        json={"name": "Bench", "email": OWNER_EMAIL, "password": OWNER_PASSWORD},
    )
    created.raise_for_status()
    token = http.post(
        "/api/user/token-auth/", json={"username": OWNER_EMAIL, "password": OWNER_PASSWORD}
    ).json()["token"]
    auth = {"Authorization": f"JWT {token}"}
    http.post("/api/apps", json={"name": "Bench", "slug": APP}, headers=auth).raise_for_status()
    http.post(
        f"/api/apps/{APP}/schemas",
        json={"name": "People", "slug": SCHEMA, "fields": FIELDS},
        headers=auth,
    ).raise_for_status()
    # One write through the API provisions the table, its indexes and counters.
    http.post(
        RECORDS_PATH, json={"name": "first", "status": "lead", "score": 1}, headers=auth
    ).raise_for_status()
    body = created.json()
    return Account(body["workspace"]["id"], body["user"]["id"], auth)


@contextmanager
def baselines(
    seeded: Seeded, account: Account, cursor_key: bytes, log_dir: Path
) -> Iterator[tuple[Target, Target]]:
    """The bare and two-hop servers, each in its own process(es), stopped afterwards."""
    env = {
        "BASELINE_DSN": seeded.dsn,
        "BASELINE_SCHEMA": base64.b64encode(seeded.schema.SerializeToString()).decode(),
        "BASELINE_ACTOR": account.account_id,
        "BASELINE_CURSOR_KEY": cursor_key.hex(),
    }
    bare_port, front_port, grpc_port = free_port(), free_port(), free_port()
    processes = [
        ServiceProcess(
            name="bare",
            module="bench.bare",
            env={**env, "BASELINE_PORT": str(bare_port)},
            log_path=log_dir / "bare.log",
            http_ready_url=f"http://127.0.0.1:{bare_port}/healthz",
        ),
        ServiceProcess(
            name="two-hop backend",
            module="bench.twohop",
            env={**env, "TWOHOP_ROLE": "backend", "TWOHOP_GRPC_PORT": str(grpc_port)},
            log_path=log_dir / "twohop-backend.log",
            grpc_address=f"127.0.0.1:{grpc_port}",
        ),
        ServiceProcess(
            name="two-hop front",
            module="bench.twohop",
            env={
                "TWOHOP_ROLE": "front",
                "TWOHOP_GRPC_ADDR": f"127.0.0.1:{grpc_port}",
                "BASELINE_PORT": str(front_port),
            },
            log_path=log_dir / "twohop-front.log",
            http_ready_url=f"http://127.0.0.1:{front_port}/healthz",
        ),
    ]
    try:
        for process in processes:
            process.start()
            process.wait_ready()
        yield (
            Target("bare", f"http://127.0.0.1:{bare_port}", "/records"),
            Target("two-hop", f"http://127.0.0.1:{front_port}", "/records"),
        )
    finally:
        for process in reversed(processes):
            process.stop()


def resolve_paths(targets: list[Target]) -> dict[tuple[str, str], str]:
    """Each scenario's path per target; a cursor scenario's is the page its target's own
    next_cursor leads to, reached outside the timing."""
    paths: dict[tuple[str, str], str] = {}
    with httpx.Client(timeout=30) as http:
        for scenario in SCENARIOS:
            for target in targets:
                path = scenario.path
                for _ in range(scenario.follow_cursor):
                    page = http.get(target.url(path), headers=target.headers)
                    page.raise_for_status()
                    cursor = page.json()["next_cursor"]
                    if not cursor:
                        raise RuntimeError(f"{scenario.name}: {target.name}'s pages ran out")
                    path = f"{scenario.path}&cursor={quote(cursor)}"
                paths[scenario.name, target.name] = path
    return paths


def preflight(targets: list[Target], paths: dict[tuple[str, str], str], seeded: Seeded) -> None:
    """Every scenario once on every target: a 2xx, and before any write the same page
    (ids and total) from each, so the baselines really answer the same question."""
    with httpx.Client(timeout=60) as http:
        for scenario in SCENARIOS:
            pages: dict[str, object] = {}
            for target in targets:
                response = http.request(
                    scenario.method,
                    target.url(paths[scenario.name, target.name], seeded.ids[0]),
                    headers={**target.headers, "Content-Type": "application/json"},
                    content=scenario.body.replace("{n}", "1") or None,
                )
                if not response.is_success:
                    raise RuntimeError(
                        f"{scenario.name} on {target.name}: {response.status_code} "
                        f"{response.text[:2000]}"
                    )
                body = response.json()
                if scenario.method == "GET":
                    pages[target.name] = body
                    if "records" in body:
                        pages[target.name] = ([r["id"] for r in body["records"]], body["total"])
            if len({json.dumps(page) for page in pages.values()}) > 1:
                raise RuntimeError(f"{scenario.name}: the targets answer differently: {pages}")
            if scenario.adds_rows:
                asyncio.run(remove_created(seeded))


def statement_check(
    seeded: Seeded,
    account: Account,
    paths: dict[tuple[str, str], str],
    cursor_key: bytes,
) -> dict[str, Issued]:
    requests = {}
    for scenario in SCENARIOS:
        body = scenario.body.replace("{n}", "1").encode()
        requests[scenario.name] = (
            Request(
                scenario.method,
                paths[scenario.name, "tessera"].replace("{id}", seeded.ids[0]),
                body,
            ),
            Request(
                scenario.method, paths[scenario.name, "bare"].replace("{id}", seeded.ids[0]), body
            ),
        )
    ctx = common_pb2.RequestContext(
        tenant_id=account.workspace_id,
        principal_id=account.account_id,
        principal_kind="user",
        account_id=account.account_id,
        role="owner",
    )
    return asyncio.run(
        statements.compare(seeded.dsn, seeded.schema, ctx, requests, cursor_key=cursor_key)
    )


class MemorySampler:
    """Samples the resident memory of each service process (with its children) in a
    background thread: the first value, the peak over the run and the last value. Also
    the proportional set size (PSS) of them all: a sum of RSS counts every page of the
    libraries they share (grpc, libpython, OpenSSL) once per process, PSS divides each
    shared page among the processes mapping it, so its sum is the memory they take."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.first: dict[str, float] = {}
        self.peak: dict[str, float] = dict.fromkeys(pids, 0.0)
        self.last: dict[str, float] = dict.fromkeys(pids, 0.0)
        # The largest sums over the processes at one sample, of RSS and of PSS.
        self.peak_total = 0.0
        self.first_pss_total: float | None = None
        self.peak_pss_total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def sample(self) -> None:
        pss = 0.0
        for name, process in self.processes.items():
            try:
                tree = [process, *process.children(recursive=True)]
                mb = float(sum(p.memory_info().rss for p in tree)) / 2**20
                pss += float(sum(p.memory_full_info().pss for p in tree)) / 2**20
            except psutil.Error:
                continue
            self.first.setdefault(name, mb)
            self.last[name] = mb
            self.peak[name] = max(self.peak[name], mb)
        self.peak_total = max(self.peak_total, sum(self.last.values()))
        if self.first_pss_total is None:
            self.first_pss_total = pss
        self.peak_pss_total = max(self.peak_pss_total, pss)

    def _run(self) -> None:
        while not self._stop.wait(RSS_INTERVAL_SECONDS):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


@dataclass
class Figures:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    rates: list[float]


def median_of(runs: list[Measurement]) -> Figures:
    return Figures(
        rate=statistics.median(m.rate for m in runs),
        p50_ms=statistics.median(m.p50_ms for m in runs),
        p99_ms=statistics.median(m.p99_ms for m in runs),
        errors=sum(m.errors for m in runs),
        rates=[m.rate for m in runs],
    )


def ratio(a: float, b: float) -> str:
    return f"{a / b:.0%}" if b else "n/a"


def _aliases(schema: schema_pb2.Schema) -> dict[str, str]:
    aliases = {f'"{schema.app_id}"': "app", schema.app_id: "app", schema.id: SCHEMA}
    aliases.update({f.id: f.slug for f in schema.fields})
    return aliases


@dataclass
class Run:
    figures: dict[tuple[str, str], Figures]
    targets: list[Target]
    memory: MemorySampler
    load: tuple[tuple[float, ...], tuple[float, ...]]
    wrk_version: str
    issued: dict[str, Issued]
    schema: schema_pb2.Schema


def report(run: Run) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    figures = run.figures
    lines = [
        f"# make bench, {datetime.date.today().isoformat()}",
        "",
        f"- {RECORDS:,} records: name text (required), email email, status select "
        "(lead | customer, a third customers), score integer, created datetime",
        f"- {run.wrk_version} -t{THREADS} -c{CONNECTIONS}, {SECONDS}s per run after "
        f"{WARMUP_SECONDS}s of warm-up; median of {ROUNDS} round(s)"
        + "".join(
            f"; {s.name}: {max(SECONDS, s.min_seconds)}s"
            + ("" if s.warm_up else " without warm-up")
            for s in SCENARIOS
            if s.min_seconds > SECONDS or not s.warm_up
        ),
        f"- {os.cpu_count()} CPUs ({cpu}), shared with the load generator and every "
        "process of all three targets; load average (1/5/15 min) "
        f"{'/'.join(f'{x:.2f}' for x in run.load[0])} before, "
        f"{'/'.join(f'{x:.2f}' for x in run.load[1])} after",
        "- tessera: gateway -> gRPC -> records service; bare: one uvicorn + asyncpg process; "
        "two-hop: raw ASGI -> one generic grpc.aio call -> asyncpg (see bench/records.py)",
        "- Both baselines send the records service's own SQL (checked before the run, see "
        "below) and validate and serialise with its field-type catalogue. They skip: auth, "
        "the schema service, the transaction around each call (each statement commits on "
        "its own), the outbox row of each write (its trigger notifying the relay, which "
        "publishes it to NATS afterwards), the Idempotency-Key claim (the scenarios send no "
        "key) and "
        "If-Match.",
        "",
        "| scenario | Tessera req/s | p50 ms | p99 ms | bare req/s | two-hop req/s "
        "| Tessera/bare | Tessera/two-hop |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for scenario in SCENARIOS:
        t = figures[scenario.name, "tessera"]
        b = figures[scenario.name, "bare"]
        h = figures[scenario.name, "two-hop"]
        lines.append(
            f"| {scenario.name} | {t.rate:,.0f} | {t.p50_ms:.2f} | {t.p99_ms:.2f} "
            f"| {b.rate:,.0f} | {h.rate:,.0f} | {ratio(t.rate, b.rate)} "
            f"| {ratio(t.rate, h.rate)} |"
        )
    lines.append("")
    for scenario in SCENARIOS:
        if scenario.records_per_request > 1:
            per_target = ", ".join(
                f"{target.name} "
                f"{figures[scenario.name, target.name].rate * scenario.records_per_request:,.0f}"
                for target in run.targets
            )
            lines.append(f"- {scenario.name}, records/s: {per_target}")
    for scenario in SCENARIOS:
        if scenario.follow_cursor:
            verdicts = []
            for target in run.targets:
                page = figures[scenario.name, target.name].rate
                first = figures[PAGE_ONE, target.name].rate
                within = first and abs(page - first) / first <= CURSOR_TOLERANCE
                verdicts.append(
                    f"{target.name} {ratio(page, first)} ({'within' if within else 'outside'} "
                    f"{CURSOR_TOLERANCE:.0%})"
                )
            lines.append(
                f"- {scenario.name} (after {scenario.follow_cursor} next_cursor hops) against "
                f"page 1: {', '.join(verdicts)}"
            )
    if {FILTERED, PAGE_ONE} <= {scenario.name for scenario in SCENARIOS}:
        for target in run.targets:
            first = figures[PAGE_ONE, target.name].rate
            shown = [
                f"{name} {ratio(figures[name, target.name].rate, first)}"
                for name in (FILTERED, FILTERED_UNCOUNTED, FILTERED_AFTER_UPDATES)
                if (name, target.name) in figures
            ]
            lines.append(
                f"- {target.name}, filtered pages against the unfiltered page 1 (aim: at least "
                f"{FILTERED_TOLERANCE:.0%} with the total): {', '.join(shown)}"
            )
    lines += [
        "- Import and export are measured by bench/transfer.py, which make bench runs next "
        "(a 1,000,000-row CSV import, then an export of every record as NDJSON and CSV)",
        "",
        "Every target (medians; req/s of each round; errors summed over the rounds):",
        "",
        "| scenario | target | req/s | p50 ms | p99 ms | req/s per round | errors |",
        "|---|---|--:|--:|--:|---|--:|",
    ]
    for scenario in SCENARIOS:
        for target in run.targets:
            f = figures[scenario.name, target.name]
            per_round = " / ".join(f"{r:,.0f}" for r in f.rates)
            lines.append(
                f"| {scenario.name} | {target.name} | {f.rate:,.0f} | {f.p50_ms:.2f} "
                f"| {f.p99_ms:.2f} | {per_round} | {f.errors} |"
            )
    lines += [
        "",
        f"Resident memory of Tessera's processes, sampled every {RSS_INTERVAL_SECONDS}s "
        "from the stack's start (at rest: nothing asked of it yet) to the end of the last "
        "round:",
        "",
        "| process | at rest MB | peak MB | end MB |",
        "|---|--:|--:|--:|",
    ]
    memory = run.memory
    lines += [
        f"| {name} | {memory.first.get(name, 0):.0f} | {memory.peak[name]:.0f} "
        f"| {memory.last[name]:.0f} |"
        for name in memory.processes
    ]
    at_rest = sum(memory.first.values())
    pss_at_rest = memory.first_pss_total or 0.0

    def verdict(mb: float, budget: int) -> str:
        return "within" if mb <= budget else "over"

    lines += [
        f"| all together (sum of RSS) | {at_rest:.0f} | {memory.peak_total:.0f} "
        f"| {sum(memory.last.values()):.0f} |",
        f"| all together (sum of PSS) | {pss_at_rest:.0f} | {memory.peak_pss_total:.0f} | |",
        "",
        f"- Budget {RSS_BUDGET_AT_REST} MiB at rest: sum of RSS "
        f"{verdict(at_rest, RSS_BUDGET_AT_REST)}, of PSS "
        f"{verdict(pss_at_rest, RSS_BUDGET_AT_REST)}; {RSS_BUDGET_UNDER_LOAD} MiB under load "
        f"(the peak of the sum at one sample): RSS "
        f"{verdict(memory.peak_total, RSS_BUDGET_UNDER_LOAD)}, PSS "
        f"{verdict(memory.peak_pss_total, RSS_BUDGET_UNDER_LOAD)}",
    ]
    aliases = _aliases(run.schema)
    lines += [
        "",
        "Statements per request. Both baselines send exactly what the records service "
        "sends to the app's tables (compared text for text before the run); the service "
        "also sends, inside its transaction (BEGIN ... COMMIT):",
        "",
        "| scenario | statements on the record table (all targets) | Tessera only |",
        "|---|---|---|",
    ]
    for scenario in SCENARIOS:
        issued = run.issued[scenario.name]
        shared = "<br>".join(f"`{statements.shorten(s, aliases)}`" for s in issued.shared)
        own = "<br>".join(f"`{statements.shorten(s, aliases)}`" for s in issued.service_only)
        lines.append(f"| {scenario.name} | {shared} | {own or '-'} |")
    return "\n".join(lines) + "\n"


def run_rounds(
    targets: list[Target], paths: dict[tuple[str, str], str], seeded: Seeded, ids_file: Path
) -> dict[tuple[str, str], list[Measurement]]:
    runs: dict[tuple[str, str], list[Measurement]] = {}
    for round_number in range(ROUNDS):
        asyncio.run(vacuum(seeded))
        # Each round starts with another target, so none always runs first.
        shift = round_number % len(targets)
        order = targets[shift:] + targets[:shift]
        for scenario in SCENARIOS:
            for target in order:
                durations = [WARMUP_SECONDS] if scenario.warm_up else []
                durations.append(max(SECONDS, scenario.min_seconds))
                for seconds in durations:
                    measured = wrk.run(
                        target,
                        scenario,
                        paths[scenario.name, target.name],
                        seconds=seconds,
                        threads=THREADS,
                        connections=CONNECTIONS,
                        ids_file=ids_file,
                    )
                if scenario.adds_rows:
                    asyncio.run(settle(seeded))
                    asyncio.run(remove_created(seeded))
                runs.setdefault((scenario.name, target.name), []).append(measured)
                print(
                    f"round {round_number + 1}/{ROUNDS}  {scenario.name:<36}{target.name:<9}"
                    f"{measured.rate:>9,.0f} req/s{measured.p50_ms:>8.2f} ms p50"
                    f"{measured.p99_ms:>8.2f} ms p99"
                    + (f"  {measured.errors} errors" if measured.errors else ""),
                    flush=True,
                )
    return runs


def main() -> None:
    wrk_version = wrk.version()
    load_before = os.getloadavg()
    cursor_key = secrets.token_bytes(32)
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
                if process.process is not None
            }
            if stack.nats is not None and stack.nats.pid is not None:
                pids["nats-server"] = stack.nats.pid
            with MemorySampler(pids) as memory:
                with httpx.Client(base_url=stack.gateway_url, timeout=60) as http:
                    account = sign_up_and_define(http)
                schema = fetch_schema(stack, account.workspace_id)
                print(f"seeding {RECORDS:,} records ...", flush=True)
                seeded = asyncio.run(seed(stack, schema))
                ids_file = Path(tmp) / "ids.txt"
                ids_file.write_text("\n".join(seeded.ids) + "\n")
                with baselines(seeded, account, cursor_key, stack.log_dir) as (bare, twohop):
                    tessera = Target("tessera", stack.gateway_url, RECORDS_PATH, account.auth)
                    targets = [tessera, bare, twohop]
                    print("following cursors, checking statements and answers ...", flush=True)
                    paths = resolve_paths(targets)
                    issued = statement_check(seeded, account, paths, cursor_key)
                    preflight(targets, paths, seeded)
                    runs = run_rounds(targets, paths, seeded, ids_file)
        finally:
            stack.stop()
    figures = {key: median_of(measurements) for key, measurements in runs.items()}
    text = report(
        Run(
            figures=figures,
            targets=targets,
            memory=memory,
            load=(load_before, os.getloadavg()),
            wrk_version=wrk_version,
            issued=issued,
            schema=schema,
        )
    )
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{datetime.date.today().isoformat()}.md"
    path.write_text(text)
    print(f"\n{text}\nwritten to {path}")


if __name__ == "__main__":
    main()
