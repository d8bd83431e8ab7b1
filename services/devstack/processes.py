"""Running Tessera's services as child processes: migrate, start, wait until healthy,
stop gracefully. Used by `make run` and by the test suite, so tests exercise the same
processes a user runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.kit.grpc.trust import server_name_option


class StartupError(RuntimeError):
    pass


def migrate(module: str, env: dict[str, str], *, timeout: float = 120.0) -> None:
    """Applies a service's migrations: `python -m services.<svc> migrate`."""
    result = subprocess.run(
        [sys.executable, "-m", module, "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise StartupError(f"migrations of {module} failed:\n{result.stderr[-4000:]}")


def grpc_serving(
    address: str,
    timeout: float = 1.0,
    *,
    credentials: grpc.ChannelCredentials | None = None,
    server_name: str = "",
) -> bool:
    """Whether the gRPC server at `address` says it is serving; with `credentials`, over
    TLS to the server whose certificate names `server_name`."""
    if credentials is None:
        channel = grpc.insecure_channel(address)
    else:
        channel = grpc.secure_channel(
            address, credentials, options=[server_name_option(server_name)]
        )
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@dataclass
class ServiceProcess:
    """One service process. `ready_check` returns True once the service can take calls."""

    name: str
    module: str
    env: dict[str, str]
    log_path: Path
    grpc_address: str | None = None
    # The certificate the readiness check presents to the service (named `name`) behind
    # mutual TLS; None for a plaintext gRPC server.
    grpc_credentials: grpc.ChannelCredentials | None = None
    http_ready_url: str | None = None
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own session: a terminal's Ctrl-C reaches the supervisor only, which then
            # stops the services in order.
            start_new_session=True,
        )

    def is_ready(self) -> bool:
        if self.grpc_address is not None:
            return grpc_serving(
                self.grpc_address, credentials=self.grpc_credentials, server_name=self.name
            )
        if self.http_ready_url is not None:
            try:
                return httpx.get(self.http_ready_url, timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False
        return True

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise StartupError(
                    f"{self.name} exited with code {self.process.returncode}:\n{self.log_tail()}"
                )
            if self.is_ready():
                return
            time.sleep(0.1)
        raise StartupError(f"{self.name} was not ready within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
