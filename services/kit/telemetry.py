"""OpenTelemetry tracing: one provider per process, trace context propagated in
`traceparent` over HTTP, gRPC metadata and NATS headers. Exporters are attached by the
operators issue; until then spans are created and propagated but not shipped."""

from __future__ import annotations

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def configure_tracing(service: str) -> trace.Tracer:
    provider = TracerProvider(resource=Resource.create({"service.name": f"tessera-{service}"}))
    trace.set_tracer_provider(provider)
    return trace.get_tracer(f"tessera.{service}")


def inject_traceparent(carrier: dict[str, str]) -> dict[str, str]:
    """Adds the current trace context (if any) to a header/metadata mapping."""
    propagate.inject(carrier)
    return carrier
