"""What the processes share through Redis besides the request budgets
(:mod:`shiftswitch.budget`): user locks, handed over between a task message's users, and the
scheduler's lead (the workers' heartbeats are :mod:`shiftswitch.heartbeats`).

Each is a single Lua script, so each decision is atomic on the Redis server and uses its clock:
worker processes on several machines agree without trusting each other's clocks.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from redis import Redis, RedisError

PREFIX = "shiftswitch:"

log = logging.getLogger("shiftswitch.coordination")

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# One lease let go of (if still held: KEYS[1], ARGV[1]) and another taken (KEYS[2], ARGV[2] for
# ARGV[3] ms), in one round trip. Returns what SET NX returns; OK when the second is held with
# this token already (the script run again, its first answer lost).
_HANDOVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 'OK'
end
return redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3])
"""


class Renewable(Protocol):
    """A lease that can be renewed (:class:`Lock`, or a test's twin)."""

    def extend(self) -> bool: ...


class LockBusy(Exception):
    """Another worker holds the lock."""


class Lock:
    """A lease on a name (a user's switches) held by one worker at a time, until ``ttl``.

    ``scripts``: its renewal and release, registered on ``redis`` (:func:`lock_scripts`);
    registered anew when not given."""

    def __init__(
        self,
        redis: Redis,
        name: str,
        ttl: float,
        prefix: str = PREFIX,
        scripts: tuple[Any, Any] | None = None,
        handover: Handover | None = None,
    ) -> None:
        self.redis = redis
        self.key = f"{prefix}lock:{name}"
        self._ttl_ms = int(ttl * 1000)
        self._token = secrets.token_hex(16)
        self._extend, self._release = scripts or lock_scripts(redis)
        self._handover = handover

    def acquire(self) -> None:
        """Take the lease, letting go of the one this thread held back (see :meth:`release`)
        in the same round trip; :class:`LockBusy` when another holds it."""
        before = self._handover.take() if self._handover is not None else None
        if before is None:
            taken = self.redis.set(self.key, self._token, nx=True, px=self._ttl_ms)
        else:
            assert self._handover is not None
            key, token, _ = before.renewal()
            try:
                taken = self._handover.script(
                    keys=[key, self.key], args=[token, self._token, self._ttl_ms]
                )
            except RedisError:
                before.release_quietly()
                raise
        if not taken:
            raise LockBusy(self.key)

    def extend(self) -> bool:
        """Renew the lease; False when it was lost (expired and taken by another)."""
        return bool(self._extend(keys=[self.key], args=[self._token, self._ttl_ms]))

    def release(self, hand_over: bool = False) -> None:
        """Let go of the lease now; ``hand_over``: when this thread takes its next one, in the
        same round trip, if it is taking leases one after another
        (:meth:`Leases.one_after_another`; else now)."""
        if hand_over and self._handover is not None and self._handover.hold(self):
            return
        self._release(keys=[self.key], args=[self._token])

    def release_quietly(self) -> None:
        """Let go of the lease now; if Redis cannot be reached, say so and leave it to expire."""
        try:
            self.release()
        except RedisError as exc:
            log.warning("%s not let go of (it expires): %s", self.key, exc)

    def renewal(self) -> tuple[str, str, int]:
        """``(key, token, ttl_ms)``: what a script renewing the lease needs."""
        return self.key, self._token, self._ttl_ms

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def lock_scripts(redis: Redis) -> tuple[Any, Any]:
    """A lock's renewal and release, registered on ``redis``."""
    return redis.register_script(_EXTEND), redis.register_script(_RELEASE)


class Handover:
    """Per thread, inside :meth:`Leases.one_after_another`: the lease let go of last, held back
    until the thread takes the next (:meth:`take`) or leaves."""

    def __init__(self, redis: Redis) -> None:
        self.script: Any = redis.register_script(_HANDOVER)
        self._local = threading.local()

    def hold(self, lease: Lock) -> bool:
        """Hold ``lease`` back, if this thread is taking leases one after another; whether it
        was (a lease held back before it is let go of now)."""
        local = self._local
        if not getattr(local, "on", False):
            return False
        before, local.held = getattr(local, "held", None), lease
        if before is not None:
            before.release_quietly()
        return True

    def take(self) -> Lock | None:
        """The lease held back, to let go of with the one this thread takes now."""
        held, self._local.held = getattr(self._local, "held", None), None
        return held

    @contextmanager
    def one_after_another(self) -> Iterator[None]:
        local = self._local
        if getattr(local, "on", False):  # within another: that one lets go on leaving
            yield
            return
        local.on = True
        try:
            yield
        finally:
            local.on = False
            held = self.take()
            if held is not None:
                held.release_quietly()  # a task's end is no place for Redis's errors


class Leases:
    """Leases on names in one Redis, each ``ttl`` long: ``leases(name)`` is a :class:`Lock`.
    A worker takes one for every user of a task; their scripts are registered once, here
    (registering one hashes its text)."""

    def __init__(self, redis: Redis, ttl: float, prefix: str = PREFIX) -> None:
        self._redis = redis
        self._ttl = ttl
        self._prefix = prefix
        self._scripts = lock_scripts(redis)
        self._handover = Handover(redis)

    def __call__(self, name: str) -> Lock:
        return Lock(self._redis, name, self._ttl, self._prefix, self._scripts, self._handover)

    def one_after_another(self) -> AbstractContextManager[None]:
        """Within it, this thread takes users' leases one after the other (a task message's
        users): a lease let go of with ``hand_over`` is let go of when the next is taken, in
        the same round trip to Redis, or on leaving. A round trip fewer for every user but a
        message's last."""
        return self._handover.one_after_another()


LEAD = "scheduler-lead"  # the lease's name
LEAD_TTL = 15.0  # seconds: renewed at every tick


class Leadership:
    """The lead among several schedulers: one at a time reconciles, reads Exotel and sweeps,
    so that no device is reconciled, read back or checked twice. The leader renews its lease
    at every tick; if it dies, another takes the lead once the lease has expired (``ttl``)."""

    def __init__(
        self, redis: Redis, ttl: float = LEAD_TTL, prefix: str = PREFIX, *, name: str = LEAD
    ) -> None:
        """``name``: the lease's (the schedulers' lead by default; another duty, such as
        delivering notifications, has a lease of its own)."""
        self._lock = Lock(redis, name, ttl, prefix)
        self._held = False

    @staticmethod
    def last_renewed(redis: Redis, ttl: float = LEAD_TTL, prefix: str = PREFIX) -> float | None:
        """Seconds since the leader last renewed its lease (about its last tick), or None
        when no scheduler leads."""
        left = redis.pttl(f"{prefix}lock:{LEAD}")
        return max(0.0, ttl - left / 1000) if left is not None and left > 0 else None

    def held(self) -> bool:
        """Keep the lead, or take it if nobody holds it; whether this process leads now."""
        if self._held and self._lock.extend():
            return True
        try:
            self._lock.acquire()
        except LockBusy:
            self._held = False
        else:
            self._held = True
        return self._held

    def release(self) -> None:
        if self._held:
            self._lock.release()
            self._held = False
