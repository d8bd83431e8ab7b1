from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.kit.errors import ValidationFailed
from services.workflows.schedules import Due, due, next_slot, parse_schedule


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


WEEKDAYS_AT_NINE = parse_schedule({"cron": "0 9 * * 1-5", "time_zone": "Europe/Berlin"})


def test_a_cron_slot_is_read_in_its_time_zone() -> None:
    # Tuesday 1 December 2026, 09:00 in Berlin is 08:00 UTC.
    assert next_slot(WEEKDAYS_AT_NINE, utc("2026-12-01T07:00:00")) == utc("2026-12-01T08:00:00")
    # Friday evening: the next weekday is Monday.
    assert next_slot(WEEKDAYS_AT_NINE, utc("2026-12-04T18:00:00")) == utc("2026-12-07T08:00:00")


def test_nothing_runs_before_the_slot_and_the_slot_runs_at_its_time() -> None:
    since = utc("2026-12-01T07:00:00")
    assert due(WEEKDAYS_AT_NINE, since, utc("2026-12-01T07:59:59")) == Due(
        run=None, next=utc("2026-12-01T08:00:00")
    )
    assert due(WEEKDAYS_AT_NINE, since, utc("2026-12-01T08:00:00")) == Due(
        run=utc("2026-12-01T08:00:00"), next=utc("2026-12-02T08:00:00")
    )


def test_slots_missed_while_down_run_once_for_the_latest() -> None:
    # Ran on Tuesday; the service was down until Friday 10:00 UTC.
    missed = due(WEEKDAYS_AT_NINE, utc("2026-12-01T08:00:00"), utc("2026-12-04T10:00:00"))
    assert missed == Due(run=utc("2026-12-04T08:00:00"), next=utc("2026-12-07T08:00:00"))


def test_a_slot_the_clock_skips_runs_when_it_resumes() -> None:
    nightly = parse_schedule({"cron": "30 2 * * *", "time_zone": "Europe/Berlin"})
    # 29 March 2026: Berlin's clocks go from 02:00 to 03:00 (01:00 UTC).
    assert next_slot(nightly, utc("2026-03-28T23:00:00")) == utc("2026-03-29T01:00:00")


def test_a_one_off_runs_once() -> None:
    once = parse_schedule({"at": "2026-12-01T12:00:00Z"})
    created = utc("2026-12-01T10:00:00")
    assert due(once, created, utc("2026-12-01T11:00:00")) == Due(run=None, next=once.at)
    assert due(once, created, utc("2026-12-01T13:00:00")) == Due(run=once.at, next=None)
    assert due(once, utc("2026-12-01T12:00:00"), utc("2026-12-02T00:00:00")) == Due(None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": 5}, "cron"),
        # Valid, and never due: February has no 30th.
        ({"cron": "0 0 30 2 *"}, "cron"),
        ({"cron": "* * * * *", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"cron": "* * * * *", "at": "2026-12-01T12:00:00Z"}, "schedule"),
        ({}, "schedule"),
        ({"at": "2026-12-01T12:00:00"}, "at"),
        ({"at": "tomorrow"}, "at"),
        ({"cron": "* * * * *", "every": 5}, "schedule"),
    ],
)
def test_a_bad_schedule_is_refused_by_name(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_schedule(body)
    assert refused.value.field == field
