"""Failed logins and bad tokens, counted in Redis, so that guessing is slow for every API
process at once.

Each failure counts against each key the caller gives (``user:asha``, ``ip:203.0.113.7``).
From the ``failures``-th failure on, a key is locked for 1 s, then 2, 4, 8 ... at most
``window`` seconds: the caller waits that long before trying again. A key's count lasts until
``window`` seconds pass without a failure (plus the last lock); a success clears it. Keys are
stored by their HMAC-SHA-256 under the installation's salt (kept in the database), so no name,
address or secret is ever a Redis key, and whoever reads Redis cannot test a guess at one.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from redis import Redis

PREFIX = "shiftswitch:throttle:"

# KEYS: pairs of (count, lock) per throttled key. ARGV: failures, window (ms).
# A key's count is raised; at ``failures`` and beyond its lock is set to
# 2^(count - failures) s, capped at the window, and the count kept for window + lock.
_FAILED = """
local failures = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
for i = 1, #KEYS, 2 do
  local n = redis.call('INCR', KEYS[i])
  local lock = 0
  if n >= failures then
    lock = math.floor(math.min(1000 * 2 ^ (n - failures), window))
    if lock > 0 then redis.call('SET', KEYS[i + 1], '1', 'PX', lock) end
  end
  redis.call('PEXPIRE', KEYS[i], window + lock)
end
return 0
"""


# The same, but first: when any of the keys is locked, count nothing and return the longest
# lock's milliseconds. One step, so that attempts made at once cannot all pass a check made
# before any of them is counted.
_ATTEMPT = (
    """
local wait = 0
for i = 2, #KEYS, 2 do
  local left = redis.call('PTTL', KEYS[i])
  if left > wait then wait = left end
end
if wait > 0 then return wait end
"""
    + _FAILED
)


# KEYS: pairs of (count, lock). One attempt counted by _ATTEMPT is taken back: the count is
# lowered, and a lock it set (the count below ``failures`` again) is lifted.
_FORGIVE = """
local failures = tonumber(ARGV[1])
for i = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local n = redis.call('DECR', KEYS[i])
    if n < failures then redis.call('DEL', KEYS[i + 1]) end
    if n <= 0 then redis.call('DEL', KEYS[i]) end
  end
end
return 0
"""


class LoginThrottle:
    """Lock-outs after repeated failures, shared through ``redis``. A :class:`RedisError`
    propagates: the caller decides whether to let a login through without the throttle."""

    def __init__(
        self,
        redis: Redis,
        *,
        salt: bytes,
        failures: int = 5,
        window: float = 300.0,
        prefix: str = PREFIX,
    ) -> None:
        if failures < 1 or window <= 0:
            raise ValueError("failures must be at least 1 and window above 0")
        if len(salt) < 16:
            raise ValueError("the salt must be at least 16 bytes")
        self.salt = salt
        self.redis = redis
        self.failures = failures
        self.window_ms = max(1, round(window * 1000))
        self.prefix = prefix
        self._failed: Any = redis.register_script(_FAILED)
        self._attempt: Any = redis.register_script(_ATTEMPT)
        self._forgive: Any = redis.register_script(_FORGIVE)

    def wait(self, *keys: str) -> float:
        """Seconds before any of ``keys`` may try again (0: it may try now)."""
        if not keys:
            return 0.0
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.pttl(self._lock(key))
        return max(0, *(int(ms) for ms in pipe.execute())) / 1000

    def failed(self, *keys: str) -> None:
        """Count a failure against each of ``keys``, atomically."""
        if keys:
            names = [name for key in keys for name in (self._count(key), self._lock(key))]
            self._failed(keys=names, args=[self.failures, self.window_ms])

    def attempt(self, *keys: str) -> float:
        """Before checking a secret: when a key is locked, the seconds to wait (and nothing is
        counted); else 0, and the attempt is counted as a failure at once, atomically, until
        :meth:`succeeded` clears it. So attempts sent in parallel are counted before any is
        checked, and at most ``failures`` of them get through."""
        if not keys:
            return 0.0
        names = [name for key in keys for name in (self._count(key), self._lock(key))]
        return int(self._attempt(keys=names, args=[self.failures, self.window_ms])) / 1000

    def forgive(self, *keys: str) -> None:
        """Take back one attempt :meth:`attempt` counted against each of ``keys`` (it was
        right), leaving their other failures counted."""
        if keys:
            names = [name for key in keys for name in (self._count(key), self._lock(key))]
            self._forgive(keys=names, args=[self.failures])

    def succeeded(self, *keys: str) -> None:
        """Clear ``keys``: their failures are forgotten and any lock-out ends."""
        if keys:
            self.redis.delete(
                *(name for key in keys for name in (self._count(key), self._lock(key)))
            )

    def _name(self, key: str) -> str:
        return self.prefix + hmac.new(self.salt, key.encode(), hashlib.sha256).hexdigest()

    def _count(self, key: str) -> str:
        return self._name(key) + ":n"

    def _lock(self, key: str) -> str:
        return self._name(key) + ":lock"
