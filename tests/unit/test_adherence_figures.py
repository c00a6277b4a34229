"""The adherence arithmetic by table: planned against confirmed, overlaps, holds, DST days, open
intervals, devices never confirmed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shiftswitch.adherence.figures import Cause, Days, Planned, figures
from shiftswitch.adherence.planned import _join

UTC_ZONE = ZoneInfo("UTC")
DAY = date(2026, 12, 1)


def t(hhmm: str, day: int = 1) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 12, day, h, m, tzinfo=UTC)


LATER = t("23:59", 5)


def P(start: datetime, end: datetime, shift: str | None = None) -> Planned:
    return Planned(start.timestamp(), end.timestamp(), shift)


def seconds(spans):
    """Confirmed spans as the timeline gives them: POSIX seconds."""
    return [(s.timestamp(), None if e is None else e.timestamp()) for s, e in spans]


def one(planned, on, unknown=(), causes=(), now=LATER, days=None):
    days = days or Days(DAY, DAY, UTC_ZONE)
    return figures(planned, seconds(on), seconds(unknown), causes, days=days, now=now)


SHIFT = [P(t("09:00"), t("17:00"), "day")]

# (case, on spans, planned_s, confirmed_s, late_starts, late_start_s, early_off_s, unplanned)
CASES = [
    ("exactly on time", [(t("09:00"), t("17:00"))], 28800, 28800, 0, 0, 0, 0),
    ("ON before the shift", [(t("08:30"), t("17:00"))], 28800, 28800, 0, 0, 0, 1800),
    ("30 s late: not a late start", [(t("09:00") + timedelta(seconds=30), t("17:00"))],
     28800, 28770, 0, 30, 0, 0),
    ("5 min late", [(t("09:05"), t("17:00"))], 28800, 28500, 1, 300, 0, 0),
    ("left 10 min early", [(t("09:00"), t("16:50"))], 28800, 28200, 0, 0, 600, 0),
    ("OFF late", [(t("09:00"), t("17:20"))], 28800, 28800, 0, 0, 0, 1200),
    ("a gap in the middle", [(t("09:00"), t("12:00")), (t("13:00"), t("17:00"))],
     28800, 25200, 0, 0, 0, 0),
    ("never confirmed", [], 28800, 0, 1, 28800, 0, 0),
    ("ON all day", [(t("00:00"), None)], 28800, 28800, 0, 0, 0, 16 * 3600),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "on", "planned_s", "confirmed_s", "late_starts", "late_s", "early_s", "unplanned"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_one_shift(case, on, planned_s, confirmed_s, late_starts, late_s, early_s, unplanned):
    pieces = one(SHIFT, on)
    shift = next(p for p in pieces if p.shift == "day")
    assert shift.planned_s == planned_s
    assert shift.confirmed_s == confirmed_s
    assert shift.late_starts == late_starts
    assert shift.late_start_s == late_s
    assert shift.early_off_s == early_s
    assert sum(p.unplanned_on_s for p in pieces) == unplanned


def test_open_interval_counts_up_to_now():
    pieces = one(SHIFT, [(t("09:00"), None)], now=t("12:00"))
    (shift,) = pieces
    assert (shift.planned_s, shift.confirmed_s) == (3 * 3600, 3 * 3600)


def test_a_shift_not_started_by_now_does_not_count():
    assert one(SHIFT, [], now=t("08:00")) == []


def test_unknown_time_is_not_confirmed_and_is_said():
    (shift,) = one(SHIFT, [(t("09:00"), t("10:00"))], unknown=[(t("10:00"), t("10:30"))],
                   now=t("10:30"))  # fmt: skip
    assert (shift.confirmed_s, shift.unknown_s) == (3600, 1800)
    assert shift.reasons == ["state unknown for 30 min (a request went unanswered)"]


def test_a_hold_over_the_missed_time_is_the_reason():
    hold = Cause(t("12:00"), t("12:30"), "held OFF by maya 12:00 to 12:30")
    other = Cause(t("20:00"), t("21:00"), "held OFF by maya 20:00 to 21:00")
    (shift,) = one(SHIFT, [(t("09:00"), t("12:00")), (t("12:30"), t("17:00"))],
                   causes=[hold, other])  # fmt: skip
    assert shift.confirmed_s == 8 * 3600 - 1800
    assert shift.reasons == ["held OFF by maya 12:00 to 12:30"]


def test_no_reasons_without_a_difference():
    hold = Cause(t("10:00"), t("11:00"), "held ON by maya")
    (shift,) = one(SHIFT, [(t("09:00"), t("17:00"))], causes=[hold])
    assert shift.reasons == []


def test_a_night_shift_counts_on_the_day_it_starts():
    night = [P(t("22:00"), t("06:00", 2), "night")]
    days = Days(DAY, DAY, UTC_ZONE)
    (shift,) = one(night, [(t("22:00"), t("06:00", 2))], days=days)
    assert (shift.day, shift.planned_s, shift.confirmed_s) == (DAY, 8 * 3600, 8 * 3600)
    # ... and not on the next day's report
    assert one(night, [(t("22:00"), t("06:00", 2))], days=Days(date(2026, 12, 2),
               date(2026, 12, 2), UTC_ZONE)) == []  # fmt: skip


def test_unplanned_on_time_splits_at_local_midnight():
    days = Days(DAY, date(2026, 12, 2), UTC_ZONE)
    pieces = one([], [(t("23:00"), t("01:00", 2))], days=days)
    assert [(p.day, p.unplanned_on_s) for p in pieces] == [
        (DAY, 3600), (date(2026, 12, 2), 3600)
    ]  # fmt: skip


def test_a_shift_started_before_the_period_is_not_unplanned_on():
    before = [P(t("06:00") - timedelta(hours=8), t("06:00"), "night")]
    pieces = one(before, [(t("06:00") - timedelta(hours=8), t("06:00"))])  # 30 Nov 22:00
    assert pieces == []


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/London", date(2026, 10, 25), 25),  # autumn: clocks back
        ("Europe/London", date(2026, 3, 29), 23),  # spring: clocks forward
        ("America/Sao_Paulo", date(2026, 12, 1), 24),
        ("Asia/Kolkata", date(2026, 10, 25), 24),
    ],
)
def test_a_dst_day_is_its_real_length(zone, day, hours):
    days = Days(day, day, ZoneInfo(zone))
    assert days.end - days.start == timedelta(hours=hours)
    # a device ON all that day is ON that many hours on it, none on its neighbours
    around = seconds([(days.start - timedelta(hours=2), days.end + timedelta(hours=2))])
    pieces = figures([], around, [], [], days=days, now=days.end + timedelta(days=1))
    assert [(p.day, p.unplanned_on_s) for p in pieces] == [(day, hours * 3600)]


def test_a_shift_over_the_autumn_change_is_nine_hours_of_eight_on_the_clock():
    zone = ZoneInfo("Europe/London")
    start = datetime(2026, 10, 24, 22, 0, tzinfo=zone)  # 22:00 BST
    end = datetime(2026, 10, 25, 6, 0, tzinfo=zone)  # 06:00 GMT
    days = Days(date(2026, 10, 24), date(2026, 10, 25), zone)
    (shift,) = figures([P(start.astimezone(UTC), end.astimezone(UTC), "night")],
                       seconds([(start, end)]), [], [], days=days,
                       now=datetime(2026, 11, 1, tzinfo=UTC))  # fmt: skip
    assert (shift.day, shift.planned_s, shift.confirmed_s) == (date(2026, 10, 24), 9 * 3600,
                                                               9 * 3600)  # fmt: skip


def test_intervals_cut_by_a_version_change_join():
    into = [P(t("09:00"), t("12:00"), "day")]
    _join(into, [P(t("12:00"), t("17:00"), None), P(t("18:00"), t("19:00"), "x")])
    assert into == [P(t("09:00"), t("17:00"), "day"), P(t("18:00"), t("19:00"), "x")]
