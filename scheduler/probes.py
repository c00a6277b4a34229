"""The scheduler's side of an outage of an account's Exotel (README: When Exotel is down).

A worker records the outage (:mod:`shiftswitch.outages`); the leading scheduler then asks the
account's Exotel one small question every :data:`~shiftswitch.outages.PROBE_EVERY`
(:meth:`~shiftswitch.exotel.ExotelClient.probe`), in a thread of its own (:class:`Prober`), so
that a probe waiting out a timeout never holds up a tick. :class:`OutageWatch` takes the probes'
results at each tick: at the first answer it ends the outage, and the scheduler's loop enqueues
what was held back and reconciles the account at once. A failed probe is recorded on the
outage, and logged only at debug level: the outage is said once when it begins and once when it
ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from redis.exceptions import RedisError

from scheduler.errands import Errands
from shiftswitch.budget import rate_bucket
from shiftswitch.clock import Clock
from shiftswitch.exotel import Kind, Outcome
from shiftswitch.logs import event
from shiftswitch.models import ExotelOutage
from shiftswitch.outages import PROBE_EVERY, UNPROBED_END, Outages, answered
from shiftswitch.pacing import RateLimit
from shiftswitch.roster.model import Account, Roster

log = logging.getLogger("shiftswitch.scheduler")


class Pinger(Protocol):
    """What a probe asks of Exotel (:class:`shiftswitch.exotel.ExotelClient`)."""

    def probe(self) -> Outcome: ...


class Budget(Protocol):
    """Each account's request slots (:class:`shiftswitch.budget.RateLimiter`)."""

    def reserve(self, bucket: str, limit: RateLimit, max_wait: float) -> tuple[bool, float]: ...


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a probe of ``outage`` found at ``at``: Exotel's answer, or None when this process
    cannot probe the account (its credentials are not in the environment)."""

    outage: ExotelOutage
    at: datetime
    outcome: Outcome | None


class Prober(Errands[tuple[ExotelOutage, Account], ProbeResult]):
    """Probes, one at a time, in a thread of its own."""

    name = "shiftswitch-probes"

    def __init__(
        self,
        pinger_for: Callable[[Account, Callable[[], None]], Pinger | None],
        budget: Budget | None,
        clock: Clock,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``pinger_for(account, pace)``: a client calling ``pace`` before its request, or None
        when this process cannot send for the account. ``budget`` None: not paced (tests)."""
        super().__init__()
        self._pinger_for = pinger_for
        self._budget = budget
        self._clock = clock
        self._sleep = sleep

    def do(self, job: tuple[ExotelOutage, Account]) -> ProbeResult:
        return self.probe(*job)

    def failed(self, job: tuple[ExotelOutage, Account], exc: Exception) -> ProbeResult:
        """A probe that could not be made counts as failed: the next is due as usual."""
        said = f"the probe could not be made: {type(exc).__name__}"
        return ProbeResult(
            job[0], self._clock.now(), Outcome(Kind.RETRY, None, None, said, None, None, 0.0)
        )

    def probe(self, outage: ExotelOutage, account: Account) -> ProbeResult:
        pinger = self._pinger_for(account, lambda: self._pace(account))
        at = self._clock.now()
        return ProbeResult(outage, at, None if pinger is None else pinger.probe())

    def _pace(self, account: Account) -> None:
        """Wait for a slot of the account's budget (shared with the workers, who send nothing
        for it while it is down: the slot is near)."""
        if self._budget is None:
            return
        bucket = rate_bucket(account.base_url, account.sid)
        max_wait = PROBE_EVERY.total_seconds()
        try:
            reserved, wait = self._budget.reserve(bucket, account.rate_limit, max_wait=max_wait)
        except RedisError:  # one request every few seconds: it goes unpaced
            return
        self._sleep(wait if reserved else max_wait)


class OutageWatch:
    """The open outages, as one scheduler sees them, and their probes (the leader's only)."""

    def __init__(self, outages: Outages, prober: Prober) -> None:
        self.outages = outages
        self.prober = prober
        self.open: list[ExotelOutage] = []
        self._next: dict[int, datetime] = {}  # outage id: its next probe, once one was made
        self._probing: set[int] = set()

    @property
    def down(self) -> frozenset[str]:
        """The accounts whose Exotel is down."""
        return frozenset(o.account for o in self.open)

    def load(self) -> None:
        """Read the open outages again (one began or ended: the ``outages`` counter moved)."""
        self.open = self.outages.open()
        ids = {o.id for o in self.open}
        self._next = {i: t for i, t in self._next.items() if i in ids}

    def step(self, roster: Roster, now: datetime) -> list[str]:
        """Take the probes' results, and submit the probes that are due. Returns the accounts
        whose outage this call ended: what was held back for them is to be sent now."""
        ended: list[str] = []
        for result in self.prober.results():
            outage = result.outage
            self._probing.discard(outage.id)
            self._next[outage.id] = result.at + PROBE_EVERY
            if self._probed(result, now):
                ended.append(outage.account)
        if ended:
            self.load()
        for outage in self.open:
            due = self._next.get(outage.id, outage.started_at + PROBE_EVERY)
            if outage.id in self._probing or now < due:
                continue
            account = roster.accounts.get(outage.account)
            if account is None:  # the roster no longer names it: nothing waits for it
                if self._end(outage.account, now, "the roster no longer names the account"):
                    ended.append(outage.account)
                continue
            self._probing.add(outage.id)
            self.prober.submit((outage, account))
        if ended:
            self.load()
        return ended

    def _probed(self, result: ProbeResult, now: datetime) -> bool:
        """Record a probe's result; True when it ended the outage."""
        outage, outcome = result.outage, result.outcome
        if outcome is None:
            if now - outage.started_at < UNPROBED_END:
                return False
            why = f"not probed (no credentials in this scheduler's environment) for {UNPROBED_END}"
            return self._end(outage.account, now, f"{why}: the workers try again")
        if answered(outcome):
            return self._end(outage.account, now, f"a probe was answered ({outcome.summary()})")
        self.outages.probed(outage.id, outcome.summary(), now)
        log.debug("account=%s probe failed: %s", outage.account, outcome.summary())
        return False

    def _end(self, account: str, now: datetime, why: str) -> bool:
        ended = self.outages.end(account, now)
        if ended is None:
            return False  # another scheduler ended it
        outage, released = ended
        event(
            log,
            logging.WARNING,
            "exotel_back",
            account=account,
            down_for=f"{(now - outage.started_at).total_seconds():.0f} s",
            probes=outage.probes,
            released=released,
            why=why,
        )
        return True
