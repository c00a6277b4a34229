"""The adherence arithmetic (README: Reports), pure: one device's planned ON intervals against
its confirmed ON (and unknown) intervals, as figures per planned interval and per local day.

- A planned interval counts on the local day of its start, whole (a night shift crossing
  midnight counts on the day it starts), up to ``now``: time after now does not count. Only
  intervals that start inside the report's period count; one that started before it still
  keeps its time from counting as ON-when-not-planned.
- Confirmed: seconds of the planned interval the device was confirmed ON. An interval still
  open (ON now) lasts until now.
- Late start: from the planned start to the first confirmed ON inside the interval (0 when the
  device was ON already; the whole interval when it never was); late when over 60 s.
- Early OFF: from the end of the last confirmed ON inside the interval to the planned end.
- ON when not planned: confirmed ON seconds inside the period and outside every planned interval,
  counted on the local day they fall on.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

LATE_AFTER = 60.0  # seconds: a start later than this is a late start

Span = tuple[datetime, datetime | None]  # a confirmed interval; None: still open


@dataclass(frozen=True, slots=True)
class Planned:
    """An agent's device planned ON over ``[start, end)``, for ``shift`` (or an override's or
    an assignment's label; None when not known)."""

    start: datetime
    end: datetime
    shift: str | None = None


@dataclass(frozen=True, slots=True)
class Cause:
    """Something shiftswitch knows explains a difference over ``[start, end]``: a hold, a
    pause, a failed or blocked switch; ``text`` says it."""

    start: datetime
    end: datetime
    text: str


@dataclass(slots=True)
class Piece:
    """The figures of one planned interval (or of ON time outside them, ``shift`` None and
    ``planned_s`` 0) on local day ``day``."""

    day: date
    shift: str | None
    planned_s: float = 0.0
    confirmed_s: float = 0.0
    unknown_s: float = 0.0
    late_start_s: float = 0.0
    late_starts: int = 0
    early_off_s: float = 0.0
    unplanned_on_s: float = 0.0
    reasons: list[str] = field(default_factory=list)


class Days:
    """The local days of a period in ``zone``: each day's date and its start in UTC (a DST day
    is 23 or 25 hours long)."""

    def __init__(self, first: date, last: date, zone: ZoneInfo) -> None:
        self.zone = zone
        self.dates = [first + timedelta(days=i) for i in range((last - first).days + 2)]
        self.starts = [_midnight(d, zone) for d in self.dates]

    @property
    def start(self) -> datetime:
        return self.starts[0]

    @property
    def end(self) -> datetime:
        """The end of the last day (the start of the day after it)."""
        return self.starts[-1]

    def day_of(self, at: datetime) -> date:
        i = bisect_right(self.starts, at) - 1
        if 0 <= i < len(self.dates):
            return self.dates[i]
        return at.astimezone(self.zone).date()

    def split(self, start: datetime, end: datetime) -> list[tuple[date, float]]:
        """``[start, end)`` as seconds on each local day it touches."""
        out: list[tuple[date, float]] = []
        i = max(bisect_right(self.starts, start) - 1, 0)
        while start < end:
            cut = self.starts[i + 1] if i + 1 < len(self.starts) else end
            piece_end = min(cut, end)
            if piece_end > start:
                out.append((self.day_of(start), (piece_end - start).total_seconds()))
            start, i = piece_end, i + 1
        return out


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone``, in UTC (a zone whose clocks skip midnight
    starts the day at the first hour that exists)."""
    local = datetime(day.year, day.month, day.day, tzinfo=zone)
    utc = local.astimezone(ZoneInfo("UTC"))
    if utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        utc = (local + timedelta(hours=1)).astimezone(ZoneInfo("UTC"))
    return utc


def figures(
    planned: Sequence[Planned],
    on: Sequence[Span],
    unknown: Sequence[Span],
    causes: Sequence[Cause],
    *,
    days: Days,
    now: datetime,
) -> list[Piece]:
    """One device's pieces over ``days`` (see the module's docstring); ``planned``, ``on`` and
    ``unknown`` sorted by start and not overlapping among themselves."""
    end = min(days.end, now)
    on_spans = _closed(on, now)
    unknown_spans = _closed(unknown, now)
    on_ends = [e for _, e in on_spans]
    pieces: list[Piece] = []
    for p in planned:
        if not (days.start <= p.start < days.end) or p.start >= now:
            continue
        stop = min(p.end, now)
        piece = Piece(days.day_of(p.start), p.shift, planned_s=(stop - p.start).total_seconds())
        first: datetime | None = None
        last: datetime | None = None
        for s, e in _overlapping(on_spans, on_ends, p.start, stop):
            a, b = max(s, p.start), min(e, stop)
            piece.confirmed_s += (b - a).total_seconds()
            first = a if first is None else first
            last = b
        piece.unknown_s = _overlap(unknown_spans, p.start, stop)
        late = ((first if first is not None else stop) - p.start).total_seconds()
        piece.late_start_s = late
        piece.late_starts = int(late > LATE_AFTER)
        if last is not None and last < stop:
            piece.early_off_s = (stop - last).total_seconds()
        missed = piece.planned_s - piece.confirmed_s
        if missed > 0:
            piece.reasons = _reasons(causes, p.start, stop, piece.unknown_s)
        pieces.append(piece)
    pieces.extend(_unplanned(planned, on_spans, causes, days, end))
    return pieces


def _closed(spans: Sequence[Span], now: datetime) -> list[tuple[datetime, datetime]]:
    return [(s, e if e is not None and e < now else now) for s, e in spans if s < now]


def _overlapping(
    spans: list[tuple[datetime, datetime]], ends: list[datetime], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The spans that overlap ``[start, end)``: ends are sorted as starts are (no overlaps)."""
    out = []
    for i in range(bisect_right(ends, start), len(spans)):
        s, e = spans[i]
        if s >= end:
            break
        if e > s:
            out.append((s, e))
    return out


def _overlap(spans: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> float:
    ends = [e for _, e in spans]
    return sum(
        (min(e, end) - max(s, start)).total_seconds()
        for s, e in _overlapping(spans, ends, start, end)
    )


def _unplanned(
    planned: Sequence[Planned],
    on_spans: list[tuple[datetime, datetime]],
    causes: Sequence[Cause],
    days: Days,
    end: datetime,
) -> list[Piece]:
    """ON time inside ``[days.start, end)`` outside every planned interval, by local day."""
    starts = [p.start for p in planned]
    by_day: dict[date, Piece] = {}
    for span_start, span_end in on_spans:
        s, e = max(span_start, days.start), min(span_end, end)
        if s >= e:
            continue
        # The planned intervals that may cut [s, e): from the one before s on.
        i = max(bisect_left(starts, s) - 1, 0)
        cursor = s
        gaps: list[tuple[datetime, datetime]] = []
        while cursor < e and i < len(planned):
            p = planned[i]
            if p.end <= cursor:
                i += 1
                continue
            if p.start >= e:
                break
            if p.start > cursor:
                gaps.append((cursor, p.start))
            cursor = max(cursor, p.end)
            i += 1
        if cursor < e:
            gaps.append((cursor, e))
        for a, b in gaps:
            for day, seconds in days.split(a, b):
                piece = by_day.setdefault(day, Piece(day, None))
                piece.unplanned_on_s += seconds
                for text in _reasons(causes, a, b, 0.0):
                    if text not in piece.reasons:
                        piece.reasons.append(text)
    return [by_day[d] for d in sorted(by_day)]


def _reasons(
    causes: Sequence[Cause], start: datetime, end: datetime, unknown_s: float
) -> list[str]:
    out = [c.text for c in causes if c.start < end and c.end >= start]
    if unknown_s > 0:
        out.append(f"state unknown for {_duration(unknown_s)} (a request went unanswered)")
    return list(dict.fromkeys(out))


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{round(seconds)} s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes / 60:.1f} h"
