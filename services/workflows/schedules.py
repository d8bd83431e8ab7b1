"""When a scheduled workflow runs: once at a time, or on a cron expression read in a time
zone (daylight saving included: a slot the clock skips runs when the clock resumes). The
clock is always given, never read here, so tests drive schedules without sleeping.

A schedule missed while the service was down runs once when it comes back, for the latest
slot missed, not once per slot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from services.kit.errors import ValidationFailed

MAX_CRON_LENGTH = 100


@dataclass(frozen=True, slots=True)
class Schedule:
    # Exactly one of the two.
    cron: str | None
    at: datetime | None
    time_zone: str = "UTC"


def parse_schedule(body: Any) -> Schedule:
    """`{"cron": "0 9 * * 1-5", "time_zone": "Europe/Berlin"}` or `{"at": "<RFC 3339>"}`."""
    if not isinstance(body, dict) or set(body) - {"cron", "at", "time_zone"}:
        raise ValidationFailed('A schedule is {"cron", "time_zone"?} or {"at"}', field="schedule")
    cron, at, zone = body.get("cron"), body.get("at"), body.get("time_zone", "UTC")
    if (cron is None) == (at is None):
        raise ValidationFailed("A schedule has either 'cron' or 'at'", field="schedule")
    if not isinstance(zone, str) or not zone or len(zone) > 64:
        raise ValidationFailed("'time_zone' must be an IANA zone name", field="time_zone")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"Unknown time zone {zone[:64]!r}", field="time_zone") from None
    if cron is not None:
        if not isinstance(cron, str) or len(cron) > MAX_CRON_LENGTH or not croniter.is_valid(cron):
            raise ValidationFailed("'cron' must be a cron expression", field="cron")
        schedule = Schedule(cron=cron, at=None, time_zone=zone)
        if next_slot(schedule, datetime.now(UTC)) is None:
            # "0 0 30 2 *": valid, and never due.
            raise ValidationFailed("'cron' never comes due", field="cron")
        return schedule
    try:
        moment = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationFailed("'at' must be an RFC 3339 time with its offset", field="at")
    return Schedule(cron=None, at=moment.astimezone(UTC), time_zone=zone)


def next_slot(schedule: Schedule, after: datetime) -> datetime | None:
    """The first slot strictly after `after` (UTC), or None when there is none."""
    if schedule.at is not None:
        return schedule.at if schedule.at > after else None
    assert schedule.cron is not None
    local = after.astimezone(ZoneInfo(schedule.time_zone))
    try:
        following: datetime = croniter(schedule.cron, local).get_next(datetime)
    except CroniterBadDateError:
        return None
    return following.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Due:
    # The slot to run now (None: nothing is due).
    run: datetime | None
    # The slot to wait for next.
    next: datetime | None


def due(schedule: Schedule, since: datetime, now: datetime) -> Due:
    """What to do at `now`, the last slot run (or the schedule's creation) being `since`:
    run the latest slot that has come, once, however many have; then wait for the first
    slot after `now`."""
    first = next_slot(schedule, since)
    if first is None or first > now:
        return Due(run=None, next=first)
    latest = first
    if schedule.cron is not None:
        # croniter walks backwards from now to the latest slot that has come.
        local_now = now.astimezone(ZoneInfo(schedule.time_zone))
        try:
            previous: datetime = croniter(schedule.cron, local_now).get_prev(datetime)
            latest = max(first, previous.astimezone(UTC))
        except CroniterBadDateError:
            latest = first
        if next_slot(schedule, latest) == now:
            latest = now
    return Due(run=latest, next=next_slot(schedule, now))
