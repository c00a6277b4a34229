"""Each device's planned ON intervals over a period, from the roster versions that were in force
in it (not today's): version N plans from the moment it was stored until the next one was.

A planned interval is a device's time between the plan's ON and OFF, ramps included (the ON
of a ramped shift is planned before its boundary). An interval cut by a version change and
carried on by the next version is one interval: it keeps its start and its shift.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta

from shiftswitch.adherence.figures import Planned
from shiftswitch.planning.planner import Planner

LOOKBACK = timedelta(days=1)  # planned intervals are followed from this long before the period
LOOKAHEAD = timedelta(days=1)  # ... and to this long after it, so a night shift ends
Device = tuple[str, str]  # (agent, device)


def planned_intervals(
    versions: Sequence[tuple[datetime, Callable[[], Planner]]],
    start: datetime,
    end: datetime,
    agents: Collection[str] | None = None,
) -> dict[Device, list[Planned]]:
    """Each device's planned intervals touching ``[start - LOOKBACK, end + LOOKAHEAD)``, from
    ``versions`` (when each was stored, and its planner, made when needed), oldest first;
    ``agents``: only theirs."""
    lo, hi = start - LOOKBACK, end + LOOKAHEAD
    out: dict[Device, list[Planned]] = {}
    for i, (since, planner_of) in enumerate(versions):
        until = versions[i + 1][0] if i + 1 < len(versions) else hi
        a, b = max(since, lo), min(until, hi)
        if a >= b:
            continue
        for key, found in _intervals(planner_of(), a, b, agents).items():
            _join(out.setdefault(key, []), found)
    return out


def _intervals(
    planner: Planner, start: datetime, end: datetime, agents: Collection[str] | None
) -> dict[Device, list[Planned]]:
    """One planner's intervals inside ``[start, end)`` (cut at both ends)."""
    opened: dict[Device, tuple[datetime, str | None]] = {}
    for agent, device in planner.desired(start).items():
        if device is not None and (agents is None or agent in agents):
            opened[(agent, device)] = (start, None)
    out: dict[Device, list[Planned]] = {}
    for t in planner.transitions(start, end):
        if agents is not None and t.agent not in agents:
            continue
        key = (t.agent, t.device)
        if t.available:
            if key not in opened:
                opened[key] = (t.at, t.shift or t.override)
            continue
        begun = opened.pop(key, None)
        if begun is not None and t.at > begun[0]:
            found = Planned(begun[0].timestamp(), t.at.timestamp(), begun[1])
            out.setdefault(key, []).append(found)
    for key, (at, shift) in opened.items():
        if end > at:
            out.setdefault(key, []).append(Planned(at.timestamp(), end.timestamp(), shift))
    return out


def _join(into: list[Planned], more: list[Planned]) -> None:
    """Append ``more`` to ``into``, joining an interval that carries on across a version change
    (keeping its start, and its shift when the later version's cut does not know it)."""
    for p in more:
        if into and into[-1].end == p.start:
            last = into[-1]
            into[-1] = Planned(last.start, p.end, last.shift or p.shift)
        else:
            into.append(p)
