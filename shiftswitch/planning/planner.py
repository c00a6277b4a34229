"""From a roster to each agent's desired device over time, and the transitions between (README:
How switching works).

Everything here is a pure function of a :class:`~shiftswitch.roster.model.Roster` and the
instants it is given. The work is done in four steps:

1. each shift is expanded once into merged ON intervals
   (:func:`~shiftswitch.planning.occurrences.expand_shift`), however many members it has;
2. per agent, the intervals of its shifts and its overrides are swept into a step function of
   the desired device (``None`` = every device OFF), whose changes are switches
   (:mod:`shiftswitch.planning.steps`): overrides win; of two devices wanted at once (a
   conflict) the one of the shift listed first in the roster. Agents without overrides and
   with the same (device, shift) memberships have the same switches, found once; and only
   where intervals of two devices meet is a sweep needed
   (:func:`~shiftswitch.planning.steps.switches_without_overrides`);
3. the switches become transitions: at one instant an agent's OFF comes before its ON, and a
   device wanted by back-to-back or overlapping shifts stays ON (no OFF/ON flap). Gathered by
   instant, agent after agent in (account, name) order, they come out in order without a sort;
   they are made in C loops (``map``), a few columns per set of memberships and the agent's
   fields (callers that plan much keep the collector off: :func:`shiftswitch.heap.paused`);
4. with a ``ramp`` (of the shift, or of its account), the ONs of a shift start are moved earlier,
   spaced at the account's rate limit, so that the last is sent before the start
   (:func:`_ramped`). An ON is never moved before the agent's previous change (an agent is never
   ON on two devices), nor before ``start - ramp``; OFFs never move (never before a shift ends).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import chain, repeat
from operator import add
from zoneinfo import ZoneInfo

from shiftswitch.clock import as_utc
from shiftswitch.planning.dated import cut, dated_intervals, merged
from shiftswitch.planning.occurrences import Interval, expand_shift
from shiftswitch.planning.steps import (
    Conflict,
    Rest,
    StepTuple,
    Switch,
    step_function,
    steps_without_overrides,
    switches,
    switches_without_overrides,
)
from shiftswitch.planning.transitions import Transition
from shiftswitch.roster.model import Agent, Device, Override, Roster

__all__ = ["RAMP_LEAD", "Conflict", "Planner", "Shortfall"]

RAMP_LEAD = timedelta(seconds=10)  # a ramp's last ON is due this long before the shift start


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


class Planner:
    """A roster indexed for planning. Build it once per roster version; it is immutable."""

    def __init__(self, roster: Roster) -> None:
        self.roster = roster
        # Per agent, (device, shift) of each membership, in roster order. Without an override,
        # they alone decide the agent's steps: agents with the same share them. Each pair is
        # made once per shift and device, so that equal memberships compare quickly.
        memberships: dict[str, tuple[tuple[str, str], ...]] = dict.fromkeys(roster.agents, ())
        for shift in roster.shifts:
            pairs: dict[str, tuple[tuple[str, str]]] = {}
            for member in shift.members:
                device = member.device
                pair = pairs.get(device) or pairs.setdefault(device, ((device, shift.name),))
                memberships[member.agent] += pair
        overrides: dict[str, list[Override]] = {}
        for override in sorted(roster.overrides, key=lambda o: o.start):
            overrides.setdefault(override.agent, []).append(override)
        self._memberships = memberships
        self._overrides = overrides
        # The zone of each shift and assignment, by the name its switches carry (``shift``),
        # and None's: the roster's.
        self._shift_zones: dict[str | None, ZoneInfo] = {None: roster.zone}
        self._shift_zones.update((shift.name, shift.zone) for shift in roster.shifts)
        # The rests of each shift's (and assignment's) ON and OFF, made as they are needed.
        self._rests = _Rests(self._shift_zones)
        self._dated, self._breaks = dated_intervals(roster, self._shift_zones)
        self._break_ends = {a: {end for _, end, _ in b} for a, b in self._breaks.items()}
        # Agents in the order their transitions take at one instant (see _order): by account,
        # then name (names sorted alone, which is quicker than by a key of both).
        by_account: dict[str, list[str]] = {}
        for agent in roster.agents.values():
            by_account.setdefault(agent.account, []).append(agent.name)
        agents = roster.agents
        self._in_order = [
            agents[name] for account in sorted(by_account) for name in sorted(by_account[account])
        ]
        # Agents with switches of their own: overrides, dated assignments or breaks.
        self._own = {*overrides, *self._dated, *self._breaks}
        self._override_zones = {o.label: o.zone for o in roster.overrides}
        self._shift_ramps = {s.name: s.ramp for s in roster.shifts if s.ramp is not None}
        ramps = [a.ramp for a in roster.accounts.values() if a.ramp is not None]
        self.max_ramp = max([*ramps, *self._shift_ramps.values()], default=timedelta(0))

    # -- public API -------------------------------------------------------------------------

    def transitions(self, start: datetime, end: datetime) -> list[Transition]:
        """Every transition with ``start <= at < end``, in the order they must be applied
        (``at`` is the ramped instant of a ramped ON)."""
        start, end = as_utc(start), as_utc(end)
        if not self.max_ramp:
            return self._transitions(start, end, None)
        # A ramp moves ONs up to max_ramp earlier, and an ON is never moved before the
        # agent's previous change: look that far on both sides, so every window agrees.
        gaps: list[datetime | None] = []
        raw = self._transitions(start - self.max_ramp, end + self.max_ramp, gaps)
        ramped, _ = self._ramped(raw, gaps)
        return [t for t in ramped if start <= t.at < end]

    def starts(self, start: datetime, end: datetime) -> list[Transition]:
        """The ONs in ``[start, end)`` (by the boundary they serve, when ramped) that start an
        agent's work: not the end of a break, nor a handoff from another device at the same
        instant; overrides are not shifts."""
        start, end = as_utc(start), as_utc(end)
        pad = self.max_ramp
        found = self.transitions(start - pad, end + pad)
        handoffs = {(t.agent, t.at) for t in found if not t.available}
        return [
            t
            for t in found
            if t.available
            and t.override is None
            and start <= (t.boundary or t.at) < end
            and (t.agent, t.boundary or t.at) not in handoffs
            and (t.boundary or t.at) not in self._break_ends.get(t.agent, ())
        ]

    def shortfalls(self, start: datetime, end: datetime) -> list[Shortfall]:
        """Shift starts in ``[start, end)`` whose ONs do not fit in their ramp at the limit."""
        start, end = as_utc(start), as_utc(end)
        if not self.max_ramp:
            return []
        gaps: list[datetime | None] = []
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
            for step_at, step_device, *_ in self._sweep(
                agent, expanded, at, at + timedelta(seconds=1), None
            ):
                if step_at > at:
                    break
                device = step_device
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
            name
            for name, ms in self._memberships.items()
            if len({device for device, _ in ms} | set(self._dated.get(name, ()))) > 1
        }
        needed = {shift for name in suspects for _, shift in self._memberships[name]}
        expanded = self._expand(start, end, only=needed)
        found: dict[tuple[str, str, str], Conflict] = {}
        # The conflicts of a set of memberships, for the agents that have only those: found
        # once, named after each (at 100,000 agents, 10,000 with two devices share a few
        # hundred sets).
        shared: dict[tuple[tuple[str, str], ...], list[Conflict]] = {}
        for name in sorted(suspects):
            sink: list[Conflict] = []
            if name in self._overrides:
                self._sweep(self.roster.agents[name], expanded, start, end, sink, also_at=start)
            elif name in self._dated or name in self._breaks:
                runs = self._runs(name, expanded, start, end)
                steps_without_overrides(runs, end, (name, sink, start))
            else:  # only where intervals of two devices meet can there be a conflict
                signature = self._memberships[name]
                if signature not in shared:
                    shared[signature] = []
                    runs = self._runs(name, expanded, start, end)
                    steps_without_overrides(runs, end, ("", shared[signature], start))
                sink = [replace(c, agent=name) for c in shared[signature]]
            for c in sink:
                if c.at >= start:
                    found.setdefault((c.agent, *sorted(c.shifts)), c)  # type: ignore[arg-type]
        return sorted(found.values(), key=lambda c: (c.at, c.agent))

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
        # The switches of each set of memberships, for the agents that share it.
        shared: dict[tuple[tuple[str, str], ...], _Placed] = {}
        new, each_new = tuple.__new__, repeat(Transition)
        rests = self._rests
        for agent in self._in_order:
            own = agent.name in self._own
            signature = self._memberships[agent.name]
            placed = None if own else shared.get(signature)
            if placed is None:
                runs = self._runs(agent.name, expanded, start, end)
                overrides = self._overrides.get(agent.name)
                if overrides:
                    live = [o for o in overrides if o.start < end]
                    steps = step_function(agent.name, runs, live, end, None)
                    found = switches(steps, start, end, self._shift_zones, self._override_zones)
                else:  # the same for every agent with these memberships: found once
                    found = switches_without_overrides(runs, start, end, rests, self._shift_zones)
                placed = _Placed(found, by_instant)
                if not own:
                    shared[signature] = placed
            if not placed.lists:
                continue
            # Transition(*lead, *head) for each switch, where lead is the switch's instant and
            # rest, and head the agent's fields for its device: made and put in the list of
            # its instant in C loops, without the generated __new__ of a NamedTuple.
            devices = agent.devices
            if len(devices) == 1:
                heads: Iterable[tuple[object, ...]] = repeat(_head(agent, *devices.items()))
            else:
                fields = {device: _head(agent, (device, d)) for device, d in devices.items()}
                heads = map(fields.__getitem__, placed.devices)
            made = map(new, each_new, map(add, placed.leads, heads))
            any(map(list.append, placed.lists, made))  # each append is None: all are made
            if gaps is not None:
                for at, since in zip(placed.instants, placed.sinces, strict=True):
                    since_by_instant[at].append(since)
        instants = sorted(by_instant)
        if gaps is not None:
            gaps[:] = [since for at in instants for since in since_by_instant[at]]
        return list(chain.from_iterable(map(by_instant.__getitem__, instants)))

    def _ramp_of(self, t: Transition) -> timedelta | None:
        if not t.available or t.override is not None or t.shift is None:
            return None  # only ONs that start a shift are ramped; overrides keep their times
        if t.at in self._break_ends.get(t.agent, ()):
            return None  # the end of a break: back ON at its time, not before

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
        start: datetime,
        end: datetime,
        conflicts: list[Conflict] | None,
        also_at: datetime | None = None,
    ) -> list[StepTuple]:
        """The agent's step function from its shifts' and assignments' intervals (those that
        reach into ``[start, end)``), its breaks and its overrides, up to ``end`` (see
        :func:`~shiftswitch.planning.steps.step_function`)."""
        runs = self._runs(agent.name, expanded, start, end)
        overrides = [o for o in self._overrides.get(agent.name, ()) if o.start < end]
        return step_function(agent.name, runs, overrides, end, conflicts, also_at)

    def _runs(
        self, agent: str, expanded: Mapping[str, list[Interval]], start: datetime, end: datetime
    ) -> list[tuple[str, Sequence[Interval]]]:
        """The ON intervals of ``agent``, by device: its shifts' (in roster order), then its
        assignments' that reach into ``[start, end)``, each device's merged; with its breaks
        cut out of them (a break wins over shifts and assignments)."""
        runs: list[tuple[str, Sequence[Interval]]] = [
            (device, expanded[shift]) for device, shift in self._memberships[agent]
        ]
        for device, intervals in self._dated.get(agent, {}).items():
            within = [iv for iv in intervals if iv.end >= start and iv.start < end]
            if within:
                runs.append((device, merged(within)))
        breaks = self._breaks.get(agent)
        if breaks:
            runs = [(device, cut(ivs, breaks, device)) for device, ivs in runs]
        return runs


class _Rests(dict[str, tuple[Rest, Rest]]):
    """The rests of the switches of each shift or assignment (see
    :data:`~shiftswitch.planning.steps.Switch`): its ON's and its OFF's, made at the first
    ask and shared by every switch of it."""

    def __init__(self, zones: Mapping[str | None, ZoneInfo]) -> None:
        super().__init__()
        self.zones = zones

    def __missing__(self, shift: str) -> tuple[Rest, Rest]:
        zone = self.zones[shift]
        made = self[shift] = ((True, shift, None, zone, None), (False, shift, None, zone, None))
        return made


class _Placed:
    """The switches of one agent's steps, each with the list of its instant (by_instant) and
    what making its Transition needs, column by column."""

    __slots__ = ("devices", "instants", "leads", "lists", "sinces")

    def __init__(self, found: list[Switch], by_instant: dict[datetime, list[Transition]]) -> None:
        instants, devices, rests, sinces = zip(*found, strict=True) if found else ((),) * 4
        self.instants: Sequence[datetime] = instants
        self.lists = list(map(by_instant.__getitem__, instants))
        self.leads = [(at, *rest) for at, rest in zip(instants, rests, strict=True)]
        self.devices: Sequence[str] = devices
        self.sinces: Sequence[datetime | None] = sinces


def _head(agent: Agent, device: tuple[str, Device]) -> tuple[object, ...]:
    """The fields of a Transition of ``agent`` after ``boundary``: the agent's own."""
    name, d = device
    ref: tuple[str | None, str | None] = (d.ref, None) if d.kind == "id" else (None, d.ref)
    return (agent.name, agent.account, agent.user_id, name, *ref)


def _order(t: Transition) -> tuple[datetime, str, str, bool, str]:
    return (t.at, t.account, t.agent, t.available, t.device)
