"""The timeline's view-model, pure: bars of the planned state from the plan's transitions,
bars of the confirmed state from the switches Exotel confirmed, marks for failures, holds,
overrides and drift, and where each falls on a window of local days.

Positions are shares of the window's elapsed (UTC) time, so a DST day of 23 or 25 hours draws
each hour the same width; the hour ticks are labelled with the roster zone's wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from shiftswitch.clock import local_to_utc
from shiftswitch.planning.transitions import Transition
from shiftswitch.roster.model import Assignment, Override, Roster


@dataclass(frozen=True, slots=True)
class Window:
    """From ``start`` to ``end`` (UTC), drawn as local days of ``zone``."""

    start: datetime
    end: datetime
    zone: ZoneInfo

    @classmethod
    def days(cls, first: date, count: int, zone: ZoneInfo) -> Window:
        """``count`` local days from midnight of ``first`` in ``zone``."""
        start = local_to_utc(datetime.combine(first, datetime.min.time()), zone)
        end = local_to_utc(
            datetime.combine(first + timedelta(days=count), datetime.min.time()), zone
        )
        return cls(start, end, zone)

    @classmethod
    def around(cls, now: datetime, zone: ZoneInfo, before: int = 2, after: int = 4) -> Window:
        """From the whole local hour ``before`` hours before ``now`` to ``before + after``
        hours later: a few hours around now, readable on a phone. (Whole hours of ``zone``'s
        wall clock: in Kolkata, half past the hour in UTC.)"""
        hour = now.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        start = hour.astimezone(UTC) - timedelta(hours=before)
        return cls(start, start + timedelta(hours=before + after), zone)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def share(self, at: datetime) -> float:
        """Where ``at`` falls, in percent of the window (clipped to 0-100)."""
        part = (at - self.start).total_seconds() / self.seconds * 100
        return min(100.0, max(0.0, part))

    def span(self, start: datetime, end: datetime) -> tuple[float, float]:
        """(left, width) in percent of the part of ``[start, end)`` inside the window."""
        left = self.share(start)
        return round(left, 3), round(self.share(end) - left, 3)

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def ticks(self, every: int) -> list[Tick]:
        """A tick at each local hour of the window divisible by ``every``; on a DST day the
        wall clock skips or repeats an hour, and the ticks with it."""
        out: list[Tick] = []
        at = self.start
        while at < self.end:
            local = at.astimezone(self.zone)
            if local.minute == 0 and local.second == 0 and local.hour % every == 0:
                label = f"{local:%a %d}" if local.hour == 0 and every >= 6 else f"{local:%H}"
                out.append(Tick(round(self.share(at), 3), label, at))
            at += timedelta(hours=1)
        return out


class Tick(NamedTuple):
    left: float
    label: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Bar:
    """A device ON from ``start`` to ``end``: planned (``kind`` shift or override, ``label``
    its name) or confirmed by Exotel (``kind`` confirmed, ``label`` the switch's source)."""

    device: str
    start: datetime
    end: datetime
    kind: str
    label: str
    action_id: int | None = None


@dataclass(frozen=True, slots=True)
class Mark:
    """Something that happened or held over a time: a failed or blocked switch, a hold, an
    override, a device found drifted. A point has ``end == start``."""

    kind: str  # failed | blocked | hold | override | drift | break
    start: datetime
    end: datetime
    text: str
    action_id: int | None = None


class Switch(NamedTuple):
    """A switch Exotel confirmed: ``device`` ON or OFF at ``at``."""

    device: str
    on: bool
    at: datetime
    source: str
    action_id: int | None


def planned_bars(
    initial: str | None,
    transitions: Iterable[Transition],
    window: Window,
    *,
    initial_label: tuple[str, str] = ("shift", ""),
) -> list[Bar]:
    """An agent's planned ON bars in ``window``: ``initial`` is the device the plan wants ON
    at its start (None: every device OFF), ``transitions`` the agent's in the window, in order.
    ``initial_label`` is (kind, name) of what wants ``initial`` ON at the start; when no name is
    given, the shift whose end switches it OFF names it."""
    bars: list[Bar] = []
    device, since = initial, window.start
    kind, label = initial_label
    for t in transitions:
        if t.available:
            if device == t.device:
                continue  # already ON (a ramp's early ON of a device kept ON)
            if device is not None:
                bars.append(Bar(device, since, t.at, kind, label))
            device, since = t.device, t.at
            kind, label = ("override", t.override) if t.override else ("shift", t.shift or "")
        elif device == t.device:
            if not label:
                label = t.shift or ""
            bars.append(Bar(device, since, t.at, kind, label))
            device, kind, label = None, "shift", ""
    if device is not None:
        bars.append(Bar(device, since, window.end, kind, label))
    return [b for b in bars if b.end > b.start]


def confirmed_bars(
    initial: Mapping[str, Switch], switches: Sequence[Switch], window: Window, now: datetime
) -> list[Bar]:
    """An agent's devices confirmed ON, as bars up to ``now`` (the future is not confirmed):
    ``initial`` is each device's last confirmed switch before the window, ``switches`` those
    in it, in time order."""
    until = min(now, window.end)
    on: dict[str, Switch] = {d: s for d, s in initial.items() if s.on}
    bars: list[Bar] = []

    def close(s: Switch, at: datetime) -> None:
        start = max(s.at, window.start)
        if at > start:
            bars.append(Bar(s.device, start, at, "confirmed", s.source, s.action_id))

    for s in switches:
        if s.at >= until:
            break
        was = on.pop(s.device, None)
        if s.on:
            on[s.device] = was or s
        elif was is not None:
            close(was, s.at)
    for s in on.values():
        close(s, until)
    return sorted(bars, key=lambda b: (b.start, b.device))


def initial_label(roster: Roster, agent: str, device: str | None, at: datetime) -> tuple[str, str]:
    """(kind, name) of what wants ``device`` ON at ``at`` for ``agent``: an override in force
    then, else ("shift", "") for :func:`planned_bars` to name from the plan."""
    if device is not None:
        for o in roster.overrides:
            if o.agent == agent and o.device == device and o.start <= at < o.end:
                return "override", o.label
    return "shift", ""


def override_marks(overrides: Iterable[Override], window: Window) -> list[Mark]:
    """Each override meeting the window, as a mark over its span."""
    return [
        Mark(
            "override",
            max(o.start, window.start),
            min(o.end, window.end),
            f"{o.label}: {o.device + ' ON' if o.device else 'every device OFF'}"
            + (f" ({o.reason})" if o.reason else ""),
        )
        for o in overrides
        if o.start < window.end and o.end > window.start
    ]


def break_marks(assignments: Iterable[Assignment], window: Window) -> list[Mark]:
    """Each break (an ``off`` assignment) meeting the window, as a mark over its span named
    by its activity: the gap in the planned bars, said."""
    return [
        Mark(
            "break",
            max(a.start, window.start),
            min(a.end, window.end),
            f"{a.activity or 'Break'}: {a.device + ' OFF' if a.device else 'every device OFF'}",
        )
        for a in assignments
        if a.off and a.start < window.end and a.end > window.start
    ]


def placed(items: Iterable[Bar | Mark], window: Window) -> list[tuple[Bar | Mark, float, float]]:
    """Each bar or mark with its (left, width) in percent of the window."""
    return [(item, *window.span(item.start, item.end)) for item in items]
