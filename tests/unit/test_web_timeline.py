"""The timeline's view-model: planned bars from the plan, confirmed bars from the switches,
their places on a window of local days, DST days included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from shiftswitch.planning.plancache import make_plan
from shiftswitch.web.timeline import (
    Switch,
    Window,
    confirmed_bars,
    initial_label,
    override_marks,
    planned_bars,
)
from tests.rosters import make_roster, utc

LONDON = ZoneInfo("Europe/London")

SHIFTS = [
    {"name": "desk-am", "start": "0 9 * * *", "duration": "4h", "members": ["asha:desk", "ravi"]},
    {"name": "mobile-pm", "start": "0 13 * * *", "duration": "4h", "members": ["asha:mobile"]},
    {"name": "night", "start": "0 22 * * *", "duration": "8h", "members": ["ravi"]},
]


def bars_of(
    agent: str, first: date, days: int = 1, **kwargs: object
) -> list[tuple[str, str, str, str]]:
    roster = make_roster(SHIFTS, timezone="Europe/London", **kwargs)
    window = Window.days(first, days, LONDON)
    plan = make_plan(roster, window.start, window.end)
    device = plan.initial[agent]
    bars = planned_bars(
        device,
        plan.by_agent.get(agent, []),
        window,
        initial_label=initial_label(roster, agent, device, window.start),
    )
    return [(b.device, f"{b.start:%H:%M}", f"{b.end:%d %H:%M}", b.label) for b in bars]


def test_a_day_window_is_the_local_day_and_23_hours_on_the_spring_dst_day() -> None:
    normal = Window.days(date(2026, 3, 28), 1, LONDON)
    spring = Window.days(date(2026, 3, 29), 1, LONDON)
    autumn = Window.days(date(2026, 10, 25), 1, LONDON)
    assert (normal.start, normal.end) == (utc("2026-03-28T00:00Z"), utc("2026-03-29T00:00Z"))
    assert (spring.start, spring.end) == (utc("2026-03-29T00:00Z"), utc("2026-03-29T23:00Z"))
    assert autumn.seconds == 25 * 3600
    # The wall clock skips 01:00 on the spring day: 23 ticks, each 1/23 of the width apart.
    ticks = spring.ticks(1)
    assert [t.label for t in ticks[:3]] == ["00", "02", "03"]
    assert len(ticks) == 23
    assert ticks[1].left == round(100 / 23, 3)
    # Autumn repeats 01:00: two ticks labelled 01.
    assert [t.label for t in autumn.ticks(1)[:4]] == ["00", "01", "01", "02"]


def test_planned_bars_follow_the_shifts_in_local_time_on_the_dst_day() -> None:
    # 09:00 London is 09:00Z before the change, 08:00Z on and after 29 March.
    assert bars_of("asha", date(2026, 3, 28)) == [
        ("desk", "09:00", "28 13:00", "desk-am"),
        ("mobile", "13:00", "28 17:00", "mobile-pm"),
    ]
    assert bars_of("asha", date(2026, 3, 29)) == [
        ("desk", "08:00", "29 12:00", "desk-am"),
        ("mobile", "12:00", "29 16:00", "mobile-pm"),
    ]
    window = Window.days(date(2026, 3, 29), 1, LONDON)
    left, width = window.span(utc("2026-03-29T08:00Z"), utc("2026-03-29T12:00Z"))
    assert (left, width) == (round(8 / 23 * 100, 3), round(4 / 23 * 100, 3))


def test_a_bar_that_began_before_the_window_is_named_by_the_shift_that_ends_it() -> None:
    # ravi's night shift runs 22:00-06:00: the day starts with it ON.
    assert bars_of("ravi", date(2026, 3, 28)) == [
        ("desk", "00:00", "28 06:00", "night"),
        ("desk", "09:00", "28 13:00", "desk-am"),
        ("desk", "22:00", "29 00:00", "night"),
    ]


def test_an_override_is_a_bar_of_its_own_and_a_mark() -> None:
    overrides = [
        {"agent": "asha", "device": "mobile", "from": "2026-03-28T08:00", "to": "2026-03-28T10:00"}
    ]
    assert bars_of("asha", date(2026, 3, 28), overrides=overrides) == [
        ("mobile", "08:00", "28 10:00", "overrides[0]"),
        ("desk", "10:00", "28 13:00", "desk-am"),
        ("mobile", "13:00", "28 17:00", "mobile-pm"),
    ]
    roster = make_roster(SHIFTS, timezone="Europe/London", overrides=overrides)
    window = Window.days(date(2026, 3, 28), 1, LONDON)
    (mark,) = override_marks(roster.overrides, window)
    assert (mark.kind, mark.text) == ("override", "overrides[0]: mobile ON")
    # A week view: seven bars of desk-am.
    week = bars_of("ravi", date(2026, 3, 23), days=7)
    assert sum(1 for b in week if b[3] == "desk-am") == 7


def test_confirmed_bars_run_from_each_confirmed_on_to_its_off_or_now() -> None:
    window = Window.days(date(2026, 3, 29), 1, LONDON)
    now = utc("2026-03-29T15:00Z")
    before = {"desk": Switch("desk", True, utc("2026-03-28T22:00Z"), "schedule", 1)}
    switches = [
        Switch("desk", False, utc("2026-03-29T06:00:02Z"), "schedule", 2),
        Switch("desk", True, utc("2026-03-29T08:00:03Z"), "schedule", 3),
        Switch("desk", True, utc("2026-03-29T08:30:00Z"), "reconcile", 4),  # still ON
        Switch("desk", False, utc("2026-03-29T12:00:01Z"), "schedule", 5),
        Switch("mobile", True, utc("2026-03-29T12:00:02Z"), "manual", 6),
        Switch("mobile", False, utc("2026-03-29T16:00:00Z"), "schedule", 7),  # after now
    ]
    bars = confirmed_bars(before, switches, window, now)
    assert [
        (b.device, f"{b.start:%H:%M:%S}", f"{b.end:%H:%M:%S}", b.label, b.action_id) for b in bars
    ] == [
        ("desk", "00:00:00", "06:00:02", "schedule", 1),
        ("desk", "08:00:03", "12:00:01", "schedule", 3),
        ("mobile", "12:00:02", "15:00:00", "manual", 6),
    ]
    # Nothing confirmed before the window, an OFF first: no bar.
    assert confirmed_bars({}, switches[:1], window, now) == []


def test_the_plan_answers_the_desired_device_at_any_instant_of_its_window() -> None:
    roster = make_roster(SHIFTS, timezone="Europe/London")
    window = Window.days(date(2026, 3, 29), 1, LONDON)
    plan = make_plan(roster, window.start, window.end)
    assert plan.desired("asha", utc("2026-03-29T07:59Z")) is None
    assert plan.desired("asha", utc("2026-03-29T08:00Z")) == "desk"
    assert plan.desired_all(utc("2026-03-29T12:30Z")) == {"asha": "mobile", "ravi": None}
    assert [t.agent for t in plan.after(utc("2026-03-29T12:00Z"), 2)] == ["asha", "ravi"]


@pytest.mark.parametrize(
    ("zone", "now", "first_tick", "labels"),
    [
        # Kolkata: 10:30 local; the window starts at 08:00 local, half past the hour in UTC
        ("Asia/Kolkata", datetime(2026, 11, 30, 5, 0, tzinfo=UTC), "08", 6),
        # London, the autumn change: 01:20 GMT, just after 01:00 came a second time; the six
        # hours from 00:00 BST read 00, 01, 01, 02, 03, 04
        ("Europe/London", datetime(2026, 10, 25, 1, 20, tzinfo=UTC), "00", 6),
    ],
)
def test_the_window_around_now_starts_at_a_whole_local_hour(
    zone: str, now: datetime, first_tick: str, labels: int
) -> None:
    window = Window.around(now, ZoneInfo(zone))
    assert window.seconds == 6 * 3600 and window.covers(now)
    ticks = window.ticks(1)
    assert len(ticks) == labels and ticks[0].label == first_tick and ticks[0].left == 0
    if zone == "Europe/London":
        assert [t.label for t in ticks] == ["00", "01", "01", "02", "03", "04"]
