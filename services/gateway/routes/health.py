"""Liveness (the process answers) and readiness (every backing service and NATS answer)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.gateway import shapes
from services.gateway.deps import BackendsDep
from services.gateway.openapi import returns

router = APIRouter(tags=["Health"])


@router.get("/healthz", **returns(shapes.Health))
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", **returns(shapes.Readiness))
async def readyz(request: Request, backends: BackendsDep) -> JSONResponse:
    checks = await backends.serving()
    nats = request.app.state.nats
    checks["nats"] = bool(nats is not None and nats.is_connected)
    ready = all(checks.values())
    body: dict[str, object] = {"status": "ready" if ready else "unavailable", "checks": checks}
    if not ready:
        failing = ", ".join(name for name, ok in checks.items() if not ok)
        body["error"] = {"code": "service_unavailable", "message": f"Not ready: {failing}"}
    return JSONResponse(body, status_code=200 if ready else 503)
