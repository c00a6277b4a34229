"""Each Exotel account's request budget, shared by every process through Redis (README: How
switching works, "Fair across accounts").

Each decision is a single Lua script, atomic on the Redis server and on its clock: worker
processes on several machines agree on an account's slots without trusting each other's clocks.
"""

from __future__ import annotations

import logging
from typing import Any

from redis import Redis, RedisError

from shiftswitch.coordination import PREFIX, Lock, Renewable
from shiftswitch.pacing import REQUEST_SAFETY, WINDOW_SLACK_SECONDS, RateLimit

log = logging.getLogger("shiftswitch.budget")

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
