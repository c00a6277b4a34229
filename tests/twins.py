"""In-memory twins of what the worker reaches outside its process, for tests in one process.

- :class:`TestTime`: the wall clock (a :class:`~shiftswitch.clock.FixedClock`) and the
  monotonic clock together; sleeping moves both, at once.
- :class:`Leases`: users' leases (the Redis :class:`~shiftswitch.coordination.Lock`), expiring
  on the test's monotonic clock; a test can hold one as "another worker".
- :class:`Budget`: accounts' request slots (the Redis
  :class:`~shiftswitch.budget.RateLimiter`), the same cell-rate rule on the test's clock.
- :class:`ExotelTwin`: the real Exotel client against the sandbox (Exotel's rules, in this
  process on a free port), with answers replaced or lost on purpose: a ``script`` of fates
  for the next calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shiftswitch.budget import narrowed, widened
from shiftswitch.clock import FixedClock
from shiftswitch.coordination import LockBusy, Renewable
from shiftswitch.exotel import ExotelClient, Kind, Outcome
from shiftswitch.pacing import RateLimit


class TestTime(FixedClock):
    """A test's wall clock and monotonic clock; they move only when told, and together."""

    __test__ = False  # not a test class, whatever pytest makes of its name

    def __init__(self, at: datetime) -> None:
        super().__init__(at)
        self._monotonic = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, delta: timedelta) -> None:
        super().advance(delta)
        self._monotonic += delta.total_seconds()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(timedelta(seconds=seconds))


@dataclass
class Leases:
    """Leases on users' names, in memory; ``Leases(time)(name)`` is one worker's lease."""

    time: TestTime
    ttl: float = 60.0
    held: dict[str, tuple[object, float]] = field(default_factory=dict)  # token, expiry
    released: list[tuple[str, bool]] = field(default_factory=list)  # name, handed over

    def __call__(self, name: str) -> Lease:
        return Lease(self, name)

    def holder(self, name: str) -> object | None:
        token, until = self.held.get(name, (None, 0.0))
        return token if until > self.time.monotonic() else None

    def take(self, name: str) -> None:
        """Another worker takes ``name``'s lease (what an expired lease can lead to)."""
        self.held[name] = (object(), self.time.monotonic() + self.ttl)


@dataclass
class Lease:
    leases: Leases
    name: str
    token: object = field(default_factory=object)

    def acquire(self) -> None:
        if self.leases.holder(self.name) is not None:
            raise LockBusy(self.name)
        self.leases.held[self.name] = (self.token, self.leases.time.monotonic() + self.leases.ttl)

    def extend(self) -> bool:
        if self.leases.holder(self.name) is not self.token:
            return False
        self.leases.held[self.name] = (self.token, self.leases.time.monotonic() + self.leases.ttl)
        return True

    def release(self, hand_over: bool = False) -> None:
        self.leases.released.append((self.name, hand_over))
        if self.leases.holder(self.name) is self.token:
            del self.leases.held[self.name]


@dataclass
class Budget:
    """Request slots per bucket: one every ``limit.spacing`` s, taken in turn, never in a burst;
    each request leaves at least that interval after the last one that left; a 429 makes a
    bucket strict (``limit.strict_spacing``), then widens it, and holds it for its Retry-After;
    requests let through narrow it (the rules of the Redis limiter, on the test's clock)."""

    time: TestTime
    next_free: dict[str, float] = field(default_factory=dict)  # bucket: monotonic instant
    slots: list[tuple[str, float]] = field(default_factory=list)  # (bucket, instant) reserved
    before: Callable[[], None] | None = None  # called on each reservation, before it
    strict: set[str] = field(default_factory=set)  # buckets whose gateway answered 429
    widening: dict[str, float] = field(default_factory=dict)  # bucket: factor over the spacing
    widened_from: dict[str, float] = field(default_factory=dict)  # instant of the last change
    sent: dict[str, float] = field(default_factory=dict)  # bucket: its last request's instant

    def interval(self, bucket: str, limit: RateLimit) -> float:
        spacing = limit.strict_spacing if bucket in self.strict else limit.spacing
        return spacing * self.widening.get(bucket, 1.0)

    def reserve(self, bucket: str, limit: RateLimit, max_wait: float) -> tuple[bool, float]:
        if self.before is not None:
            self.before()
        now = self.time.monotonic()
        at = max(self.next_free.get(bucket, now), now)
        if at - now > max_wait:
            return False, at - now
        self.next_free[bucket] = at + self.interval(bucket, limit)
        self.slots.append((bucket, at))
        return True, at - now

    def sending(self, bucket: str, limit: RateLimit) -> float:
        now, interval = self.time.monotonic(), self.interval(bucket, limit)
        at = max(now, self.sent.get(bucket, now - interval) + interval)
        self.sent[bucket] = at
        self.next_free[bucket] = max(self.next_free.get(bucket, now), at + interval)
        return at - now

    def sending_held(self, bucket: str, limit: RateLimit, lease: Renewable) -> float | None:
        return self.sending(bucket, limit) if lease.extend() else None

    def refused(self, bucket: str, retry_after: float | None, took: float) -> None:
        now = self.time.monotonic()
        at = max(self.next_free.get(bucket, now), now)
        if retry_after is not None:
            at = max(at, now + retry_after)
        self.next_free[bucket] = at
        if now - took >= self.widened_from.get(bucket, float("-inf")):
            if bucket in self.strict:
                self.widening[bucket] = widened(self.widening.get(bucket, 1.0))
            self.strict.add(bucket)
            self.widened_from[bucket] = now

    def admitted(self, bucket: str) -> None:
        if bucket in self.widening:
            self.widening[bucket] = narrowed(self.widening[bucket])


LOST = "lost"  # a fate: the request reaches Exotel, and its answer is lost (a timeout)


def timeout(seconds: float = 1.0) -> Outcome:
    """The outcome of a request that got no answer within ``seconds``."""
    text = f"timeout after {seconds} s (no answer from 127.0.0.1)"
    return Outcome(Kind.RETRY, None, None, text, None, None, seconds, unanswered=True)


def answer(status: int, description: str, code: str | None = None) -> Outcome:
    """An answer Exotel gives, as the client makes it an outcome (never sent to the sandbox)."""
    kind = Kind.RETRY if status in (408, 429) or status >= 500 else Kind.FINAL
    return Outcome(kind, status, code, description, "req-twin", None, 0.01)


@dataclass
class ExotelTwin:
    """The worker's Exotel: ``client`` (the real one, to the sandbox), but each of the next
    calls takes the next fate in ``script``, if any: an :class:`Outcome` given instead of
    sending, or :data:`LOST` (sent, and its answer lost: :func:`timeout`)."""

    client: ExotelClient
    script: list[Outcome | str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def set_available(self, user_id: str, device_id: str, available: bool) -> Outcome:
        state = "true" if available else "false"
        return self._call(
            f"PUT {device_id} available={state}",
            lambda: self.client.set_available(user_id, device_id, available),
        )

    def set_contact_uri(self, user_id: str, device_id: str, contact_uri: str) -> Outcome:
        return self._call(
            f"PUT {device_id} contact_uri={contact_uri}",
            lambda: self.client.set_contact_uri(user_id, device_id, contact_uri),
        )

    def get_user(self, user_id: str) -> Outcome:
        return self._call(f"GET user {user_id}", lambda: self.client.get_user(user_id))

    def find_device(self, contact_uri: str) -> tuple[Outcome, tuple[str, str] | None]:
        found: tuple[str, str] | None = None

        def find() -> Outcome:
            nonlocal found
            outcome, found = self.client.find_device(contact_uri)
            return outcome

        outcome = self._call(f"GET users {contact_uri}", find)
        return outcome, found if outcome.ok else None

    def _call(self, what: str, send: Callable[[], Outcome]) -> Outcome:
        self.calls.append(what)
        if not self.script:
            return send()
        fate = self.script.pop(0)
        if fate == LOST:
            send()
            return timeout()
        assert isinstance(fate, Outcome), fate
        return fate
