"""Sending outgoing webhooks' deliveries: each attempt signed the Standard Webhooks way
(webhook-id: the delivery's id, the same on every attempt; webhook-timestamp: now;
webhook-signature: v1 with the webhook's secret, and with the one before while a renewal
overlaps), POSTed through the SSRF-safe client (services.kit.outbound) with no redirect
followed, and kept with what came back.

A 2xx answer delivers it. Anything else is tried again after a delay that doubles from
`retry_base_seconds` (at most `retry_max_delay_seconds`) until the delivery's horizon has
passed: then it has failed, and a webhook whose last `disable_after_failures` deliveries
all failed is turned off, with the reason kept and shown.

Deliveries are claimed with SKIP LOCKED and a lease, so replicas share the work and a
delivery whose sender died is taken up again when its lease runs out: at least once, as
receivers expect (they drop a webhook-id seen before)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.kit.clock import utcnow
from services.kit.db import ALL_TENANTS, SessionMaker, transaction
from services.kit.errors import DomainError
from services.kit.outbound import OutboundClient
from services.kit.secrets import SecretBox, SecretUnreadable
from services.workflows import tables
from services.workflows.hooks import sign_standard

log = logging.getLogger(__name__)
d = tables.webhook_deliveries
wh = tables.webhooks
a = tables.webhook_attempts

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
PING = "webhook.ping"
USER_AGENT = "Tessera-Webhooks/1"
# What an attempt keeps of the answer's body.
MAX_KEPT_BODY = 2048
# How much longer than an attempt's time limit a claimed delivery stays with its sender.
LEASE_MARGIN_SECONDS = 30.0
CLAIM_BATCH = 50


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    retry_base_seconds: float = 5.0
    retry_max_delay_seconds: float = 3 * 3600.0
    # Retries end this long after the delivery was made (or replayed).
    horizon_seconds: float = 24 * 3600.0
    # One attempt's time limit, connection and answer together.
    timeout_seconds: float = 15.0
    disable_after_failures: int = 5
    poll_seconds: float = 1.0
    # Attempts under way at once in this process.
    concurrency: int = 10

    def delay(self, attempts: int) -> float:
        """The wait before the next attempt, after `attempts` that failed."""
        return min(self.retry_base_seconds * 2 ** (attempts - 1), self.retry_max_delay_seconds)


def secret_context(webhook_id: str) -> str:
    # A sealed secret copied to another webhook's row does not open there.
    return f"webhook:{webhook_id}"


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None
    body: str | None
    error: str | None
    latency_ms: int

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Deliverer:
    def __init__(
        self,
        sessionmaker: SessionMaker,
        box: SecretBox,
        client: OutboundClient,
        settings: DeliverySettings,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.box = box
        self.client = client
        self.settings = settings
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Something is due now: look before the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    for delivery_id in await self._claim():
                        await self._slots.acquire()
                        task = asyncio.create_task(self._attempt_in_slot(delivery_id))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                except Exception:
                    log.exception("claiming webhook deliveries failed; trying again")
                self._wake.clear()
                waiters = [
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self._wake.wait()),
                ]
                await asyncio.wait(
                    waiters, timeout=self.settings.poll_seconds, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in waiters:
                    waiter.cancel()
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Attempts under way are dropped; their leases run out and another sender (or
        this one, restarted) tries again."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _attempt_in_slot(self, delivery_id: str) -> None:
        try:
            await self.attempt(delivery_id)
        except IntegrityError:
            # Its webhook was deleted while it was on its way: nothing left to record.
            log.info("webhook delivery %s: its webhook is gone", delivery_id)
        except Exception:
            log.exception("webhook delivery %s: the attempt failed unexpectedly", delivery_id)
        finally:
            self._slots.release()

    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.timeout_seconds + LEASE_MARGIN_SECONDS)

    async def _claim(self) -> list[str]:
        due = (
            select(d.c.id)
            .where(d.c.state == PENDING, d.c.next_attempt_at <= func.now())
            .order_by(d.c.next_attempt_at)
            .limit(min(CLAIM_BATCH, self.settings.concurrency))
            .with_for_update(skip_locked=True)
        )
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            rows = await session.execute(
                update(d)
                .where(d.c.id.in_(due.scalar_subquery()))
                .values(next_attempt_at=func.now() + self.lease())
                .returning(d.c.id)
            )
            return [row[0] for row in rows]

    async def attempt(self, delivery_id: str) -> None:
        """One attempt at the delivery, kept with its outcome."""
        async with transaction(self.sessionmaker, tenant=ALL_TENANTS) as session:
            row = (
                await session.execute(
                    select(
                        d.c.tenant_id,
                        d.c.webhook_id,
                        d.c.event_type,
                        d.c.payload,
                        d.c.state,
                        d.c.attempts,
                        d.c.give_up_at,
                        wh.c.url,
                        wh.c.active,
                        wh.c.sealed_secret,
                        wh.c.previous_sealed_secret,
                        (wh.c.previous_until > func.now()).label("previous_valid"),
                    )
                    .join(wh, wh.c.id == d.c.webhook_id)
                    .where(d.c.id == delivery_id)
                )
            ).first()
        if row is None or row.state != PENDING:
            return
        if not row.active and row.event_type != PING:
            outcome = Outcome(None, None, "the webhook is disabled", 0)
            await self._keep(row, delivery_id, {}, outcome, final=True)
            return
        try:
            signing = [self._open(row.webhook_id, row.sealed_secret)]
            if row.previous_sealed_secret is not None and row.previous_valid:
                signing.append(self._open(row.webhook_id, row.previous_sealed_secret))
        except SecretUnreadable as error:
            # The operator's to mend (a key dropped before resealing); tried again later.
            log.error("webhook %s: its secret does not open: %s", row.webhook_id, error)
            outcome = Outcome(None, None, "the signing secret cannot be read right now", 0)
            await self._keep(row, delivery_id, {}, outcome)
            return
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": delivery_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign_standard(signing, delivery_id, stamp, row.payload),
        }
        outcome = await self._send(row.url, headers, row.payload)
        await self._keep(row, delivery_id, headers, outcome)

    def _open(self, webhook_id: str, sealed: str) -> str:
        return self.box.open(sealed, context=secret_context(webhook_id)).decode()

    async def _send(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        started = time.perf_counter()

        def outcome(status: int | None, text: str | None, error: str | None) -> Outcome:
            return Outcome(status, text, error, round((time.perf_counter() - started) * 1000))

        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                answer = await self.client.request(
                    "POST", url, headers=headers, content=body, follow_redirects=False
                )
        except TimeoutError:
            return outcome(None, None, f"no answer within {self.settings.timeout_seconds:g} s")
        except httpx.TimeoutException as error:
            return outcome(None, None, f"timed out: {error}")
        except httpx.HTTPError as error:
            return outcome(None, None, f"could not be reached: {error or type(error).__name__}")
        except DomainError as refused:
            # The URL's address is refused (SSRF policy), or the answer was too large.
            return outcome(None, None, refused.message)
        text = answer.content[:MAX_KEPT_BODY].decode("utf-8", errors="replace")
        return outcome(answer.status_code, text.replace("\x00", "\ufffd"), None)

    async def _keep(
        self,
        row: Any,
        delivery_id: str,
        headers: dict[str, str],
        outcome: Outcome,
        *,
        final: bool = False,
    ) -> None:
        attempt = row.attempts + 1
        now = utcnow()
        if outcome.delivered:
            state, next_at = SUCCEEDED, None
        else:
            next_at = now + timedelta(seconds=self.settings.delay(attempt))
            gives_up = final or row.event_type == PING or next_at > row.give_up_at
            state, next_at = (FAILED, None) if gives_up else (PENDING, next_at)
        error = outcome.error or (None if outcome.delivered else f"answered {outcome.status}")
        async with transaction(self.sessionmaker, tenant=row.tenant_id) as session:
            await session.execute(
                insert(a).values(
                    delivery_id=delivery_id,
                    attempt=attempt,
                    tenant_id=row.tenant_id,
                    request_headers=headers,
                    response_status=outcome.status,
                    response_body=outcome.body,
                    error=outcome.error,
                    latency_ms=outcome.latency_ms,
                )
            )
            await session.execute(
                update(d)
                .where(d.c.id == delivery_id)
                .values(
                    state=state,
                    attempts=attempt,
                    next_attempt_at=next_at,
                    last_status=outcome.status,
                    last_error=error,
                    finished_at=None if state == PENDING else func.now(),
                )
            )
            if row.event_type != PING and not final:
                await self._count(session, row.webhook_id, state, error)

    async def _count(self, session: Any, webhook_id: str, state: str, error: str | None) -> None:
        """A delivery done: success clears the webhook's count of failures, a failure adds
        to it and, at the limit, turns the webhook off."""
        if state == SUCCEEDED:
            await session.execute(
                update(wh)
                .where(wh.c.id == webhook_id, wh.c.failed_in_a_row != 0)
                .values(failed_in_a_row=0)
            )
        elif state == FAILED:
            limit = self.settings.disable_after_failures
            failed = await session.scalar(
                update(wh)
                .where(wh.c.id == webhook_id)
                .values(failed_in_a_row=wh.c.failed_in_a_row + 1)
                .returning(wh.c.failed_in_a_row)
            )
            if failed is not None and failed >= limit:
                reason = f"{failed} deliveries in a row failed; the last: {error}"[:500]
                turned_off = await session.scalar(
                    update(wh)
                    .where(wh.c.id == webhook_id, wh.c.active.is_(True))
                    .values(active=False, disabled_reason=reason, disabled_at=func.now())
                    .returning(wh.c.id)
                )
                if turned_off is not None:
                    log.warning("webhook %s turned off: %s", webhook_id, reason)


def gives_up_at(settings: DeliverySettings, now: datetime) -> datetime:
    return now + timedelta(seconds=settings.horizon_seconds)


__all__ = [
    "FAILED",
    "PENDING",
    "PING",
    "SUCCEEDED",
    "Deliverer",
    "DeliverySettings",
    "Outcome",
    "gives_up_at",
    "secret_context",
]
