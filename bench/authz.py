"""make bench: what authorization costs on a record list.

One stack, BENCH_RECORDS records, the list of 50 sorted by name, driven by wrk (-t2 -c16)
with three credentials in turn:

  jwt owner          an access JWT of the workspace's owner (no privacy rules apply)
  api token          an API token with a read grant, made by that owner: resolved by
                     identity, cached at the gateway, checked against its grant, and bound
                     by the rules, one of which lets members' credentials find everything
  app user           an app end user's session token on the app's public address, whose
                     privacy rules let it find customers only, and read three of five fields
  jwt owner, filter  the owner's JWT with the filter the app user's rules amount to
                     (status=customer): what the same rows cost without any rules

So the API token's rate against the owner's is what resolving and checking a credential
and compiling the rules cost, and the app user's against the filtered owner's is what the
rules cost beyond the filter they amount to. Each figure is the median of BENCH_ROUNDS
runs; the report gives the rates, their ratio to the owner's, and each caller's total.
It is appended to bench/results/<date>.md.
"""

from __future__ import annotations

import asyncio
import datetime
import statistics
import tempfile
from pathlib import Path

import httpx

from bench import wrk
from bench.records import (
    APP,
    CONNECTIONS,
    RECORDS,
    RECORDS_PATH,
    RESULTS_DIR,
    ROUNDS,
    SCHEMA,
    SECONDS,
    THREADS,
    WARMUP_SECONDS,
    fetch_schema,
    seed,
    sign_up_and_define,
)
from bench.wrk import Measurement, Scenario, Target
from services.devstack.infra import free_port
from services.devstack.stack import Stack

LIST = Scenario("list 50 sorted by name", "GET", "?per_page=50&sort=name")
FILTERED = "&filter[status]=customer"
RULES = {
    "rules": [
        {
            "name": "Members",
            "condition": {"role": "in", "value": ["owner", "admin", "builder", "editor", "viewer"]},
            "find": True,
        },
        {
            "name": "Customers",
            "condition": {"field": "status", "op": "eq", "value": "customer"},
            "find": True,
            "read_fields": ["name", "status", "score"],
        },
    ],
    "default": {"find": False},
}


def callers(http: httpx.Client, owner: dict[str, str]) -> list[Target]:
    """The three targets: the owner's JWT, an API token and an app end user."""
    token = http.post(
        "/api/tokens", json={"name": "bench", "permissions": {"read": True}}, headers=owner
    )
    token.raise_for_status()
    http.put(
        f"/api/apps/{APP}/schemas/{SCHEMA}/privacy-rules", json=RULES, headers=owner
    ).raise_for_status()
    public_id = http.get(f"/api/apps/{APP}", headers=owner).json()["public_id"]
    user = http.post(
        f"/api/apps/{public_id}/auth/signup",
        json={"email": "reader@example.com", "password": "bench password 1"},
    )
    user.raise_for_status()
    base = str(http.base_url).rstrip("/")
    return [
        Target("jwt owner", base, RECORDS_PATH, owner),
        Target(
            "api token",
            base,
            RECORDS_PATH,
            {"Authorization": f"Token {token.json()['token']}"},
        ),
        Target(
            "app user",
            base,
            f"/api/apps/{public_id}/schemas/{SCHEMA}/records",
            {"Authorization": f"Bearer {user.json()['token']}"},
        ),
        Target("jwt owner, filter", base, RECORDS_PATH, owner),
    ]


def path_of(target: Target) -> str:
    return LIST.path + (FILTERED if target.name == "jwt owner, filter" else "")


def totals(targets: list[Target]) -> dict[str, int]:
    """Each caller's total for the list; the app user's rules must narrow it."""
    found = {}
    with httpx.Client(timeout=60) as http:
        for target in targets:
            page = http.get(target.url(path_of(target)), headers=target.headers)
            page.raise_for_status()
            found[target.name] = int(page.json()["total"])
    if not 0 < found["app user"] == found["jwt owner, filter"] < found["jwt owner"]:
        raise RuntimeError(f"the app user's rules do not select the customers: {found}")
    if found["api token"] != found["jwt owner"]:
        raise RuntimeError(f"the API token does not find every record: {found}")
    return found


def measure(targets: list[Target], ids_file: Path) -> dict[str, list[Measurement]]:
    runs: dict[str, list[Measurement]] = {}
    for round_number in range(ROUNDS):
        shift = round_number % len(targets)
        for target in targets[shift:] + targets[:shift]:
            for seconds in (WARMUP_SECONDS, SECONDS):
                measured = wrk.run(
                    target,
                    LIST,
                    path_of(target),
                    seconds=seconds,
                    threads=THREADS,
                    connections=CONNECTIONS,
                    ids_file=ids_file,
                )
            if measured.errors:
                raise RuntimeError(f"{target.name}: {measured.errors} errors")
            runs.setdefault(target.name, []).append(measured)
            print(
                f"round {round_number + 1}/{ROUNDS}  {target.name:<10}"
                f"{measured.rate:>9,.0f} req/s{measured.p50_ms:>8.2f} ms p50",
                flush=True,
            )
    return runs


def report(runs: dict[str, list[Measurement]], found: dict[str, int]) -> str:
    rates = {name: statistics.median(m.rate for m in measured) for name, measured in runs.items()}
    p50 = {name: statistics.median(m.p50_ms for m in measured) for name, measured in runs.items()}
    reference = rates["jwt owner"]
    lines = [
        f"## Authorization on a record list ({datetime.date.today().isoformat()})",
        "",
        f"{RECORDS:,} records, `{LIST.path}`, wrk -t{THREADS} -c{CONNECTIONS}, "
        f"{SECONDS} s x {ROUNDS} rounds (median).",
        "",
        "| caller | req/s | p50 ms | of the JWT owner's rate | total |",
        "|---|---|---|---|---|",
    ]
    for name, rate in rates.items():
        lines.append(
            f"| {name} | {rate:,.0f} | {p50[name]:.1f} | {rate / reference:.0%} | {found[name]:,} |"
        )
    filtered = rates["jwt owner, filter"]
    lines += [
        "",
        f"The app user's rate is {rates['app user'] / filtered:.0%} of the owner's with the"
        " filter its rules amount to.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tessera-bench-authz-") as tmp:
        Path(tmp).chmod(0o755)
        stack = Stack(
            data_dir=Path(tmp) / "data",
            gateway_port=free_port(),
            database_urls={"identity": None, "schema": None, "records": None},
        )
        print("starting the stack ...", flush=True)
        stack.start()
        try:
            with httpx.Client(base_url=stack.gateway_url, timeout=60) as http:
                account = sign_up_and_define(http)
                schema = fetch_schema(stack, account.workspace_id)
                print(f"seeding {RECORDS:,} records ...", flush=True)
                seeded = asyncio.run(seed(stack, schema))
                targets = callers(http, account.auth)
            ids_file = Path(tmp) / "ids.txt"
            ids_file.write_text("\n".join(seeded.ids) + "\n")
            found = totals(targets)
            runs = measure(targets, ids_file)
        finally:
            stack.stop()
    text = report(runs, found)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{datetime.date.today().isoformat()}.md"
    with path.open("a") as out:
        out.write("\n" + text)
    print(f"\n{text}\nappended to {path}")


if __name__ == "__main__":
    main()
