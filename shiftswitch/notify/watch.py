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

AFTER = timedelta(seconds=60)


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
