"""An agent's calendar, read back by ``icalendar``: every event's times local with a TZID and
its VTIMEZONE, the properties RFC 5545 requires, and UIDs that stay when a shift moves."""

from __future__ import annotations

from datetime import datetime

import icalendar

from shiftswitch.feeds import agent_calendar
from tests.rosters import make_roster, utc

NOW = utc("2026-12-06T20:00Z")
DAY = {"name": "day", "start": "0 9 * * mon-fri", "duration": "8h", "members": ["ravi"]}
LONDON = {"name": "uk", "start": "0 9 * * sun", "duration": "4h", "members": ["ravi"],
          "timezone": "Europe/London"}  # fmt: skip
DATED = [
    {"agent": "ravi", "from": "2026-12-12T10:00", "to": "2026-12-12T14:00", "shift": "weekend"},
    {"agent": "ravi", "off": True, "from": "2026-12-07T13:00", "to": "2026-12-07T13:30",
     "activity": "Lunch"},
]  # fmt: skip
LEAVE = [{"agent": "ravi", "off": True, "from": "2026-12-24", "to": "2026-12-25"}]


def feed(shifts: list[dict[str, object]] | None = None, **kw: object) -> icalendar.Calendar:
    roster = make_roster(shifts or [DAY, LONDON], timezone="Asia/Kolkata",
                         assignments=DATED, overrides=LEAVE, **kw)  # type: ignore[arg-type]  # fmt: skip
    return icalendar.Calendar.from_ical(agent_calendar(roster, "ravi", NOW))


def events(cal: icalendar.Calendar) -> list[tuple[str, str, datetime]]:
    return [(str(e["SUMMARY"]), str(e["UID"]), e["DTSTART"].dt) for e in cal.walk("VEVENT")]


def test_the_next_28_days_of_shifts_assignments_breaks_and_leave() -> None:
    got = events(feed())
    summaries = [s for s, _, _ in got]
    # four weeks of weekdays from Monday 7th, but for the two days of leave
    assert summaries.count("Shift day") == 18
    assert summaries.count("Shift uk") == 4
    assert "weekend" in summaries and "Lunch" in summaries and "Leave" in summaries
    first = got[0]
    assert first[0] == "Shift day" and first[1] == "ravi-day-20261207@shiftswitch"
    assert first[2].tzinfo is not None and str(first[2].tzinfo) == "Asia/Kolkata"
    assert first[2].hour == 9


def test_every_event_has_what_rfc_5545_requires_and_each_zone_its_vtimezone() -> None:
    cal = feed()
    assert str(cal["VERSION"]) == "2.0" and "PRODID" in cal
    zones = {str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")}
    assert zones == {"Asia/Kolkata", "Europe/London"}
    uids = [str(e["UID"]) for e in cal.walk("VEVENT")]
    assert len(uids) == len(set(uids))  # unique
    for e in cal.walk("VEVENT"):
        assert {"UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"} <= set(e)
        assert e["DTSTART"].params["TZID"] in zones
        assert e["DTEND"].dt > e["DTSTART"].dt


def test_a_shift_moved_within_its_day_keeps_its_uid() -> None:
    before = {u: s for _, u, s in events(feed())}
    later = {**DAY, "start": "0 10 * * mon-fri"}
    after = {u: s for _, u, s in events(feed([later, LONDON]))}
    uid = "ravi-day-20261208@shiftswitch"
    assert before[uid].hour == 9 and after[uid].hour == 10


def test_breaks_and_leave_do_not_mark_the_agent_busy() -> None:
    transp = {str(e["SUMMARY"]): str(e["TRANSP"]) for e in feed().walk("VEVENT")}
    assert transp["Lunch"] == "TRANSPARENT" and transp["Leave"] == "TRANSPARENT"
    assert transp["weekend"] == "OPAQUE"
