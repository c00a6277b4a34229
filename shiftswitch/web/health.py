"""The Operations page's view of the installation: the ``check`` results that answer at once
(database, Redis, the roster in force), the workers alive by their heartbeats, the scheduler by
its lease, the queue, and the failures of the last 24 hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shiftswitch import broker, health
from shiftswitch.coordination import Leadership
from shiftswitch.health import Check
from shiftswitch.heartbeats import live_workers, read_beats
from shiftswitch.models import Action
from shiftswitch.queries import recent_failures
from shiftswitch.settings import Settings


@dataclass(frozen=True, slots=True)
class Queue:
    waiting: int  # messages in the queue
    taken: int  # taken by workers, not yet acknowledged
    kept: int = 0  # users the workers keep through a short wait, in no message


def checks(settings: Settings, redis: Redis, roster_line: tuple[bool, str]) -> list[Check]:
    """Database, Redis, roster, workers and scheduler, each in one line."""
    out = [health.database(settings), health.redis(settings)]
    out.append(Check("roster", *roster_line))
    try:
        workers = live_workers(redis)
        out.append(
            Check("workers", True, f"{len(workers)} alive: {', '.join(workers)}")
            if workers
            else Check("workers", False, "no worker's heartbeat: is 'shiftswitch worker' running?")
        )
        ago = Leadership.last_renewed(redis)
        if ago is not None:
            out.append(Check("scheduler", True, f"leading; last tick about {ago:.0f} s ago"))
        else:
            out.append(Check("scheduler", False, "no scheduler holds the lead: is one running?"))
    except RedisError as exc:
        out.append(Check("workers", False, f"cannot ask Redis: {exc.__class__.__name__}"))
    return out


def queue(redis: Redis) -> Queue | None:
    try:
        waiting, taken = int(redis.llen(broker.QUEUE)), int(redis.hlen(broker.UNACKED_KEY))
    except RedisError:
        return None
    try:
        return Queue(waiting, taken, read_beats(redis).kept)
    except (RedisError, ValueError, KeyError, TypeError):  # a heartbeat not of this version
        return Queue(waiting, taken)


@dataclass(frozen=True, slots=True)
class Failure:
    """The newest of the failures of one device's switch alike (the same change, outcome and
    Exotel error): each reconcile or retry of it makes another action, shown once with how many
    there were since the first."""

    action: Action
    times: int
    first: datetime


def failures(engine: Engine, now: datetime, limit: int = 100) -> list[Failure]:
    """The failed and blocked actions due in the last 24 hours, alike ones as one, newest
    first."""
    with Session(engine) as session:
        found = recent_failures(session, now, limit * 10)
    alike: dict[tuple[object, ...], list[Action]] = {}
    for a in found:  # newest first
        key = (a.account, a.agent or a.user_id, a.device or a.device_id, a.kind, a.wants_on,
               a.status, a.last_http_code, a.error_code)  # fmt: skip
        alike.setdefault(key, []).append(a)
    out = [Failure(group[0], len(group), group[-1].due_at) for group in alike.values()]
    return out[:limit]
