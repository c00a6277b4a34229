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

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

LATE_AFTER = 60.0  # seconds: a start later than this is a late start

Span = tuple[float, float | None]  # a confirmed interval in POSIX seconds; None: still open


class Planned(NamedTuple):
    """An agent's device planned ON over ``[start, end)`` (POSIX seconds), for ``shift`` (or an
    override's or an assignment's label; None when not known)."""

    start: float
    end: float
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
    is 23 or 25 hours long); ``edges``: those starts as POSIX seconds."""

    def __init__(self, first: date, last: date, zone: ZoneInfo) -> None:
        self.zone = zone
        self.dates = [first + timedelta(days=i) for i in range((last - first).days + 2)]
        self.starts = [_midnight(d, zone) for d in self.dates]
        self.edges = [s.timestamp() for s in self.starts]

    @property
    def start(self) -> datetime:
        return self.starts[0]

    @property
    def end(self) -> datetime:
        """The end of the last day (the start of the day after it)."""
        return self.starts[-1]

    def day_of(self, at: float) -> date:
        """The local day of instant ``at`` (POSIX seconds)."""
        i = bisect_right(self.edges, at) - 1
        if 0 <= i < len(self.dates):
            return self.dates[i]
        return datetime.fromtimestamp(at, self.zone).date()

    def split(self, start: float, end: float) -> list[tuple[date, float]]:
        """``[start, end)`` (POSIX seconds) as seconds on each local day it touches."""
        edges = self.edges
        i = bisect_right(edges, start) - 1
        if 0 <= i < len(edges) - 1 and end <= edges[i + 1]:
            return [(self.dates[i], end - start)]  # within one day: most pieces
        out: list[tuple[date, float]] = []
        i = max(i, 0)
        while start < end:
            cut = edges[i + 1] if i + 1 < len(edges) else end
            piece_end = min(cut, end)
            if piece_end > start:
                out.append((self.day_of(start), piece_end - start))
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


Seconds = list[tuple[float, float]]  # closed spans as POSIX seconds, sorted, not overlapping


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
    ``unknown`` sorted by start and not overlapping among themselves. The arithmetic is in
    POSIX seconds: a month of 10,000 devices is a million intervals."""
    now_s = now.timestamp()
    first, last = days.edges[0], days.edges[-1]
    end = min(last, now_s)
    on_spans = _closed(on, now_s)
    unknown_spans = _closed(unknown, now_s)
    on_ends = [e for _, e in on_spans]
    timed = [(c.start.timestamp(), c.end.timestamp(), c.text) for c in causes]
    pieces: list[Piece] = []
    for start, stop_at, shift in planned:
        if not (first <= start < last) or start >= now_s:
            continue
        stop = min(stop_at, now_s)
        piece = Piece(days.day_of(start), shift, planned_s=stop - start)
        first_on: float | None = None
        last_on: float | None = None
        confirmed = 0.0
        for i in range(bisect_right(on_ends, start), len(on_spans)):
            s, e = on_spans[i]
            if s >= stop:
                break
            a, b = (s if s > start else start), (e if e < stop else stop)
            if b > a:
                confirmed += b - a
                if first_on is None:
                    first_on = a
                last_on = b
        piece.confirmed_s = confirmed
        if unknown_spans:
            piece.unknown_s = _overlap(unknown_spans, start, stop)
        late = (first_on if first_on is not None else stop) - start
        piece.late_start_s = late
        piece.late_starts = int(late > LATE_AFTER)
        if last_on is not None and last_on < stop:
            piece.early_off_s = stop - last_on
        if piece.planned_s - confirmed > 0 and (timed or piece.unknown_s):
            piece.reasons = _reasons(timed, start, stop, piece.unknown_s)
        pieces.append(piece)
    if on_spans:
        pieces.extend(_unplanned(planned, on_spans, timed, days, first, end))
    return pieces


def _closed(spans: Sequence[Span], now: float) -> Seconds:
    return [(s, now if e is None or e > now else e) for s, e in spans if s < now]


def _overlap(spans: Seconds, start: float, end: float) -> float:
    total = 0.0
    for s, e in spans:
        if s >= end:
            break
        a, b = max(s, start), min(e, end)
        if b > a:
            total += b - a
    return total


def _unplanned(
    plan: Sequence[Planned],
    on_spans: Seconds,
    causes: list[tuple[float, float, str]],
    days: Days,
    first: float,
    end: float,
) -> list[Piece]:
    """ON time inside ``[first, end)`` outside every planned interval, by local day: one sweep
    over the ON spans and the planned intervals, both in order."""
    by_day: dict[date, Piece] = {}
    i, n = 0, len(plan)
    for span_start, span_end in on_spans:
        s, e = max(span_start, first), min(span_end, end)
        if s >= e:
            continue
        while i < n and plan[i][1] <= s:
            i += 1
        cursor, j = s, i
        while cursor < e:
            if j < n and plan[j][0] < e:
                p_start, p_end = plan[j][0], plan[j][1]
                if p_start > cursor:
                    _add_unplanned(by_day, days, causes, cursor, p_start)
                cursor = max(cursor, p_end)
                j += 1
            else:
                _add_unplanned(by_day, days, causes, cursor, e)
                break
    return [by_day[d] for d in sorted(by_day)]


def _add_unplanned(
    by_day: dict[date, Piece],
    days: Days,
    causes: list[tuple[float, float, str]],
    a: float,
    b: float,
) -> None:
    for day, seconds in days.split(a, b):
        piece = by_day.get(day)
        if piece is None:
            piece = by_day[day] = Piece(day, None)
        piece.unplanned_on_s += seconds
        if causes:
            for text in _reasons(causes, a, b, 0.0):
                if text not in piece.reasons:
                    piece.reasons.append(text)


def _reasons(
    causes: list[tuple[float, float, str]], start: float, end: float, unknown_s: float
) -> list[str]:
    out = [text for c_start, c_end, text in causes if c_start < end and c_end >= start]
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
