"""Calendars read by table: recurrences (RRULE, RDATE, EXDATE) expanded by the library within
the window, DST as each event's TZID says, Google's X-WR-TIMEZONE, agents found from
attendees, and the calendars refused."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from shiftswitch.wfm import ics
from shiftswitch.wfm.files import BadFile
from shiftswitch.wfm.ics import read_ics
from shiftswitch.wfm.layout import PLAIN, Layout
from tests.rosters import utc

KOLKATA = ZoneInfo("Asia/Kolkata")
MARCH = (utc("2026-03-05T00:00Z"), utc("2026-03-12T00:00Z"))  # New York's DST week


def calendar(*events: str, header: str = "") -> str:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n".replace("\n", "\r\n")
                   .replace("\r\r", "\r") for e in events)  # fmt: skip
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{header}{body}END:VCALENDAR\r\n"


def starts(text: str, window: tuple[datetime, datetime] = MARCH, layout: Layout = PLAIN,
           agent: str | None = "asha") -> list[str]:  # fmt: skip
    rows, _ = read_ics(text, "c.ics", layout, KOLKATA, agent, *window)
    return [f"{r.agent} {r.start:%m-%d %H:%M}Z..{r.end:%H:%M}Z" for r in sorted(rows)]


DAILY_NY = """UID:early@t
DTSTART;TZID=America/New_York:20260305T090000
DTEND;TZID=America/New_York:20260305T170000
RRULE:FREQ=DAILY;COUNT=5
SUMMARY:Early"""


def test_a_daily_rule_keeps_its_wall_clock_across_the_dst_change() -> None:
    assert starts(calendar(DAILY_NY)) == [
        "asha 03-05 14:00Z..22:00Z",
        "asha 03-06 14:00Z..22:00Z",
        "asha 03-07 14:00Z..22:00Z",
        "asha 03-08 13:00Z..21:00Z",  # EDT from 8 March
        "asha 03-09 13:00Z..21:00Z",
    ]


def test_exdate_removes_and_rdate_adds_occurrences() -> None:
    event = DAILY_NY + (
        "\nEXDATE;TZID=America/New_York:20260306T090000"
        "\nRDATE;TZID=America/New_York:20260311T090000"
    )
    assert [s.split()[1] for s in starts(calendar(event))] == [
        "03-05", "03-07", "03-08", "03-09", "03-11",
    ]  # fmt: skip


def test_a_rule_that_never_ends_is_bounded_by_the_window() -> None:
    forever = DAILY_NY.replace(";COUNT=5", "")
    assert len(starts(calendar(forever))) == 7


def test_google_x_wr_timezone_is_honoured() -> None:
    utc_event = """UID:g@t
DTSTART:20260305T140000Z
DTEND:20260305T220000Z
RRULE:FREQ=DAILY;COUNT=4
SUMMARY:Shift"""
    got = starts(calendar(utc_event, header="X-WR-TIMEZONE:America/New_York\r\n"))
    assert got[-1] == "asha 03-08 13:00Z..21:00Z"  # 09:00 local, as the calendar shows it


def test_a_floating_time_is_in_the_rosters_zone() -> None:
    floating = "UID:f@t\nDTSTART:20260306T090000\nDTEND:20260306T170000\nSUMMARY:Day"
    assert starts(calendar(floating)) == ["asha 03-06 03:30Z..11:30Z"]


def test_attendees_and_summaries_name_agents_through_the_mapping() -> None:
    layout = Layout(agents={"ravi@acme.example": "ravi", "asha early": "asha"})
    events = (
        "UID:a@t\nDTSTART:20260306T090000Z\nDTEND:20260306T100000Z\nSUMMARY:Asha early",
        "UID:b@t\nDTSTART:20260306T090000Z\nDTEND:20260306T100000Z\nSUMMARY:Desk"
        "\nATTENDEE;CN=Ravi:mailto:RAVI@acme.example",
    )
    assert starts(calendar(*events), layout=layout, agent=None) == [
        "asha 03-06 09:00Z..10:00Z",
        "ravi 03-06 09:00Z..10:00Z",
    ]


def test_all_day_events_are_skipped_and_said() -> None:
    events = (DAILY_NY, "UID:h@t\nDTSTART;VALUE=DATE:20260306\nSUMMARY:Holiday")
    rows, notes = read_ics(calendar(*events), "c.ics", PLAIN, KOLKATA, "asha", *MARCH)
    assert len(rows) == 5
    assert [n.render() for n in notes] == [
        "c.ics:12: all-day event 'Holiday' on 2026-03-06 skipped"
    ]


@pytest.mark.parametrize(
    ("text", "agent", "says"),
    [
        pytest.param(calendar(), "asha", "c.ics: no events (VEVENT) in the calendar",
                     id="no events"),
        pytest.param("hello\r\n", "asha", "c.ics: not an iCalendar file", id="not a calendar"),
        pytest.param(calendar(DAILY_NY), None, "c.ics:5: event 'Early': no agent; give --agent",
                     id="no agent"),
        pytest.param(calendar(DAILY_NY.replace("2026", "2027")), "asha",
                     "c.ics: no timed events between 2026-03-05 and 2026-03-12",
                     id="nothing in the window"),
    ],
)  # fmt: skip
def test_calendars_refused(text: str, agent: str | None, says: str) -> None:
    with pytest.raises(BadFile) as caught:
        read_ics(text, "c.ics", PLAIN, KOLKATA, agent, *MARCH)
    assert caught.value.problems[0].render().startswith(says)


def test_a_rule_repeating_every_second_is_refused_not_expanded() -> None:
    every_second = DAILY_NY.replace("FREQ=DAILY;COUNT=5", "FREQ=SECONDLY")
    with pytest.raises(BadFile) as caught:
        read_ics(calendar(every_second), "c.ics", PLAIN, KOLKATA, "asha", *MARCH)
    assert caught.value.problems[0].render() == (
        "c.ics:5: event 'Early' repeats SECONDLY; shifts repeat hourly at most"
    )


def test_a_calendar_of_too_many_events_in_its_window_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ics, "MAX_OCCURRENCES", 100)  # 20,000 in use: the same, slower
    hourly = DAILY_NY.replace("FREQ=DAILY;COUNT=5", "FREQ=HOURLY").replace("T170000", "T093000")
    with pytest.raises(BadFile) as caught:
        read_ics(calendar(hourly), "c.ics", PLAIN, KOLKATA, "asha", *MARCH)
    assert "more than 100 events between 2026-03-05 and 2026-03-12" in (
        caught.value.problems[0].render()
    )
