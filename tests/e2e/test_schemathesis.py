"""schemathesis against the running stack, with a real token, over the platform's document
and an app's: requests it generates from the documents (valid and invalid) must never get
a server error, and every answer must be one the document describes (status, content
type, body). The examples are bounded to fit the suite's time; `make fuzz` runs more."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from services.devstack.stack import Stack
from tests.factories.accounts import Tenant
from tests.factories.apps import create_app, create_schema

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)
MAX_EXAMPLES = int(os.environ.get("TESSERA_FUZZ_EXAMPLES", "3"))
# Calls that would end the test's own credential, or reach outside the generated data; and
# the realtime event stream, which stays open for as long as its client listens
# (tests/e2e/test_realtime.py tries it).
PLATFORM_EXCLUDED = (
    "token_blacklist",
    "change_password",
    "log_out_others",
    "delete_api_key",
    "realtime_events",
)


def schemathesis(
    document: dict[str, Any], base_url: str, headers: dict[str, str], tmp_path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(path),
        "--url",
        base_url,
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "20261201",
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "2",
        "--no-color",
        "--warnings",
        "off",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
        *extra,
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_the_platform_document_holds_against_generated_requests(
    stack: Stack, client: httpx.Client, tenant: Tenant, tmp_path: Path
) -> None:
    document = client.get("/api/openapi.json").json()
    excluded = [arg for name in PLATFORM_EXCLUDED for arg in ("--exclude-operation-id", name)]
    run = schemathesis(
        document, stack.gateway_url, {"Authorization": f"JWT {tenant.token}"}, tmp_path, *excluded
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def test_an_apps_document_holds_against_generated_requests(
    stack: Stack, tenant: Tenant, tmp_path: Path
) -> None:
    app = create_app(tenant)["slug"]
    create_schema(tenant, app)
    document = tenant.get(f"/api/apps/{app}/openapi.json").json()
    run = schemathesis(
        document, stack.gateway_url, {"Authorization": f"JWT {tenant.token}"}, tmp_path
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
