"""When a shift is ON: its occurrences, from the cron of its starts, as merged intervals of UTC
time (README: Roster format).

A start is local wall-clock time in the shift's zone; ``duration`` is elapsed time from it and
``end`` the next ``end`` firing after it, on the wall clock. Starts in a DST gap happen at the
first instant after it, starts in a repeated hour once (:func:`shiftswitch.clock.local_to_utc`).
The planner (:mod:`shiftswitch.planning.planner`) sweeps these intervals into each agent's
desired device.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import NamedTuple

from shiftswitch.clock import local_to_utc, to_local
from shiftswitch.cron import first_at_or_after, next_after, previous_before
from shiftswitch.roster.model import Shift

_DST_MARGIN = timedelta(hours=3)  # more than any zone's DST shift


class Interval(NamedTuple):
    """A run of ON time of one shift (its occurrences that touch or overlap are merged)."""

    start: datetime
    end: datetime
    shift: str


def expand_shift(shift: Shift, start: datetime, end: datetime) -> list[Interval]:
    """The merged ON intervals of ``shift`` that end at or after ``start`` and begin before ``end``.

    An interval that covers ``start`` is included whole, so callers know the state at ``start``
    and no boundary inside the window is lost.
    """
    zone = shift.zone
    anchor = _last_start_before(shift, start)
    if anchor is not None:
        cursor = anchor
    else:  # no start found looking back (all skipped?): go back as far as one can last
        cursor = to_local(start - (shift.duration or timedelta()), zone) - _DST_MARGIN
    ends = _EndFinder(shift) if shift.end is not None else None
    out: list[Interval] = []
    for local in first_at_or_after(shift.start, cursor):
        begin = local_to_utc(local, zone)
        if begin >= end:
            break
        if local.date() in shift.skip_dates:
            continue
        finish = begin + shift.duration if ends is None else ends.after(local)  # type: ignore[operator]
        if finish < start or finish <= begin:
            continue  # over before the window, or swallowed whole by a DST gap
        if out and begin <= out[-1].end:
            if finish > out[-1].end:
                out[-1] = Interval(out[-1].start, finish, shift.name)
        else:
            out.append(Interval(begin, finish, shift.name))
    return out


def _last_start_before(shift: Shift, at: datetime) -> datetime | None:
    """Wall-clock time of the latest (not skipped) start whose instant is before ``at``.

    Starts map to instants monotonically, and a later start never ends earlier, so this one
    occurrence tells all that earlier ones could about the state at ``at``.
    """
    for local in previous_before(shift.start, to_local(at, shift.zone) + _DST_MARGIN):
        if local.date() not in shift.skip_dates and local_to_utc(local, shift.zone) < at:
            return local
    return None


class _EndFinder:
    """The instant of the next ``end`` firing after each start, for starts in increasing order.

    "After" is read on the wall clock, from the start as the cron wrote it: a start at 02:00 on
    a spring-forward day is followed by the 03:00 end firing, though both happen at 03:00.
    """

    def __init__(self, shift: Shift) -> None:
        assert shift.end is not None
        self.shift = shift
        self.firings: Iterator[datetime] | None = None
        self.current: datetime | None = None  # wall-clock time of the current candidate

    def after(self, local_start: datetime) -> datetime:
        if self.firings is None:
            self.firings = next_after(self.shift.end or "", local_start)
        while self.current is None or self.current <= local_start:
            self.current = next(self.firings)  # a valid cron fires for ever
        return local_to_utc(self.current, self.shift.zone)
