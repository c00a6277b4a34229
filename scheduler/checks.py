"""The scheduler's reads of Exotel, on spare request budget only (README: How switching works).

Three kinds of read (:class:`~shiftswitch.models.CheckKind`), all decided by the scheduler's
loop, which also decides what follows from what was read:

- ``read-back``: a device whose request went unanswered, once that request can no longer land;
- ``first-read``: devices never confirmed, read before anything is sent to them;
- ``drift``: every managed device, every ``SHIFTSWITCH_DRIFT_EVERY`` seconds.

A :class:`Checker` makes the reads in a thread of its own, so a slow Exotel never holds up a
tick. Before each request it takes a slot of the account's request budget (shared with the
workers, in Redis) only if that slot is free now: switches waiting for the budget have taken
the slots ahead already, so they always go first. Near a boundary (a few seconds either side of
a due instant) it sends nothing at all, so a read never takes the slot a boundary's first switch
would have had.

A read of a few users asks for each (``GET /users/{id}``); of more, it pages through all the
account's users, 50 to a page (``GET /users``): 10,000 devices cost 200 requests, not 10,000.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from scheduler.errands import Errands, Stopped
from shiftswitch.budget import rate_bucket
from shiftswitch.clock import Clock
from shiftswitch.drift import Managed
from shiftswitch.exotel import MAX_PAGE_SIZE, ExotelClient, Outcome, User, session
from shiftswitch.models import CheckKind
from shiftswitch.pacing import RateLimit
from shiftswitch.roster.model import Account
from shiftswitch.settings import CONNECT_TIMEOUT, ConfigError, Settings, credentials

log = logging.getLogger("shiftswitch.scheduler")

GUARD = timedelta(seconds=2)  # no read this close to a boundary (or one slot, if longer)
IDLE = 0.2  # seconds between looks at the budget while it has no slot to spare


class Reader(Protocol):
    """What a check asks of Exotel (:class:`shiftswitch.exotel.ExotelClient`)."""

    def get_user(self, user_id: str) -> Outcome: ...

    def list_users(self, contact_uris: Sequence[str] | None = None) -> Outcome: ...


class Budget(Protocol):
    """Each account's request slots, shared with the workers
    (:class:`shiftswitch.budget.RateLimiter`)."""

    def reserve(self, bucket: str, limit: RateLimit, max_wait: float) -> tuple[bool, float]: ...


@dataclass(frozen=True, slots=True)
class ReadJob:
    """Devices of one account to read, and why."""

    kind: CheckKind
    account: Account
    devices: tuple[Managed, ...]
    everyone: bool  # page through every user of the account, rather than ask user by user


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What a job read: the users Exotel returned (their devices' states as of ``at``, the
    instant before its first request was sent), in ``reads`` requests; or ``error``."""

    job: ReadJob
    at: datetime
    users: tuple[User, ...] = ()
    reads: int = 0
    error: str | None = None


def read_everyone(devices: Sequence[Managed], users_in_account: int) -> bool:
    """Whether reading ``devices`` takes fewer requests by paging through every user of the
    account (about ``users_in_account``, 50 to a page) than by asking for each user: always
    when a device is known only by its number, which only a search of the users finds."""
    if any(d.user_id is None or d.device_id is None for d in devices):
        return True
    users = {d.user_id for d in devices}
    return len(users) > max(1, math.ceil(users_in_account / MAX_PAGE_SIZE))


def readers(settings: Settings) -> Callable[[Account, Callable[[], None]], ExotelClient | None]:
    """Exotel clients for the checks, on one pooled session, with the credentials of this
    process's environment: None for an account whose credentials are not there (its devices
    are then set without being read, and drift checks skip it, as a log line says once)."""
    shared = session(pool_size=2)
    told: set[str] = set()

    def reader_for(account: Account, pace: Callable[[], None]) -> ExotelClient | None:
        try:
            creds = credentials(account.name)
        except ConfigError as exc:
            if account.name not in told:
                told.add(account.name)
                log.warning("account %s is not read from Exotel: %s", account.name, exc)
            return None
        return ExotelClient(
            account.base_url,
            account.sid,
            creds,
            session=shared,
            timeout=(CONNECT_TIMEOUT, settings.http_timeout),
            pace=pace,
        )

    return reader_for


class Checker(Errands[ReadJob, ReadResult]):
    """Makes read jobs on spare budget, in the order given, one at a time."""

    name = "shiftswitch-checks"

    def __init__(
        self,
        reader_for: Callable[[Account, Callable[[], None]], Reader | None],
        budget: Budget | None,
        clock: Clock,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``reader_for(account, pace)``: a reader calling ``pace`` before each request, or None
        when this process cannot read the account (its credentials are not in the
        environment). ``budget`` None: requests are not paced (tests)."""
        super().__init__()
        self._reader_for = reader_for
        self._budget = budget
        self._clock = clock
        self._sleep = sleep
        self._readers: dict[str, Reader | None] = {}
        # The last and the next due instants of the plan, set by the scheduler at each tick.
        self.boundaries: tuple[datetime | None, datetime | None] = (None, None)

    def can_read(self, account: Account) -> bool:
        return self._reader(account) is not None

    def do(self, job: ReadJob) -> ReadResult:
        return self.read(job)

    def failed(self, job: ReadJob, exc: Exception) -> ReadResult:
        return ReadResult(job, self._clock.now(), error=str(exc))

    def read(self, job: ReadJob) -> ReadResult:
        """Read ``job``'s devices: every page of users, or each user."""
        account = job.account
        reads = [0]
        reader = self._reader(account, reads)
        if reader is None:
            return ReadResult(job, self._clock.now(), error="no credentials in this process")
        at = self._clock.now()
        if job.everyone:
            outcome = reader.list_users()
            if not outcome.ok:
                return ReadResult(job, at, reads=reads[0], error=outcome.summary())
            return ReadResult(job, at, outcome.users, reads[0])
        users: list[User] = []
        for user_id in sorted({d.user_id for d in job.devices if d.user_id is not None}):
            outcome = reader.get_user(user_id)
            if outcome.ok:
                users += outcome.users
            elif outcome.http_code != 404:  # a user that is gone is a finding, not a failure
                return ReadResult(job, at, reads=reads[0], error=outcome.summary())
        return ReadResult(job, at, tuple(users), reads[0])

    # -- internals ----------------------------------------------------------------------------

    def _reader(self, account: Account, reads: list[int] | None = None) -> Reader | None:
        if reads is None:
            if account.name not in self._readers:
                self._readers[account.name] = self._reader_for(account, lambda: None)
            return self._readers[account.name]
        counter = reads

        def pace() -> None:
            self._spare_slot(account)
            counter[0] += 1

        return self._reader_for(account, pace)

    def _spare_slot(self, account: Account) -> None:
        """Wait for a slot of the account's budget that no switch wants, away from boundaries."""
        bucket = rate_bucket(account.base_url, account.sid)
        guard = max(GUARD, timedelta(seconds=account.rate_limit.spacing + 1))
        while not self._stop.is_set():
            if self._near_boundary(self._clock.now(), guard):
                self._sleep(IDLE)
                continue
            if self._budget is None:
                return
            reserved, wait = self._budget.reserve(bucket, account.rate_limit, max_wait=0)
            if reserved:
                return
            self._sleep(min(max(wait, IDLE), 1.0))
        raise Stopped

    def _near_boundary(self, now: datetime, guard: timedelta) -> bool:
        return any(t is not None and abs(now - t) < guard for t in self.boundaries)
