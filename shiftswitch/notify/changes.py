"""``shift_changed`` (README: Notifications): when a roster write moves or removes a start of an
agent's work in the next 48 hours, the agent (with a ``contact``) is told, in the write's
transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from types import MappingProxyType

from sqlalchemy.orm import Session

from shiftswitch.notify import outbox
from shiftswitch.notify.config import NotifyConfig
from shiftswitch.planning.planner import Planner
from shiftswitch.roster.model import Roster

AHEAD = timedelta(hours=48)
SHOWN = 3  # starts named in the message


def starts_by_agent(roster: Roster, agents: set[str], now: datetime) -> dict[str, list[str]]:
    """Each of ``agents``' starts of work in the next 48 hours, as they read locally (the
    roster planned for them alone: a few agents of 10,000 cost a few agents' planning)."""
    out: dict[str, list[str]] = {a: [] for a in agents}
    for t in Planner(only(roster, agents)).starts(now, now + AHEAD):
        if t.agent in out:
            at = (t.boundary or t.at).astimezone(t.zone)
            out[t.agent].append(f"{at:%a %d %b %H:%M} ({t.zone.key}) on {t.device}")
    return out


def only(roster: Roster, agents: set[str]) -> Roster:
    """``roster`` as it is for ``agents``: their shifts (with them alone as members), their
    assignments and overrides."""
    shifts = tuple(
        replace(s, members=tuple(m for m in s.members if m.agent in agents))
        for s in roster.shifts
        if any(m.agent in agents for m in s.members)
    )
    return replace(
        roster,
        agents=MappingProxyType({a: v for a, v in roster.agents.items() if a in agents}),
        shifts=shifts,
        assignments=tuple(a for a in roster.assignments if a.agent in agents),
        overrides=tuple(o for o in roster.overrides if o.agent in agents),
        warnings=(),
    )


Inputs = tuple[tuple[object, ...], ...]


def inputs(roster: Roster, agents: set[str]) -> dict[str, Inputs]:
    """What decides each of ``agents``' starts: its shifts (as defined) and devices, its
    assignments and its overrides."""
    shifts: dict[str, list[object]] = {a: [] for a in agents}
    for shift in roster.shifts:
        defined = replace(shift, index=0, members=())
        for m in shift.members:
            if m.agent in shifts:
                shifts[m.agent].append((defined, m.device))
    dated: dict[str, list[object]] = {a: [] for a in agents}
    for a in roster.assignments:
        if a.agent in dated:
            dated[a.agent].append((a.start, a.end, a.device, a.off))
    overrides: dict[str, list[object]] = {a: [] for a in agents}
    for o in roster.overrides:
        if o.agent in overrides:
            overrides[o.agent].append((o.start, o.end, o.device))
    return {
        a: (
            tuple(shifts[a]),
            tuple(sorted(dated[a], key=str)),
            tuple(sorted(overrides[a], key=str)),
        )
        for a in agents
    }


def tell_changes(
    session: Session,
    config: NotifyConfig,
    before: Roster | None,
    after: Roster,
    version: int,
    now: datetime,
) -> None:
    """Write ``shift_changed`` for each agent with a contact whose starts in the next 48 hours
    differ between ``before`` and ``after``, to the channels of the rules that name it."""
    rules = [r for r in config.rules if "shift_changed" in r.events]
    if before is None or not rules:
        return
    contacts = {a.name for a in after.agents.values() if a.contact and a.name in before.agents}
    was, now_is = inputs(before, contacts), inputs(after, contacts)
    agents = {a for a in contacts if was[a] != now_is[a]}  # only they can have moved
    if not agents:
        return
    old, new = starts_by_agent(before, agents, now), starts_by_agent(after, agents, now)
    for agent in sorted(agents):
        if old[agent] == new[agent]:
            continue
        shown = "; ".join(new[agent][:SHOWN]) or "none"
        more = f" and {len(new[agent]) - SHOWN} more" if len(new[agent]) > SHOWN else ""
        for rule in rules:
            outbox.record(
                session, config, "shift_changed", f"changed/{agent}/{version}", now,
                {"agent": agent, "why": f"your starts in the next 48 h are now: {shown}{more}"},
                recipient=after.agents[agent].contact, channels=rule.to,
            )  # fmt: skip
