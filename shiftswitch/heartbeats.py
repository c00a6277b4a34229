"""The workers' heartbeats in Redis: which task messages each live worker holds and what they
cover, so that the scheduler's sweep can tell a lost message from one a live worker has; and
which workers are alive, for the console."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis import Redis

from shiftswitch.coordination import PREFIX
from shiftswitch.recovery import Cover, Order

BEAT_EVERY = 1.0  # seconds between a worker's beats
HEARTBEAT_TTL = 10.0  # a worker that has not beaten for this long is dead
# The registry of workers is trusted once it has existed this long: every live worker has beaten
# since (after Redis lost its data, say, the workers' beats come back within BEAT_EVERY).
SETTLE = 2 * BEAT_EVERY + 0.5

# KEYS: the worker's heartbeat, the registry (a set of worker ids), the registry's start.
_BEAT = """
local t = redis.call('TIME')
redis.call('SET', KEYS[3], t[1], 'NX')
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS: the registry, its start; ARGV: the heartbeats' key prefix. Returns the server's time,
# the registry's start, then each live worker's heartbeat; forgets the workers found dead.
_BEATS = """
local t = redis.call('TIME')
redis.call('SET', KEYS[2], t[1], 'NX')
local out = {t[1] .. '.' .. string.format('%06d', tonumber(t[2])), redis.call('GET', KEYS[2])}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local beat = redis.call('GET', ARGV[1] .. id)
  if beat then table.insert(out, beat) else redis.call('SREM', KEYS[1], id) end
end
return out
"""


@dataclass(frozen=True, slots=True)
class Beats:
    """The live workers' heartbeats, read at ``now`` (the Redis server's time, seconds)."""

    now: float
    tags: frozenset[str]  # delivery tags of the messages the live workers hold
    owners: Cover  # what those messages, and the users the workers keep, cover
    # Seconds until the registry can be trusted (see SETTLE); 0 once it can. Until then a live
    # worker may be missing from it: nothing may be judged dead, or not held, from it.
    settling: float = 0.0
    kept: int = 0  # users the live workers keep through a short wait, in no message


# A beat names each user a worker holds with their last action. At a boundary a worker holds
# hundreds of users (the messages of the waves to come) and beats several times a second, as
# tasks keep users and messages come and go: each user's entry is encoded once, when first
# named, and a beat joins the entries (a worker holding 440 users spent 2.4 ms a beat encoding
# them all again, about 0.2 ms of worker CPU a switch at the fifty-account boundary).
def _entry(owner: str, last: Order) -> str:
    at, on, i = last
    return f"{json.dumps(owner)}: {json.dumps([at.isoformat(), on, i])}"


class Heartbeat:
    """A worker process's heartbeat: the task messages it holds (by delivery tag) and what they
    and the users it keeps through a short wait cover, renewed every :data:`BEAT_EVERY` s; a
    worker that dies stops renewing it, and it is gone :data:`HEARTBEAT_TTL` s later."""

    def __init__(
        self, redis: Redis, worker: str, ttl: float = HEARTBEAT_TTL, prefix: str = PREFIX
    ) -> None:
        self._redis = redis
        self.worker = worker
        self.key = f"{prefix}worker:{worker}"
        self._keys = [self.key, f"{prefix}workers", f"{prefix}workers:since"]
        self._ttl_ms = int(ttl * 1000)
        self._beat: Any = redis.register_script(_BEAT)
        self._last: tuple[frozenset[str], Mapping[str, Order], str, int] | None = None
        self._entries: dict[str, tuple[Order, str]] = {}  # each user's, as last encoded

    def beat(self, tags: frozenset[str], owners: Mapping[str, Order], kept: int = 0) -> None:
        """Renew the heartbeat: the messages held (by delivery tag), what they and the users
        kept cover, and how many users are kept (in no message). Given the same ``owners``
        object with the same tags and count as the last beat, the last payload is sent again,
        not encoded anew (a worker may hold thousands of messages)."""
        last = self._last
        if last is not None and last[0] == tags and last[1] is owners and last[3] == kept:
            payload = last[2]
        else:
            payload = (
                f'{{"tags": {json.dumps(sorted(tags))}, '
                f'"owners": {{{", ".join(self._encoded(owners))}}}, "kept": {int(kept)}}}'
            )
            self._last = (tags, owners, payload, kept)
        self._beat(keys=self._keys, args=[self.worker, payload, self._ttl_ms])

    def _encoded(self, owners: Mapping[str, Order]) -> list[str]:
        """Each user's entry of the payload: the one encoded last, when the user's last action
        is the same."""
        before, entries = self._entries, {}
        for owner, last in owners.items():
            known = before.get(owner)
            entries[owner] = (
                known if known is not None and known[0] == last else (last, _entry(owner, last))
            )
        self._entries = entries
        return [text for _, text in entries.values()]

    def stop(self) -> None:
        """This worker holds nothing any more (a warm shutdown gave its messages back)."""
        self._redis.delete(self.key)


def live_workers(redis: Redis, prefix: str = PREFIX) -> list[str]:
    """The workers whose heartbeat is alive, by name (``host/pid/random``), sorted."""
    marker = f"{prefix}worker:"
    return sorted(
        key.decode().removeprefix(marker) for key in redis.scan_iter(match=f"{marker}*", count=1000)
    )


def read_beats(redis: Redis, prefix: str = PREFIX) -> Beats:
    """The live workers' heartbeats (``settling`` while the registry is younger than
    :data:`SETTLE`: a live worker may not have beaten since it appeared)."""
    script: Any = redis.register_script(_BEATS)
    now, since, *beats = script(
        keys=[f"{prefix}workers", f"{prefix}workers:since"], args=[f"{prefix}worker:"]
    )
    settling = max(0.0, SETTLE - (float(now) - float(since)))
    tags: set[str] = set()
    owners: Cover = {}
    kept = 0
    for raw in beats:
        beat = json.loads(raw)
        tags.update(beat["tags"])
        kept += int(beat.get("kept", 0))
        for owner, (at, on, i) in beat["owners"].items():
            last = (datetime.fromisoformat(at), bool(on), int(i))
            owners[owner] = max(last, owners.get(owner, last))
    return Beats(float(now), frozenset(tags), owners, settling, kept)
