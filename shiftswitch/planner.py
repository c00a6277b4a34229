"""From a roster to each agent's desired device over time, and the transitions between (SPEC §3).

Everything here is a pure function of a :class:`~shiftswitch.roster.model.Roster` and the
instants it is given. The work is done in four steps:

1. each shift is expanded once into merged ON intervals
   (:func:`~shiftswitch.occurrences.expand_shift`), however many members it has;
2. per agent, the intervals of its shifts and its overrides are swept into a step function of
   the desired device (``None`` = every device OFF): overrides win; of two devices wanted at
   once (a conflict) the one of the shift listed first in the roster. Agents without overrides
   and with the same (device, shift) memberships have the same steps, found once; and only
   where intervals of two devices meet is a sweep needed (:func:`_steps_without_overrides`);
3. the steps become transitions: at one instant an agent's OFF comes before its ON, and a device
   wanted by back-to-back or overlapping shifts stays ON (no OFF/ON flap). Gathered by instant,
   agent after agent in (account, name) order, they come out in order without a sort;
4. with a ``ramp`` (of the shift, or of its account), the ONs of a shift start are moved earlier,
   spaced at the account's rate limit, so that the last is sent before the start
   (:func:`_ramped`). An ON is never moved before the agent's previous change (an agent is never
   ON on two devices), nor before ``start - ramp``; OFFs never move (never before a shift ends).
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import NamedTuple
from zoneinfo import ZoneInfo

from shiftswitch.clock import as_utc
from shiftswitch.occurrences import Interval, expand_shift
from shiftswitch.roster.model import Agent, Override, Roster

RAMP_LEAD = timedelta(seconds=10)  # a ramp's last ON is due this long before the shift start


class Transition(NamedTuple):
    """One device of one agent switched ON or OFF at instant ``at`` (UTC)."""

    at: datetime
    agent: str
    account: str
    user_id: str | None
    device: str
    device_id: str | None
    contact_uri: str | None
    available: bool
    shift: str | None
    override: str | None
    zone: ZoneInfo
    # For an ON moved earlier by a ramp, the shift start it serves (``at`` is then before it).
    boundary: datetime | None = None

    @property
    def local(self) -> datetime:
        """``at`` in the zone of the shift (or override) that caused it."""
        return self.at.astimezone(self.zone)

    @property
    def key(self) -> str:
        """Stable identity: the same roster and instant always give the same key."""
        state = "on" if self.available else "off"
        instant = self.boundary or self.at  # a ramp moves the switch, not its identity
        return f"{self.account}/{self.agent}/{self.device}/{instant.isoformat()}/{state}"

    def as_json(self) -> dict[str, object]:
        ramp = {} if self.boundary is None else {"boundary": _z(self.boundary)}
        return {
            "at": _z(self.at),
            "local": self.local.isoformat(),
            "agent": self.agent,
            "account": self.account,
            "user_id": self.user_id,
            "device": self.device,
            "device_id": self.device_id,
            "contact_uri": self.contact_uri,
            "available": self.available,
            "shift": self.shift,
            "override": self.override,
            **ramp,
        }


def _z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A shift start whose ONs cannot all be sent within its ramp at the account's limit."""

    account: str
    boundary: datetime
    shift: str
    count: int  # ONs to send before the start
    needed: timedelta  # at the account's limit
    ramp: timedelta
    from_shift: bool  # the ramp is the shift's own (else the account's)


class Step(NamedTuple):
    """From ``at`` until the next step, the agent's desired device (``None``: all OFF)."""

    at: datetime
    device: str | None
    on: str | None  # the shift that switched ``device`` ON
    off: str | None  # the shift whose end will switch it OFF
    override: str | None  # the override in force, if any


@dataclass(frozen=True, slots=True)
class Conflict:
    """An agent wanted ON on two devices at once, by two shifts, first at ``at``."""

    agent: str
    at: datetime
    devices: tuple[str, str]
    shifts: tuple[str, str]


class Planner:
    """A roster indexed for planning. Build it once per roster version; it is immutable."""

    def __init__(self, roster: Roster) -> None:
        self.roster = roster
        # Per agent, (device, shift) of each membership, in roster order. Without an override,
        # they alone decide the agent's steps: agents with the same share them.
        memberships: dict[str, list[tuple[str, str]]] = {name: [] for name in roster.agents}
        for shift in roster.shifts:
            for member in shift.members:
                memberships[member.agent].append((member.device, shift.name))
        overrides: dict[str, list[Override]] = {}
        for override in sorted(roster.overrides, key=lambda o: o.start):
            overrides.setdefault(override.agent, []).append(override)
        self._memberships = {name: tuple(ms) for name, ms in memberships.items()}
        self._overrides = overrides
        # Agents in the order their transitions take at one instant (see _order).
        self._in_order = sorted(roster.agents.values(), key=attrgetter("account", "name"))
        self._zones = {shift.name: shift.zone for shift in roster.shifts}
        self._override_zones = {o.label: o.zone for o in roster.overrides}
        self._shift_ramps = {s.name: s.ramp for s in roster.shifts if s.ramp is not None}
        ramps = [a.ramp for a in roster.accounts.values() if a.ramp is not None]
        self.max_ramp = max([*ramps, *self._shift_ramps.values()], default=timedelta(0))

    # -- public API -------------------------------------------------------------------------

    def transitions(self, start: datetime, end: datetime) -> list[Transition]:
        """Every transition with ``start <= at < end``, in the order they must be applied
        (``at`` is the ramped instant of a ramped ON)."""
        start, end = as_utc(start), as_utc(end)
        with _collector_paused():
            if not self.max_ramp:
                return self._transitions(start, end, None)
            # A ramp moves ONs up to max_ramp earlier, and an ON is never moved before the
            # agent's previous change: look that far on both sides, so every window agrees.
            gaps: list[datetime | None] = []
            raw = self._transitions(start - self.max_ramp, end + self.max_ramp, gaps)
            ramped, _ = self._ramped(raw, gaps)
            return [t for t in ramped if start <= t.at < end]

    def shortfalls(self, start: datetime, end: datetime) -> list[Shortfall]:
        """Shift starts in ``[start, end)`` whose ONs do not fit in their ramp at the limit."""
        start, end = as_utc(start), as_utc(end)
        if not self.max_ramp:
            return []
        gaps: list[datetime | None] = []
        with _collector_paused():
            raw = self._transitions(start - self.max_ramp, end, gaps)
            _, short = self._ramped(raw, gaps)
        return [f for f in short if start <= f.boundary < end]

    def desired(self, at: datetime) -> dict[str, str | None]:
        """Each agent's desired device at instant ``at`` (``None``: every device OFF); a device
        whose ramped ON has come is desired ON, though its shift has not started yet."""
        at = as_utc(at)
        expanded = self._expand(at, at + timedelta(seconds=1))
        out: dict[str, str | None] = {}
        for name, agent in self.roster.agents.items():
            device: str | None = None
            for step in self._sweep(agent, expanded, at + timedelta(seconds=1), None):
                if step.at > at:
                    break
                device = step.device
            out[name] = device
        if self.max_ramp:
            for t in self.transitions(at - self.max_ramp, at + timedelta(microseconds=1)):
                if t.boundary is not None and t.boundary > at and out[t.agent] is None:
                    out[t.agent] = t.device
        return out

    def conflicts(self, start: datetime, end: datetime) -> list[Conflict]:
        """Each (agent, pair of shifts) wanted ON on two devices at once, with its first instant."""
        start, end = as_utc(start), as_utc(end)
        suspects = {
            name for name, ms in self._memberships.items() if len({device for device, _ in ms}) > 1
        }
        needed = {shift for name in suspects for _, shift in self._memberships[name]}
        expanded = self._expand(start, end, only=needed)
        found: dict[tuple[str, str, str], Conflict] = {}
        for name in sorted(suspects):
            sink: list[Conflict] = []
            if name in self._overrides:
                self._sweep(self.roster.agents[name], expanded, end, sink, also_at=start)
            else:  # only where intervals of two devices meet can there be a conflict
                runs = [(device, expanded[shift]) for device, shift in self._memberships[name]]
                _steps_without_overrides(runs, end, (name, sink, start))
            for c in sink:
                if c.at >= start:
                    found.setdefault((c.agent, *sorted(c.shifts)), c)  # type: ignore[arg-type]
        return sorted(found.values(), key=lambda c: (c.at, c.agent))

    def zone_of(self, shift: str | None) -> ZoneInfo:
        return self._zones.get(shift or "", self.roster.zone)

    # -- internals --------------------------------------------------------------------------

    def _transitions(
        self, start: datetime, end: datetime, gaps: list[datetime | None] | None
    ) -> list[Transition]:
        """As :meth:`transitions`, without ramps. With ``gaps``, also when each ON's agent last
        changed (``None``: before ``start``), as a list parallel to the result."""
        expanded = self._expand(start, end)
        # Agents come in (account, name) order and each one's switches in time order, an OFF
        # before an ON at one instant: gathered by instant, they are in the order of _order.
        by_instant: dict[datetime, list[Transition]] = defaultdict(list)
        since_by_instant: dict[datetime, list[datetime | None]] = defaultdict(list)
        # Each switch with the list of its instant, for the agents that share it.
        shared: dict[tuple[tuple[str, str], ...], list[tuple[list[Transition], _Switch]]] = {}
        for agent in self._in_order:
            overrides = self._overrides.get(agent.name)
            signature = self._memberships[agent.name]
            placed = None if overrides else shared.get(signature)
            if placed is None:
                runs = [(device, expanded[shift]) for device, shift in signature]
                if overrides:
                    live = [o for o in overrides if o.start < end]
                    steps = _step_function(agent.name, runs, live, end, None)
                else:  # the same for every agent with these memberships: found once
                    steps = _steps_without_overrides(runs, end)
                placed = [(by_instant[s.at], s) for s in self._switches(steps, start, end)]
                if not overrides:
                    shared[signature] = placed
            fields = {
                name: (agent.name, agent.account, agent.user_id, name, d.device_id, d.contact_uri)
                for name, d in agent.devices.items()
            }
            for transitions, s in placed:
                # Transition(s.at, *fields[s.device], *s.rest), without going through its
                # generated __new__: that saves about a third of the time to make one.
                transitions.append(tuple.__new__(Transition, (s.at, *fields[s.device], *s.rest)))
            if gaps is not None:
                for _, s in placed:
                    since_by_instant[s.at].append(s.since)
        instants = sorted(by_instant)
        if gaps is not None:
            gaps[:] = [since for at in instants for since in since_by_instant[at]]
        return [t for at in instants for t in by_instant[at]]

    def _ramp_of(self, t: Transition) -> timedelta | None:
        if not t.available or t.override is not None or t.shift is None:
            return None  # only ONs that start a shift are ramped; overrides keep their times
        if t.shift in self._shift_ramps:
            return self._shift_ramps[t.shift]
        return self.roster.accounts[t.account].ramp

    def _ramped(
        self, raw: list[Transition], gaps: list[datetime | None]
    ) -> tuple[list[Transition], list[Shortfall]]:
        """``raw`` with ramped ONs moved earlier, in order; and the starts that do not fit.

        At one shift start, an account's rampable ONs take the slots ``start - RAMP_LEAD -
        k * spacing`` (k = 0, 1, ...; the spacing the workers keep at the account's limit),
        the latest slot to the ON whose agent changed last; none before ``start - ramp`` or
        before its agent's previous change. RAMP_LEAD leaves the last ON time to be picked up
        (the scheduler ticks every second) and answered before the start.
        """
        groups: dict[tuple[str, datetime], list[int]] = {}
        for i, t in enumerate(raw):
            ramp = self._ramp_of(t)
            if ramp and gaps[i] != t.at:  # gaps[i] == t.at: a handoff, the OFF goes first
                groups.setdefault((t.account, t.at), []).append(i)
        out = list(raw)
        short: list[Shortfall] = []
        floor = datetime.min.replace(tzinfo=UTC)
        for (account, boundary), members in groups.items():
            spacing = timedelta(seconds=self.roster.accounts[account].rate_limit.spacing)
            # A change before boundary - max_ramp cannot limit a ramp: rank it as "long ago", so
            # that every window (each sees back to at least there) ranks alike.
            horizon = boundary - self.max_ramp

            def rank(i: int, horizon: datetime = horizon) -> tuple[datetime, str, str]:
                gap = gaps[i]
                since = gap if gap is not None and gap >= horizon else floor
                return (since, raw[i].agent, raw[i].device)

            members.sort(key=rank, reverse=True)
            longest = timedelta(0)
            for k, i in enumerate(members, start=1):
                t, ramp = raw[i], self._ramp_of(raw[i])
                assert ramp is not None
                slot = boundary - RAMP_LEAD - (k - 1) * spacing
                at = max(slot, boundary - ramp, gaps[i] or boundary - ramp)
                at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # whole ms
                out[i] = t._replace(at=at, boundary=boundary)
                longest = max(longest, ramp)
            needed = RAMP_LEAD + (len(members) - 1) * spacing
            if needed > longest:
                first = raw[members[0]]
                assert first.shift is not None
                short.append(
                    Shortfall(account, boundary, first.shift, len(members), needed, longest,
                              first.shift in self._shift_ramps)
                )  # fmt: skip
        out.sort(key=_order)
        return out, short

    def _expand(
        self, start: datetime, end: datetime, only: set[str] | None = None
    ) -> dict[str, list[Interval]]:
        return {
            shift.name: expand_shift(shift, start, end)
            for shift in self.roster.shifts
            if only is None or shift.name in only
        }

    def _sweep(
        self,
        agent: Agent,
        expanded: Mapping[str, list[Interval]],
        end: datetime,
        conflicts: list[Conflict] | None,
        also_at: datetime | None = None,
    ) -> list[Step]:
        """The agent's step function from its shifts' intervals and its overrides, up to
        ``end`` (see :func:`_step_function`)."""
        runs = [(device, expanded[shift]) for device, shift in self._memberships[agent.name]]
        overrides = [o for o in self._overrides.get(agent.name, ()) if o.start < end]
        return _step_function(agent.name, runs, overrides, end, conflicts, also_at)

    def _switches(self, steps: Sequence[Step], start: datetime, end: datetime) -> list[_Switch]:
        """The switches that the changes of ``steps`` in ``[start, end)`` make, in order."""
        out: list[_Switch] = []

        def switch(
            at: datetime, device: str, on: bool, shift: str | None, override: str | None
        ) -> None:
            zone = self._override_zones[override] if override else self.zone_of(shift)
            # When the agent last changed before this ON (this instant, for a handoff).
            changed = at if was is not None else previous.at if previous else None
            rest = (on, shift, override, zone, None)
            out.append(_Switch(at, device, rest, changed if on else at))

        previous: Step | None = None
        for step in steps:
            was = previous.device if previous is not None else None
            if step.device != was and start <= step.at < end:
                if previous is not None and was is not None:
                    # An OFF is caused by the override that begins now, else by what ends now.
                    if step.override is not None:
                        switch(step.at, was, False, None, step.override)
                    else:
                        switch(step.at, was, False, previous.off, previous.override)
                if step.device is not None:
                    switch(step.at, step.device, True, step.on, step.override)
            previous = step
        return out


class _Switch(NamedTuple):
    """A transition without its agent: what agents with the same steps share."""

    at: datetime
    device: str
    # The fields of the Transition after the agent's: available, shift, override, zone, boundary.
    rest: tuple[bool, str | None, str | None, ZoneInfo, None]
    since: datetime | None  # when the agent last changed before it (see Planner._transitions)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector. A plan is a great many new tuples and no
    cycles; the collector would walk them (and the roster) over and over while they are made:
    for 10,000 agents, that was about a fifth of the time."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _steps_without_overrides(
    runs: Sequence[tuple[str, Sequence[Interval]]],
    end: datetime,
    conflicts: tuple[str, list[Conflict], datetime] | None = None,
) -> list[Step]:
    """As :func:`_step_function` for an agent without overrides, in less time; ``conflicts``
    is the agent, the list to add its conflicts to, and ``also_at`` (see there).

    The intervals of the agent's shifts fall into groups, apart from one another, of intervals
    that overlap or touch: a group of one device is simply an ON and an OFF (:func:`_held`);
    only a group of two devices (a conflict) needs the sweep, and only among its own.
    """
    ordered = sorted(
        ((iv, j) for j, (_, ivs) in enumerate(runs) for iv in ivs), key=lambda p: p[0].start
    )
    steps: list[Step] = []
    first = 0
    while first < len(ordered):
        last, reach = first + 1, ordered[first][0].end
        while last < len(ordered) and ordered[last][0].start <= reach:
            reach = max(reach, ordered[last][0].end)
            last += 1
        group = ordered[first:last]
        devices = {runs[j][0] for _, j in group}
        if len(devices) == 1:
            steps += _held(group, devices.pop(), reach, end)
        else:
            own = [
                (device, [iv for iv, k in group if k == j]) for j, (device, _) in enumerate(runs)
            ]
            if conflicts is None:
                steps += _step_function("", own, (), end, None)
            else:
                agent, sink, also_at = conflicts
                inside = also_at if ordered[first][0].start <= also_at < reach else None
                steps += _step_function(agent, own, (), end, sink, inside)
        first = last
    return steps


def _held(
    group: Sequence[tuple[Interval, int]], device: str, reach: datetime, end: datetime
) -> list[Step]:
    """The steps of a group of intervals of one device (with the rank of their shift in the
    roster) that overlap or touch, from the first start to ``reach``: the device is ON
    throughout. The ON is by the first listed of the shifts that begin then; the OFF by the
    first listed of those ON since the last instant before ``reach`` at which one began or
    ended (there the sweep last looks)."""
    begin = group[0][0].start
    if len(group) == 1:
        on = off = group[0][0].shift
    else:
        last = max(at for iv, _ in group for at in (iv.start, iv.end) if at < reach)
        on, off = _first_listed(group, begin), _first_listed(group, last)
    steps = [Step(begin, device, on, off, None)]
    if reach < end:
        steps.append(Step(reach, None, None, None, None))
    return steps


def _first_listed(group: Sequence[tuple[Interval, int]], at: datetime) -> str:
    return min((j, iv.shift) for iv, j in group if iv.start <= at < iv.end)[1]


def _step_function(
    agent: str,
    runs: Sequence[tuple[str, Sequence[Interval]]],
    overrides: Sequence[Override],
    end: datetime,
    conflicts: list[Conflict] | None,
    also_at: datetime | None = None,
) -> list[Step]:
    """An agent's step function up to ``end``, from the ON intervals of its memberships
    (``runs``: device and intervals, in roster order) and its overrides (by start).

    Overrides win. Otherwise, of the shifts active at an instant, the one listed first in the
    roster decides the device: a rule that needs nothing but that instant, so every window
    agrees on it. (Two devices wanted at once is a conflict, which validation refuses for the
    next 28 days; this keeps the planner safe beyond.)
    """
    points = sorted(
        {iv.start for _, ivs in runs for iv in ivs}
        | {iv.end for _, ivs in runs for iv in ivs}
        | {o.start for o in overrides}
        | {o.end for o in overrides}
        | ({also_at} if also_at is not None else set())
    )
    cursor = [0] * len(runs)
    o_at = 0
    steps: list[Step] = []
    for point in points:
        if point >= end:
            break
        while o_at < len(overrides) and overrides[o_at].end <= point:
            o_at += 1
        override = (
            overrides[o_at] if o_at < len(overrides) and overrides[o_at].start <= point else None
        )
        winner: tuple[str, Interval] | None = None
        for j, (device, ivs) in enumerate(runs):
            while cursor[j] < len(ivs) and ivs[cursor[j]].end <= point:
                cursor[j] += 1
            if cursor[j] < len(ivs) and ivs[cursor[j]].start <= point:
                iv = ivs[cursor[j]]
                if winner is None:
                    winner = (device, iv)
                elif device != winner[0] and conflicts is not None and override is None:
                    devices = (winner[0], device)
                    conflicts.append(Conflict(agent, point, devices, (winner[1].shift, iv.shift)))
        if override is not None:
            step = Step(point, override.device, None, None, override.label)
        elif winner is not None:
            step = Step(point, winner[0], winner[1].shift, winner[1].shift, None)
        else:
            step = Step(point, None, None, None, None)
        if steps and steps[-1].device == step.device and steps[-1].override == step.override:
            # Still the same device: no transition, but remember which shift now holds it.
            steps[-1] = steps[-1]._replace(off=step.off)
            continue
        steps.append(step)
    return steps


def _order(t: Transition) -> tuple[datetime, str, str, bool, str]:
    return (t.at, t.account, t.agent, t.available, t.device)
