"""Notifications in a process (README: Notifications): its configuration, read once, and its
deliverer's thread."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shiftswitch import queries, redisclient
from shiftswitch.clock import Clock
from shiftswitch.coordination import Leadership
from shiftswitch.heartbeats import live_workers
from shiftswitch.logs import event
from shiftswitch.notify import outbox
from shiftswitch.notify.config import NotifyConfig, load_config
from shiftswitch.notify.deliverer import Deliverer, DelivererThread
from shiftswitch.notify.watch import (
    DevicesWatch,
    DriftWatch,
    OutagesWatch,
    RemindersWatch,
    Watch,
    Watching,
)
from shiftswitch.roster.model import Roster
from shiftswitch.settings import Settings

log = logging.getLogger("shiftswitch.notify")


@lru_cache(maxsize=8)
def configured(path: str | None) -> NotifyConfig:
    """The channels and rules of ``SHIFTSWITCH_NOTIFY`` (read once per process)."""
    return load_config(path)


def start_deliverer(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    *watching: str,
    roster: Callable[[], Roster | None] | None = None,
) -> DelivererThread | None:
    """A deliverer ticking in this process, taking its turn by the lease, and the watches of
    this kind of process (``watching``: "no_scheduler" in workers and the API server;
    "no_worker" and "exotel_down" in the scheduler, with the reminders of shift starts from
    its ``roster`` in force); None when no channel is configured."""
    config = configured(settings.notify_path)
    if not config.channels:
        return None
    redis = redisclient.client(settings.redis)
    deliverer = Deliverer(engine, config, redis=redis, public_url=settings.public_url)
    missing = [v for c, v in config.channels.items() if config.url(c) is None]
    if missing:
        # It would fail every message it took: it leaves them to a process that has them.
        note = "this process does not deliver notifications"
        event(log, logging.WARNING, "notify_not_delivering", missing=", ".join(missing), note=note)
        deliverer.delivering = False
    watches: list[Watching] = []
    for kind in watching:
        if kind in ("unknown", "rate_limited", "drift"):
            continue
        if config.channels_for(kind):
            watch = OutagesWatch() if kind == "exotel_down" else watch_for(kind, redis, engine)
            watch.after = timedelta(seconds=settings.watch_after)
            watches.append(watch)
    devices = frozenset(k for k in ("unknown", "rate_limited") if k in watching)
    if devices and any(config.channels_for(k) for k in devices):
        watches.append(DevicesWatch(devices))
    if roster is not None and config.channels_for("shift_reminder"):
        watches.append(RemindersWatch(roster, config))
    if roster is not None and "drift" in watching and config.channels_for("drift"):
        watches.append(DriftWatch(roster))
    return DelivererThread(deliverer, clock, watches).start()


def watch_for(kind: str, redis: Redis, engine: Engine) -> Watch:
    """The watch of ``kind``: no scheduler leading, or work due and no worker alive."""
    if kind == "no_scheduler":

        def no_scheduler() -> str | None:
            if Leadership.last_renewed(redis) is None:
                return "no scheduler is leading: nothing is planned or sent on time"
            return None

        return Watch("no_scheduler", "scheduler", no_scheduler)

    def no_worker() -> str | None:
        if live_workers(redis):
            return None
        with Session(engine) as session:
            waiting = queries.open_counts(session)
        due = sum(waiting.values())
        return f"no worker alive; {due} actions waiting" if due else None

    return Watch("no_worker", "workers", no_worker)


def roster_refused(
    engine: Engine, config: NotifyConfig, clock: Clock
) -> Callable[[str, str], None]:
    """What a roster source calls when it refuses an edit: ``roster_refused`` told, once per
    edit (``key``), with its first problem."""

    def told(key: str, first: str) -> None:
        with Session(engine) as session, session.begin():
            outbox.record(session, config, "roster_refused", f"roster/{key}", clock.now(),
                          {"why": first[:300], "subject": "roster"})  # fmt: skip

    return told
