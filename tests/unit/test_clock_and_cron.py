"""Wall-clock → instant rules and cron checks, as tables."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from shiftswitch.clock import FixedClock, as_utc, local_to_utc
from shiftswitch.cron import CronError, in_words, next_after, parse_cron


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


@pytest.mark.parametrize(
    ("expr", "normalised", "after", "firings"),
    [
        ("0 9 * * mon-fri", "0 9 * * mon-fri", "2026-11-28T00:00", ["11-30T09:00", "12-01T09:00"]),
        (
            "*/15 8-18 * * 1-5",
            "*/15 8-18 * * 1-5",
            "2026-11-30T18:50",
            ["12-01T08:00", "12-01T08:15"],
        ),
        ("@daily", "@daily", "2026-11-30T10:00", ["12-01T00:00", "12-02T00:00"]),
        ("@DAILY", "@daily", "2026-11-30T00:00", ["12-01T00:00", "12-02T00:00"]),
        ("0 9 1 * *", "0 9 1 * *", "2026-11-30T00:00", ["12-01T09:00", "2027-01-01T09:00"]),
        (" 0  9 * * * ", "0 9 * * *", "2026-11-30T09:00", ["12-01T09:00", "12-02T09:00"]),
    ],
)
def test_good_cron(expr: str, normalised: str, after: str, firings: list[str]) -> None:
    """Accepted, normalised, and firing when it says (wall-clock times, strictly after)."""
    assert parse_cron(expr) == normalised
    got = islice(next_after(expr, datetime.fromisoformat(after)), len(firings))
    # a firing without its year is in 2026
    assert [t.isoformat(timespec="minutes") for t in got] == [
        f if f.startswith("20") else f"2026-{f}" for f in firings
    ]


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("0 9 * * mon-fri", "09:00 Mon–Fri"),  # noqa: RUF001 - an en dash, as a range is written
        ("0 9 * * 1-5", "09:00 Mon–Fri"),  # noqa: RUF001
        ("30 21 * * *", "21:30 every day"),
        ("0 9,14 * * *", "09:00 and 14:00 every day"),
        ("0 8 * * sat,sun", "08:00 Sat, Sun"),
        ("0 22 * * 0", "22:00 Sun"),
        ("0 22 * * 7", "22:00 Sun"),
        ("0 9 1 * *", None),  # a day of the month: the cron says it best
        ("*/15 9 * * *", None),
        ("@daily", None),
    ],
)
def test_a_cron_in_words(expr: str, words: str | None) -> None:
    assert in_words(expr) == words
