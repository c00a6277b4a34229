"""The roster in force for the HTTP API: read once, looked at again at most once a second."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from http import HTTPStatus

from shiftswitch import heap
from shiftswitch.operations.context import Operations
from shiftswitch.planning.plancache import PlanCache
from shiftswitch.planning.transitions import Transition
from shiftswitch.problems import Refused, RosterError, count
from shiftswitch.roster.model import Roster
from shiftswitch.sources.source import RosterSource
from shiftswitch.sources.store import NoRoster

DAY = timedelta(hours=24)


class LiveRoster:
    """The roster in force, for a shell that lives long and answers often (the HTTP API): read
    and validated once, then looked at again at most once a second, as the scheduler does
    (a file's size and time, or the database's edit counter), so that a request costs no
    validation. An invalid edit is refused and the last good roster stays, as in the scheduler.
    """

    POLL_EVERY = 1.0  # seconds

    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self._source: RosterSource | None = None
        self._polled = 0.0
        self._lock = threading.Lock()
        self.plans = PlanCache()
        self._failed: tuple[float, Refused] | None = None

    def upcoming(self, now: datetime, agent: str | None = None) -> list[Transition]:
        """The roster's transitions of the next 24 hours (of ``agent`` if given), as
        ``Planner(roster).transitions(now, now + 24 h)`` gives them, from the plan kept."""
        plan = self.plans.around(self.get(now), now)
        return plan.between(now, now + DAY, agent)

    def get(self, now: datetime) -> Roster:
        """The roster in force; a :class:`Refused` (503) while there is none (nothing stored,
        or the roster cannot be read or is invalid), looked at again once a second."""
        with self._lock:
            if self._source is None or self._source.roster is None:
                if self._failed and time.monotonic() - self._failed[0] < self.POLL_EVERY:
                    raise self._failed[1]
                source = self.ops.roster_source(None)
                try:
                    source.load(now)
                except (RosterError, NoRoster) as exc:
                    self._failed = (time.monotonic(), not_in_force(exc))
                    raise self._failed[1] from None
                self._source, self._polled, self._failed = source, time.monotonic(), None
                heap.settle()
            elif time.monotonic() - self._polled >= self.POLL_EVERY:
                if self._source.poll(now, self.ops.controls().serials()) is not None:
                    heap.settle()
                self._polled = time.monotonic()
            assert self._source.roster is not None
            return self._source.roster

    def changed(self) -> None:
        """A change was just made here: look at the roster again at the next :meth:`get`, so
        that the caller who made it sees it at once."""
        with self._lock:
            self._polled = 0.0


def not_in_force(exc: RosterError | NoRoster) -> Refused:
    """Why there is no roster in force, as a refusal of the server's state (503), not of the
    caller's request."""
    if isinstance(exc, NoRoster):
        return Refused(str(exc), status=HTTPStatus.SERVICE_UNAVAILABLE)
    source = exc.source or "roster"
    first = exc.problems[0].render(exc.source) if exc.problems else f"{source}: invalid"
    more = len(exc.problems) - 1
    return Refused(
        f"no roster in force: {first}"
        + (f" (and {count(more, 'more problem')})" if more > 0 else "")
        + "; see 'shiftswitch roster validate' or 'shiftswitch check'",
        status=HTTPStatus.SERVICE_UNAVAILABLE,
    )
