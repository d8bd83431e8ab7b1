"""Driving one scenario against one HTTP target with wrk (bench/scenario.lua), and reading
back the rate and latency percentiles its done() hook prints; run_script does the same
with a script of its own that prints the same line (bench/login_flood.lua)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("scenario.lua")
MARKER = "WRK_RESULT "
MAX_ARGUMENT_BODY = 4096


@dataclass(frozen=True)
class Scenario:
    """One request shape. `path` is relative to a target's records URL; "{id}" in it
    becomes a random existing record id, "{n}" in `body` a random integer 0..999."""

    name: str
    method: str
    path: str
    body: str = ""
    # A write that adds rows; bench/records.py deletes them after the run by this name.
    adds_rows: bool = False
    # Records each request reads or writes, for a records/s figure (batches).
    records_per_request: int = 1
    # Pages to follow through next_cursor from `path` before the run; the run then
    # requests the page reached (each target its own cursor).
    follow_cursor: int = 0
    # Longer than any request should take; a request past it counts as an error, not a
    # latency.
    timeout_seconds: int = 10
    # A scenario whose requests take seconds under load runs at least this long (wrk
    # counts only requests that finish inside the run) and without the warm-up run,
    # whose abandoned requests the server would still be working through.
    min_seconds: int = 0
    warm_up: bool = True


@dataclass(frozen=True)
class Target:
    """Something serving the records routes over HTTP: Tessera's gateway or a baseline."""

    name: str
    base_url: str
    # The records collection's path, e.g. /api/apps/bench/schemas/people/records.
    records_path: str
    headers: dict[str, str] = field(default_factory=dict)

    def url(self, path: str, record_id: str = "") -> str:
        """The URL of `path` (relative to the records), "{id}" filled in."""
        return self.base_url + self.records_path + path.replace("{id}", record_id)


@dataclass(frozen=True)
class Measurement:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    # Responses other than 2xx/3xx, and connect/read/write errors and timeouts.
    status_errors: int
    socket_errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.status_errors + self.socket_errors


def executable() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not on PATH; `make bench` installs it (bench/ensure-wrk.sh)")
    return path


def version() -> str:
    # wrk prints its version and usage, then exits 1.
    result = subprocess.run(
        [executable(), "--version"], capture_output=True, text=True, check=False
    )
    first = (result.stdout or result.stderr).splitlines()
    return " ".join(first[0].split()[:2]) if first else "wrk"


def run(
    target: Target,
    scenario: Scenario,
    path: str,
    *,
    seconds: int,
    threads: int,
    connections: int,
    ids_file: Path,
) -> Measurement:
    body = scenario.body
    if len(body) > MAX_ARGUMENT_BODY:
        # A command-line argument holds at most 128 KiB; a batch's body goes in a file.
        body_file = ids_file.with_name(f"body-{hashlib.sha256(body.encode()).hexdigest()[:12]}")
        body_file.write_text(body)
        body = f"@{body_file}"
    result = run_script(
        SCRIPT,
        target.base_url,
        [scenario.method, target.records_path + path, body, str(ids_file)],
        seconds=seconds,
        threads=threads,
        connections=connections,
        timeout_seconds=scenario.timeout_seconds,
        headers=target.headers,
        label=f"{scenario.name} on {target.name}",
    )
    return measurement(result)


def run_script(
    script: Path,
    base_url: str,
    arguments: list[str],
    *,
    seconds: int,
    threads: int,
    connections: int,
    timeout_seconds: int,
    headers: dict[str, str],
    label: str,
) -> dict[str, Any]:
    """Runs wrk with `script` (given `arguments` after "--") and answers the JSON object its
    done() hook printed after MARKER, with at least the fields bench/scenario.lua prints."""
    command = [
        executable(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout_seconds}s",
        *(f"-H{name}: {value}" for name, value in headers.items()),
        f"-s{script}",
        base_url,
        "--",
        *arguments,
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + timeout_seconds + 60,
        check=False,
    )
    for line in result.stdout.splitlines():
        if line.startswith(MARKER):
            data: dict[str, Any] = json.loads(line.removeprefix(MARKER))
            return data
    raise RuntimeError(
        f"wrk gave no result for {label} "
        f"(exit {result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    )


def measurement(result: dict[str, Any]) -> Measurement:
    """The rate and latencies in what run_script answered."""
    return Measurement(
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        status_errors=result["status_errors"],
        socket_errors=result["socket_errors"],
    )
