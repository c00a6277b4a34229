"""What worker processes share through Redis: each account's request budget, and user locks.

Both are single Lua scripts, so each decision is atomic on the Redis server and uses its clock:
worker processes on several machines agree without trusting each other's clocks.
"""

from __future__ import annotations

import secrets
from typing import Any

from redis import Redis

from shiftswitch.roster.model import REQUEST_SAFETY, WINDOW_SLACK_SECONDS, RateLimit

PREFIX = "shiftswitch:"

# Generic cell rate algorithm with no burst: one request every ``interval`` ms. A caller reserves
# the next free slot and waits for it, so callers are served in arrival order and requests leave
# evenly spaced, never in a burst that a per-window limit at Exotel would answer with 429.
# A slot further away than ``max_wait`` ms is not reserved: the caller comes back later.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > max_wait then return {0, tostring(wait)} end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil(wait + interval) + 1000)
return {1, tostring(wait)}
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

SAFETY = REQUEST_SAFETY  # the spacing's margins: see RateLimit.spacing
SLACK_SECONDS = WINDOW_SLACK_SECONDS


def rate_bucket(base_url: str, sid: str) -> str:
    """The name of an Exotel account's request budget: one per API host and account SID,
    whatever a roster calls the account, so every process that sends for it shares it."""
    return f"{base_url}/{sid}"


class RateLimiter:
    """A request budget per Exotel account, shared by every process using the same Redis."""

    def __init__(self, redis: Redis, prefix: str = PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix
        self._reserve: Any = redis.register_script(_RESERVE)

    def reserve(self, bucket: str, limit: RateLimit, max_wait: float) -> tuple[bool, float]:
        """Reserve the next request slot of ``bucket`` (an account's: :func:`rate_bucket`) if it
        is at most ``max_wait`` s away.

        Returns ``(reserved, wait)``: when reserved, the caller may send after ``wait`` seconds;
        when not, the slot is ``wait`` seconds away and nothing was taken.
        """
        interval_ms = limit.spacing * 1000
        reserved, wait = self._reserve(
            keys=[f"{self._prefix}rate:{bucket}"], args=[interval_ms, max_wait * 1000]
        )
        return bool(reserved), float(wait) / 1000


class LockBusy(Exception):
    """Another worker holds the lock."""


class Lock:
    """A lease on a name (a user's switches) held by one worker at a time, until ``ttl``."""

    def __init__(self, redis: Redis, name: str, ttl: float, prefix: str = PREFIX) -> None:
        self._redis = redis
        self.key = f"{prefix}lock:{name}"
        self._ttl_ms = int(ttl * 1000)
        self._token = secrets.token_hex(16)
        self._extend: Any = redis.register_script(_EXTEND)
        self._release: Any = redis.register_script(_RELEASE)

    def acquire(self) -> None:
        if not self._redis.set(self.key, self._token, nx=True, px=self._ttl_ms):
            raise LockBusy(self.key)

    def extend(self) -> bool:
        """Renew the lease; False when it was lost (expired and taken by another)."""
        return bool(self._extend(keys=[self.key], args=[self._token, self._ttl_ms]))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self._token])

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class Leadership:
    """The lead among several schedulers: one at a time reconciles, reads Exotel and sweeps,
    so that no device is reconciled, read back or checked twice. The leader renews its lease
    at every tick; if it dies, another takes the lead once the lease has expired (``ttl``)."""

    def __init__(self, redis: Redis, ttl: float = 15.0, prefix: str = PREFIX) -> None:
        self._lock = Lock(redis, "scheduler-lead", ttl, prefix)
        self._held = False

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
