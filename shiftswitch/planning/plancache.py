"""The plan of a window, kept while the roster stays the same: each agent's desired device at
the window's start and its transitions in it.

Planning a day of 10,000 agents takes a good part of a second on a small machine; the API's
status and agent answers and the console's pages want it many times a minute. The roster object
a server reads stays the same until the roster changes
(:class:`~shiftswitch.operations.live_roster.LiveRoster`), so the plan of a window is made once
per roster and window and what follows reads it.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from operator import attrgetter

from shiftswitch import heap
from shiftswitch.planning.planner import Planner
from shiftswitch.planning.transitions import Transition
from shiftswitch.roster.model import Roster


@dataclass(frozen=True, slots=True)
class Plan:
    """The plan of ``[start, end)``: ``initial`` maps each agent to its desired device at
    ``start`` (None: every device OFF); ``by_agent`` holds each agent's transitions in order."""

    roster: Roster
    start: datetime
    end: datetime
    initial: dict[str, str | None]
    transitions: list[Transition]
    by_agent: dict[str, list[Transition]] = field(default_factory=dict)

    def desired(self, agent: str, at: datetime) -> str | None:
        """``agent``'s desired device at ``at`` (within the window)."""
        device = self.initial.get(agent)
        for t in self.by_agent.get(agent, ()):
            if t.at > at:
                break
            if t.available:
                device = t.device
            elif device == t.device:
                device = None
        return device

    def desired_all(self, at: datetime) -> dict[str, str | None]:
        """Every agent's desired device at ``at``."""
        out = dict(self.initial)
        for t in self.transitions:
            if t.at > at:
                break
            if t.available:
                out[t.agent] = t.device
            elif out.get(t.agent) == t.device:
                out[t.agent] = None
        return out

    def between(self, start: datetime, end: datetime, agent: str | None = None) -> list[Transition]:
        """The transitions in ``[start, end)`` (within the window), of ``agent`` if given."""
        found = self.transitions if agent is None else self.by_agent.get(agent, [])
        # Both are in time order: two binary searches, not a pass over 100,000 transitions.
        return found[bisect_left(found, start, key=_at) : bisect_left(found, end, key=_at)]

    def following(self, at: datetime) -> Iterator[Transition]:
        """The transitions after ``at``, in order, read as needed (a day of 50,000 agents is
        100,000 of them; the next boundaries need their first few)."""
        return islice(self.transitions, bisect_right(self.transitions, at, key=_at), None)

    def after(self, at: datetime, limit: int) -> list[Transition]:
        """The first ``limit`` transitions after ``at``."""
        out: list[Transition] = []
        for t in self.transitions:
            if t.at > at:
                out.append(t)
                if len(out) == limit:
                    break
        return out


_at = attrgetter("at")


class PlanCache:
    """The last few plans made, by roster and window."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._plans: OrderedDict[tuple[int, datetime, datetime], Plan] = OrderedDict()
        self._lock = threading.Lock()

    def plan(self, roster: Roster, start: datetime, end: datetime) -> Plan:
        key = (id(roster), start, end)
        with self._lock:
            found = self._plans.get(key)
            if found is not None and found.roster is roster:
                self._plans.move_to_end(key)
                return found
        made = make_plan(roster, start, end)
        with self._lock:
            self._plans[key] = made
            while len(self._plans) > self.size:
                self._plans.popitem(last=False)
        heap.settle()
        return made

    def around(self, roster: Roster, now: datetime, hours: int = 26) -> Plan:
        """A plan from the hour before ``now`` to ``hours`` later: the Now page's (made once
        an hour)."""
        start = now.replace(minute=0, second=0, microsecond=0)
        return self.plan(roster, start, start + timedelta(hours=hours))


def make_plan(roster: Roster, start: datetime, end: datetime) -> Plan:
    with heap.paused():  # tens of thousands of new tuples, no cycles
        planner = Planner(roster)
        transitions = planner.transitions(start, end)
    by_agent: dict[str, list[Transition]] = defaultdict(list)
    for t in transitions:
        by_agent[t.agent].append(t)
    return Plan(roster, start, end, planner.desired(start), transitions, dict(by_agent))
