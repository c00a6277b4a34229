"""What applying a user's actions needs, built once per worker process, and how it stops.

Everything outside the process comes in through :class:`WorkerContext`, each behind a small
interface: the store (the database), the user's lease and the account's request budget (Redis,
in production), Exotel, the clock, the monotonic time and the sleep. Tests build one with twins of
each, and drive the worker in their own process.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shiftswitch.clock import Clock
from shiftswitch.exotel import Outcome
from shiftswitch.models import Action, ExotelOutage
from shiftswitch.outages import FailureRuns
from shiftswitch.pacing import RateLimit
from shiftswitch.retry import RetryPolicy
from shiftswitch.turns import TurnStore


class Lease(Protocol):
    """A user's actions, held by one worker at a time (:class:`shiftswitch.coordination.Lock`)."""

    def acquire(self) -> None:
        """Take it, or raise :class:`~shiftswitch.coordination.LockBusy`."""
        ...

    def extend(self) -> bool:
        """Renew it; False when it was lost (expired, and taken by another)."""
        ...

    def release(self, hand_over: bool = False) -> None:
        """Let go of it; ``hand_over``: when this thread takes its next lease, if it is taking
        a task message's users one after the other (see ``WorkerContext.one_after_another``)."""
        ...


class RequestBudget(Protocol):
    """Each account's request slots, shared by every worker process
    (:class:`shiftswitch.budget.RateLimiter`)."""

    def reserve(self, bucket: str, limit: RateLimit, max_wait: float) -> tuple[bool, float]:
        """``(reserved, wait)``: send after ``wait`` s; or the slot is that far, not taken."""
        ...

    def sending(self, bucket: str, limit: RateLimit) -> float:
        """A request is about to leave at its slot: seconds it must still wait to leave the
        account's present spacing after the last one that left."""
        ...

    def sending_held(self, bucket: str, limit: RateLimit, lease: Lease) -> float | None:
        """:meth:`sending` for a request sent under ``lease``, renewed first; None when the
        lease was lost (the request must not leave)."""
        ...

    def refused(self, bucket: str, retry_after: float | None, took: float) -> None:
        """The gateway answered 429 to a request sent ``took`` s ago: space the account's
        requests wider, and none before ``retry_after`` s from now (when given)."""
        ...

    def admitted(self, bucket: str) -> None:
        """The gateway let a request through: narrow the account's spacing back a little."""
        ...


class Exotel(Protocol):
    """What the worker asks of Exotel (:class:`shiftswitch.exotel.ExotelClient`)."""

    def set_available(self, user_id: str, device_id: str, available: bool) -> Outcome: ...

    def set_contact_uri(self, user_id: str, device_id: str, contact_uri: str) -> Outcome: ...

    def get_user(self, user_id: str) -> Outcome: ...

    def find_device(self, contact_uri: str) -> tuple[Outcome, tuple[str, str] | None]: ...


class OutageLog(Protocol):
    """Where an account's Exotel outage is recorded (:class:`shiftswitch.outages.Outages`)."""

    def begin(self, account: str, error: str, now: datetime) -> ExotelOutage | None:
        """Record it; None when it was recorded already."""
        ...


class Defer(Exception):
    """Come back to this user's actions in ``countdown`` seconds (the task retries itself);
    ``slot``: the instant of a request slot reserved for the user, which the next task uses.

    ``planned``: the action's retry is planned in the database (``retry_at``, now or later),
    so the scheduler's sweep leaves it alone until well after the countdown, whatever the
    broker holds; only such a user may be kept by the worker rather than sent back through the
    broker (:mod:`worker.kept`). The others (another worker holds the user, a failure) go
    through the broker, as a message covering the user, before their task's is acknowledged.
    """

    def __init__(
        self, countdown: float, why: str, slot: datetime | None = None, *, planned: bool = False
    ) -> None:
        super().__init__(f"{why}; again in {countdown:.2f} s")
        self.countdown = max(0.0, countdown)
        self.why = why
        self.slot = slot
        self.planned = planned


@dataclass
class Hold:
    """What one task holds for its user: the user's lease, and the request slot an earlier task
    reserved and handed on (None: none), which the task's first request takes."""

    lease: Lease
    slot: datetime | None = None


class NoLongerOpen(Exception):
    """The action became final elsewhere (the scheduler superseded it) before it was sent."""


class CredentialsMissing(Exception):
    """This worker's environment lacks an account's credentials (the message names them)."""


@dataclass
class WorkerContext:
    """What applying actions needs, built once per worker process."""

    store: TurnStore
    lease: Callable[[str], Lease]  # a user's (by user key)
    budget: RequestBudget
    client_for: Callable[[Action], Exotel]  # may raise CredentialsMissing
    policy: RetryPolicy
    clock: Clock
    rng: random.Random
    # Longest wait for a request slot inside a task, seconds: a thread waiting is a thread other
    # users' switches (of other accounts too) cannot have.
    rate_block: float = 0.25
    # A slot further away is reserved and the user's task comes back for it (one message, no
    # polling); one beyond this horizon is not reserved yet: the task comes back when it may be
    # within it. Shorter than the broker's visibility timeout: no countdown outlives it.
    horizon: float = 300.0
    # Where an outage of an account's Exotel is recorded once noticed (None: never noticed,
    # each action retries on its own), and the runs of failed requests that notice it.
    outages: OutageLog | None = None
    failures: FailureRuns = field(default_factory=FailureRuns)
    stored_roster: bool = False  # the roster source is the database: number changes update it
    read_back_after: float = 30.0  # seconds after an unanswered request to read its device
    # Within it, a thread applies a task message's users one after the other: each user's lease
    # is let go of when the next is taken, in one round trip (Leases.one_after_another).
    one_after_another: Callable[[], AbstractContextManager[None]] = nullcontext
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic  # the request budget's waits
