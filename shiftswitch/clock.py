"""Time: the injected clock and the wall-clock → instant rules of the roster format (README).

Everything below the outer loops takes ``now``/``at`` as an argument; only :class:`SystemClock`
reads the real time. Instants are aware UTC datetimes; local wall-clock times are naive
datetimes paired with a :class:`~zoneinfo.ZoneInfo`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to; for tests and rehearsals."""

    def __init__(self, at: datetime) -> None:
        self._at = as_utc(at)

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def set(self, at: datetime) -> None:
        self._at = as_utc(at)


def as_utc(at: datetime) -> datetime:
    """``at`` in UTC; refuses naive datetimes, which are a bug anywhere an instant is meant."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r} where an instant is needed")
    return at.astimezone(UTC)


def local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """The instant at which wall-clock ``local`` happens in ``zone``.

    A time in a repeated hour (autumn) happens once, at its first occurrence. A time in a
    skipped hour (spring) happens at the first instant after the gap.
    """
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first  # exists; fold=0 is the earlier of two occurrences when repeated
    # In a gap. fold=0 maps with the offset before the change, fold=1 with the one after; the
    # change itself lies between them. Offsets change on whole seconds: bisect to the second.
    other = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = min(first, other), max(first, other)
    after = hi.astimezone(zone).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi


def to_local(at: datetime, zone: ZoneInfo) -> datetime:
    """Naive wall-clock time of instant ``at`` in ``zone``."""
    return at.astimezone(zone).replace(tzinfo=None)
