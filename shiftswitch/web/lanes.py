"""The timeline's rows: for each agent of a page, the planned bars, the confirmed bars beneath,
and the marks, from the plan of the window and a few reads of the results tables bounded by
the page's agents (a hundred at most, whatever the roster's size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from shiftswitch import window_queries
from shiftswitch.planning.plancache import Plan
from shiftswitch.roster.model import Assignment, Roster
from shiftswitch.web.timeline import (
    Bar,
    Mark,
    Switch,
    Window,
    break_marks,
    confirmed_bars,
    initial_label,
    override_marks,
    placed,
    planned_bars,
)

PAGE = 100
LATE = timedelta(days=1)  # a switch confirmed this long after it was due is still looked for


@dataclass(slots=True)
class Lane:
    """One agent's row: its bars and marks, placed on the window."""

    agent: str
    account: str
    planned: list[tuple[Bar | Mark, float, float]] = field(default_factory=list)
    confirmed: list[tuple[Bar | Mark, float, float]] = field(default_factory=list)
    marks: list[tuple[Bar | Mark, float, float]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which agents a timeline page shows: filtered by account, shift and name, then paged."""

    account: str = ""
    shift: str = ""
    search: str = ""
    page: int = 1

    def agents(self, roster: Roster) -> tuple[list[str], int, int]:
        """(the page's agents, how many match, pages)."""
        names: Sequence[str]
        if self.shift:
            found = next((s for s in roster.shifts if s.name == self.shift), None)
            names = sorted({m.agent for m in found.members}) if found else []
        else:
            names = sorted(roster.agents)
        needle = self.search.strip().lower()
        matching = [
            n
            for n in names
            if (not needle or needle in n.lower())
            and (not self.account or roster.agents[n].account == self.account)
        ]
        pages = max(1, -(-len(matching) // PAGE))
        page = min(max(1, self.page), pages)
        return matching[(page - 1) * PAGE : page * PAGE], len(matching), pages


def lanes(
    engine: Engine, roster: Roster, plan: Plan, window: Window, agents: list[str], now: datetime
) -> list[Lane]:
    """The rows of ``agents`` on ``window`` (whose plan is ``plan``)."""
    if not agents:
        return []
    switches, before, states, failures, holds, drift = _read(engine, window, agents)
    wanted = set(agents)
    breaks: dict[str, list[Assignment]] = {}
    for a in roster.assignments:  # one pass, whatever the page
        if a.off and a.agent in wanted and a.start < window.end and a.end > window.start:
            breaks.setdefault(a.agent, []).append(a)
    out: list[Lane] = []
    for name in agents:
        agent = roster.agents[name]
        lane = Lane(name, agent.account)
        device = plan.initial.get(name)
        planned = planned_bars(
            device,
            plan.by_agent.get(name, ()),
            window,
            initial_label=initial_label(roster, name, device, window.start),
        )
        lane.planned = placed(planned, window)
        confirmed = confirmed_bars(before.get(name, {}), switches.get(name, []), window, now)
        confirmed.extend(read_bars(states.get(name, {}), confirmed, window, now))
        lane.confirmed = placed(confirmed, window)
        own = [o for o in roster.overrides if o.agent == name]
        marks: list[Mark] = [*override_marks(own, window)]
        marks.extend(break_marks(breaks.get(name, ()), window))
        marks.extend(failures.get(name, ()))
        marks.extend(holds.get(name, ()))
        marks.extend(drift.get(name, ()))
        lane.marks = placed(marks, window)
        out.append(lane)
    return out


def read_bars(
    states: dict[str, datetime], confirmed: list[Bar], window: Window, now: datetime
) -> list[Bar]:
    """Devices confirmed ON by a read (a drift check, a read-back) that no confirmed switch
    shows ON up to now: a bar from the read."""
    until = min(now, window.end)
    return [
        Bar(device, max(since, window.start), until, "confirmed", "read")
        for device, since in states.items()
        if since < until and not any(b.device == device and b.end >= until for b in confirmed)
    ]


def _read(
    engine: Engine, window: Window, agents: list[str]
) -> tuple[
    dict[str, list[Switch]],
    dict[str, dict[str, Switch]],
    dict[str, dict[str, datetime]],
    dict[str, list[Mark]],
    dict[str, list[Mark]],
    dict[str, list[Mark]],
]:
    switches: dict[str, list[Switch]] = {}
    before: dict[str, dict[str, Switch]] = {}
    states: dict[str, dict[str, datetime]] = {}
    failures: dict[str, list[Mark]] = {}
    holds: dict[str, list[Mark]] = {}
    drift: dict[str, list[Mark]] = {}
    start, end = window.start, window.end
    with engine.connect() as conn:
        in_window = window_queries.switches_finished(
            conn, agents, start, end, due_from=start - LATE
        )
        earlier = window_queries.last_switches_before(conn, agents, start)
        for rows, sink in ((in_window, None), (earlier, before)):
            for agent, device, on, at, source, id_ in rows:
                if agent is None or device is None or at is None:
                    continue
                s = Switch(device, on, at, source, id_)
                if sink is None:
                    switches.setdefault(agent, []).append(s)
                else:
                    sink.setdefault(agent, {})[device] = s
        for agent, device, at in window_queries.on_since(conn, agents):
            if agent is not None and device is not None:
                states.setdefault(agent, {})[device] = at
        for (
            id_,
            agent,
            device,
            status,
            on,
            due,
            reason,
            http,
            error,
        ) in window_queries.unsuccessful_due(conn, agents, start, end):
            if agent is None:
                continue
            code = f" HTTP {http}" if http else ""
            text = f"{status}: {device} {'ON' if on else 'OFF'}{code}: {reason or error or ''}"
            failures.setdefault(agent, []).append(Mark(str(status), due, due, text.strip(), id_))
        for agent, device, on, begins, until, by in window_queries.holds_overlapping(
            conn, agents, start, end
        ):
            text = f"hold: {device} {'ON' if on else 'OFF'} until {until:%Y-%m-%d %H:%M}Z, by {by}"
            holds.setdefault(agent, []).append(
                Mark("hold", max(begins, start), min(until, end), text)
            )
        wanted = set(agents)
        for at, findings in window_queries.findings_between(conn, start, end):
            for f in findings or ():
                agent = str(f.get("agent")) if isinstance(f, dict) else ""
                if agent in wanted:
                    found = f.get("found")
                    state = "missing" if found is None else "ON" if found else "OFF"
                    wants = "ON" if f.get("wanted") else "OFF"
                    text = f"drift: {f.get('device')} found {state}, wanted {wants}"
                    drift.setdefault(str(agent), []).append(Mark("drift", at, at, text))
    return switches, before, states, failures, holds, drift
