"""What ``roster diff``, ``import`` and the version summaries say changed (pure logic)."""

from __future__ import annotations

from shiftswitch.planning.diff import RosterDiff
from shiftswitch.roster.loader import parse_roster
from tests import EXAMPLE_ROSTER as EXAMPLE

BEFORE = EXAMPLE.read_text()


def _diff(after: str) -> tuple[str, list[str]]:
    diff = RosterDiff.between(parse_roster(BEFORE), parse_roster(after))
    return diff.summary(), diff.lines()


def test_changed_entries_say_which_fields_changed() -> None:
    after = (
        BEFORE.replace('members: ["asha:desk", "ravi"]', 'members: ["asha:desk", "meera"]')
        .replace("duration: 9h ", "duration: 8h ")
        .replace("skip_dates: [2026-12-25]", "skip_dates: [2026-12-25, 2026-12-31]")
        .replace('mobile: "+919953125068"', 'mobile: "+919953125077"')
        .replace("rate_limit: 50/min", "rate_limit: 60/min")
    )
    summary, lines = _diff(after)
    assert summary == "accounts ~1 (main); agents ~1 (asha); shifts ~1 (weekday-morning)"
    assert lines == [
        "~ account main: rate_limit 50/min -> 60/min",
        "~ agent asha: devices.mobile +919953125068 -> +919953125077",
        "~ shift weekday-morning: duration 9h -> 8h; skip_dates +2026-12-31; "
        "members +meera:softphone -ravi:desk",
    ]


def test_devices_added_or_removed_and_a_shift_given_an_end() -> None:
    mobile = 'mobile: "+919953125068"'
    after = BEFORE.replace(mobile, f'{mobile}\n      tablet: "sip:asha.t"')
    after = after.replace("duration: 6h", 'end: "0 16 * * sat,sun"')
    _, lines = _diff(after)
    assert lines == [
        "~ agent asha: devices +tablet sip:asha.t",
        "~ shift weekend-support: duration 6h -> none; end none -> 0 16 * * sat,sun",
    ]
    _, same = _diff(BEFORE)
    assert same == []
