"""Liveness (the process answers) and readiness (every backing service and NATS answer)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.gateway.deps import BackendsDep

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
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
