"""The event envelope every service publishes: JSON with a unique id (also the
Nats-Msg-Id), a type, the tenant, the time and the entity."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.kit.clock import rfc3339, utcnow
from services.kit.ids import new_id, new_ids
from services.kit.json import dumps_exact, loads_exact
from services.kit.telemetry import inject_traceparent


@dataclass(frozen=True)
class Event:
    id: str
    service: str
    tenant: str
    entity: str
    action: str
    time: str
    data: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(
        cls, *, service: str, tenant: str, entity: str, action: str, data: dict[str, Any]
    ) -> Event:
        # The trace of the change rides along, whichever service publishes it.
        return cls(
            id=new_id("evt"),
            service=service,
            tenant=tenant,
            entity=entity,
            action=action,
            time=rfc3339(utcnow()),
            data=data,
            headers=inject_traceparent({}),
        )

    @classmethod
    def many(
        cls,
        *,
        service: str,
        tenant: str,
        entity: str,
        action: str,
        datas: Iterable[dict[str, Any]],
    ) -> list[Event]:
        """One event per data, for a change that touched many entities at once (an
        import's batch): each its own id, all with the change's time and trace."""
        time = rfc3339(utcnow())
        headers = inject_traceparent({})
        datas = list(datas)
        return [
            cls(
                id=event_id,
                service=service,
                tenant=tenant,
                entity=entity,
                action=action,
                time=time,
                data=data,
                headers=dict(headers),
            )
            for event_id, data in zip(new_ids("evt", len(datas)), datas, strict=True)
        ]

    @property
    def type(self) -> str:
        return f"{self.service}.{self.entity}.{self.action}"

    @property
    def subject(self) -> str:
        """<service>.<tenant>.<entity>.<action>, e.g. records.ws_x.record.created"""
        return f"{self.service}.{self.tenant}.{self.entity}.{self.action}"

    def to_json(self) -> bytes:
        return dumps_exact(
            {
                "id": self.id,
                "type": self.type,
                "tenant": self.tenant,
                "time": self.time,
                "data": self.data,
            }
        )

    @classmethod
    def from_message(cls, subject: str, payload: bytes) -> Event:
        body = loads_exact(payload)
        service, tenant, entity, action = subject.split(".", 3)
        if body["tenant"] != tenant:
            # Subject permissions vouch for the subject only: a body naming another tenant
            # than its subject is no event of ours.
            raise ValueError(
                f"the event names tenant {body['tenant']!r} on a subject of {tenant!r}"
            )
        return cls(
            id=body["id"],
            service=service,
            tenant=tenant,
            entity=entity,
            action=action,
            time=body["time"],
            data=body["data"],
        )
