"""A roster's dated assignments as the planner takes them (README: Roster format): per agent,
each device's ON intervals and the agent's breaks; intervals of one device made one where they
touch; breaks cut out of ON intervals (a break wins over shifts and assignments)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from zoneinfo import ZoneInfo

from shiftswitch.planning.occurrences import Interval
from shiftswitch.roster.model import Roster

Break = tuple[datetime, datetime, str | None]  # start, end, device (None: every device)


def dated_intervals(
    roster: Roster, zones: dict[str | None, ZoneInfo]
) -> tuple[dict[str, dict[str, list[Interval]]], dict[str, list[Break]]]:
    """Per agent, its assignments' ON intervals by device (each by start), and its breaks (by
    start); the zone of each assignment put in ``zones`` under its label. A month of 10,000
    agents is 250,000 of them: made in one pass, without a sort of them all."""
    dated: dict[str, dict[str, list[Interval]]] = {}
    breaks: dict[str, list[Break]] = {}
    for a in roster.assignments:
        if a.off:
            found = breaks.get(a.agent)
            if found is None:
                found = breaks[a.agent] = []
            found.append((a.start, a.end, a.device))
            continue
        label = a.name or f"assignments[{a.index}]"  # a.label, without the call
        zones[label] = a.zone
        by_device = dated.get(a.agent)
        if by_device is None:
            by_device = dated[a.agent] = {}
        assert a.device is not None
        intervals = by_device.get(a.device)
        if intervals is None:
            intervals = by_device[a.device] = []
        intervals.append(Interval(a.start, a.end, label))
    for by_device in dated.values():
        for intervals in by_device.values():
            intervals.sort()
    for found in breaks.values():
        found.sort(key=itemgetter(0, 1))
    return dated, breaks


def merged(intervals: Sequence[Interval]) -> list[Interval]:
    """``intervals`` (by start) with those that overlap or touch made one, named after the
    first."""
    out = [intervals[0]]
    for iv in intervals[1:]:
        last = out[-1]
        if iv.start <= last.end:
            if iv.end > last.end:
                out[-1] = last._replace(end=iv.end)
        else:
            out.append(iv)
    return out


def cut(
    intervals: Sequence[Interval],
    breaks: Sequence[Break],
    device: str,
) -> list[Interval]:
    """``intervals`` without the time of the ``breaks`` (by start) of ``device`` or of every
    device: what is left of each keeps its name."""
    mine = [(s, e) for s, e, d in breaks if d is None or d == device]
    if not mine:
        return list(intervals)
    out: list[Interval] = []
    first = 0  # breaks before it end before every interval still to come
    for iv in intervals:
        while first < len(mine) and mine[first][1] <= iv.start:
            first += 1
        begin = iv.start
        for s, e in mine[first:]:
            if s >= iv.end:
                break
            if s > begin:
                out.append(Interval(begin, s, iv.shift))
            begin = max(begin, e)
        if begin < iv.end:
            out.append(Interval(begin, iv.end, iv.shift))
    return out
