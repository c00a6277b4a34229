"""The window ``plan`` looks at: a start (``now``, or a date-time in the roster's zone unless it
carries an offset) and a length in hours."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from shiftswitch.clock import local_to_utc
from shiftswitch.problems import invalid, quote
from shiftswitch.roster.model import Roster

MIN_YEAR, MAX_YEAR = 1971, 9000  # instants shiftswitch plans for; far from datetime's limits
MAX_HOURS = 24 * 62


def window(
    text: str | None, hours: float, roster: Roster, now: datetime
) -> tuple[datetime, datetime]:
    """The instants [start, end) of a plan from ``text`` for ``hours``."""
    if not (math.isfinite(hours) and 0 < hours <= MAX_HOURS):
        raise invalid(f"must be a number of hours above 0, at most {MAX_HOURS}", place="hours")
    begin = start(text, roster, now)
    return begin, begin + timedelta(hours=hours)


def start(text: str | None, roster: Roster, now: datetime) -> datetime:
    if text is None or text.strip().lower() == "now":
        return now
    raw = text.strip()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        parsed = None
    if parsed is None or not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise invalid(
            f"{quote(raw)} is not a date-time from {MIN_YEAR} to {MAX_YEAR}; "
            "write e.g. 2026-12-01T09:00 or 2026-12-01T03:30Z",
            place="from",
        )
    if parsed.tzinfo is None:
        return local_to_utc(parsed, roster.zone)
    return parsed.astimezone(UTC)
