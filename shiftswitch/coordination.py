"""What the processes share through Redis: each account's request budget, user locks and the
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

from shiftswitch.pacing import REQUEST_SAFETY, WINDOW_SLACK_SECONDS, RateLimit

PREFIX = "shiftswitch:"

log = logging.getLogger("shiftswitch.coordination")

# The interval between an account's requests now, ms: the limit's spacing (ARGV[1]), or once
# the account's gateway has answered 429 its strict spacing (ARGV[2], with the network's jitter
# allowance), times the account's widening. KEYS[2]: the account's pace (see _REFUSED).
_INTERVAL = """
local pace = redis.call('HMGET', KEYS[2], 'strict', 'widening')
local widening = tonumber(pace[2] or '1')
local interval = tonumber(pace[1] and ARGV[2] or ARGV[1]) * widening
"""

# Generic cell rate algorithm with no burst: one request every interval. A caller reserves the
# next free slot and waits for it, so callers are served in arrival order and requests leave
# evenly spaced, never in a burst that a per-window limit at Exotel would answer with 429.
# A slot further away than ``max_wait`` ms (ARGV[3]) is not reserved: the caller comes back
# later. KEYS: the account's next free slot, its pace. Returns whether reserved, the wait, and
# the widening.
_RESERVE = (
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
"""
    + _INTERVAL
    + """
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > max_wait then return {0, tostring(wait), tostring(widening)} end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil(wait + interval) + 1000)
return {1, tostring(wait), tostring(widening)}
"""
)

# A request about to leave at its slot: it must leave at least the present interval after the
# account's last request that left (KEYS[3]), whatever spacing its slot was reserved at and
# however late the last one's process woke for its own slot. Records when this one leaves;
# returns how much longer it must wait (ms). KEYS: next free slot, pace, last request's instant.
_SENDING = (
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
"""
    + _INTERVAL
    + """
local at = now
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
if last + interval > at then at = last + interval end
redis.call('SET', KEYS[3], tostring(at), 'PX', math.ceil(at - now + interval) + 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < at + interval then
  redis.call('SET', KEYS[1], tostring(at + interval), 'PX', math.ceil(at - now + interval) + 1000)
end
return tostring(at - now)
"""
)

# The same, for a request sent under a user's lease (KEYS[4], a Lock's: token ARGV[3], TTL ms
# ARGV[4]), renewed first in the same round trip; '-1' when the lease was lost (nothing else
# done: the request must not leave).
_SENDING_HELD = (
    """
if redis.call('GET', KEYS[4]) ~= ARGV[3] then return '-1' end
redis.call('PEXPIRE', KEYS[4], ARGV[4])
"""
    + _SENDING
)

# A 429 for a request that left ``took`` ms ago (ARGV[1]). The first makes the account strict:
# its requests are spaced with the jitter allowance from now on; each later one multiplies its
# widening by ARGV[2], up to ARGV[3]; only a 429 to a request that left at the present interval
# (at or after ``from``, the last change) changes it: those that left before teach nothing new.
# The pace is remembered ARGV[5] ms from the last 429. A Retry-After (ARGV[4] ms; negative:
# none) holds the account's next free slot until then, for every process.
# KEYS: the account's next free slot, its pace. Returns the widening.
_REFUSED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local sent = now - tonumber(ARGV[1])
local pace = redis.call('HMGET', KEYS[2], 'strict', 'widening', 'from')
local widening = tonumber(pace[2] or '1')
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local retry_after = tonumber(ARGV[4])
if retry_after >= 0 and tat < now + retry_after then tat = now + retry_after end
if sent >= tonumber(pace[3] or '0') then
  if pace[1] then widening = math.min(widening * tonumber(ARGV[2]), tonumber(ARGV[3])) end
  redis.call('HSET', KEYS[2], 'strict', '1', 'widening', tostring(widening), 'from', tostring(now))
end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil(tat - now) + 1000)
return tostring(widening)
"""

# A request the account's gateway let through: the widening narrows by ARGV[1], down to 1; the
# account stays strict, and its pace expires as set by the last 429. KEYS: the pace. Returns
# the widening.
_ADMITTED = """
local widening = tonumber(redis.call('HGET', KEYS[1], 'widening') or '1')
if widening <= 1 then return '1' end
widening = widening - tonumber(ARGV[1])
if widening <= 1 + tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'widening', '1')
  return '1'
end
redis.call('HSET', KEYS[1], 'widening', tostring(widening))
return tostring(widening)
"""

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

SAFETY = REQUEST_SAFETY  # the spacing's margins: see RateLimit.spacing
SLACK_SECONDS = WINDOW_SLACK_SECONDS

# How an account's spacing adapts to its gateway (additive increase of the rate, multiplicative
# decrease: AIMD). Its first 429 makes it strict: spaced at the limit's strict spacing, with the
# network's jitter allowance, which a windowed gateway never needs. Each later 429 multiplies the
# interval by WIDEN, up to MAX_WIDENING times; each request let through takes NARROW (of the
# spacing) off it, down to the strict spacing. Gentle both ways: on a gateway that refuses per
# request, a 429 is often one unlucky gap of the network's, not a spacing too narrow; one alone
# then costs about half a slot, while 429s that keep coming compound the widening (x2 after
# seven).
WIDEN = 1.1
MAX_WIDENING = 4.0
NARROW = 0.01
# An account's pace (strict, widened) is forgotten this long after its last 429: a gateway met
# again at the next boundary is known, a gateway that changed is learnt again.
WIDENING_MEMORY = 3600.0
_MEMORY_MS = int(WIDENING_MEMORY * 1000)
_EPSILON = 1e-6  # a widening this close to 1 is 1 (what rounding leaves of 1.1 - 10 x 0.01)


def rate_bucket(base_url: str, sid: str) -> str:
    """The name of an Exotel account's request budget: one per API host and account SID,
    whatever a roster calls the account, so every process that sends for it shares it."""
    return f"{base_url}/{sid}"


def widened(widening: float) -> float:
    """An account's widening after a 429 to a request spaced at ``widening``."""
    return min(widening * WIDEN, MAX_WIDENING)


def narrowed(widening: float) -> float:
    """An account's widening after a request its gateway let through."""
    narrower = widening - NARROW
    return 1.0 if narrower <= 1 + _EPSILON else narrower


class RateLimiter:
    """A request budget per Exotel account, shared by every process using the same Redis.

    Requests are spaced at the limit's :attr:`~shiftswitch.pacing.RateLimit.spacing`
    until the account's gateway refuses one (429); from then on, for :data:`WIDENING_MEMORY`
    after its last 429, at its :attr:`~shiftswitch.pacing.RateLimit.strict_spacing` times
    the account's widening: wider with each later 429 (:func:`widened`), narrower with each
    request let through (:func:`narrowed`).
    """

    def __init__(self, redis: Redis, prefix: str = PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix
        self._reserve: Any = redis.register_script(_RESERVE)
        self._sending: Any = redis.register_script(_SENDING)
        self._sending_held: Any = redis.register_script(_SENDING_HELD)
        self._refused: Any = redis.register_script(_REFUSED)
        self._admitted: Any = redis.register_script(_ADMITTED)
        # The widening each bucket had at this process's last look: while it is 1, a request
        # let through has nothing to narrow and costs no call to Redis.
        self._wide: dict[str, bool] = {}

    def _keys(self, bucket: str) -> list[str]:
        p = self._prefix
        return [f"{p}rate:{bucket}", f"{p}pace:{bucket}", f"{p}sent:{bucket}"]

    def reserve(self, bucket: str, limit: RateLimit, max_wait: float) -> tuple[bool, float]:
        """Reserve the next request slot of ``bucket`` (an account's: :func:`rate_bucket`) if it
        is at most ``max_wait`` s away.

        Returns ``(reserved, wait)``: when reserved, the caller may send after ``wait`` seconds
        (and :meth:`sending` then); when not, the slot is ``wait`` seconds away and nothing was
        taken.
        """
        args = [limit.spacing * 1000, limit.strict_spacing * 1000, max_wait * 1000]
        reserved, wait, widening = self._reserve(keys=self._keys(bucket)[:2], args=args)
        self._wide[bucket] = float(widening) > 1
        return bool(reserved), float(wait) / 1000

    def sending(self, bucket: str, limit: RateLimit) -> float:
        """A request of ``bucket`` reserved earlier is about to leave: seconds it must still
        wait to leave the account's present spacing after the last one that left (0: none).

        Its slot may have been reserved at a narrower spacing (the account met a 429 since),
        and the request before it may have left late (its process woke late): either would
        bring the two closer together at the gateway than the spacing."""
        args = [limit.spacing * 1000, limit.strict_spacing * 1000]
        try:
            wait = self._sending(keys=self._keys(bucket), args=args)
        except RedisError as exc:  # the slot was reserved: it leaves at it
            log.warning("bucket=%s request not checked before it left: %s", bucket, exc)
            return 0.0
        return float(wait) / 1000

    def sending_held(self, bucket: str, limit: RateLimit, lease: Renewable) -> float | None:
        """:meth:`sending` for a request sent under ``lease`` (a user's), which is renewed first,
        in the same round trip when it is a :class:`Lock` of this Redis; None when the lease
        was lost (expired, and maybe taken by another worker): the request must not leave."""
        if not (isinstance(lease, Lock) and lease.redis is self._redis):
            return self.sending(bucket, limit) if lease.extend() else None
        key, token, ttl_ms = lease.renewal()
        args = [limit.spacing * 1000, limit.strict_spacing * 1000, token, ttl_ms]
        # A RedisError leaves the lease unknown: it propagates, as from the renewal alone.
        wait = float(self._sending_held(keys=[*self._keys(bucket), key], args=args))
        return None if wait < 0 else wait / 1000

    def refused(self, bucket: str, retry_after: float | None, took: float) -> None:
        """The account's gateway answered 429 to a request sent ``took`` seconds ago: space its
        requests wider, and send nothing of it before ``retry_after`` seconds from now, if
        given."""
        after_ms = -1.0 if retry_after is None else max(0.0, retry_after) * 1000
        args = [max(0.0, took) * 1000, WIDEN, MAX_WIDENING, after_ms, _MEMORY_MS]
        try:
            widening = self._refused(keys=self._keys(bucket)[:2], args=args)
        except RedisError as exc:  # the request was sent: this only teaches the budget
            log.warning("bucket=%s 429 not counted: %s", bucket, exc)
            return
        self._wide[bucket] = float(widening) > 1

    def admitted(self, bucket: str) -> None:
        """The account's gateway let a request through: narrow its spacing, if it is wider."""
        if not self._wide.get(bucket, True):
            return
        key = self._keys(bucket)[1]
        try:
            widening = self._admitted(keys=[key], args=[NARROW, _EPSILON])
        except RedisError as exc:
            log.warning("bucket=%s request let through not counted: %s", bucket, exc)
            return
        self._wide[bucket] = float(widening) > 1

    def pace(self, bucket: str) -> tuple[bool, float]:
        """``(strict, widening)``: whether the account's gateway has answered 429 within
        :data:`WIDENING_MEMORY`, and its widening now (1: the spacing itself)."""
        strict, widening = self._redis.hmget(self._keys(bucket)[1], "strict", "widening")
        return strict is not None, float(widening or 1)

    def widening(self, bucket: str) -> float:
        """The account's widening now (1: the spacing itself)."""
        return self.pace(bucket)[1]


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
            self._release(keys=[self.key], args=[self._token])
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
