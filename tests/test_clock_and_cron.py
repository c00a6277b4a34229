"""Wall-clock → instant rules and cron checks, as tables."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shiftswitch.clock import FixedClock, as_utc, local_to_utc
from shiftswitch.cron import CronError, parse_cron


@pytest.mark.parametrize(
    ("zone", "local", "expected"),
    [
        ("America/New_York", "2026-03-08T01:59", "2026-03-08T06:59Z"),
        ("America/New_York", "2026-03-08T02:00", "2026-03-08T07:00Z"),  # gap: first instant after
        ("America/New_York", "2026-03-08T02:30", "2026-03-08T07:00Z"),
        ("America/New_York", "2026-03-08T03:00", "2026-03-08T07:00Z"),
        ("America/New_York", "2026-11-01T01:30", "2026-11-01T05:30Z"),  # repeated: first (EDT)
        ("America/New_York", "2026-11-01T02:00", "2026-11-01T07:00Z"),
        ("Europe/London", "2026-03-29T01:30", "2026-03-29T01:00Z"),
        ("Europe/London", "2026-10-25T01:30", "2026-10-25T00:30Z"),
        ("Australia/Lord_Howe", "2026-10-04T02:15", "2026-10-03T15:30Z"),  # a 30-minute gap
        ("Asia/Kolkata", "2026-12-01T09:00", "2026-12-01T03:30Z"),
    ],
)
def test_local_to_utc(zone: str, local: str, expected: str) -> None:
    got = local_to_utc(datetime.fromisoformat(local), ZoneInfo(zone))
    assert got == datetime.fromisoformat(expected)
    assert got.tzinfo is UTC


def test_instants_must_be_aware() -> None:
    with pytest.raises(ValueError, match="naive"):
        as_utc(datetime(2026, 1, 1))
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    clock.advance(datetime(2026, 1, 2, tzinfo=UTC) - clock.now())
    assert clock.now() == datetime(2026, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("0 25 * * *", 'hour field "25" is not valid'),
        ("0 9 * *", "expected 5 fields"),
        ("0 9 * * mon-fri 5", "expected 5 fields"),
        ("0 0 30 2 *", "never fires"),
        ("@sometimes", "unknown macro"),
        ("a b c d e", 'minute field "a"'),
    ],
)
def test_bad_cron(expr: str, reason: str) -> None:
    with pytest.raises(CronError, match=reason):
        parse_cron(expr)


@pytest.mark.parametrize("expr", ["0 9 * * mon-fri", "*/15 8-18 * * 1-5", "@daily", "0 9 1 * *"])
def test_good_cron(expr: str) -> None:
    assert parse_cron(expr)
