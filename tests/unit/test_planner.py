"""Planner tables: (roster, window) → the exact ordered transitions.

Times in the tables are UTC; the comment on each row gives the local wall-clock reading.
2026 DST changes: America/New_York Mar 8 (02:00→03:00) and Nov 1 (02:00→01:00);
Europe/London Mar 29 (01:00→02:00) and Oct 25 (02:00→01:00).
"""

from __future__ import annotations

import gc
from datetime import timedelta
from itertools import pairwise

import pytest

from shiftswitch import heap
from shiftswitch.planning.occurrences import expand_shift
from shiftswitch.planning.planner import Planner
from tests.rosters import brief, make_roster, utc

NY = "America/New_York"
LONDON = "Europe/London"
KOLKATA = "Asia/Kolkata"


def shift(name: str, start: str, members: list[str], **fields: object) -> dict[str, object]:
    return {"name": name, "start": start, **fields, "members": members}


CASES = [
    pytest.param(
        NY,
        [shift("dawn", "30 2 * * *", ["ravi"], duration="1h")],
        [],
        ("2026-03-07T00:00Z", "2026-03-10T00:00Z"),
        [
            "2026-03-07T07:30Z ravi:desk ON dawn",  # 02:30 EST
            "2026-03-07T08:30Z ravi:desk OFF dawn",
            "2026-03-08T07:00Z ravi:desk ON dawn",  # 02:30 does not exist: 03:00 EDT
            "2026-03-08T08:00Z ravi:desk OFF dawn",  # duration is elapsed time
            "2026-03-09T06:30Z ravi:desk ON dawn",  # 02:30 EDT
            "2026-03-09T07:30Z ravi:desk OFF dawn",
        ],
        id="ny-spring-start-in-gap",
    ),
    pytest.param(
        NY,
        [shift("late", "30 1 * * *", ["ravi"], duration="30m")],
        [],
        ("2026-10-31T00:00Z", "2026-11-03T00:00Z"),
        [
            "2026-10-31T05:30Z ravi:desk ON late",
            "2026-10-31T06:00Z ravi:desk OFF late",
            "2026-11-01T05:30Z ravi:desk ON late",  # 01:30 EDT, the first of two 01:30s; once
            "2026-11-01T06:00Z ravi:desk OFF late",
            "2026-11-02T06:30Z ravi:desk ON late",  # 01:30 EST
            "2026-11-02T07:00Z ravi:desk OFF late",
        ],
        id="ny-autumn-start-in-repeated-hour",
    ),
    pytest.param(
        NY,
        [shift("night", "0 22 * * *", ["ravi"], end="0 6 * * *")],
        [],
        ("2026-10-31T12:00Z", "2026-11-02T00:00Z"),
        [
            "2026-11-01T02:00Z ravi:desk ON night",  # Sat 22:00 EDT
            "2026-11-01T11:00Z ravi:desk OFF night",  # Sun 06:00 EST: 9 h of wall-clock end
        ],
        id="ny-autumn-night-shift-end",
    ),
    pytest.param(
        NY,
        [shift("night", "0 22 * * *", ["ravi"], duration="8h")],
        [],
        ("2026-10-31T12:00Z", "2026-11-02T00:00Z"),
        [
            "2026-11-01T02:00Z ravi:desk ON night",
            "2026-11-01T10:00Z ravi:desk OFF night",  # 8 h elapsed: 05:00 EST
        ],
        id="ny-autumn-night-shift-duration",
    ),
    pytest.param(
        NY,
        [shift("night", "0 22 * * *", ["ravi"], end="0 6 * * *")],
        [],
        ("2026-03-07T12:00Z", "2026-03-09T00:00Z"),
        [
            "2026-03-08T03:00Z ravi:desk ON night",  # Sat 22:00 EST
            "2026-03-08T10:00Z ravi:desk OFF night",  # Sun 06:00 EDT: 7 h
        ],
        id="ny-spring-night-shift-end",
    ),
    pytest.param(
        NY,
        [shift("night", "0 22 * * *", ["ravi"], duration="8h")],
        [],
        ("2026-03-07T12:00Z", "2026-03-09T00:00Z"),
        [
            "2026-03-08T03:00Z ravi:desk ON night",
            "2026-03-08T11:00Z ravi:desk OFF night",  # 07:00 EDT
        ],
        id="ny-spring-night-shift-duration",
    ),
    pytest.param(
        NY,
        [shift("gap", "0 2 * * *", ["ravi"], end="30 3 * * *")],
        [],
        ("2026-03-07T12:00Z", "2026-03-09T00:00Z"),
        [
            "2026-03-08T07:00Z ravi:desk ON gap",  # 02:00 does not exist: 03:00 EDT
            "2026-03-08T07:30Z ravi:desk OFF gap",  # the 03:30 end, the first after 02:00
        ],
        id="ny-spring-end-shift-starting-in-gap",
    ),
    pytest.param(
        NY,
        [shift("gap", "0 2 * * *", ["ravi"], end="30 2 * * *")],
        [],
        ("2026-03-07T12:00Z", "2026-03-09T00:00Z"),
        [],  # start and end both fall in the gap: nothing that day, not a day-long shift
        id="ny-spring-end-shift-inside-gap",
    ),
    pytest.param(
        "UTC",
        [shift("m", "* * * * *", ["ravi"], duration="1d", skip_dates=["2026-12-25"])],
        [],
        ("2026-12-25T20:00Z", "2026-12-26T01:00Z"),
        [
            "2026-12-25T23:59Z ravi:desk OFF m",  # the 12-24 23:59 start lasts a day; 12-25 skipped
            "2026-12-26T00:00Z ravi:desk ON m",
        ],
        id="skip-date-under-a-long-running-shift",
    ),
    pytest.param(
        LONDON,
        [shift("early", "30 1 * * *", ["ravi"], duration="1h")],
        [],
        ("2026-03-28T00:00Z", "2026-03-30T00:00Z"),
        [
            "2026-03-28T01:30Z ravi:desk ON early",  # 01:30 GMT
            "2026-03-28T02:30Z ravi:desk OFF early",
            "2026-03-29T01:00Z ravi:desk ON early",  # 01:30 does not exist: 02:00 BST
            "2026-03-29T02:00Z ravi:desk OFF early",
        ],
        id="london-spring-start-in-gap",
    ),
    pytest.param(
        LONDON,
        [shift("early", "30 1 * * *", ["ravi"], duration="1h")],
        [],
        ("2026-10-24T12:00Z", "2026-10-26T00:00Z"),
        [
            "2026-10-25T00:30Z ravi:desk ON early",  # 01:30 BST, first occurrence, once
            "2026-10-25T01:30Z ravi:desk OFF early",
        ],
        id="london-autumn-start-in-repeated-hour",
    ),
    pytest.param(
        LONDON,
        [shift("night", "0 22 * * *", ["ravi"], end="0 6 * * *")],
        [],
        ("2026-10-24T12:00Z", "2026-10-25T12:00Z"),
        [
            "2026-10-24T21:00Z ravi:desk ON night",  # 22:00 BST
            "2026-10-25T06:00Z ravi:desk OFF night",  # 06:00 GMT
        ],
        id="london-autumn-night-shift-end",
    ),
    pytest.param(
        LONDON,
        [shift("night", "0 22 * * *", ["ravi"], duration="8h")],
        [],
        ("2026-03-28T12:00Z", "2026-03-29T12:00Z"),
        [
            "2026-03-28T22:00Z ravi:desk ON night",  # 22:00 GMT
            "2026-03-29T06:00Z ravi:desk OFF night",  # 07:00 BST
        ],
        id="london-spring-night-shift-duration",
    ),
    pytest.param(
        KOLKATA,
        [shift("night", "0 22 * * *", ["ravi"], duration="9h")],
        [],
        ("2026-12-01T00:00Z", "2026-12-02T00:00Z"),
        [
            "2026-12-01T01:30Z ravi:desk OFF night",  # 07:00 IST, started before the window
            "2026-12-01T16:30Z ravi:desk ON night",  # 22:00 IST
        ],
        id="crossing-midnight",
    ),
    pytest.param(
        "UTC",
        [shift("day", "0 9 * * mon-fri", ["ravi"], duration="8h")],
        [],
        ("2026-12-04T00:00Z", "2026-12-08T00:00Z"),  # Fri to Tue
        [
            "2026-12-04T09:00Z ravi:desk ON day",
            "2026-12-04T17:00Z ravi:desk OFF day",
            "2026-12-07T09:00Z ravi:desk ON day",
            "2026-12-07T17:00Z ravi:desk OFF day",
        ],
        id="weekday-range",
    ),
    pytest.param(
        "UTC",
        [shift("day", "0 9 * * mon-fri", ["ravi"], duration="8h", skip_dates=["2026-12-07"])],
        [],
        ("2026-12-04T00:00Z", "2026-12-08T00:00Z"),
        ["2026-12-04T09:00Z ravi:desk ON day", "2026-12-04T17:00Z ravi:desk OFF day"],
        id="skip-date",
    ),
    pytest.param(
        KOLKATA,
        [shift("skip-night", "0 22 * * *", ["ravi"], duration="9h", skip_dates=["2026-12-01"])],
        [],
        ("2026-12-01T00:00Z", "2026-12-03T00:00Z"),
        [
            "2026-12-01T01:30Z ravi:desk OFF skip-night",  # Nov 30 start still ends Dec 1
            "2026-12-02T16:30Z ravi:desk ON skip-night",  # Dec 1 22:00 skipped (local date)
        ],
        id="skip-date-is-the-local-start-date",
    ),
    pytest.param(
        "UTC",
        [shift("weekend", "0 22 * * fri", ["ravi"], end="0 6 * * mon")],
        [],
        ("2026-12-04T00:00Z", "2026-12-08T00:00Z"),
        ["2026-12-04T22:00Z ravi:desk ON weekend", "2026-12-07T06:00Z ravi:desk OFF weekend"],
        id="end-is-next-firing-after-start",
    ),
    pytest.param(
        KOLKATA,
        [shift("morning", "0 9 * * *", ["asha:desk"], duration="9h")],
        [
            {
                "agent": "asha",
                "device": "mobile",
                "from": "2026-12-01T09:00",
                "to": "2026-12-01T13:00",
            }
        ],
        ("2026-12-01T00:00Z", "2026-12-02T00:00Z"),
        [
            "2026-12-01T03:30Z asha:mobile ON overrides[0]",  # the override wins from 09:00 IST
            "2026-12-01T07:30Z asha:mobile OFF overrides[0]",  # 13:00 IST: OFF before ON
            "2026-12-01T07:30Z asha:desk ON morning",
            "2026-12-01T12:30Z asha:desk OFF morning",
        ],
        id="override-device-swap",
    ),
    pytest.param(
        KOLKATA,
        [shift("morning", "0 9 * * *", ["asha:desk"], duration="9h")],
        [
            {
                "agent": "asha",
                "device": "mobile",
                "from": "2026-12-01T11:00",
                "to": "2026-12-01T13:00",
            }
        ],
        ("2026-12-01T00:00Z", "2026-12-02T00:00Z"),
        [
            "2026-12-01T03:30Z asha:desk ON morning",
            "2026-12-01T05:30Z asha:desk OFF overrides[0]",
            "2026-12-01T05:30Z asha:mobile ON overrides[0]",
            "2026-12-01T07:30Z asha:mobile OFF overrides[0]",
            "2026-12-01T07:30Z asha:desk ON morning",
            "2026-12-01T12:30Z asha:desk OFF morning",
        ],
        id="override-mid-shift",
    ),
    pytest.param(
        KOLKATA,
        [shift("morning", "0 9 * * *", ["ravi"], duration="9h")],
        [{"agent": "ravi", "off": True, "from": "2026-12-01", "to": "2026-12-01"}],
        ("2026-11-30T18:30Z", "2026-12-02T18:30Z"),  # Dec 1 and Dec 2, IST
        ["2026-12-02T03:30Z ravi:desk ON morning", "2026-12-02T12:30Z ravi:desk OFF morning"],
        id="leave-whole-day",
    ),
    pytest.param(
        KOLKATA,
        [shift("morning", "0 9 * * *", ["ravi"], duration="9h")],
        [{"agent": "ravi", "off": True, "from": "2026-12-01T12:00", "to": "2026-12-02"}],
        ("2026-11-30T18:30Z", "2026-12-03T18:30Z"),
        [
            "2026-12-01T03:30Z ravi:desk ON morning",
            "2026-12-01T06:30Z ravi:desk OFF overrides[0]",  # leave from 12:00 IST
            "2026-12-03T03:30Z ravi:desk ON morning",  # to: 2026-12-02 covers that whole day
            "2026-12-03T12:30Z ravi:desk OFF morning",
        ],
        id="leave-from-mid-shift",
    ),
    pytest.param(
        "UTC",
        [
            shift("desk-am", "0 9 * * *", ["asha:desk"], duration="4h"),
            shift("mobile-pm", "0 13 * * *", ["asha:mobile"], duration="4h"),
        ],
        [],
        ("2026-12-01T00:00Z", "2026-12-02T00:00Z"),
        [
            "2026-12-01T09:00Z asha:desk ON desk-am",
            "2026-12-01T13:00Z asha:desk OFF desk-am",  # handoff: OFF listed first
            "2026-12-01T13:00Z asha:mobile ON mobile-pm",
            "2026-12-01T17:00Z asha:mobile OFF mobile-pm",
        ],
        id="handoff-at-one-instant",
    ),
    pytest.param(
        "UTC",
        [
            shift("am", "0 9 * * *", ["ravi"], duration="4h"),
            shift("pm", "0 13 * * *", ["ravi"], duration="4h"),
        ],
        [],
        ("2026-12-01T00:00Z", "2026-12-02T00:00Z"),
        ["2026-12-01T09:00Z ravi:desk ON am", "2026-12-01T17:00Z ravi:desk OFF pm"],
        id="back-to-back-no-flap",
    ),
    pytest.param(
        "UTC",
        [
            shift("am", "0 9 * * *", ["ravi"], duration="6h"),
            shift("pm", "0 13 * * *", ["ravi"], duration="6h"),
        ],
        [],
        ("2026-12-01T00:00Z", "2026-12-02T00:00Z"),
        ["2026-12-01T09:00Z ravi:desk ON am", "2026-12-01T19:00Z ravi:desk OFF pm"],
        id="overlapping-no-flap",
    ),
    pytest.param(
        "UTC",
        [shift("rolling", "0 * * * *", ["ravi"], duration="90m")],
        [],
        ("2026-12-01T00:00Z", "2026-12-01T06:00Z"),
        [],
        id="self-overlapping-shift-stays-on",
    ),
    pytest.param(
        "UTC",
        [shift("hour", "0 9 * * *", ["ravi"], duration="1h")],
        [],
        ("2026-12-01T09:00Z", "2026-12-01T10:00Z"),
        ["2026-12-01T09:00Z ravi:desk ON hour"],  # start inclusive, end exclusive
        id="window-bounds",
    ),
    pytest.param(
        "UTC",
        [
            shift("desk-day", "0 9 * * *", ["asha:desk"], duration="8h"),
            shift("mobile-late", "0 12 * * *", ["asha:mobile"], duration="8h"),
        ],
        [],
        ("2026-12-01T00:00Z", "2026-12-02T00:00Z"),
        [
            "2026-12-01T09:00Z asha:desk ON desk-day",
            "2026-12-01T17:00Z asha:desk OFF desk-day",  # in a conflict the first listed wins
            "2026-12-01T17:00Z asha:mobile ON mobile-late",
            "2026-12-01T20:00Z asha:mobile OFF mobile-late",
        ],
        id="conflict-first-listed-wins",
    ),
    pytest.param(
        "UTC",
        [
            shift("mobile-late", "0 12 * * *", ["asha:mobile"], duration="8h"),
            shift("desk-day", "0 9 * * *", ["asha:desk"], duration="8h"),
        ],
        [],
        ("2026-12-01T00:00Z", "2026-12-02T00:00Z"),
        [
            "2026-12-01T09:00Z asha:desk ON desk-day",
            "2026-12-01T12:00Z asha:desk OFF desk-day",  # the first listed takes over
            "2026-12-01T12:00Z asha:mobile ON mobile-late",
            "2026-12-01T20:00Z asha:mobile OFF mobile-late",
        ],
        id="conflict-first-listed-takes-over",
    ),
]


@pytest.mark.parametrize(("zone", "shifts", "overrides", "window", "expected"), CASES)
def test_transitions(
    zone: str,
    shifts: list[dict[str, object]],
    overrides: list[dict[str, object]],
    window: tuple[str, str],
    expected: list[str],
) -> None:
    roster = make_roster(shifts, timezone=zone, overrides=overrides)
    got = Planner(roster).transitions(utc(window[0]), utc(window[1]))
    assert [brief(t) for t in got] == expected


def test_local_time_is_in_the_shifts_zone() -> None:
    roster = make_roster(
        [shift("london", "0 9 * * *", ["ravi"], duration="1h", timezone=LONDON)], timezone=KOLKATA
    )
    [on, off] = Planner(roster).transitions(utc("2026-07-01T00:00Z"), utc("2026-07-02T00:00Z"))
    assert on.local.isoformat() == "2026-07-01T09:00:00+01:00"
    assert on.as_json()["at"] == "2026-07-01T08:00:00Z"
    assert off.as_json()["local"] == "2026-07-01T10:00:00+01:00"


def test_json_fields() -> None:
    roster = make_roster([shift("day", "0 9 * * *", ["asha:mobile"], duration="1h")])
    [on, _] = Planner(roster).transitions(utc("2026-12-01T00:00Z"), utc("2026-12-02T00:00Z"))
    assert on.as_json() == {
        "at": "2026-12-01T09:00:00Z",
        "local": "2026-12-01T09:00:00+00:00",
        "agent": "asha",
        "account": "main",
        "user_id": "u-0",
        "device": "mobile",
        "device_id": None,
        "contact_uri": "+919953125068",
        "available": True,
        "shift": "day",
        "override": None,
    }


def test_keys_are_stable_and_unique() -> None:
    roster = make_roster(
        [
            shift("desk-am", "0 9 * * *", ["asha:desk"], duration="4h"),
            shift("mobile-pm", "0 13 * * *", ["asha:mobile", "ravi"], duration="4h"),
        ]
    )
    window = (utc("2026-12-01T00:00Z"), utc("2026-12-08T00:00Z"))
    first = [t.key for t in Planner(roster).transitions(*window)]
    assert first == [t.key for t in Planner(roster).transitions(*window)]
    assert len(set(first)) == len(first)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-12-01T08:59Z", {"asha": None, "ravi": None}),
        ("2026-12-01T09:00Z", {"asha": "desk", "ravi": None}),
        ("2026-12-01T12:59Z", {"asha": "desk", "ravi": None}),
        ("2026-12-01T13:00Z", {"asha": "mobile", "ravi": "desk"}),  # handoff instant
        ("2026-12-01T16:59Z", {"asha": "mobile", "ravi": "desk"}),
        ("2026-12-01T17:00Z", {"asha": None, "ravi": None}),
    ],
)
def test_desired_state(at: str, expected: dict[str, str | None]) -> None:
    roster = make_roster(
        [
            shift("desk-am", "0 9 * * *", ["asha:desk"], duration="4h"),
            shift("mobile-pm", "0 13 * * *", ["asha:mobile", "ravi"], duration="4h"),
        ]
    )
    assert Planner(roster).desired(utc(at)) == expected


def test_desired_state_under_override() -> None:
    roster = make_roster(
        [shift("day", "0 9 * * *", ["asha:desk", "ravi"], duration="8h")],
        overrides=[
            {
                "agent": "asha",
                "device": "mobile",
                "from": "2026-12-01T10:00",
                "to": "2026-12-01T11:00",
            },
            {"agent": "ravi", "off": True, "from": "2026-12-01", "to": "2026-12-01"},
        ],
    )
    assert Planner(roster).desired(utc("2026-12-01T10:30Z")) == {"asha": "mobile", "ravi": None}
    assert Planner(roster).desired(utc("2026-12-01T11:00Z")) == {"asha": "desk", "ravi": None}


def test_conflicts_name_both_shifts_and_the_first_instant() -> None:
    roster = make_roster(
        [
            shift("desk-day", "0 9 * * *", ["asha:desk"], duration="8h"),
            shift("mobile-late", "0 12 * * *", ["asha:mobile"], duration="8h"),
        ]
    )
    start = utc("2026-12-01T00:00Z")
    [conflict] = Planner(roster).conflicts(start, start + timedelta(days=28))
    assert (conflict.agent, conflict.at) == ("asha", utc("2026-12-01T12:00Z"))
    assert conflict.devices == ("desk", "mobile")
    assert conflict.shifts == ("desk-day", "mobile-late")


def test_a_conflict_in_progress_at_the_start_is_found_there() -> None:
    roster = make_roster(
        [
            shift("jan", "0 0 1 1 *", ["asha:desk"], duration="31d"),
            shift("mid", "0 0 15 1 *", ["asha:mobile"], duration="20d"),
        ]
    )
    start = utc("2027-01-20T00:00Z")
    [conflict] = Planner(roster).conflicts(start, start + timedelta(days=28))
    assert conflict.at == start


def test_consecutive_windows_give_the_whole_plan() -> None:
    roster = make_roster(
        [
            shift("night", "0 22 * * *", ["asha:desk"], end="0 6 * * *", timezone=NY),
            shift("day", "30 9 * * mon-fri", ["asha:mobile", "ravi"], duration="7h"),
        ],
        overrides=[{"agent": "ravi", "off": True, "from": "2026-11-03", "to": "2026-11-03"}],
    )
    planner = Planner(roster)
    cuts = [utc("2026-10-30T00:00Z") + timedelta(hours=7 * i) for i in range(25)]
    pieces = [t for a, b in pairwise(cuts) for t in planner.transitions(a, b)]
    assert pieces == planner.transitions(cuts[0], cuts[-1])


def test_a_shift_is_expanded_once_whatever_its_members() -> None:
    roster = make_roster([shift("day", "0 9 * * *", ["asha:desk", "ravi"], duration="8h")])
    intervals = expand_shift(roster.shifts[0], utc("2026-12-01T00:00Z"), utc("2026-12-03T00:00Z"))
    assert [(iv.start, iv.end) for iv in intervals] == [
        (utc("2026-12-01T09:00Z"), utc("2026-12-01T17:00Z")),
        (utc("2026-12-02T09:00Z"), utc("2026-12-02T17:00Z")),
    ]


def test_planning_leaves_the_collector_to_the_caller() -> None:
    roster = make_roster([shift("day", "0 9 * * *", ["asha:desk", "ravi"], duration="8h")])
    window = (utc("2026-12-01T00:00Z"), utc("2026-12-03T00:00Z"))
    frozen = gc.get_freeze_count()
    with heap.paused():
        assert not gc.isenabled()
        assert len(Planner(roster).transitions(*window)) == 8
        assert not gc.isenabled()  # the planner does not turn it back on
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen  # what was made is promoted, not left frozen
    gc.disable()
    try:
        with heap.paused():
            assert len(Planner(roster).transitions(*window)) == 8
        assert not gc.isenabled()  # an outer pause is kept
    finally:
        gc.enable()
