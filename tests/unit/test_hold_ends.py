"""The changes ahead as they will happen with holds: what a hold keeps from happening is not
listed, and its end is, as the change back to the roster."""

from __future__ import annotations

from datetime import UTC, datetime

from shiftswitch.holds import ahead_with_holds
from shiftswitch.models import Hold
from shiftswitch.planning.planner import Planner
from shiftswitch.roster.loader import parse_roster

ROSTER = parse_roster("""\
version: 1
timezone: UTC
accounts:
  main: {sid: acme, region: singapore, rate_limit: '100/s'}
agents:
  asha: {account: main, user_id: u-1, devices: {desk: '100', mobile: '+919900000001'}}
shifts:
  - {name: day, start: '0 9 * * *', duration: 8h, members: ['asha:desk']}
""")
NOW = datetime(2026, 12, 7, 10, tzinfo=UTC)


def at(hour: int) -> datetime:
    return datetime(2026, 12, 7, hour, tzinfo=UTC)


def hold(device: str, on: bool, until: int) -> Hold:
    return Hold(id=1, account="main", agent="asha", device=device, available=on,
                starts_at=NOW, until=at(until), created_by="maya")  # fmt: skip


def changes(*holds: Hold) -> list[tuple[int, str, bool, str | None]]:
    planner = Planner(ROSTER)
    ahead = planner.transitions(NOW, at(23))
    found = ahead_with_holds(ahead, holds, ROSTER, lambda a, t: planner.desired(t)[a], NOW)
    return [(t.at.hour, t.device, t.available, t.shift) for t in found]


def test_without_holds_the_roster_ahead() -> None:
    assert changes() == [(17, "desk", False, "day")]


def test_a_hold_off_ending_in_the_shift_brings_the_device_back_on() -> None:
    assert changes(hold("desk", False, 12)) == [
        (12, "desk", True, "end of hold by maya"), (17, "desk", False, "day"),
    ]  # fmt: skip


def test_a_hold_off_past_the_shift_lists_no_off_for_a_device_already_off() -> None:
    assert changes(hold("desk", False, 19)) == []


def test_a_hold_on_another_device_ends_with_it_off_and_the_rosters_device_on() -> None:
    assert changes(hold("mobile", True, 12)) == [
        (12, "mobile", False, "end of hold by maya"), (12, "desk", True, "end of hold by maya"),
        (17, "desk", False, "day"),
    ]  # fmt: skip
