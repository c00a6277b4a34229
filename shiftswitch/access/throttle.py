"""Failed logins and bad tokens, counted in Redis, so that guessing is slow for every API
process at once.

Each failure counts against each key the caller gives (``user:asha``, ``ip:203.0.113.7``).
From the ``failures``-th failure on, a key is locked for 1 s, then 2, 4, 8 ... at most
``window`` seconds: the caller waits that long before trying again. A key's count lasts until
``window`` seconds pass without a failure (plus the last lock); a success clears it. Keys are
stored by their SHA-256 digest, so no name, address or secret is ever a Redis key.
"""

from __future__ import annotations

import hashlib
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


class LoginThrottle:
    """Lock-outs after repeated failures, shared through ``redis``. A :class:`RedisError`
    propagates: the caller decides whether to let a login through without the throttle."""

    def __init__(
        self, redis: Redis, *, failures: int = 5, window: float = 300.0, prefix: str = PREFIX
    ) -> None:
        if failures < 1 or window <= 0:
            raise ValueError("failures must be at least 1 and window above 0")
        self.redis = redis
        self.failures = failures
        self.window_ms = max(1, round(window * 1000))
        self.prefix = prefix
        self._failed: Any = redis.register_script(_FAILED)

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

    def succeeded(self, *keys: str) -> None:
        """Clear ``keys``: their failures are forgotten and any lock-out ends."""
        if keys:
            self.redis.delete(
                *(name for key in keys for name in (self._count(key), self._lock(key)))
            )

    def _name(self, key: str) -> str:
        return self.prefix + hashlib.sha256(key.encode()).hexdigest()

    def _count(self, key: str) -> str:
        return self._name(key) + ":n"

    def _lock(self, key: str) -> str:
        return self._name(key) + ":lock"
