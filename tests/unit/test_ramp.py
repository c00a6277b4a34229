"""Ramps: ONs of a shift start moved earlier at the account's limit, never unsafely."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest

from shiftswitch.planning.planner import Planner
from shiftswitch.planning.transitions import Transition
from shiftswitch.planning.validation import validate_text
from shiftswitch.problems import RosterError
from tests.rosters import make_roster, roster_text, utc

NINE = utc("2026-11-30T09:00:00+00:00")
TEAM = {f"a{i}": {"desk": str(5000 + i)} for i in range(10)}
DAY = {"name": "day", "start": "0 9 * * *", "duration": "8h", "members": list(TEAM)}


def ons(ts: list[Transition]) -> list[Transition]:
    return [t for t in ts if t.available]


def test_ons_are_spaced_at_the_limit_and_all_sent_before_the_start() -> None:
    roster = make_roster([DAY], agents=TEAM, account={"rate_limit": "60/min", "ramp": "5m"})
    spacing = roster.accounts["main"].rate_limit.spacing  # (60 * 1.01 + 0.1) / 60 + 0.01 s
    ts = Planner(roster).transitions(NINE - timedelta(hours=1), NINE + timedelta(hours=9))
    starts = ons(ts)
    assert len(starts) == 10
    assert all(t.boundary == NINE and t.at < NINE for t in starts)
    gaps = sorted((NINE - t.at).total_seconds() for t in starts)
    assert gaps == pytest.approx([10 + k * spacing for k in range(10)], abs=0.002)
    # the identity is the shift start, whatever the ramp: restarts record the same keys
    assert {t.key.split("/")[3] for t in starts} == {NINE.isoformat()}
    offs = [t for t in ts if not t.available]
    assert {t.at for t in offs} == {NINE + timedelta(hours=8)}  # OFFs never move
    assert all(t.boundary is None for t in offs)
    assert starts[0].as_json()["boundary"] == "2026-11-30T09:00:00Z"


def test_a_handoff_is_not_ramped_and_an_on_waits_for_the_agents_last_change() -> None:
    shifts = [
        {"name": "early", "start": "0 5 * * *", "duration": "4h", "members": ["asha:desk"]},
        {"name": "late", "start": "0 9 * * *", "duration": "4h", "members": ["asha:mobile"]},
        {"name": "short", "start": "0 6 * * *", "duration": "2h59m59s", "members": ["ravi"]},
        {"name": "again", "start": "0 9 * * *", "duration": "1h", "members": ["ravi"]},
    ]
    roster = make_roster(shifts, account={"ramp": "10m"})
    ts = Planner(roster).transitions(NINE - timedelta(hours=1), NINE + timedelta(minutes=1))
    asha = [(t.device, t.available, t.at, t.boundary) for t in ts if t.agent == "asha"]
    assert asha == [("desk", False, NINE, None), ("mobile", True, NINE, None)]
    ravi_on = next(t for t in ts if t.agent == "ravi" and t.available)
    # its slot would be 08:59:50 (10 s ahead of the start), but ravi is ON until 08:59:59
    assert ravi_on.at == NINE - timedelta(seconds=1)
    assert ravi_on.boundary == NINE


def test_never_on_on_two_devices_and_windows_agree() -> None:
    agents = {
        "asha": {"desk": "100280", "mobile": "+919953125068"},
        "ravi": {"desk": "100281", "soft": "sip:ravi"},
        **{f"a{i}": {"desk": str(7000 + i)} for i in range(20)},
    }
    shifts = [
        {"name": "m", "start": "0 9 * * *", "duration": "4h",
         "members": ["asha:desk", "ravi:desk", *[f"a{i}" for i in range(10)]]},
        {"name": "e", "start": "0 13 * * *", "duration": "4h",
         "members": ["asha:mobile", "ravi:soft", *[f"a{i}" for i in range(5, 20)]]},
        {"name": "n", "start": "5 17 * * *", "duration": "3h", "ramp": "30m",
         "members": ["asha:desk", "ravi:desk"]},
    ]  # fmt: skip
    roster = make_roster(shifts, agents=agents, account={"rate_limit": "10/min", "ramp": "20m"})
    planner = Planner(roster)
    start, end = NINE - timedelta(hours=2), NINE + timedelta(hours=14)
    whole = planner.transitions(start, end)
    pieces: list[Transition] = []
    cut = start
    while cut < end:  # the scheduler's way: window after window
        pieces += planner.transitions(cut, min(cut + timedelta(minutes=7), end))
        cut += timedelta(minutes=7)
    assert [(t.key, t.at) for t in pieces] == [(t.key, t.at) for t in whole]
    on: dict[str, set[str]] = defaultdict(set)
    for t in whole:  # in apply order
        (on[t.agent].add if t.available else on[t.agent].discard)(t.device)
        assert len(on[t.agent]) <= 1, t
    assert any(t.boundary for t in whole)


def test_desired_counts_a_ramped_on_that_has_come() -> None:
    roster = make_roster([DAY], agents=TEAM, account={"rate_limit": "60/min", "ramp": "5m"})
    planner = Planner(roster)
    first = min(t.at for t in planner.transitions(NINE - timedelta(minutes=10), NINE))
    before = planner.desired(first - timedelta(seconds=1))
    during = planner.desired(first + timedelta(milliseconds=1))
    assert set(before.values()) == {None}
    assert sum(device == "desk" for device in during.values()) == 1
    assert set(planner.desired(NINE).values()) == {"desk"}


def test_a_shifts_ramp_wins_and_overrides_keep_their_times() -> None:
    shifts = [{**DAY, "members": ["a0"], "ramp": "2m"}]
    overrides = [
        {"agent": "a1", "device": "desk", "from": "2026-11-30T09:00", "to": "2026-11-30T10:00"}
    ]
    roster = make_roster(
        shifts, agents={"a0": {"desk": "1"}, "a1": {"desk": "2"}}, overrides=overrides,
        account={"ramp": "1h"},
    )  # fmt: skip
    ts = ons(Planner(roster).transitions(NINE - timedelta(hours=2), NINE + timedelta(hours=1)))
    assert [(t.agent, t.at <= NINE - timedelta(seconds=1), t.boundary) for t in ts] == [
        ("a0", True, NINE),
        ("a1", False, None),
    ]


def test_validation_warns_when_a_start_does_not_fit_its_ramp() -> None:
    team = {f"a{i}": {"desk": str(9000 + i)} for i in range(100)}
    shift = {**DAY, "members": list(team)}
    now = NINE - timedelta(hours=1)
    tight = validate_text(roster_text([shift], agents=team, account={"ramp": "1m"}), now)
    assert tight.ok and len(tight.warnings) == 1
    warning = tight.warnings[0].render("r.yaml")
    assert warning == (
        'r.yaml:4: warning: accounts.main.ramp: shift "day" at 2026-11-30 09:00 UTC: '
        "100 ONs need 2m11s at 50/min (account main; the last 10s before the start), longer "
        "than the ramp of 1m00s: the last ON will be sent 1m01s after the start; lengthen the "
        "ramp or raise the limit"
    )
    enough = validate_text(roster_text([shift], agents=team, account={"ramp": "2m16s"}), now)
    assert enough.ok and enough.warnings == ()


@pytest.mark.parametrize(
    ("ramp", "message"),
    [
        ("soon", 'accounts.main.ramp: bad ramp "soon"; write a duration such as 15m or 1h'),
        ("13h", "accounts.main.ramp: ramp 13h is longer than 12h"),
    ],
)
def test_a_bad_ramp_is_refused(ramp: str, message: str) -> None:
    with pytest.raises(RosterError) as caught:
        make_roster([DAY], agents=TEAM, account={"ramp": ramp})
    assert [p.render() for p in caught.value.problems] == [f"line 4: {message}"]


def test_every_cut_between_windows_keeps_each_ramped_on_once_at_one_time() -> None:
    # a's last change (08:39) is inside some windows' look-back and not others'
    agents = {"a": {"desk": "1"}, **{f"a{i}": {"desk": str(10 + i)} for i in range(5)}}
    shifts = [
        {"name": "early", "start": "0 8 * * *", "duration": "39m", "members": ["a"]},
        {"name": "day", "start": "0 9 * * *", "duration": "8h", "members": list(agents)},
    ]
    planner = Planner(
        make_roster(shifts, agents=agents, account={"rate_limit": "10/min", "ramp": "20m"})
    )
    start, end = NINE - timedelta(minutes=30), NINE + timedelta(hours=1)
    whole = [(t.key, t.at) for t in planner.transitions(start, end)]
    for seconds in range(0, 600, 5):  # a cut every 5 s over the ten minutes before nine
        cut = NINE - timedelta(seconds=seconds)
        joined = planner.transitions(start, cut) + planner.transitions(cut, end)
        assert [(t.key, t.at) for t in joined] == whole, cut
    # and what is desired during the ramp is what the plan has sent
    for t in (t for t in planner.transitions(NINE - timedelta(minutes=30), NINE) if t.boundary):
        assert planner.desired(t.at)[t.agent] == t.device


def test_a_shifts_ramp_of_0_turns_the_accounts_off() -> None:
    roster = make_roster([{**DAY, "ramp": "0"}], agents=TEAM, account={"ramp": "5m"})
    ts = Planner(roster).transitions(NINE - timedelta(hours=1), NINE + timedelta(minutes=1))
    assert {t.at for t in ons(ts)} == {NINE} and all(t.boundary is None for t in ts)
