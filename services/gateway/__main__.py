"""python -m services.gateway: serve the REST API with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import sys

import uvicorn

from services.gateway.app import create_app
from services.gateway.config import GatewaySettings
from services.kit.grpc.trust import ContextSigner, ServiceTls, TrustNotConfigured
from services.kit.logging import configure_logging


def main() -> int:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    try:
        # Missing key material is a deployment error: say so plainly, as the services do,
        # rather than as a failed application start-up.
        ServiceTls.load(settings.trust)
        ContextSigner.load(settings.trust)
    except TrustNotConfigured as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        # Only a configured load balancer may say who the client is (X-Forwarded-For);
        # uvicorn would otherwise believe any local process.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
