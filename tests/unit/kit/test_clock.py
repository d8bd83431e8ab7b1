from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.kit.clock import rfc3339


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2025, 1, 15, 10, 30, tzinfo=UTC), "2025-01-15T10:30:00Z"),
        (datetime(2025, 1, 15, 10, 30, 0, 120, tzinfo=UTC), "2025-01-15T10:30:00.000120Z"),
        (datetime(2025, 1, 15, 10, 30), "2025-01-15T10:30:00Z"),
        (
            datetime(1852, 11, 27, 12, 30, tzinfo=timezone(timedelta(hours=1))),
            "1852-11-27T11:30:00Z",
        ),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_rfc3339_is_utc_isoformat_with_a_z(moment: datetime, text: str) -> None:
    assert rfc3339(moment) == text
    as_utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    assert rfc3339(moment) == as_utc.isoformat().replace("+00:00", "Z")
