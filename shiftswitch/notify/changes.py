"""``shift_changed`` (README: Notifications): when a roster write moves or removes a start of an
agent's work in the next 48 hours, the agent (with a ``contact``) is told, in the write's
transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from shiftswitch.notify import outbox
from shiftswitch.notify.config import NotifyConfig
from shiftswitch.planning.planner import Planner
from shiftswitch.roster.model import Roster

AHEAD = timedelta(hours=48)
SHOWN = 3  # starts named in the message


def starts_by_agent(roster: Roster, agents: set[str], now: datetime) -> dict[str, list[str]]:
    """Each of ``agents``' starts of work in the next 48 hours, as they read locally."""
    out: dict[str, list[str]] = {a: [] for a in agents}
    for t in Planner(roster).starts(now, now + AHEAD):
        if t.agent in out:
            at = (t.boundary or t.at).astimezone(t.zone)
            out[t.agent].append(f"{at:%a %d %b %H:%M} ({t.zone.key}) on {t.device}")
    return out


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
    agents = {a.name for a in after.agents.values() if a.contact}
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
