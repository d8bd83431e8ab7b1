"""python -m services.devstack run: the whole stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

from services.devstack.config import DevstackSettings
from services.devstack.processes import StartupError
from services.devstack.stack import Stack

log = logging.getLogger("tessera")


def run() -> int:
    settings = DevstackSettings()
    stack = Stack(
        data_dir=settings.data_dir.resolve(),
        gateway_port=settings.gateway_port,
        database_urls={
            "identity": settings.identity_database_url,
            "schema": settings.schema_database_url,
            "records": settings.records_database_url,
            "workflows": settings.workflows_database_url,
        },
        nats_url=settings.nats_url,
        secret_key=settings.secret_key,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    started = time.monotonic()
    print(f"Starting Tessera (data in {stack.data_dir}) ...", flush=True)
    try:
        stack.start()
    except StartupError as error:
        print(f"Tessera failed to start: {error}", file=sys.stderr)
        return 1
    print(
        f"\nTessera is ready in {time.monotonic() - started:.1f}s\n"
        f"  Gateway:  {stack.gateway_url}\n"
        f"  Sign up:  curl -X POST {stack.gateway_url}/api/user/ "
        "-H 'Content-Type: application/json' "
        '-d \'{"name":"Ada","email":"ada@example.com","password":"correct horse"}\'\n'
        f"  Logs:     {stack.log_dir}\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    exit_code = 0
    while not stop.wait(1.0):
        failed = stack.exited()
        if failed:
            print(f"{', '.join(failed)} stopped unexpectedly; see {stack.log_dir}", file=sys.stderr)
            exit_code = 1
            break
    print("\nStopping Tessera ...", flush=True)
    stack.stop()
    print("Stopped.", flush=True)
    return exit_code


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.devstack")
    parser.add_argument("command", choices=["run"])
    parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    sys.exit(run())


if __name__ == "__main__":
    main()
