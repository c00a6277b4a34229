"""One agent at a glance: its devices and what Exotel last confirmed of each, its shifts,
overrides and holds, its switches ahead and its recent actions with their HTTP attempts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from shiftswitch.actions import ActionStore
from shiftswitch.cron import in_words
from shiftswitch.holds import ahead_with_holds
from shiftswitch.manual import unknown_agent
from shiftswitch.models import DeviceState
from shiftswitch.planning.planner import Planner
from shiftswitch.planning.transitions import Transition
from shiftswitch.problems import not_found
from shiftswitch.queries import attempts_of, holds_not_over, newest_actions, states_of
from shiftswitch.reports import action_row, iso
from shiftswitch.roster.dump import duration
from shiftswitch.roster.model import Roster

AHEAD = timedelta(hours=24)


def agent_page(
    store: ActionStore,
    roster: Roster,
    agent: str,
    now: datetime,
    *,
    recent: int = 20,
    ahead: Sequence[Transition] | None = None,
    desired: Callable[[str, datetime], str | None] | None = None,
) -> dict[str, Any]:
    """Everything shiftswitch knows of ``agent`` (a :class:`Refused` 404 for an unknown one).
    ``ahead``: the roster's transitions of the next 24 hours, and ``desired``: the roster's
    device for an agent at an instant, when the caller has them (a plan kept). The changes
    ahead are as they will happen: a hold keeps some from happening, and its end is one."""
    if agent not in roster.agents:
        raise not_found(unknown_agent(roster, agent), place="agent")
    a = roster.agents[agent]
    with store.sessions() as session:
        states = states_of(session, agent)
        holds = holds_not_over(session, now, agent)
        actions = newest_actions(session, recent, agent=agent)
        attempts = attempts_of(session, [x.id for x in actions])
    if ahead is None or desired is None:
        planner = Planner(roster)
        ahead = planner.transitions(now, now + AHEAD) if ahead is None else ahead
        desired = desired or (lambda name, at: planner.desired(at).get(name))
    theirs = [t for t in ahead if t.agent == agent]
    mine = [
        t.as_json()
        for t in ahead_with_holds(theirs, holds, roster, desired, now, ends_before=now + AHEAD)
    ]
    return {
        "agent": agent,
        "account": a.account,
        "user_id": a.user_id,
        "timezone": roster.zone.key,
        "devices": [
            {
                "device": name,
                "ref": d.ref,
                "kind": d.kind,
                "confirmed": _state(states.get(name)),
            }
            for name, d in a.devices.items()
        ],
        "shifts": [
            {
                "name": s.name,
                "start": s.start,
                "start_words": in_words(s.start),
                "end": s.end,
                "end_words": in_words(s.end) if s.end else None,
                "duration": duration(s.duration) if s.duration else None,
                "timezone": s.zone.key,
                "device": m.device,
            }
            for s in roster.shifts
            for m in s.members
            if m.agent == agent
        ],
        "overrides": [
            {
                "device": o.device,
                "off": o.device is None,
                "from": iso(o.start),
                "to": iso(o.end),
                "reason": o.reason,
            }
            for o in roster.overrides
            if o.agent == agent and o.end > now
        ],
        "holds": [
            {
                "id": h.id,
                "device": h.device,
                "available": h.available,
                "until": iso(h.until),
                "by": h.created_by,
                "reason": h.reason,
            }
            for h in holds
        ],
        "next": mine,
        "actions": [
            {
                **action_row(x),
                "attempt_list": [
                    {
                        "number": t.number,
                        "request": t.request,
                        "at": iso(t.at),
                        "duration_ms": t.duration_ms,
                        "http_code": t.http_code,
                        "outcome": t.outcome,
                        "error_code": t.error_code,
                        "error": t.error,
                        "retry_delay": t.retry_delay,
                    }
                    for t in attempts.get(x.id, [])
                ],
            }
            for x in actions
        ],
    }


def _state(s: DeviceState | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "available": s.available,
        "at": iso(s.confirmed_at),
        "device_id": s.device_id,
        "action_id": s.action_id,
    }
