"""One agent's desired device over time, as steps, and the switches between (README: How
switching works).

The planner (:mod:`shiftswitch.planning.planner`) gives each agent the ON intervals of its
memberships (``runs``: device and merged intervals, in roster order) and its overrides; here
they become a step function of the desired device (``None`` = every device OFF) and then the
switches that its changes make. Overrides win; of two devices wanted at once (a conflict) the
one of the shift listed first in the roster. A step is a plain tuple ``(at, device, on, off,
override)``, as :class:`Step` names its fields: agents share them by the thousand, so they are
made cheaply.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, repeat
from typing import NamedTuple
from zoneinfo import ZoneInfo

from shiftswitch.planning.occurrences import Interval
from shiftswitch.roster.model import Override


class Step(NamedTuple):
    """From ``at`` until the next step, the agent's desired device (``None``: all OFF)."""

    at: datetime
    device: str | None
    on: str | None  # the shift that switched ``device`` ON
    off: str | None  # the shift whose end will switch it OFF
    override: str | None  # the override in force, if any


# The same fields as a plain tuple: what the fast paths below make.
StepTuple = tuple[datetime, str | None, str | None, str | None, str | None]

# A switch: instant, device, the fields of its Transition after the agent's (available, shift,
# override, zone, boundary) and when the agent last changed before it (``None``: not since the
# window's start; its own instant for an OFF, or for an ON right after an OFF).
Rest = tuple[bool, str | None, str | None, ZoneInfo, None]
Switch = tuple[datetime, str, Rest, datetime | None]

_UNLISTED = (1 << 62, "")  # after every (rank, shift)


@dataclass(frozen=True, slots=True)
class Conflict:
    """An agent wanted ON on two devices at once, by two shifts, first at ``at``."""

    agent: str
    at: datetime
    devices: tuple[str, str]
    shifts: tuple[str, str]


def switches(
    steps: Sequence[StepTuple],
    start: datetime,
    end: datetime,
    shift_zones: Mapping[str | None, ZoneInfo],
    override_zones: Mapping[str, ZoneInfo],
) -> list[Switch]:
    """The switches that the changes of ``steps`` in ``[start, end)`` make, in order: at one
    instant the OFF of the device left, then the ON of the device taken. An OFF is caused by
    the override that begins then, else by what ends then. ``shift_zones`` also maps ``None``
    (the roster's zone)."""
    out: list[Switch] = []
    was: str | None = None  # the device of the previous step
    was_at: datetime | None = None  # and its instant (None: no previous step)
    was_off: str | None = None
    was_override: str | None = None
    for at, device, on, off, override in steps:
        if device != was and start <= at < end:
            if was is not None:
                if override is not None:
                    rest: Rest = (False, None, override, override_zones[override], None)
                else:
                    zone = override_zones[was_override] if was_override else shift_zones[was_off]
                    rest = (False, was_off, was_override, zone, None)
                out.append((at, was, rest, at))
            if device is not None:
                zone = override_zones[override] if override else shift_zones[on]
                since = at if was is not None else was_at
                out.append((at, device, (True, on, override, zone, None), since))
        was, was_at, was_off, was_override = device, at, off, override
    return out


def steps_without_overrides(
    runs: Sequence[tuple[str, Sequence[Interval]]],
    end: datetime,
    conflicts: tuple[str, list[Conflict], datetime] | None = None,
) -> list[StepTuple]:
    """As :func:`step_function` for an agent without overrides, in less time; ``conflicts``
    is the agent, the list to add its conflicts to, and ``also_at`` (see there).

    The intervals of the agent's shifts fall into groups, apart from one another, of intervals
    that overlap or touch (:func:`_groups`): a group of one device is simply an ON and an OFF
    (:func:`_held`); only a group of two devices (a conflict) needs the sweep, and only among
    its own.
    """
    steps: list[StepTuple] = []
    for group, reach in _groups(runs):
        held = _held(group, runs, reach)
        if held is None:
            own = [
                (device, [iv for iv, k in group if k == j]) for j, (device, _) in enumerate(runs)
            ]
            if conflicts is None:
                steps += step_function("", own, (), end, None)
            else:
                agent, sink, also_at = conflicts
                inside = also_at if group[0][0].start <= also_at < reach else None
                steps += step_function(agent, own, (), end, sink, inside)
            continue
        begin, device, on, off = held
        steps.append((begin, device, on, off, None))
        if reach < end:
            steps.append((reach, None, None, None, None))
    return steps


def switches_without_overrides(
    runs: Sequence[tuple[str, Sequence[Interval]]],
    start: datetime,
    end: datetime,
    rests: Mapping[str, tuple[Rest, Rest]],
    shift_zones: Mapping[str | None, ZoneInfo],
) -> list[Switch]:
    """``switches(steps_without_overrides(runs, end), start, end, ...)``, in less time: each
    group held by one device is an ON at its start and an OFF at its reach, made here at
    once. ``rests`` gives the rests of each shift's ON and OFF (see :data:`Switch`)."""
    out: list[Switch] = []
    was_at: datetime | None = None  # the instant of the agent's previous step
    for held in _held_runs(runs):
        if held is None:  # two devices at once: a conflict, which valid rosters do not have
            steps = steps_without_overrides(runs, end)
            return switches(steps, start, end, shift_zones, {})
        begin, device, on, off, reach = held
        if start <= begin < end:
            out.append((begin, device, rests[on][0], was_at))
        if reach < end:
            if start <= reach:
                out.append((reach, device, rests[off][1], reach))
            was_at = reach
    return out


def _held_runs(
    runs: Sequence[tuple[str, Sequence[Interval]]],
) -> Iterator[tuple[datetime, str, str, str, datetime] | None]:
    """Each group of ``runs`` held by one device (see :func:`_held`), with its reach; None for
    a group of two devices. The intervals of a single run are apart already: each is a group,
    taken without grouping."""
    if len(runs) == 1:
        device, intervals = runs[0]
        for begin, reach, shift in intervals:
            yield begin, device, shift, shift, reach
        return
    for group, reach in _groups(runs):
        held = _held(group, runs, reach)
        yield None if held is None else (*held, reach)


def _groups(
    runs: Sequence[tuple[str, Sequence[Interval]]],
) -> Iterator[tuple[list[tuple[Interval, int]], datetime]]:
    """The groups of intervals of ``runs`` (each with the rank of its run) that overlap or
    touch, in time order, each with its reach (its last end). The intervals of one run are
    apart already: alone, each is a group."""
    if len(runs) == 1:
        for iv in runs[0][1]:
            yield [(iv, 0)], iv.end
        return
    # By start (then end, shift and rank: any order of equal starts gives the same groups).
    ordered = sorted(chain.from_iterable(zip(ivs, repeat(j)) for j, (_, ivs) in enumerate(runs)))
    if not ordered:
        return
    group, reach = [ordered[0]], ordered[0][0].end
    for item in ordered[1:]:
        iv = item[0]
        if iv.start <= reach:
            group.append(item)
            reach = max(reach, iv.end)
        else:
            yield group, reach
            group, reach = [item], iv.end
    yield group, reach


def _held(
    group: Sequence[tuple[Interval, int]],
    runs: Sequence[tuple[str, Sequence[Interval]]],
    reach: datetime,
) -> tuple[datetime, str, str, str] | None:
    """For a group of intervals (with the rank of their run) that overlap or touch, up to
    ``reach``, all of one device: that device is ON throughout. Its start, the device, the
    shift of its ON (the first listed of those that begin then) and of its OFF (the first
    listed of those ON since the last instant before ``reach`` at which one began or ended:
    there the sweep last looks). ``None`` if the group has two devices."""
    if len(group) == 1:
        (begin, _, shift), j = group[0]
        return begin, runs[j][0], shift, shift
    device = runs[group[0][1]][0]
    begin = last = group[0][0].start
    for iv, j in group:
        if runs[j][0] != device:
            return None
        last = max(last, iv.start)
        if last < iv.end < reach:
            last = iv.end
    on = off = _UNLISTED  # (rank, shift) of the first listed
    for iv, j in group:
        if iv.start <= begin < iv.end and (j, iv.shift) < on:
            on = (j, iv.shift)
        if iv.start <= last < iv.end and (j, iv.shift) < off:
            off = (j, iv.shift)
    return begin, device, on[1], off[1]


def step_function(
    agent: str,
    runs: Sequence[tuple[str, Sequence[Interval]]],
    overrides: Sequence[Override],
    end: datetime,
    conflicts: list[Conflict] | None,
    also_at: datetime | None = None,
) -> list[StepTuple]:
    """An agent's step function up to ``end``, from the ON intervals of its memberships
    (``runs``: device and intervals, in roster order) and its overrides (by start).

    Overrides win. Otherwise, of the shifts active at an instant, the one listed first in the
    roster decides the device: a rule that needs nothing but that instant, so every window
    agrees on it. (Two devices wanted at once is a conflict, which validation refuses for the
    next 28 days; this keeps the planner safe beyond.) ``also_at``: one more instant to look
    at (where a conflict already under way is to be found).
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
    steps: list[StepTuple] = []
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
        step: StepTuple
        if override is not None:
            step = (point, override.device, None, None, override.label)
        elif winner is not None:
            step = (point, winner[0], winner[1].shift, winner[1].shift, None)
        else:
            step = (point, None, None, None, None)
        if steps and steps[-1][1] == step[1] and steps[-1][4] == step[4]:
            # Still the same device: no switch, but remember which shift now holds it.
            steps[-1] = (*steps[-1][:3], step[3], steps[-1][4])
            continue
        steps.append(step)
    return steps
