"""Dated assignments and breaks in the roster: read, planned, refused, written back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from operator import attrgetter

import pytest

from shiftswitch.planning.planner import Planner
from shiftswitch.planning.validation import LARGE, validate_built, validate_text
from shiftswitch.problems import RosterError
from shiftswitch.roster import canonical
from shiftswitch.roster.dump import dump
from shiftswitch.roster.loader import parse_roster
from tests.rosters import brief, make_roster, roster_text, utc

DAY = (utc("2026-12-07T00:00Z"), utc("2026-12-08T00:00Z"))
WORK = {"agent": "ravi", "from": "2026-12-07T09:00", "to": "2026-12-07T17:30", "shift": "early"}
LUNCH = {
    "agent": "ravi", "from": "2026-12-07T13:00", "to": "2026-12-07T13:30",
    "off": True, "activity": "Lunch",
}  # fmt: skip


def plan(
    assignments: Sequence[Mapping[str, object]],
    shifts: Sequence[Mapping[str, object]] = (),
    **kwargs: object,
) -> list[str]:
    roster = make_roster(shifts, assignments=assignments, **kwargs)
    return [brief(t) for t in Planner(roster).transitions(*DAY)]


def test_an_assignment_is_on_from_its_start_to_its_end() -> None:
    assert plan([WORK]) == [
        "2026-12-07T09:00Z ravi:desk ON assignments[0]",
        "2026-12-07T17:30Z ravi:desk OFF assignments[0]",
    ]


def test_a_break_inside_an_assignment_is_an_off_and_an_on() -> None:
    assert plan([WORK, LUNCH]) == [
        "2026-12-07T09:00Z ravi:desk ON assignments[0]",
        "2026-12-07T13:00Z ravi:desk OFF assignments[0]",
        "2026-12-07T13:30Z ravi:desk ON assignments[0]",
        "2026-12-07T17:30Z ravi:desk OFF assignments[0]",
    ]


def test_a_break_inside_a_cron_shift_is_kept_by_that_agent_alone() -> None:
    day = {"name": "day", "start": "0 9 * * *", "duration": "8h", "members": ["asha:desk", "ravi"]}
    lunch = {**LUNCH, "agent": "asha"}
    assert plan([lunch], [day]) == [
        "2026-12-07T09:00Z asha:desk ON day",
        "2026-12-07T09:00Z ravi:desk ON day",
        "2026-12-07T13:00Z asha:desk OFF day",
        "2026-12-07T13:30Z asha:desk ON day",
        "2026-12-07T17:00Z asha:desk OFF day",
        "2026-12-07T17:00Z ravi:desk OFF day",
    ]


def test_a_break_of_one_device_leaves_the_others() -> None:
    # asha on her mobile all day; a break of her desk changes nothing.
    work = {**WORK, "agent": "asha", "device": "mobile"}
    desk_break = {**LUNCH, "agent": "asha", "device": "desk"}
    assert plan([work, desk_break]) == [
        "2026-12-07T09:00Z asha:mobile ON assignments[0]",
        "2026-12-07T17:30Z asha:mobile OFF assignments[0]",
    ]


def test_back_to_back_assignments_of_one_device_do_not_flap() -> None:
    first = {**WORK, "to": "2026-12-07T13:00"}
    second = {**WORK, "from": "2026-12-07T13:00"}
    assert plan([first, second]) == [
        "2026-12-07T09:00Z ravi:desk ON assignments[0]",
        "2026-12-07T17:30Z ravi:desk OFF assignments[0]",
    ]


def test_an_assignment_next_to_a_cron_shift_on_the_same_device_does_not_flap() -> None:
    day = {"name": "day", "start": "0 9 * * *", "duration": "4h", "members": ["ravi"]}
    after = {**WORK, "from": "2026-12-07T13:00"}
    assert plan([after], [day]) == [
        "2026-12-07T09:00Z ravi:desk ON day",
        "2026-12-07T17:30Z ravi:desk OFF assignments[0]",
    ]


def test_an_override_wins_over_assignments_and_breaks() -> None:
    leave = {"agent": "ravi", "off": True, "from": "2026-12-07T12:00", "to": "2026-12-07T14:00"}
    assert plan([WORK, LUNCH], overrides=[leave]) == [
        "2026-12-07T09:00Z ravi:desk ON assignments[0]",
        "2026-12-07T12:00Z ravi:desk OFF overrides[0]",
        "2026-12-07T14:00Z ravi:desk ON assignments[0]",
        "2026-12-07T17:30Z ravi:desk OFF assignments[0]",
    ]


def test_desired_state_follows_assignments_and_breaks() -> None:
    roster = make_roster([], assignments=[WORK, LUNCH])
    planner = Planner(roster)
    assert planner.desired(utc("2026-12-07T10:00Z"))["ravi"] == "desk"
    assert planner.desired(utc("2026-12-07T13:10Z"))["ravi"] is None
    assert planner.desired(utc("2026-12-07T13:30Z"))["ravi"] == "desk"
    assert planner.desired(utc("2026-12-07T18:00Z"))["ravi"] is None


def test_every_window_agrees_on_the_switches() -> None:
    roster = make_roster([], assignments=[WORK, LUNCH])
    planner = Planner(roster)
    whole = [brief(t) for t in planner.transitions(*DAY)]
    cut_at = utc("2026-12-07T13:15Z")
    parts = planner.transitions(DAY[0], cut_at) + planner.transitions(cut_at, DAY[1])
    assert [brief(t) for t in parts] == whole


def test_local_times_and_a_dst_gap_follow_the_zone() -> None:
    # 2026-03-08 02:30 does not exist in New York: the assignment starts at 03:00 EDT.
    roster = make_roster(
        [],
        timezone="America/New_York",
        assignments=[{"agent": "ravi", "from": "2026-03-08T02:30", "to": "2026-03-08T10:00"}],
    )
    t = Planner(roster).transitions(utc("2026-03-08T00:00Z"), utc("2026-03-09T00:00Z"))
    assert [brief(x) for x in t] == [
        "2026-03-08T07:00Z ravi:desk ON assignments[0]",
        "2026-03-08T14:00Z ravi:desk OFF assignments[0]",
    ]


def test_two_devices_at_once_is_a_conflict_naming_both() -> None:
    text = roster_text(
        [{"name": "day", "start": "0 9 * * *", "duration": "8h", "members": ["asha:desk"]}],
        assignments=[
            {
                "agent": "asha",
                "device": "mobile",
                "from": "2026-12-07T10:00",
                "to": "2026-12-07T12:00",
            }
        ],
    )
    report = validate_text(text, utc("2026-12-06T00:00Z"))
    assert not report.ok
    [problem] = report.errors
    assert problem.render().startswith("assignments[0]") or "assignments[0]" in problem.render()
    assert "desk (shift day) and mobile (assignments[0])" in problem.message
    assert "2026-12-07 10:00" in problem.message


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        pytest.param({"agent": "nobody", "from": "2026-12-07T09:00", "to": "2026-12-07T17:00"},
                     "assignments[0].agent: unknown agent \"nobody\"", id="unknown agent"),
        pytest.param({"agent": "asha", "from": "2026-12-07T09:00", "to": "2026-12-07T17:00"},
                     "give device (desk or mobile) or off: true for a break", id="which device"),
        pytest.param({"agent": "ravi", "from": "2026-12-07T17:00", "to": "2026-12-07T09:00"},
                     "assignments[0].to: must be after from", id="ends before it starts"),
        pytest.param({"agent": "ravi", "from": "2026-12-07T25:00", "to": "2026-12-07T26:00"},
                     "bad date-time \"2026-12-07T25:00\"", id="25:00"),
        pytest.param({"agent": "ravi", "from": "2026-02-30T09:00", "to": "2026-02-30T17:00"},
                     "bad date-time \"2026-02-30T09:00\"", id="no such date"),
        pytest.param({"agent": "ravi", "device": "phone", "from": "2026-12-07T09:00",
                      "to": "2026-12-07T17:00"}, "unknown device \"phone\"", id="unknown device"),
        pytest.param({**WORK, "timezone": "Mars/Olympus"}, "Mars/Olympus", id="unknown zone"),
        pytest.param({**WORK, "colour": "red"}, "unknown key \"colour\"", id="unknown key"),
    ],
)  # fmt: skip
def test_bad_assignments_are_refused_with_their_place(entry: dict[str, object], says: str) -> None:
    with pytest.raises(RosterError) as caught:
        make_roster([], assignments=[entry])
    assert says in "\n".join(p.render() for p in caught.value.problems)


def test_the_dump_reads_back_as_the_same_roster() -> None:
    roster = make_roster([], assignments=[LUNCH, WORK], timezone="Asia/Kolkata")
    text = dump(roster)
    assert "assignments:" in text
    again = parse_roster(text)
    assert dump(again) == text
    assert [(a.start, a.off, a.shift, a.activity) for a in again.assignments] == [
        (utc("2026-12-07T03:30Z"), False, "early", None),
        (utc("2026-12-07T07:30Z"), True, None, "Lunch"),
    ]
    assert again.summary().endswith("2 assignments, 0 overrides")
    assert again.assignments[0].end - again.assignments[0].start == timedelta(hours=8, minutes=30)


def test_a_built_roster_is_checked_as_if_it_were_read() -> None:
    roster = make_roster([], assignments=[WORK, LUNCH])
    now = utc("2026-12-06T00:00Z")
    report = validate_built(roster, now)
    assert report.ok and report.roster is not None
    assert report.roster.assignments == roster.assignments
    assert not [w for w in report.warnings if "ravi" in w.render()]  # ravi has assignments
    stray = replace(roster.assignments[0], agent="nobody", index=7)
    broken = replace(roster, assignments=(*roster.assignments, stray))
    bad = validate_built(broken, now)
    assert not bad.ok
    assert [p.render() for p in bad.errors] == ['assignments[7].agent: unknown agent "nobody"']
    clash = replace(roster.assignments[0], agent="asha", device="desk", index=8)
    mobile = replace(clash, device="mobile", index=9)
    conflict = validate_built(replace(roster, assignments=(clash, mobile)), now)
    assert 'conflict: agent "asha" would be ON on two devices at once' in conflict.errors[0].message
    # No device and not a break: refused with its place, never an exception from the planner.
    bare = replace(roster.assignments[0], device=None, off=False, index=10)
    refused = validate_built(replace(roster, assignments=(bare,)), now)
    assert [p.render() for p in refused.errors] == [
        "assignments[10]: give device, or off: true for a break"
    ]


def test_the_dumped_assignments_read_back_without_yaml() -> None:
    kolkata = {**WORK, "agent": "asha", "device": "mobile", "timezone": "Asia/Kolkata",
               "shift": 'with "quotes", commas'}  # fmt: skip
    roster = make_roster([], assignments=[LUNCH, WORK, kolkata], timezone="Europe/London")
    rest, lines = canonical.split(dump(roster))
    assert "assignments:" not in rest and len(lines) == 3
    back = canonical.assignments_of(lines, roster.zone)
    key = attrgetter("agent", "device", "start", "end", "zone", "off", "shift", "activity")
    assert set(map(key, back)) == set(map(key, roster.assignments))
    with pytest.raises(canonical.NotCanonical):
        canonical.assignments_of(['  - {agent: "ravi", colour: "red"}'], roster.zone)


def test_the_on_after_a_break_keeps_its_time_under_a_ramp() -> None:
    agents = {f"a{i}": {"desk": f"{100300 + i}"} for i in range(20)}
    work = [{"agent": f"a{i}", "from": "2026-12-07T09:00", "to": "2026-12-07T17:00"}
            for i in range(20)]  # fmt: skip
    lunch = [{**LUNCH, "agent": f"a{i}"} for i in range(20)]
    roster = make_roster([], agents=agents, assignments=work + lunch,
                         account={"rate_limit": "1/min", "ramp": "20m"})  # fmt: skip
    ons = [t for t in Planner(roster).transitions(*DAY) if t.available]
    back = [t.at for t in ons if t.at >= utc("2026-12-07T12:00Z")]
    assert back == [utc("2026-12-07T13:30Z")] * 20  # not ramped into the break
    assert min(t.at for t in ons) < utc("2026-12-07T09:00Z")  # the shift's start is


def test_an_agents_contact_is_an_e_mail_address() -> None:
    agents = {"asha": {"desk": "100280"}}
    text = roster_text([], agents=agents).replace(
        "user_id: u-0,", "user_id: u-0, contact: asha@example.com,"
    )
    roster = parse_roster(text)
    assert roster.agents["asha"].contact == "asha@example.com"
    assert parse_roster(dump(roster)).agents["asha"].contact == "asha@example.com"
    with pytest.raises(RosterError) as caught:
        parse_roster(text.replace("asha@example.com", "asha at example"))
    assert 'agents.asha.contact: "asha at example" is not an e-mail address' in (
        caught.value.problems[0].render()
    )


def test_a_roster_of_many_assignments_is_read_line_by_line_with_its_lines() -> None:
    base = make_roster([], timezone="Asia/Kolkata", assignments=[WORK])
    day = timedelta(days=1)
    many = tuple(
        replace(base.assignments[0], index=i, start=base.assignments[0].start + i * day / 2,
                end=base.assignments[0].start + i * day / 2 + timedelta(hours=2))
        for i in range(LARGE)
    )  # fmt: skip
    text = dump(replace(base, assignments=many))
    report = validate_text(text, utc("2026-12-06T00:00Z"))
    assert report.ok and report.roster is not None and len(report.roster.assignments) == LARGE
    first = text.split("\n").index("assignments:") + 2
    bad = text.split("\n")
    bad[first - 1 + 7] = bad[first - 1 + 7].replace('agent: "ravi"', 'agent: "nobody"')
    refused = validate_text("\n".join(bad), utc("2026-12-06T00:00Z"))
    assert [(p.render(), p.line) for p in refused.errors] == [
        (f'line {first + 7}: assignments[7].agent: unknown agent "nobody"', first + 7)
    ]


def test_an_overrides_reason_is_read_dumped_and_read_back() -> None:
    leave = {"agent": "asha", "off": True, "from": "2026-12-07T09:00", "to": "2026-12-08",
             "reason": 'annual leave: "back Tuesday"'}  # fmt: skip
    roster = make_roster([], overrides=[leave])
    assert roster.overrides[0].reason == 'annual leave: "back Tuesday"'
    again = parse_roster(dump(roster))
    assert again.overrides == roster.overrides
    without = make_roster([], overrides=[{**leave, "reason": "sick"}])
    assert without.overrides != roster.overrides  # a new reason is a change of the roster


@pytest.mark.parametrize(
    ("reason", "says"),
    [("", "missing a reason"), ("x" * 201, "one line"), ("a\nb", "one line"),
     (["a"], "expected a reason")],
)  # fmt: skip
def test_a_bad_reason_names_its_place(reason: object, says: str) -> None:
    leave = {"agent": "asha", "off": True, "from": "2026-12-07T09:00", "to": "2026-12-08",
             "reason": reason}  # fmt: skip
    with pytest.raises(RosterError) as caught:
        make_roster([], overrides=[leave])
    [problem] = caught.value.problems
    assert problem.path == ("overrides", 0, "reason") and says in problem.message, problem
