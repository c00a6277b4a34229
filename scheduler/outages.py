"""A scheduler's ticks while a part it needs is down: one line when the outage begins, naming
the part (the database, Redis) and why, one when ticks succeed again; nothing per failed tick
in between, and a traceback only for a failure of no known part (once per outage)."""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from shiftswitch.db import first_line

log = logging.getLogger("shiftswitch.scheduler")


def part_of(exc: BaseException) -> str | None:
    """The part a tick's failure comes from: ``database``, ``Redis``, or None (not known)."""
    if isinstance(exc, SQLAlchemyError):
        return "database"
    if isinstance(exc, RedisError | BrokerError | ConnectionError):
        return "Redis"
    return None


def said(exc: BaseException) -> str:
    """The failure in one line, without the layers that wrap it."""
    return first_line(exc).rstrip(".")


class Outage:
    """What failed at the last tick (None: it succeeded), to say each outage once."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.part: str | None = None
        self.ticks = 0  # failed ticks in this outage

    def failed(self, exc: Exception) -> None:
        part = part_of(exc) or "unexpected"
        self.ticks += 1
        if part == self.part:
            log.debug("tick failed again: %s: %s", part, said(exc))
            return
        self.part = part
        retry = f"trying again every {self.every:g} s"
        if part == "unexpected":
            log.exception("tick failed: %s; %s", said(exc), retry)
        else:
            log.error("tick failed: %s unreachable or failing: %s; %s", part, said(exc), retry)

    def ticked(self) -> None:
        if self.part is not None:
            log.warning(
                "ticks again: %s answers (%d ticks failed)",
                "the database" if self.part == "database" else self.part,
                self.ticks,
            )
        self.part, self.ticks = None, 0
