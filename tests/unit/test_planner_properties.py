"""Properties of the planner over random rosters (hypothesis).

For any roster the loader accepts, conflicts included (the planner must stay safe even for
boundaries beyond the validator's 28-day horizon):
- replaying the transitions from the state before the window gives the desired state at every
  instant of the window;
- no agent is ever ON on two devices, not even between two transitions of one instant;
- no transition is redundant (an ON of a device already ON, an OFF of one already OFF).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from shiftswitch.planning.planner import Planner
from shiftswitch.problems import RosterError
from tests.rosters import make_roster

ZONES = ["UTC", "America/New_York", "Europe/London", "Asia/Kolkata"]
AGENTS = {
    "asha": {"desk": "100280", "mobile": "+919953125068"},
    "ravi": {"desk": "100281", "sip": "sip:ravi"},
    "meera": {"desk": "100282"},
}
MEMBERS = ["asha:desk", "asha:mobile", "ravi:desk", "ravi:sip", "meera"]
# Windows around 2026's DST changes in the zones above, and an ordinary week.
ANCHORS = [
    datetime(2026, 3, 7, tzinfo=UTC),
    datetime(2026, 3, 28, tzinfo=UTC),
    datetime(2026, 10, 24, tzinfo=UTC),
    datetime(2026, 10, 31, tzinfo=UTC),
    datetime(2026, 12, 1, tzinfo=UTC),
]


@st.composite
def cron(draw: st.DrawFn) -> str:
    minute = draw(st.sampled_from(["0", "15", "30", "45", "*/20"]))
    hour = draw(st.sampled_from(["*", "0", "1", "2", "6", "9", "13", "17", "22", "*/6", "8-18/5"]))
    dow = draw(st.sampled_from(["*", "mon-fri", "sat,sun", "sun", "tue,thu"]))
    return f"{minute} {hour} * * {dow}"


@st.composite
def shift(draw: st.DrawFn, index: int) -> dict[str, object]:
    body: dict[str, object] = {"name": f"s{index}", "start": draw(cron())}
    if draw(st.booleans()):
        body["duration"] = f"{draw(st.integers(10, 26 * 60))}m"
    else:
        body["end"] = draw(cron())
    if draw(st.booleans()):
        body["timezone"] = draw(st.sampled_from(ZONES))
    if draw(st.booleans()):
        body["skip_dates"] = [str(draw(st.sampled_from(ANCHORS)).date() + timedelta(days=1))]
    picked = draw(st.lists(st.sampled_from(MEMBERS), min_size=1, max_size=3))
    seen: dict[str, str] = {}
    for member in picked:
        seen.setdefault(member.split(":")[0], member)  # one device per agent per shift
    body["members"] = list(seen.values())
    return body


@st.composite
def overrides(draw: st.DrawFn, anchor: datetime) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for agent in draw(st.lists(st.sampled_from(sorted(AGENTS)), max_size=3, unique=True)):
        start = anchor + timedelta(minutes=15 * draw(st.integers(0, 4 * 24 * 3)))
        end = start + timedelta(minutes=15 * draw(st.integers(1, 4 * 24)))
        o: dict[str, object] = {
            "agent": agent,
            "from": start.strftime("%Y-%m-%dT%H:%M"),
            "to": end.strftime("%Y-%m-%dT%H:%M"),
        }
        if draw(st.booleans()):
            o["off"] = True
        else:
            o["device"] = draw(st.sampled_from(sorted(AGENTS[agent])))
        out.append(o)
    return out


@st.composite
def scenario(draw: st.DrawFn) -> tuple[object, datetime, datetime, list[datetime]]:
    anchor = draw(st.sampled_from(ANCHORS))
    count = draw(st.integers(1, 4))
    shifts = [draw(shift(i)) for i in range(count)]
    try:
        roster = make_roster(
            shifts,
            timezone=draw(st.sampled_from(ZONES)),
            agents=AGENTS,
            overrides=draw(overrides(anchor)),
        )
    except RosterError:  # e.g. an override from and to in one DST gap: both the same instant
        reject()
    start = anchor + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    end = start + timedelta(hours=draw(st.integers(1, 72)))
    probes = draw(
        st.lists(st.integers(0, int((end - start).total_seconds()) - 1), min_size=1, max_size=8)
    )
    return roster, start, end, [start + timedelta(seconds=s) for s in probes]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_replay_reproduces_desired_state_and_one_device_at_a_time(
    case: tuple[object, datetime, datetime, list[datetime]],
) -> None:
    roster, start, end, probes = case
    planner = Planner(roster)  # type: ignore[arg-type]
    transitions = planner.transitions(start, end)
    state = planner.desired(start - timedelta(seconds=1))
    on = {agent: ({device} if device else set()) for agent, device in state.items()}

    checkpoints = sorted(probes)
    i = 0
    for t in transitions:
        while i < len(checkpoints) and checkpoints[i] < t.at:
            _assert_matches(on, planner.desired(checkpoints[i]), checkpoints[i])
            i += 1
        devices = on[t.agent]
        if t.available:
            assert t.device not in devices, f"redundant ON {t}"
            devices.add(t.device)
        else:
            assert t.device in devices, f"redundant OFF {t}"
            devices.discard(t.device)
        assert len(devices) <= 1, f"{t.agent} ON on {sorted(devices)} after {t}"
    for probe in checkpoints[i:]:
        _assert_matches(on, planner.desired(probe), probe)


def _assert_matches(on: dict[str, set[str]], desired: dict[str, str | None], at: datetime) -> None:
    replayed = {agent: next(iter(devices), None) for agent, devices in on.items()}
    assert replayed == desired, f"at {at.isoformat()}"


def test_order_within_an_instant_is_offs_first_per_agent() -> None:
    roster = make_roster(
        [
            {"name": "a", "start": "0 9 * * *", "duration": "4h", "members": ["asha:desk"]},
            {"name": "b", "start": "0 13 * * *", "duration": "4h", "members": ["asha:mobile"]},
        ]
    )
    start = datetime(2026, 12, 1, tzinfo=UTC)
    transitions = Planner(roster).transitions(start, start + timedelta(days=7))
    for prev, nxt in pairwise(transitions):
        assert prev.at <= nxt.at
        if prev.at == nxt.at and prev.agent == nxt.agent:
            assert not (prev.available and not nxt.available), "an ON before an OFF of one agent"
