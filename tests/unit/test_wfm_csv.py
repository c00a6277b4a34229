"""WFM exports read by table: each shipped layout, DST weeks in two zones, breaks inside
shifts, shifts past midnight, and every kind of bad row, named FILE:LINE: column NAME: why."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shiftswitch.operations.imports import AgentChange, per_agent
from shiftswitch.roster.model import Roster
from shiftswitch.wfm.csvfile import read_csv
from shiftswitch.wfm.files import MAX_BYTES, BadFile, decode, read_bytes
from shiftswitch.wfm.layout import MAPPINGS, PLAIN, Layout, read_layout, shipped_mapping
from shiftswitch.wfm.shifts import assignments, matched, put_in
from tests import ROOT
from tests.rosters import make_roster, utc

KOLKATA = ZoneInfo("Asia/Kolkata")
AGENTS = {"asha": {"desk": "100280"}, "ravi": {"desk": "100281"}, "meera": {"desk": "100282",
          "mobile": "+919953125068"}}  # fmt: skip
ROSTER = make_roster([], timezone="Asia/Kolkata", agents=AGENTS)  # user ids u-0, u-1, u-2
WFM = ROOT / "docs" / "wfm"


def layout_of(name: str) -> Layout:
    found = shipped_mapping(name)
    assert found is not None
    return read_layout(*found)


def planned(text: str, layout: Layout = PLAIN, roster: Roster = ROSTER) -> list[str]:
    """What a file makes: ``agent device|off local-start..local-end activity`` by agent, start."""
    rows, _ = read_csv(text, "f.csv", layout, roster.zone)
    made = assignments(matched(rows, roster, layout, "f.csv", layout.agent))
    return [
        f"{a.agent} {'off' if a.off else a.device} "
        f"{a.start.astimezone(a.zone):%m-%d %H:%M}..{a.end.astimezone(a.zone):%m-%d %H:%M}"
        f"{' ' + a.activity if a.activity else ''}"
        for a in sorted(made, key=lambda a: (a.agent, a.start, a.off))
    ]


def refusal(text: str, layout: Layout = PLAIN, roster: Roster = ROSTER) -> list[str]:
    with pytest.raises(BadFile) as caught:
        rows, _ = read_csv(text, "f.csv", layout, roster.zone)
        assignments(matched(rows, roster, layout, "f.csv", layout.agent))
    return [p.render() for p in caught.value.problems]


def with_ids(text: str) -> str:
    """A shipped sample with its user ids as ROSTER's (u-100 is asha's u-0, u-101 ravi's)."""
    return text.replace("u-100", "u-0").replace("u-101", "u-1")


# -- the shipped layouts -------------------------------------------------------------------------


def test_nice_iex_schedule_detail_with_breaks_and_a_shift_past_midnight() -> None:
    text = with_ids((WFM / "nice-iex.txt").read_text())
    assert planned(text, layout_of("nice-iex")) == [
        "asha desk 12-07 09:00..12-07 18:00 Open",
        "asha off 12-07 11:00..12-07 11:15 Break",
        "asha off 12-07 13:00..12-07 13:30 Lunch",
        # the rows after midnight carry the next day's date: one shift all the same
        "ravi desk 12-07 20:00..12-08 04:00 Phone",
        "ravi off 12-07 23:30..12-08 00:00 Lunch",
    ]


def test_verint_style_export_with_a_zone_per_row() -> None:
    text = with_ids((WFM / "verint.csv").read_text())
    assert planned(text, layout_of("verint")) == [
        "asha desk 12-07 09:00..12-07 18:00 Phone",
        "asha off 12-07 13:00..12-07 13:30 Lunch",
        "ravi off 12-07 09:00..12-07 10:00 Team Meeting",  # London time
        "ravi desk 12-07 10:00..12-07 17:00 Phone",
    ]


def test_genesys_cloud_activities_with_lengths_in_minutes() -> None:
    text = with_ids((WFM / "genesys-cloud.csv").read_text())
    assert planned(text, layout_of("genesys-cloud")) == [
        "asha desk 12-07 09:00..12-07 18:00 OnQueueWork",
        "asha off 12-07 11:00..12-07 11:15 Break",
        "asha off 12-07 13:00..12-07 13:30 Meal",
    ]


def test_plain_columns_need_no_mapping_and_a_gap_is_a_break() -> None:
    text = (
        "agent,start,end,activity\n"
        "asha,2026-12-07T09:00,2026-12-07T13:00,Phone\n"
        "asha,2026-12-07 13:30,2026-12-07 18:00,Phone\n"
        "meera,2026-12-07T09:00+05:30,2026-12-07T17:00+05:30,\n"
    )
    text = text.replace("meera,", "ravi,")
    assert planned(text) == [
        "asha desk 12-07 09:00..12-07 13:00 Phone",
        "asha desk 12-07 13:30..12-07 18:00 Phone",
        "ravi desk 12-07 09:00..12-07 17:00",
    ]


def test_a_device_column_picks_the_device() -> None:
    text = "agent,device,start,end\nmeera,mobile,2026-12-07T09:00,2026-12-07T17:00\n"
    assert planned(text) == ["meera mobile 12-07 09:00..12-07 17:00"]


# -- DST weeks in two zones ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "utc_start", "note"),
    [
        pytest.param("America/New_York", "2026-03-08", "2026-03-08T13:00Z", None,
                     id="New York: the Sunday the clocks go forward, 09:00 is EDT"),
        pytest.param("America/New_York", "2026-03-07", "2026-03-07T14:00Z", None,
                     id="New York: the day before, 09:00 is EST"),
        pytest.param("Europe/London", "2026-03-29", "2026-03-29T08:00Z", None,
                     id="London: the Sunday the clocks go forward, 09:00 is BST"),
        pytest.param("Europe/London", "2026-10-25", "2026-10-25T09:00Z", None,
                     id="London: the Sunday the clocks go back, 09:00 is GMT"),
    ],
)  # fmt: skip
def test_local_times_follow_each_zones_dst(zone: str, day: str, utc_start: str, note: None) -> None:
    text = f"agent,start,end\nasha,{day}T09:00,{day}T17:00\n"
    rows, notes = read_csv(text, "f.csv", PLAIN, ZoneInfo(zone))
    assert rows[0].start == utc(utc_start)
    assert rows[0].end - rows[0].start == utc("2026-01-01T08:00Z") - utc("2026-01-01T00:00Z")
    assert notes == []


def test_a_time_in_a_dst_gap_is_moved_and_said() -> None:
    text = "agent,start,end\nasha,2026-03-08T02:30,2026-03-08T10:00\n"
    rows, notes = read_csv(text, "f.csv", PLAIN, ZoneInfo("America/New_York"))
    assert rows[0].start == utc("2026-03-08T07:00Z")  # 03:00 EDT, the first instant after
    assert [n.render() for n in notes] == [
        "f.csv:2: column start: 2026-03-08 02:30 does not exist in America/New_York (the "
        "clocks go forward); taken as 03:00"
    ]


# -- every bad row, named ------------------------------------------------------------------------

HEADER = "agent,start,end\n"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param(HEADER + "asha,2026-12-07T17:00,2026-12-07T09:00\n",
                     "f.csv:2: column end: '2026-12-07T09:00' is not after start "
                     "'2026-12-07T17:00'", id="ends before it starts"),
        pytest.param(HEADER + "asha,2026-12-07T09:00,2026-12-07T25:00\n",
                     "f.csv:2: column end: '2026-12-07T25:00' is not a date and time such as "
                     "2026-12-07T09:00", id="25:00"),
        pytest.param(HEADER + "asha,2026-02-30T09:00,2026-02-30T17:00\n",
                     "f.csv:2: column start: '2026-02-30T09:00' is not a date and time",
                     id="a date that does not exist"),
        pytest.param(HEADER + "nobody,2026-12-07T09:00,2026-12-07T17:00\n",
                     "f.csv:2: column agent: unknown agent 'nobody'", id="unknown agent"),
        pytest.param("agent,start,end,timezone\nasha,2026-12-07T09:00,2026-12-07T17:00,Mars/Base\n",
                     "f.csv:2: column timezone: unknown time zone 'Mars/Base'", id="unknown zone"),
        pytest.param(HEADER + "meera,2026-12-07T09:00,2026-12-07T17:00\n",
                     "f.csv:2: column agent: agent 'meera' has 2 devices (desk, mobile); add a "
                     "device column", id="which device"),
        pytest.param("agent,device,start,end\nasha,phone,2026-12-07T09:00,2026-12-07T17:00\n",
                     "f.csv:2: column device: unknown device 'phone' of agent 'asha'",
                     id="unknown device"),
        pytest.param(HEADER + "asha,2026-12-07T09:00\n",
                     "f.csv:2: 2 fields where the header has 3", id="a short row"),
        pytest.param("agent,begin,end\nasha,2026-12-07T09:00,2026-12-07T17:00\n",
                     "f.csv:1: column start: not in the header (it has agent, begin, end)",
                     id="a missing column"),
        pytest.param(HEADER, "f.csv: no rows after the header", id="no rows"),
        pytest.param("", "f.csv: empty: expected a header row", id="empty"),
        pytest.param(HEADER + 'asha,"2026-12-07T09:00,2026-12-07T17:00\n',
                     "f.csv:2: not CSV", id="an unclosed quote"),
    ],
)  # fmt: skip
def test_a_bad_row_is_named_with_its_line_and_column(text: str, says: str) -> None:
    problems = refusal(text)
    assert any(p.startswith(says) for p in problems), problems


def test_every_bad_row_is_named_not_just_the_first() -> None:
    text = (
        HEADER
        + "asha,2026-12-07T09:00,2026-12-07T17:00\n"
        + "asha,2026-12-08T09:00,2026-12-08T25:00\n"
        + "ravi,2026-12-07T09:00,2026-12-07T17:00\n"
        + "ravi,tomorrow,2026-12-09T17:00\n"
    )
    assert [p.split(":")[1] for p in refusal(text)] == ["3", "5"]


def test_an_unknown_activity_is_refused_naming_it() -> None:
    text = with_ids((WFM / "verint.csv").read_text()).replace("Lunch", "Nap")
    assert refusal(text, layout_of("verint")) == [
        "f.csv:3: column ActivityName: unknown activity 'Nap'; list it under on (working "
        "time) or off (a break) in the mapping"
    ]


def test_quotes_and_delimiters_inside_fields_are_read_as_csv_has_them() -> None:
    text = (
        "EmployeeID,StartTime,EndTime,ActivityName,TimeZone\n"
        'u-0,07/12/2026 09:00,07/12/2026 10:00,"Back Office",Asia/Kolkata\n'
        'u-0,07/12/2026 10:00,07/12/2026 11:00,"Team Meeting",Asia/Kolkata\n'
    )
    layout = read_layout(
        (MAPPINGS / "verint.yaml").read_text().replace('"Back Office"', '"Back Office, \\"A\\""'),
        "verint.yaml",
    )
    quoted = text.replace('"Back Office"', '"Back Office, ""A"""')
    assert planned(quoted, layout) == [
        'asha desk 12-07 09:00..12-07 10:00 Back Office, "A"',
        "asha off 12-07 10:00..12-07 11:00 Team Meeting",
    ]


def test_a_pipe_delimited_file_read_with_commas_says_so() -> None:
    text = "agent|start|end\nasha|2026-12-07T09:00|2026-12-07T17:00\n"
    [first, *_] = refusal(text)
    assert first == (
        "f.csv:1: column agent: not in the header (it has agent|start|end; is the delimiter "
        "'|'? say delimiter: \"|\" in a mapping)"
    )


# -- encodings ------------------------------------------------------------------------------------


def test_utf8_with_and_without_a_bom_and_windows_1252_are_read() -> None:
    text = "agent,start,end,activity\nasha,2026-12-07T09:00,2026-12-07T17:00,Café\n"
    assert decode(text.encode(), "f.csv") == text
    assert decode(b"\xef\xbb\xbf" + text.encode(), "f.csv") == text
    assert decode(text.encode("cp1252"), "f.csv") == text


@pytest.mark.parametrize(
    ("data", "says"),
    [
        pytest.param("agent\n".encode("utf-16"), "f.csv: the file is UTF-16; save it as UTF-8",
                     id="UTF-16 with a BOM"),
        pytest.param("agent\n".encode("utf-16-le"), "f.csv: the file is UTF-16 or UTF-32",
                     id="UTF-16 without a BOM"),
        pytest.param(b"agent\nasha \x81\n", "f.csv:2: byte 0x81 is neither UTF-8 nor "
                     "Windows-1252", id="a byte of neither"),
    ],
)  # fmt: skip
def test_other_encodings_are_refused_naming_them(data: bytes, says: str) -> None:
    with pytest.raises(BadFile) as caught:
        decode(data, "f.csv")
    assert caught.value.problems[0].render().startswith(says)


# -- mappings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("agent: A\ncolour: red\n", "m.yaml:2: colour: unknown key"),
        pytest.param("match: email\n", "m.yaml:1: match: 'email' is not name or user_id"),
        pytest.param("delimiter: '#'\n", "m.yaml:1: delimiter: '#' is not one of"),
        pytest.param("format: dd/mm\n", "m.yaml:1: format: 'dd/mm' is not a strptime format"),
        pytest.param("on: [Phone]\noff: [phone]\n", "m.yaml:2: off: an activity is in both"),
        pytest.param("- a\n", "m.yaml: expected a mapping"),
        pytest.param("on: {a: b}\n", "m.yaml:1: on: expected a list of activity names"),
    ],
)  # fmt: skip
def test_a_bad_mapping_is_refused_at_its_line(text: str, says: str) -> None:
    with pytest.raises(BadFile) as caught:
        read_layout(text, "m.yaml")
    assert caught.value.problems[0].render().startswith(says)


def test_an_import_replaces_the_agents_assignments_inside_its_span_only() -> None:
    roster = make_roster(
        [],
        timezone="Asia/Kolkata",
        agents=AGENTS,
        assignments=[
            {"agent": "asha", "from": "2026-12-07T10:00", "to": "2026-12-07T12:00"},  # replaced
            {"agent": "asha", "from": "2026-12-09T10:00", "to": "2026-12-09T12:00"},  # after
            {"agent": "ravi", "from": "2026-12-07T10:00", "to": "2026-12-07T12:00"},  # not in it
        ],
    )
    text = (
        HEADER + "asha,2026-12-07T09:00,2026-12-07T17:00\nasha,2026-12-08T09:00,2026-12-08T17:00\n"
    )
    rows, _ = read_csv(text, "f.csv", PLAIN, KOLKATA)
    found = matched(rows, roster, PLAIN, "f.csv", "agent")
    imported = put_in(roster, assignments(found), {"asha"})
    assert (imported.start, imported.end) == (utc("2026-12-07T03:30Z"), utc("2026-12-08T11:30Z"))
    assert [a.start for a in imported.replaced] == [utc("2026-12-07T04:30Z")]
    left = sorted((a.agent, a.start.astimezone(KOLKATA).day) for a in imported.roster.assignments)
    assert left == [("asha", 7), ("asha", 8), ("asha", 9), ("ravi", 7)]
    assert datetime(2026, 12, 7, tzinfo=KOLKATA)  # the zone is real


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as fh:  # sparse: nothing is written but its size
        fh.truncate(MAX_BYTES + 1)
    with pytest.raises(BadFile) as caught:
        read_bytes(str(huge), "huge.csv")
    assert caught.value.problems[0].render() == (
        "huge.csv: 64.0 MiB is over the 64 MiB an import reads; split it by week or by team"
    )


def test_a_20_mb_export_is_read_whole(tmp_path: Path) -> None:
    row = "asha,2026-12-07T09:00,2026-12-07T17:00\n"
    big = tmp_path / "big.csv"
    big.write_text(HEADER + row * (20_000_000 // len(row)))
    assert len(decode(read_bytes(str(big)), "big.csv")) > 19_000_000


def test_assignments_are_numbered_past_the_rosters_and_changes_counted_per_day() -> None:
    text = (
        HEADER + "asha,2026-12-07T09:00,2026-12-07T17:00\nravi,2026-12-07T09:00,2026-12-07T17:00\n"
    )
    rows, _ = read_csv(text, "f.csv", PLAIN, KOLKATA)
    made = assignments(matched(rows, ROSTER, PLAIN, "f.csv", "agent"), first=5)
    assert [a.index for a in made] == [5, 6]
    # One break replaced by two on the same day: one changed, one added, none removed.
    before = make_roster(
        [],
        timezone="Asia/Kolkata",
        agents=AGENTS,
        assignments=[
            {"agent": "asha", "from": "2026-12-07T13:00", "to": "2026-12-07T13:30", "off": True}
        ],
    )
    after = make_roster(
        [],
        timezone="Asia/Kolkata",
        agents=AGENTS,
        assignments=[
            {"agent": "asha", "from": "2026-12-07T12:00", "to": "2026-12-07T12:15", "off": True},
            {"agent": "asha", "from": "2026-12-07T15:00", "to": "2026-12-07T15:15", "off": True},
        ],
    )
    assert per_agent(before, after, ("asha",)) == (AgentChange("asha", 1, 0, 1),)  # fmt: skip


def test_a_length_in_minutes_is_elapsed_time_across_the_clocks_going_back() -> None:
    layout = Layout(minutes="minutes")
    text = "agent,start,minutes\nasha,2026-10-25T00:30,180\n"
    rows, _ = read_csv(text, "f.csv", layout, ZoneInfo("Europe/London"))
    assert rows[0].end - rows[0].start == timedelta(minutes=180)


def test_a_time_at_the_end_of_the_calendar_is_a_bad_value_not_a_crash() -> None:
    problems = refusal(HEADER + "asha,0001-01-01T00:30,0001-01-01T09:00\n")
    assert problems[0].startswith("f.csv:2: column start: is at the very end of the calendar")
