"""One row of an imported file, read: whose, when, on what, and whether it is working time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shiftswitch.clock import local_to_utc

DAYS = 28  # how far ahead a calendar's recurrences are expanded, unless asked otherwise


class Row(NamedTuple):
    """A row of an imported file: ``agent`` as the file gives it (a roster name, a user id, a
    calendar's name), ON (``working``) or a break, from ``start`` to ``end`` (UTC)."""

    line: int
    agent: str
    start: datetime
    end: datetime
    zone: ZoneInfo
    device: str | None
    activity: str | None
    working: bool


class BadValue(ValueError):
    """A value of a row that cannot be read; its message says why."""


def zone_named(text: str) -> ZoneInfo:
    try:
        return ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise BadValue(
            f"unknown time zone {text.strip()!r}; use an IANA name such as Asia/Kolkata"
        ) from None


def wall_clock(text: str, fmt: str | None) -> datetime:
    """A local date and time, ISO 8601 (``2026-12-07T09:00`` or ``2026-12-07 09:00``) or in
    ``fmt``; one with an offset keeps it."""
    text = text.strip()
    try:
        # Wall-clock time, naive on purpose: instant() puts it in its zone.
        return datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text)  # noqa: DTZ007
    except ValueError:
        example = (
            "2026-12-07T09:00" if fmt is None else datetime(2026, 12, 7, 9).strftime(fmt)  # noqa: DTZ001
        )
        raise BadValue(f"{text!r} is not a date and time such as {example}") from None


def day_of(text: str, fmt: str | None) -> date:
    text = text.strip()
    try:
        return datetime.strptime(text, fmt).date() if fmt else date.fromisoformat(text)  # noqa: DTZ007
    except ValueError:
        raise BadValue(f"{text!r} is not a date such as 2026-12-07") from None


def time_of(text: str, fmt: str | None) -> time:
    text = text.strip()
    try:
        return datetime.strptime(text, fmt).time() if fmt else time.fromisoformat(text)  # noqa: DTZ007
    except ValueError:
        raise BadValue(f"{text!r} is not a time") from None


def instant(local: datetime, zone: ZoneInfo) -> tuple[datetime, str | None]:
    """The instant of wall-clock ``local`` in ``zone`` (an offset in ``local`` wins), and a
    note when it falls in a DST gap: it then happens at the first instant after the gap, as a
    shift's start does."""
    if local.tzinfo is not None:
        return local.astimezone(UTC), None
    at = local_to_utc(local, zone)
    became = at.astimezone(zone).replace(tzinfo=None)
    if became == local:
        return at, None
    return at, (
        f"{local:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks go forward); "
        f"taken as {became:%H:%M}"
    )
