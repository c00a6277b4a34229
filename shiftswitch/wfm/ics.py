"""A calendar (RFC 5545) read into rows: each VEVENT is working time from DTSTART to DTEND
(README: Importing shifts).

Recurrences (RRULE, RDATE, EXDATE) are expanded by ``recurring-ical-events`` within the window
asked for, with DST as each event's TZID says; Google's X-WR-TIMEZONE is honoured
(``x-wr-timezone``); times without a zone are in the roster's. The agent of every event is the
one given (``--agent``), or is found from its SUMMARY or an ATTENDEE through the mapping's
``agents:`` table. A mapping's ``on``/``off`` lists classify events by SUMMARY.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
import x_wr_timezone

from shiftswitch.wfm.files import BadFile, FileProblem
from shiftswitch.wfm.layout import Layout
from shiftswitch.wfm.rows import Row, instant


def read_ics(
    text: str,
    name: str,
    layout: Layout,
    zone: ZoneInfo,
    agent: str | None,
    start: datetime,
    end: datetime,
) -> tuple[list[Row], list[FileProblem]]:
    """The rows of the calendar ``text`` between ``start`` and ``end`` (UTC), and notes (events
    skipped, times moved out of a DST gap). Raises :class:`BadFile` with every problem."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
        calendar = x_wr_timezone.to_standard(calendar)
    except (ValueError, KeyError, IndexError) as exc:
        raise BadFile([FileProblem(name, f"not an iCalendar file: {exc}")]) from None
    vevents = list(calendar.walk("VEVENT"))
    if not vevents:
        raise BadFile([FileProblem(name, "no events (VEVENT) in the calendar")])
    lines = _uid_lines(text)
    _refuse_too_often(vevents, name, lines)
    try:
        events = _occurrences(calendar, start, end, name)
    except BadFile:
        raise
    except Exception as exc:  # any flaw of a recurrence the library cannot expand
        raise BadFile([FileProblem(name, f"cannot expand its recurrences: {exc}")]) from None
    rows, notes, problems = _rows(events, name, layout, zone, agent, lines)
    if problems:
        raise BadFile(list(dict.fromkeys(problems)))  # an event's occurrences share a problem
    if not rows:
        raise BadFile(
            [FileProblem(name, f"no timed events between {start:%Y-%m-%d} and {end:%Y-%m-%d}")]
        )
    return rows, list(dict.fromkeys(notes))


def _rows(
    events: list[Any],
    name: str,
    layout: Layout,
    zone: ZoneInfo,
    agent: str | None,
    lines: dict[str, int],
) -> tuple[list[Row], list[FileProblem], list[FileProblem]]:
    """The rows of ``events``, the notes, and the problems."""
    rows: list[Row] = []
    notes: list[FileProblem] = []
    problems: list[FileProblem] = []
    for event in events:
        uid = str(event.get("UID", ""))
        line = lines.get(uid)
        summary = str(event.get("SUMMARY", "")).strip() or None
        begin, finish = event.get("DTSTART"), _end(event)
        if begin is None or finish is None:
            problems.append(
                FileProblem(name, f"event {uid or summary!r} has no start or end", line)
            )
            continue
        if not isinstance(begin.dt, datetime):
            notes.append(
                FileProblem(name, f"all-day event {summary or uid!r} on {begin.dt} skipped", line)
            )
            continue
        who = agent or _agent_of(event, layout)
        if who is None:
            problems.append(
                FileProblem(
                    name,
                    f"event {summary or uid!r}: no agent; give --agent, or map its summary or "
                    "attendee to an agent under agents: in a mapping",
                    line,
                )
            )
            continue
        working = True
        if layout.classifies():
            folded = (summary or "").casefold()
            if folded not in layout.on and folded not in layout.off:
                problems.append(
                    FileProblem(
                        name,
                        f"unknown activity {summary or ''!r}; list it under on or off in the "
                        "mapping",
                        line,
                        "SUMMARY",
                    )
                )
                continue
            working = folded in layout.on
        at, moved = _instant(begin.dt, zone)
        until, _ = _instant(finish if isinstance(finish, datetime) else begin.dt, zone)
        if moved:
            notes.append(FileProblem(name, moved, line, "DTSTART"))
        if until <= at:
            problems.append(
                FileProblem(name, f"event {summary or uid!r} ends before it starts", line)
            )
            continue
        row_zone = begin.dt.tzinfo if isinstance(begin.dt.tzinfo, ZoneInfo) else zone
        rows.append(Row(line or 0, who, at, until, row_zone, None, summary, working))
    return rows, notes, problems


MAX_OCCURRENCES = 20_000  # events of a calendar in its window: a team's month is far fewer


def _refuse_too_often(vevents: list[Any], name: str, lines: dict[str, int]) -> None:
    """Refuse events that repeat every second or minute: no shift does, and expanding them
    would be millions of rows."""
    too_often = [
        FileProblem(name, f"event {str(e.get('SUMMARY') or e.get('UID'))!r} repeats "
                    f"{_freq(e)}; shifts repeat hourly at most", lines.get(str(e.get("UID"))))
        for e in vevents
        if _freq(e) in ("SECONDLY", "MINUTELY")
    ]  # fmt: skip
    if too_often:
        raise BadFile(too_often)


def _freq(event: Any) -> str:
    rule = event.get("RRULE")
    found = rule.get("FREQ") if rule is not None else None
    return str(found[0] if isinstance(found, list) and found else found or "").upper()


def _occurrences(calendar: Any, start: datetime, end: datetime, name: str) -> list[Any]:
    """The events (recurrences expanded) that happen between ``start`` and ``end``, taken one
    at a time so that a rule repeating every second is refused rather than expanded whole."""
    out: list[Any] = []
    for event in recurring_ical_events.of(calendar).after(start):
        begin = event.get("DTSTART")
        at = begin.dt if begin is not None else None
        if isinstance(at, datetime) and at.tzinfo is not None and at >= end:
            break
        if isinstance(at, date) and not isinstance(at, datetime) and at >= end.date():
            break
        out.append(event)
        if len(out) > MAX_OCCURRENCES:
            raise BadFile(
                [FileProblem(name, f"more than {MAX_OCCURRENCES:,} events between "
                             f"{start:%Y-%m-%d} and {end:%Y-%m-%d}; is a rule repeating "
                             "every second or minute?")]
            )  # fmt: skip
    return out


def _end(event: Any) -> datetime | date | None:
    if event.get("DTEND") is not None:
        value: datetime | date = event["DTEND"].dt
        return value
    if event.get("DURATION") is not None:
        duration: timedelta = event["DURATION"].dt
        start: datetime = event["DTSTART"].dt
        return start + duration
    return None


def _instant(at: datetime, zone: ZoneInfo) -> tuple[datetime, str | None]:
    if at.tzinfo is None:
        return instant(at, zone)  # a floating time: the roster's zone
    if isinstance(at.tzinfo, ZoneInfo):
        return instant(at.replace(tzinfo=None), at.tzinfo)  # its zone, a DST gap moved
    return instant(at, zone)


def _agent_of(event: Any, layout: Layout) -> str | None:
    """The agent an event names, through the mapping's ``agents:`` table."""
    if not layout.agents:
        return None
    summary = str(event.get("SUMMARY", "")).strip().casefold()
    if summary in layout.agents:
        return layout.agents[summary]
    attendees = event.get("ATTENDEE", [])
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        address = str(attendee).removeprefix("mailto:").removeprefix("MAILTO:").casefold()
        if address in layout.agents:
            return layout.agents[address]
    return None


def _uid_lines(text: str) -> dict[str, int]:
    """The line of each event's UID, to name the event's place."""
    out: dict[str, int] = {}
    for i, line in enumerate(text.splitlines(), start=1):
        if line.upper().startswith("UID:"):
            out.setdefault(line[4:].strip(), i)
    return out
