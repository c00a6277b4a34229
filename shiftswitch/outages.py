"""When an account's Exotel is down (README: When Exotel is down): noticed once, waited out
without spending requests, probed at a steady cadence, and left within seconds of its return.

- A worker process notices it (:class:`FailureRuns`): :data:`DOWN_AFTER` requests in a row to
  the account failed with a 5xx, a timeout or a refused connection (a 429 is an answer), over
  at least :data:`DOWN_SPAN` seconds, of two actions or more (of one action alone, twice as
  many). It records the outage (:meth:`Outages.begin`): one
  ``exotel_outages`` row, open while it has no end, and one log line.
- While an outage is open nothing is sent for the account (:func:`held_back`): a worker leaves
  its actions ``pending`` (a planned retry is not waited for, no attempt is spent), the
  scheduler does not hand them to the broker and reads nothing of the account.
- The leading scheduler probes the account every :data:`PROBE_EVERY` (one ``GET`` of one
  user). At the first answer it ends the outage (:meth:`Outages.end`): the account's open
  actions lose their planned retries and go back to ``pending``; the scheduler enqueues them at
  once and reconciles, so that every device is set right within seconds of Exotel's return,
  whatever the phase of the periodic reconcile.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, exists, or_, select, update
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.expression import ColumnElement

from shiftswitch.exotel import Kind, Outcome
from shiftswitch.holds import bump, paused_condition
from shiftswitch.models import UNSENT_STATUSES, Action, ExotelOutage, Status
from shiftswitch.queries import open_outages

DOWN_AFTER = 3  # requests in a row to an account that failed ...
DOWN_SPAN = 2.0  # ... over at least this many seconds: its Exotel is down
RUN_GAP = 60.0  # seconds: a failure this long after the one before starts a new run
PROBE_EVERY = timedelta(seconds=5)
# A scheduler that cannot probe an account (its credentials are not in the scheduler's
# environment) ends the outage after this long, and the workers try again.
UNPROBED_END = timedelta(seconds=30)


def failed_request(outcome: Outcome) -> bool:
    """A request that says the gateway is down: a 5xx, a timeout, a refused connection."""
    return outcome.kind is Kind.RETRY and outcome.http_code != 429


def answered(outcome: Outcome) -> bool:
    """A request the gateway answered (a 4xx and a 429 too): it is up."""
    return outcome.http_code is not None and outcome.http_code < 500


@dataclass(slots=True)
class _Run:
    count: int
    since: float  # monotonic seconds: the first failure
    last: float  # the latest
    actions: set[int]  # the actions whose requests failed (the first few)
    recorded: bool = False  # the outage it shows is recorded


class FailureRuns:
    """The requests in a row that failed, per account, as one process saw them (in memory:
    what every process sees alike needs no sharing, and a request that fails costs nothing
    more). Thread-safe.

    A run shows an outage when :data:`DOWN_AFTER` requests in a row failed over at least
    :data:`DOWN_SPAN` seconds, of two actions or more; one action's own retries show one only
    after twice as many (a device that Exotel alone fails is no outage of the account). A
    failure more than :data:`RUN_GAP` after the one before starts a new run."""

    def __init__(self, after: int = DOWN_AFTER, span: float = DOWN_SPAN) -> None:
        self.after = after
        self.span = span
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    def failed(self, account: str, at: float, action: int) -> tuple[int, str | None]:
        """Count a failed request of ``account`` for ``action``, sent at ``at`` (monotonic
        seconds). Returns the run's length, and when the run says the account's Exotel is
        down, the run in words (such as "3 requests in a row over 2.4 s"), else None."""
        with self._lock:
            run = self._runs.get(account)
            if run is None or at - run.last > RUN_GAP:
                run = self._runs[account] = _Run(0, at, at, set())
            run.count += 1
            run.last = max(run.last, at)
            if len(run.actions) < 2:
                run.actions.add(action)
            span = at - run.since
            enough = self.after if len(run.actions) > 1 else 2 * self.after
            if run.count >= enough and span >= self.span:
                return run.count, f"{run.count} requests in a row over {span:.1f} s"
            return run.count, None

    def recorded(self, account: str) -> None:
        """The outage the account's run shows is recorded (by this process or another)."""
        with self._lock:
            if (run := self._runs.get(account)) is not None:
                run.recorded = True

    def down(self, account: str) -> bool:
        """Whether the account's run showed an outage that is recorded, and no answer came
        since."""
        run = self._runs.get(account)
        return run is not None and run.recorded

    def ended(self, account: str) -> None:
        """The account's outage is no longer open (a probe was answered): a run that showed
        it is over, and the next failures start a new one."""
        run = self._runs.get(account)
        if run is not None and run.recorded:
            with self._lock:
                self._runs.pop(account, None)

    def answered(self, account: str) -> None:
        """The account's gateway answered a request: its run is over."""
        if account in self._runs:  # a read without the lock: most answers end no run
            with self._lock:
                self._runs.pop(account, None)


def down_condition(account: Any) -> ColumnElement[bool]:
    """SQL: an outage is open for ``account`` (a column or a value)."""
    return exists().where(ExotelOutage.ended_at.is_(None), ExotelOutage.account == account)


def held_back(account: Any) -> ColumnElement[bool]:
    """SQL: nothing is to be sent for ``account`` now: a pause covers it, or its Exotel is down."""
    return or_(paused_condition(account), down_condition(account))


class Outages:
    """The ``exotel_outages`` table: begun by workers, probed and ended by the scheduler."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    def begin(self, account: str, error: str, now: datetime) -> ExotelOutage | None:
        """Record that ``account``'s Exotel is down; None when an outage of it is open already
        (another worker noticed it first)."""
        with self.sessions() as session:  # most calls: open already, and nothing to write
            if session.scalar(select(down_condition(account))):
                return None
        with self.sessions.begin() as session:
            bump(session, "outages")  # also the lock: two workers at once, one after the other
            if session.scalar(select(down_condition(account))):
                return None
            outage = ExotelOutage(account=account, started_at=now, error=error[:400], probes=0)
            session.add(outage)
        return outage

    def open(self) -> list[ExotelOutage]:
        """The outages not ended, oldest first."""
        with self.sessions() as session:
            return open_outages(session)

    def probed(self, outage_id: int, error: str, now: datetime) -> None:
        """A probe found the account's Exotel still down."""
        with self.sessions.begin() as session:
            session.execute(
                update(ExotelOutage)
                .where(ExotelOutage.id == outage_id)
                .values(probes=ExotelOutage.probes + 1, probed_at=now, probe_error=error[:400])
            )

    def end(self, account: str, now: datetime) -> tuple[ExotelOutage, int] | None:
        """End ``account``'s outage: its actions not sent yet (pending, or queued, perhaps for a
        retry planned later) go back to ``pending`` with no retry planned, to be enqueued at
        once. The outage and how many actions it released; None if none was open."""
        with self.sessions.begin() as session:
            bump(session, "outages")
            outage = session.scalars(
                select(ExotelOutage).where(
                    ExotelOutage.account == account, ExotelOutage.ended_at.is_(None)
                )
            ).first()
            if outage is None:
                return None
            outage.ended_at = now
            released = session.execute(
                update(Action)
                .where(
                    Action.account == account,
                    Action.status.in_(UNSENT_STATUSES),
                )
                .values(status=Status.PENDING, enqueued_at=None, retry_at=None),
                execution_options={"synchronize_session": False},
            )
        return outage, released.rowcount or 0  # type: ignore[attr-defined]
