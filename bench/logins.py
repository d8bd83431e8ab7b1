"""make bench: does a flood of wrong-password logins leave another tenant's
cookie-authenticated requests usable, and identity's memory bounded?

Each stack holds two tenants: A, whose account the flood guesses at, and B, signed in by
POST /auth/login/ (a cookie session, sent back as its sessionid and csrftoken cookies),
owner of a schema of 20 records. On each stack, BENCH_ROUNDS times:

  baseline  wrk (-t1 -c8) drives B's cookie-authenticated list of the 20 records for
            BENCH_SECONDS after a 2 s warm-up
  flood     the same, while a second wrk (-t2 -c96, bench/login_flood.lua) posts A's email
            with a wrong password to POST /auth/login/ from another address, from B's
            warm-up until after B's run, counting its answers: 401, 429 from login
            throttling, 429 from the bounded password hashing, 429 from the gateway's own
            rate limits

Two stacks run in sequence, each with its own baseline: the first with the default
settings, where throttling refuses most attempts before any hash; the second with login
throttling effectively off (a million free failures in each of its scopes), so that every
attempt reaches the bounded hashing, which shows that bound on its own. Identity's and the
gateway's resident memory is sampled through each phase. The report gives B's median rate
and latencies per phase and their ratio to the stack's baseline, the flood's answers,
identity's memory against the hashing bound (concurrency x Argon2's memory per hash above
its base), the settings and the load average; it is appended to bench/results/<date>.md.

    BENCH_SECONDS (default 10)  BENCH_ROUNDS (default 3)
"""

from __future__ import annotations

import datetime
import json
import os
import statistics
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from pydantic_settings import BaseSettings

from bench import wrk
from bench.records import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    RECORDS_PATH,
    RESULTS_DIR,
    ROUNDS,
    RSS_INTERVAL_SECONDS,
    SECONDS,
    WARMUP_SECONDS,
    MemorySampler,
    sign_up_and_define,
)
from bench.wrk import Measurement, Scenario, Target
from services.devstack.infra import free_port
from services.devstack.stack import Stack
from services.gateway.config import GatewaySettings
from services.identity.config import IdentitySettings

B_THREADS, B_CONNECTIONS = 1, 8
# As many wrong-password logins at once as the probe that found identity unbounded sent.
FLOOD_THREADS, FLOOD_CONNECTIONS = 2, 96
# Attempts a second the flood offers at most (0: as fast as the answers come). A fixed
# offer compares the stacks under the same attack: unbounded, wrk would send more the
# cheaper each refusal is, and measure how many requests a second one gateway process
# answers rather than what a login costs.
FLOOD_RATE = int(os.environ.get("BENCH_FLOOD_RATE", "500"))
# The flood outlasts B's measurement, whatever the two wrk processes take to start.
FLOOD_TAIL_SECONDS = 2
B_RECORDS = 20
LIST = Scenario(f"cookie list of {B_RECORDS}", "GET", f"?per_page={B_RECORDS}")
LOGIN_PATH = "/auth/login/"
FLOOD_SCRIPT = Path(__file__).with_name("login_flood.lua")
VICTIM_EMAIL, VICTIM_PASSWORD = "victim@example.com", "victim password 1"
WRONG_PASSWORD = "not the password"
# Both wrk processes connect from 127.0.0.1. The flood names another client (a documentation
# address) through X-Forwarded-For, from the gateway's trusted proxy, so the attacker and B
# do not share one address's rate limit and throttling count, as they would not in life.
FLOOD_ADDRESS = "203.0.113.7"
GATEWAY_OVERRIDES: dict[str, Any] = {"trusted_proxies": ["127.0.0.1"]}
THROTTLING_FREE_FAILURES = (
    "login_free_failures_per_account_address",
    "login_free_failures_per_account",
    "login_free_failures_per_address",
)
THROTTLING_OFF: dict[str, Any] = dict.fromkeys(THROTTLING_FREE_FAILURES, 1_000_000)
FLOOD_ANSWERS = {
    "wrong_password": "401 wrong password",
    "throttled": "429 login throttling",
    "hashing_busy": "429 hashing busy",
    "rate_limited": "429 gateway rate limit",
    "other": "other",
}
WATCHED = ("identity", "gateway")


@dataclass(frozen=True)
class Variant:
    name: str
    # Identity's settings by field name, over its defaults (and the environment).
    identity_overrides: dict[str, Any]
    # The gateway's, over GATEWAY_OVERRIDES.
    gateway_overrides: dict[str, Any] = field(default_factory=dict)


VARIANTS = [
    Variant("throttling on (defaults)", {}),
    # The gateway's sign-in limit per address off too: every attempt reaches identity.
    Variant("throttling off", THROTTLING_OFF, {"rate_limit_sign_in": 0}),
]


def variable(settings: type[BaseSettings], name: str) -> str:
    """The environment variable that sets `settings`' field `name`; a field the class does
    not have is an error, so the bench never sets a variable nothing reads."""
    if name not in settings.model_fields:
        raise RuntimeError(f"{settings.__name__} has no setting {name!r}")
    return f"{settings.model_config.get('env_prefix', '')}{name}".upper()


def as_variable(value: Any) -> str:
    """A setting's value as its environment variable spells it (lists in JSON)."""
    return json.dumps(value) if isinstance(value, list) else str(value)


def environment(settings: type[BaseSettings], values: Mapping[str, Any]) -> dict[str, str]:
    return {variable(settings, name): as_variable(value) for name, value in values.items()}


@dataclass
class Phase:
    runs: list[Measurement] = field(default_factory=list)
    # Over every round of the phase: the highest sample, and the last one of the last round.
    peak_mb: dict[str, float] = field(default_factory=lambda: dict.fromkeys(WATCHED, 0.0))
    end_mb: dict[str, float] = field(default_factory=lambda: dict.fromkeys(WATCHED, 0.0))

    def add(self, measured: Measurement, memory: MemorySampler) -> None:
        self.runs.append(measured)
        for name in WATCHED:
            self.peak_mb[name] = max(self.peak_mb[name], memory.peak[name])
            self.end_mb[name] = memory.last[name]

    def median(self, figure: str) -> float:
        return statistics.median(getattr(m, figure) for m in self.runs)

    @property
    def errors(self) -> int:
        return sum(m.errors for m in self.runs)


@dataclass
class VariantRun:
    variant: Variant
    identity: IdentitySettings
    gateway: GatewaySettings
    base_mb: dict[str, float]
    baseline: Phase = field(default_factory=Phase)
    flooded: Phase = field(default_factory=Phase)
    floods: list[dict[str, Any]] = field(default_factory=list)


def tenants(http: httpx.Client) -> Target:
    """Tenant B (the bench's owner account, its app and schema, B_RECORDS records) signed
    in by cookie, and tenant A's account for the flood to guess at; answers B's target."""
    owner = sign_up_and_define(http)
    # sign_up_and_define wrote the first record.
    more = [{"name": f"person {i}", "status": "lead", "score": i} for i in range(B_RECORDS - 1)]
    http.post(
        f"{RECORDS_PATH}/batch", json={"records": more}, headers=owner.auth
    ).raise_for_status()
    http.post(
        "/api/user/",
        json={"name": "Victim", "email": VICTIM_EMAIL, "password": VICTIM_PASSWORD},
    ).raise_for_status()
    # A client of its own, so no session cookie lingers in the one that made the tenants.
    with httpx.Client(base_url=http.base_url, timeout=60) as browser:
        login = browser.post(LOGIN_PATH, json={"username": OWNER_EMAIL, "password": OWNER_PASSWORD})
        login.raise_for_status()
        cookie = "; ".join(f"{name}={login.cookies[name]}" for name in ("sessionid", "csrftoken"))
    return Target("tenant B", str(http.base_url).rstrip("/"), RECORDS_PATH, {"Cookie": cookie})


def flood_body() -> str:
    return json.dumps({"username": VICTIM_EMAIL, "password": WRONG_PASSWORD})


def preflight(target: Target) -> None:
    """B's cookie is what lets its list through, and the flood's login is a wrong password
    from the flood's address (on the throttled stack, one of its free failures)."""
    with httpx.Client(timeout=60) as http:
        page = http.get(target.url(LIST.path), headers=target.headers)
        page.raise_for_status()
        if page.json()["total"] != B_RECORDS:
            raise RuntimeError(f"tenant B's list holds {page.json()['total']} records")
        anonymous = http.get(target.url(LIST.path))
        if anonymous.status_code != 401:
            raise RuntimeError(f"the list without B's cookie answered {anonymous.status_code}")
        guess = http.post(
            target.base_url + LOGIN_PATH,
            content=flood_body(),
            headers={"Content-Type": "application/json", "X-Forwarded-For": FLOOD_ADDRESS},
        )
        if guess.status_code != 401:
            raise RuntimeError(f"the flood's login answered {guess.status_code}: {guess.text}")
        # Tenant A's audit log says where identity saw that guess come from: the flood's
        # own address, or the trusted-proxy setup did not take.
        victim = http.post(
            target.base_url + "/api/user/token-auth/",
            json={"username": VICTIM_EMAIL, "password": VICTIM_PASSWORD},
        )
        victim.raise_for_status()
        failures = http.get(
            target.base_url + "/api/audit-log",
            params={"action": "login", "outcome": "failure"},
            headers={"Authorization": f"JWT {victim.json()['token']}"},
        )
        failures.raise_for_status()
        seen = [entry["client_ip"] for entry in failures.json()["entries"]]
        if seen != [FLOOD_ADDRESS]:
            raise RuntimeError(f"identity saw the flood's login come from {seen}")


def drive(target: Target, ids_file: Path) -> Measurement:
    """B's list for WARMUP_SECONDS, then the measured BENCH_SECONDS."""
    for seconds in (WARMUP_SECONDS, SECONDS):
        measured = wrk.run(
            target,
            LIST,
            LIST.path,
            seconds=seconds,
            threads=B_THREADS,
            connections=B_CONNECTIONS,
            ids_file=ids_file,
        )
    return measured


def flood_pause_ms() -> int:
    """Each connection's pause between attempts, for FLOOD_RATE across all of them."""
    return round(FLOOD_CONNECTIONS * 1000 / FLOOD_RATE) if FLOOD_RATE > 0 else 0


def flood(base_url: str) -> dict[str, Any]:
    return wrk.run_script(
        FLOOD_SCRIPT,
        base_url,
        [LOGIN_PATH, flood_body(), str(flood_pause_ms())],
        seconds=WARMUP_SECONDS + SECONDS + FLOOD_TAIL_SECONDS,
        threads=FLOOD_THREADS,
        connections=FLOOD_CONNECTIONS,
        timeout_seconds=10,
        headers={"X-Forwarded-For": FLOOD_ADDRESS},
        label="the login flood",
    )


def run_variant(variant: Variant, data_dir: Path) -> VariantRun:
    stack = Stack(
        data_dir=data_dir,
        gateway_port=free_port(),
        database_urls={"identity": None, "schema": None, "records": None},
        extra_env={
            **environment(GatewaySettings, {**GATEWAY_OVERRIDES, **variant.gateway_overrides}),
            **environment(IdentitySettings, variant.identity_overrides),
        },
    )
    print(f"starting the stack, {variant.name} ...", flush=True)
    stack.start()
    try:
        # What the services read: the same environment, with the stack's overrides.
        identity = IdentitySettings(
            database_url=stack.resolved_database_urls["identity"]
        ).model_copy(update=variant.identity_overrides)
        gateway = GatewaySettings().model_copy(
            update={**GATEWAY_OVERRIDES, **variant.gateway_overrides}
        )
        pids = {}
        for name in WATCHED:
            process = stack.processes[name].process
            assert process is not None
            pids[name] = process.pid
        with httpx.Client(base_url=stack.gateway_url, timeout=60) as http:
            target = tenants(http)
        preflight(target)
        ids_file = data_dir / "ids.txt"
        ids_file.write_text("")
        base = MemorySampler(pids)
        base.sample()
        result = VariantRun(variant, identity, gateway, dict(base.last))
        for round_number in range(ROUNDS):
            with MemorySampler(pids) as memory:
                measured = drive(target, ids_file)
            result.baseline.add(measured, memory)
            report_progress(variant, round_number, "baseline", measured)
            with MemorySampler(pids) as memory, ThreadPoolExecutor(1) as pool:
                flooding = pool.submit(flood, stack.gateway_url)
                measured = drive(target, ids_file)
                answers = flooding.result()
            result.flooded.add(measured, memory)
            result.floods.append(answers)
            report_progress(variant, round_number, "flood", measured)
    finally:
        stack.stop()
    if result.baseline.errors:
        raise RuntimeError(f"{variant.name}: B's baseline had {result.baseline.errors} errors")
    return result


def report_progress(variant: Variant, round_number: int, phase: str, measured: Measurement) -> None:
    print(
        f"{variant.name}  round {round_number + 1}/{ROUNDS}  {phase:<9}"
        f"{measured.rate:>9,.0f} req/s{measured.p50_ms:>8.2f} ms p50"
        f"{measured.p99_ms:>9.2f} ms p99"
        + (f"  {measured.errors} errors" if measured.errors else ""),
        flush=True,
    )


def times(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b else "n/a"


def share(a: float, b: float) -> str:
    return f"{a / b:.0%}" if b else "n/a"


def settings_lines(runs: list[VariantRun]) -> list[str]:
    identity, gateway = runs[0].identity, runs[0].gateway

    def named(settings: BaseSettings, *names: str) -> str:
        return ", ".join(
            f"`{variable(type(settings), name)}={as_variable(getattr(settings, name))}`"
            for name in names
        )

    lines = [
        "- identity: "
        + named(identity, "password_hashing_concurrency", "password_hashing_waiting")
        + f"; Argon2 takes {PasswordHasher().memory_cost // 1024} MiB per hash",
    ]
    for run in runs:
        lines.append(
            f"- login throttling, {run.variant.name}: "
            + named(run.identity, *THROTTLING_FREE_FAILURES)
            + "; at the gateway "
            + named(run.gateway, "rate_limit_sign_in", "rate_limit_sign_in_window_seconds")
        )
    lines.append(
        "- gateway: "
        + named(
            gateway,
            "session_cache_seconds",
            "membership_cache_seconds",
            "rate_limit_address",
            "rate_limit_address_window_seconds",
            "trusted_proxies",
        )
    )
    return lines


def report(runs: list[VariantRun], load: tuple[tuple[float, ...], tuple[float, ...]]) -> str:
    mib_per_hash = PasswordHasher().memory_cost / 1024
    lines = [
        f"## A flood of wrong-password logins against another tenant's cookie requests "
        f"({datetime.date.today().isoformat()})",
        "",
        f"- tenant B: a cookie session from `POST {LOGIN_PATH}`, then `GET {RECORDS_PATH}"
        f"{LIST.path}` ({B_RECORDS} records) with its `sessionid` and `csrftoken` cookies; "
        f"{wrk.version()} -t{B_THREADS} -c{B_CONNECTIONS}, {SECONDS} s after {WARMUP_SECONDS} s "
        f"of warm-up; median of {ROUNDS} round(s)",
        f"- the flood: wrk -t{FLOOD_THREADS} -c{FLOOD_CONNECTIONS} `POST {LOGIN_PATH}` with "
        f"tenant A's email and a wrong password (bench/login_flood.lua), "
        + (
            f"offering at most {FLOOD_RATE:,} attempts a second (each connection pauses "
            f"{flood_pause_ms()} ms between its attempts)"
            if FLOOD_RATE > 0
            else "as fast as the answers come"
        )
        + f", from B's warm-up "
        f"until {FLOOD_TAIL_SECONDS} s after B's run, as client {FLOOD_ADDRESS} "
        "(X-Forwarded-For from the gateway's trusted proxy; B comes from 127.0.0.1)",
        "- two stacks in sequence, each with its own baseline: "
        + ", then ".join(run.variant.name for run in runs)
        + " (login throttling's settings below)",
        *settings_lines(runs),
        f"- {os.cpu_count()} CPUs, shared by both wrk processes and every service; load "
        f"average (1/5/15 min) {'/'.join(f'{x:.2f}' for x in load[0])} before, "
        f"{'/'.join(f'{x:.2f}' for x in load[1])} after",
        "",
        "Tenant B's cookie-authenticated list, and the resident memory of identity and the "
        f"gateway through each phase (sampled every {RSS_INTERVAL_SECONDS} s; peak / end):",
        "",
        "| stack | phase | req/s | p50 ms | p99 ms | rate of baseline | p99 of baseline "
        "| errors | identity MB | gateway MB |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for run in runs:
        reference = run.baseline
        for phase_name, phase in (("baseline", run.baseline), ("flood", run.flooded)):
            lines.append(
                f"| {run.variant.name} | {phase_name} | {phase.median('rate'):,.0f} "
                f"| {phase.median('p50_ms'):.2f} | {phase.median('p99_ms'):.2f} "
                f"| {share(phase.median('rate'), reference.median('rate'))} "
                f"| {times(phase.median('p99_ms'), reference.median('p99_ms'))} "
                f"| {phase.errors} "
                + "".join(
                    f"| {phase.peak_mb[name]:.0f} / {phase.end_mb[name]:.0f} " for name in WATCHED
                )
                + "|"
            )
    lines += [
        "",
        "The flood's answers (summed over the rounds; attempts/s and p50 the median):",
        "",
        "| stack | attempts/s | p50 ms | "
        + " | ".join(FLOOD_ANSWERS.values())
        + " | socket errors |",
        "|---|--:|--:|" + "--:|" * (len(FLOOD_ANSWERS) + 1),
    ]
    for run in runs:
        measured = [wrk.measurement(answers) for answers in run.floods]
        lines.append(
            f"| {run.variant.name} | {statistics.median(m.rate for m in measured):,.0f} "
            f"| {statistics.median(m.p50_ms for m in measured):.2f} | "
            + " | ".join(
                f"{sum(answers[kind] for answers in run.floods):,}" for kind in FLOOD_ANSWERS
            )
            + f" | {sum(m.socket_errors for m in measured):,} |"
        )
    lines.append("")
    for run in runs:
        concurrency = run.identity.password_hashing_concurrency
        bound = concurrency * mib_per_hash
        above = run.flooded.peak_mb["identity"] - run.base_mb["identity"]
        lines.append(
            f"- {run.variant.name}: under the flood B kept "
            f"{share(run.flooded.median('rate'), run.baseline.median('rate'))} of its rate, "
            f"its p99 {times(run.flooded.median('p99_ms'), run.baseline.median('p99_ms'))} "
            f"the baseline's; identity peaked at {run.flooded.peak_mb['identity']:.0f} MB, "
            f"{above:.0f} MB above its {run.base_mb['identity']:.0f} MB before the first "
            f"round; the hashing bound allows about {concurrency} x {mib_per_hash:.0f} MiB = "
            f"{bound:.0f} MB, where {FLOOD_CONNECTIONS} unbounded hashes would take "
            f"{FLOOD_CONNECTIONS * mib_per_hash:,.0f} MB"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tessera-bench-logins-") as tmp:
        Path(tmp).chmod(0o755)
        runs = [
            run_variant(variant, Path(tmp) / f"stack-{number}")
            for number, variant in enumerate(VARIANTS, start=1)
        ]
    text = report(runs, (load_before, os.getloadavg()))
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{datetime.date.today().isoformat()}.md"
    with path.open("a") as out:
        out.write("\n" + text)
    print(f"\n{text}\nappended to {path}")


if __name__ == "__main__":
    main()
