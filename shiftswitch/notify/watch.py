"""Watching the watchers (README: Notifications): a condition that no process can report on
itself, noticed by the others. The scheduler notices ``no_worker`` (work is due and no worker
has been alive for :data:`AFTER`); the workers and the API server notice ``no_scheduler`` (no
scheduler has led for :data:`AFTER`). Each runs in its process's notification thread; the first
process to notice opens the condition, and the first to see it cleared tells ``recovered``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shiftswitch import queries
from shiftswitch.notify import outbox
from shiftswitch.notify.config import NotifyConfig
from shiftswitch.planning.planner import Planner
from shiftswitch.roster.model import Roster

AFTER = timedelta(seconds=60)
LOOK_BACK = timedelta(seconds=10)  # reminders due this long before a start are still sent


class Watching(Protocol):
    after: timedelta

    def check(self, engine: Engine, config: NotifyConfig, now: datetime) -> None: ...


@dataclass
class Watch:
    """One condition: ``bad()`` says whether it holds now (and why); held for ``after`` in a
    row (``SHIFTSWITCH_WATCH_AFTER``, :data:`AFTER` by default), it is opened; once it no
    longer holds, closed."""

    kind: str
    subject: str
    bad: Callable[[], str | None]
    after: timedelta = AFTER
    since: datetime | None = None

    def check(self, engine: Engine, config: NotifyConfig, now: datetime) -> None:
        why = self.bad()
        with Session(engine) as session, session.begin():
            if why is None:
                self.since = None
                outbox.close_condition(session, config, self.kind, self.subject, now)
                return
            if self.since is None:
                self.since = now
            if now - self.since >= self.after:
                outbox.open_condition(session, config, self.kind, self.subject, now, {"why": why})


@dataclass
class OutagesWatch:
    """``exotel_down``: an account's Exotel failing every request (an outage the workers
    recorded, README: When Exotel is down) for :data:`AFTER`; recovered when the outage ends."""

    after: timedelta = AFTER

    def check(self, engine: Engine, config: NotifyConfig, now: datetime) -> None:
        with Session(engine) as session, session.begin():
            down = {o.account: o for o in queries.open_outages(session)}
            for account, outage in down.items():
                if now - outage.started_at >= self.after:
                    why = f"every request failing since {outage.started_at:%H:%M:%S}Z"
                    detail = {"account": account, "why": f"{why}: {outage.error[:200]}"}
                    outbox.open_condition(session, config, "exotel_down", account, now, detail)
            for account in outbox.open_conditions(session, "exotel_down"):
                if account not in down:
                    outbox.close_condition(session, config, "exotel_down", account, now)


class RemindersWatch:
    """``shift_reminder``: for each rule that names it, each agent with a ``contact`` is told
    of each shift start ``before`` it (the rule's), once (the event's key is the agent and the
    start). ``roster()`` gives the roster in force (the scheduler's), read at each look."""

    after = AFTER  # unused: reminders are due at their time, not after a condition lasts

    def __init__(self, roster: Callable[[], Roster | None], config: NotifyConfig) -> None:
        self.roster = roster
        self.rules = [r for r in config.rules if "shift_reminder" in r.events]
        self._planned: tuple[int, Planner, dict[str, str]] | None = None
        self._looked: datetime | None = None

    def check(self, engine: Engine, config: NotifyConfig, now: datetime) -> None:
        roster = self.roster()
        if roster is None or not self.rules:
            return
        planner, labels = self._planner(roster)
        since = self._looked or now - LOOK_BACK
        with Session(engine) as session, session.begin():
            for rule in self.rules:
                before = rule.before or timedelta(minutes=10)
                for t in planner.starts(since + before, now + before):
                    contact = roster.agents[t.agent].contact
                    if contact is None:
                        continue
                    at = (t.boundary or t.at).astimezone(t.zone)
                    outbox.record(
                        session, config, "shift_reminder",
                        f"reminder/{t.agent}/{at.isoformat()}/{before.total_seconds():g}",
                        now,
                        {"agent": t.agent, "device": t.device,
                         "shift": labels.get(t.shift or "", t.shift or ""),
                         "local": f"{at:%H:%M} ({t.zone.key}) on {at:%a %d %b}"},
                        recipient=contact, channels=rule.to,
                    )  # fmt: skip
        self._looked = now  # once written: a failed look is looked at again

    def _planner(self, roster: Roster) -> tuple[Planner, dict[str, str]]:
        """The roster's planner, and the planner's own names of its assignments (their
        ``shift:`` labels), made once per roster."""
        if self._planned is None or self._planned[0] != id(roster):
            labels = {a.label: a.shift for a in roster.assignments if a.shift}
            self._planned = (id(roster), Planner(roster), labels)
        return self._planned[1], self._planned[2]


UNKNOWN_AFTER = timedelta(minutes=10)
RATE_WINDOW = timedelta(minutes=10)


@dataclass
class DevicesWatch:
    """``unknown``: devices whose state has been unknown (a request to them unanswered) for
    over :data:`UNKNOWN_AFTER`; and ``rate_limited``: an account's requests answered 429 more
    than 1 in 100 over :data:`RATE_WINDOW`. Each recovered when it no longer holds."""

    kinds: frozenset[str]
    after: timedelta = AFTER  # unused: each has its own window

    def check(self, engine: Engine, config: NotifyConfig, now: datetime) -> None:
        with Session(engine) as session, session.begin():
            if "unknown" in self.kinds:
                self._unknown(session, config, now)
            if "rate_limited" in self.kinds:
                self._rate_limited(session, config, now)

    def _unknown(self, session: Session, config: NotifyConfig, now: datetime) -> None:
        stale = queries.unknown_since(session, now - UNKNOWN_AFTER)
        if stale:
            first = stale[0]
            why = (
                f"{len(stale)} devices unknown for over 10 minutes (a request unanswered), "
                f"the first {first.agent} {first.device} since {first.since:%H:%M:%S}Z"
            )
            outbox.open_condition(session, config, "unknown", "devices", now, {"why": why})
        else:
            outbox.close_condition(session, config, "unknown", "devices", now)

    def _rate_limited(self, session: Session, config: NotifyConfig, now: datetime) -> None:
        counts = queries.refusals_by_account(session, now - RATE_WINDOW)
        # Opened above 1 in 100; closed only below 1 in 200, so a share hovering at 1 in 100
        # does not alert and clear again and again.
        already = set(outbox.open_conditions(session, "rate_limited"))
        over = {
            a
            for a, (n, refused) in counts.items()
            if refused > 1 and refused * (200 if a in already else 100) > n
        }
        for account in over:
            n, refused = counts[account]
            why = f"{refused} of {n} requests answered 429 in 10 minutes"
            outbox.open_condition(session, config, "rate_limited", account, now,
                                  {"account": account, "why": why})  # fmt: skip
        for account in outbox.open_conditions(session, "rate_limited"):
            if account not in over:
                outbox.close_condition(session, config, "rate_limited", account, now)


DRIFT_AFTER = timedelta(minutes=2)
DRIFT_EVERY = timedelta(seconds=60)  # the desired state of every agent: once a minute


class DriftWatch:
    """``drift``: devices Exotel confirms in another state than the roster wants, with no
    switch under way to correct them, seen so for :data:`DRIFT_AFTER` (the corrections did not
    fix them); recovered when none is left. ``roster()`` is the roster in force."""

    after = DRIFT_AFTER

    def __init__(self, roster: Callable[[], Roster | None]) -> None:
        self.roster = roster
        self._seen: dict[tuple[str, str], datetime] = {}  # drifted, first seen
        self._looked: datetime | None = None
        self._planned: tuple[int, Planner] | None = None

    def check(self, engine: Engine, config: NotifyConfig, now: datetime) -> None:
        roster = self.roster()
        if roster is None or (self._looked is not None and now - self._looked < DRIFT_EVERY):
            return
        self._looked = now
        if self._planned is None or self._planned[0] != id(roster):
            self._planned = (id(roster), Planner(roster))
        desired = self._planned[1].desired(now)
        with Session(engine) as session, session.begin():
            busy = queries.open_switches(session)
            drifted = {
                (agent, device): bool(on)
                for agent, device, on in queries.confirmed_states(session)
                if agent in desired and (agent, device) not in busy
                and bool(on) is not (desired[agent] == device)
            }  # fmt: skip
            self._seen = {k: self._seen.get(k, now) for k in drifted}
            lasting = sorted(k for k, since in self._seen.items() if now - since >= self.after)
            if lasting:
                agent, device = lasting[0]
                state = "ON" if drifted[(agent, device)] else "OFF"
                why = (f"{len(lasting)} devices off their desired state for over 2 minutes, "
                       f"the first {agent} {device} {state}")  # fmt: skip
                outbox.open_condition(session, config, "drift", "devices", now, {"why": why})
            elif not drifted:
                outbox.close_condition(session, config, "drift", "devices", now)
