"""The planner gives exactly what a straightforward statement of the switching rules gives (README).

The planner shares work between agents and takes shortcuts to be fast (BENCHMARKS.md). The reference
below takes none: for each agent on its own, at every instant where one of its shifts or
overrides begins or ends, it asks which device is wanted, and turns each change into an OFF and
an ON; then it sorts everything. Both must agree on every field of every transition, in order,
on generated rosters (three zones with and without DST, two-device agents, overrides) and on
random small ones (conflicts included), over windows that cross DST changes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.gen_roster import generate
from shiftswitch.planning.occurrences import Interval, expand_shift
from shiftswitch.planning.planner import Conflict, Planner
from shiftswitch.planning.transitions import Transition
from shiftswitch.roster.loader import parse_roster
from shiftswitch.roster.model import Override, Roster
from tests.unit.test_planner_properties import scenario

Gaps = list[datetime | None]


def reference(roster: Roster, start: datetime, end: datetime) -> tuple[list[Transition], Gaps]:
    """The transitions with ``start <= at < end`` (no ramp), in order; and for each, when its
    agent last changed before it (``None``: not since ``start``; its own instant for an ON
    that follows an OFF at that instant)."""
    intervals = {s.name: expand_shift(s, start, end) for s in roster.shifts}
    zones = {s.name: s.zone for s in roster.shifts}
    override_zones = {o.label: o.zone for o in roster.overrides}
    found: list[tuple[Transition, datetime | None]] = []
    for agent in roster.agents.values():
        runs = [
            (member.device, intervals[shift.name])
            for shift in roster.shifts
            for member in shift.members
            if member.agent == agent.name
        ]
        overrides = sorted(
            (o for o in roster.overrides if o.agent == agent.name and o.start < end),
            key=lambda o: o.start,
        )
        instants = sorted(
            {iv.start for _, ivs in runs for iv in ivs}
            | {iv.end for _, ivs in runs for iv in ivs}
            | {o.start for o in overrides}
            | {o.end for o in overrides}
        )
        # Steps: (at, device, shift that switched it ON, shift whose end switches it OFF,
        # override in force); a step that keeps the device and the override is no step.
        steps: list[tuple[datetime, str | None, str | None, str | None, Override | None]] = []
        for at in (i for i in instants if i < end):
            override = next((o for o in overrides if o.start <= at < o.end), None)
            shift = next(((d, iv) for d, ivs in runs for iv in ivs if _covers(iv, at)), None)
            if override is not None:
                step = (at, override.device, None, None, override)
            elif shift is not None:
                step = (at, shift[0], shift[1].shift, shift[1].shift, None)
            else:
                step = (at, None, None, None, None)
            if steps and steps[-1][1] == step[1] and steps[-1][4] == step[4]:
                steps[-1] = (*steps[-1][:3], step[3], steps[-1][4])
            else:
                steps.append(step)

        # Switches: (at, device, ON?, shift, override, when the agent last changed).
        switches: list[tuple[datetime, str, bool, str | None, Override | None, datetime | None]]
        switches = []
        for i, (at, device, on, _, override) in enumerate(steps):
            prev = steps[i - 1] if i else None
            was = prev[1] if prev else None
            if device == was or not start <= at < end:
                continue
            if prev is not None and was is not None:
                # An OFF is caused by the override that begins now, else by what ends now.
                if override is not None:
                    switches.append((at, was, False, None, override, at))
                else:
                    switches.append((at, was, False, prev[3], prev[4], at))
            if device is not None:
                last = at if was is not None else prev[0] if prev else None
                switches.append((at, device, True, on, override, last))
        for at, device, on, shift, o, last in switches:
            d = agent.devices[device]
            zone = override_zones[o.label] if o else zones.get(shift or "", roster.zone)
            t = Transition(
                at=at, agent=agent.name, account=agent.account, user_id=agent.user_id,
                device=device, device_id=d.device_id, contact_uri=d.contact_uri, available=on,
                shift=shift, override=o.label if o else None, zone=zone, boundary=None,
            )  # fmt: skip
            found.append((t, last))
    found.sort(key=lambda p: (p[0].at, p[0].account, p[0].agent, p[0].available, p[0].device))
    return [t for t, _ in found], [g for _, g in found]


def reference_conflicts(roster: Roster, start: datetime, end: datetime) -> list[Conflict]:
    """For each agent and pair of its shifts, the first instant in ``[start, end)`` at which
    the first listed of its shifts then ON wants one device and the other another, outside
    overrides; by instant."""
    intervals = {s.name: expand_shift(s, start, end) for s in roster.shifts}
    found: dict[tuple[str, str, str], Conflict] = {}
    for agent in roster.agents.values():
        runs = [
            (member.device, shift.name)
            for shift in roster.shifts
            for member in shift.members
            if member.agent == agent.name
        ]
        overrides = [o for o in roster.overrides if o.agent == agent.name]
        instants = (
            {start}
            | {at for _, shift in runs for iv in intervals[shift] for at in (iv.start, iv.end)}
            | {at for o in overrides for at in (o.start, o.end)}
        )
        for at in sorted(i for i in instants if start <= i < end):
            if any(o.start <= at < o.end for o in overrides):
                continue
            on = [
                (device, shift)
                for device, shift in runs
                if any(_covers(iv, at) for iv in intervals[shift])
            ]
            for device, shift in on[1:]:
                if device != on[0][0]:
                    c = Conflict(agent.name, at, (on[0][0], device), (on[0][1], shift))
                    found.setdefault((agent.name, *sorted((on[0][1], shift))), c)  # type: ignore[arg-type]
    return sorted(found.values(), key=lambda c: (c.at, c.agent))


def _covers(iv: Interval, at: datetime) -> bool:
    return iv.start <= at < iv.end


def _ramped_reference(roster: Roster, start: datetime, end: datetime) -> list[Transition]:
    planner = Planner(roster)
    raw, gaps = reference(roster, start - planner.max_ramp, end + planner.max_ramp)
    ramped, _ = planner._ramped(raw, gaps)
    return [t for t in ramped if start <= t.at < end]


def _same(got: list[Transition], want: list[Transition]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g == w
        assert (g.key, g.local, g.as_json()) == (w.key, w.local, w.as_json())


# Windows: a week across the US and UK spring changes, one across the autumn ones, and the
# generated overrides' week in December.
WINDOWS = [
    datetime(2026, 3, 6, 13, 30, tzinfo=UTC),
    datetime(2026, 3, 26, tzinfo=UTC),
    datetime(2026, 10, 23, 5, tzinfo=UTC),
    datetime(2026, 12, 7, tzinfo=UTC),
]


@pytest.fixture(scope="module")
def generated() -> str:
    return generate(600, seed=7)


@pytest.mark.parametrize("start", WINDOWS)
def test_a_generated_roster_plans_as_the_reference(generated: str, start: datetime) -> None:
    roster = parse_roster(generated)
    end = start + timedelta(days=7)
    got = Planner(roster).transitions(start, end)
    want, _ = reference(roster, start, end)
    assert len(want) > 5_000
    _same(got, want)
    assert Planner(roster).conflicts(start, end) == reference_conflicts(roster, start, end) == []


@pytest.mark.parametrize("start", WINDOWS)
def test_a_generated_roster_with_ramps_plans_as_the_reference(
    generated: str, start: datetime
) -> None:
    text = generated.replace("    rate_limit: 5/s\n", "    rate_limit: 5/s\n    ramp: 3m\n")
    text = text.replace("    rate_limit: 200/min\n", "    rate_limit: 200/min\n    ramp: 10m\n")
    roster = parse_roster(text)
    end = start + timedelta(days=7)
    got = Planner(roster).transitions(start, end)
    want = _ramped_reference(roster, start, end)
    assert any(t.boundary is not None for t in want)
    _same(got, want)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario(), st.sampled_from([None, timedelta(minutes=2), timedelta(minutes=45)]))
def test_random_rosters_plan_as_the_reference(
    case: tuple[object, datetime, datetime, list[datetime]], ramp: timedelta | None
) -> None:
    roster, start, end, _ = case
    assert isinstance(roster, Roster)
    assert Planner(roster).conflicts(start, end) == reference_conflicts(roster, start, end)
    if ramp is None:
        _same(Planner(roster).transitions(start, end), reference(roster, start, end)[0])
        return
    account = replace(roster.accounts["main"], ramp=ramp)
    roster = replace(roster, accounts={"main": account})
    _same(Planner(roster).transitions(start, end), _ramped_reference(roster, start, end))
