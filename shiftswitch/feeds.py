"""An agent's own calendar (README: Calendar feeds): the next days of their shifts, dated
assignments, breaks, overrides and leave, as iCalendar (RFC 5545) that Google, Outlook and Apple
Calendar subscribe to.

Every event's times are local, with its zone's TZID and a VTIMEZONE for each zone used. Its UID
is made of the agent, the shift's name (or the assignment's ``shift`` label, or what it is) and
the local start date, so that a shift moved within its day keeps its UID and the subscriber's
calendar updates the event rather than adding another. Pure: the roster and ``now`` in, bytes
out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from shiftswitch.planning.occurrences import expand_shift
from shiftswitch.roster.model import Roster

DAYS = 28
PRODID = "-//shiftswitch//agent calendar//EN"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class Event:
    key: str  # what the UID is made of, after the agent: the shift's name, "break", "leave"
    summary: str
    start: datetime  # UTC
    end: datetime
    zone: ZoneInfo
    description: str
    busy: bool = True


def agent_calendar(roster: Roster, agent: str, now: datetime, days: int = DAYS) -> bytes:
    """``agent``'s calendar from ``now`` for ``days`` days (events under way included)."""
    end = now + timedelta(days=days)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"Shifts: {agent}")
    cal.add("x-wr-timezone", roster.zone.key)
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    seen: dict[str, int] = {}
    for event in sorted(events(roster, agent, now, end), key=lambda e: (e.start, e.key)):
        local = event.start.astimezone(event.zone)
        base = f"{_safe(agent)}-{_safe(event.key)}-{local:%Y%m%d}"
        seen[base] = seen.get(base, 0) + 1
        uid = base if seen[base] == 1 else f"{base}-{seen[base]}"
        item = icalendar.Event()
        item.add("uid", f"{uid}@shiftswitch")
        item.add("dtstamp", now)
        item.add("dtstart", local)
        item.add("dtend", event.end.astimezone(event.zone))
        item.add("summary", event.summary)
        item.add("description", event.description)
        item.add("transp", "OPAQUE" if event.busy else "TRANSPARENT")
        cal.add_component(item)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def events(roster: Roster, agent: str, start: datetime, end: datetime) -> Iterator[Event]:
    """The events of ``agent`` that end after ``start`` and begin before ``end``; a shift's
    occurrence or assignment wholly inside the agent's leave is left out (the leave is its
    event)."""
    leave = [(o.start, o.end) for o in roster.overrides if o.agent == agent and o.device is None]
    for shift in roster.shifts:
        devices = [m.device for m in shift.members if m.agent == agent]
        if not devices:
            continue
        for iv in expand_shift(shift, start, end):
            if iv.end > start and not any(s <= iv.start and iv.end <= e for s, e in leave):
                yield Event(shift.name, f"Shift {shift.name}", iv.start, iv.end, shift.zone,
                            f"Your {', '.join(devices)} is ON for calls.")  # fmt: skip
    for a in roster.assignments:
        if a.agent != agent or a.end <= start or a.start >= end:
            continue
        if a.off:
            what = a.activity or "Break"
            device = f"your {a.device}" if a.device else "your devices"
            yield Event(f"break-{a.activity or 'break'}-{a.start.astimezone(a.zone):%H%M}",
                        what, a.start, a.end, a.zone, f"{device.capitalize()} OFF: {what}.",
                        busy=False)  # fmt: skip
        elif not any(s <= a.start and a.end <= e for s, e in leave):
            label = a.shift or a.activity or "Shift"
            yield Event(a.shift or "assignment", label, a.start, a.end, a.zone,
                        f"Your {a.device} is ON for calls.")  # fmt: skip
    for o in roster.overrides:
        if o.agent != agent or o.end <= start or o.start >= end:
            continue
        if o.device is None:
            yield Event("leave", "Leave", o.start, o.end, o.zone,
                        "Off: every device OFF.", busy=False)  # fmt: skip
        else:
            yield Event("override", f"On {o.device}", o.start, o.end, o.zone,
                        f"Your {o.device} is ON for calls (instead of your shifts).")  # fmt: skip


def _safe(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-") or "x"
