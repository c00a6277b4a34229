"""Redis opened where ``REDIS_URL`` says (:mod:`shiftswitch.redisurl`): one server, or the
primary the sentinels name, asked again at each new connection so that a client follows a
failover. Kept apart from reading the URL, so that what only reads settings does not import
redis-py."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from redis import Redis
from redis.sentinel import Sentinel

from shiftswitch.redisurl import RedisPlace


def client(place: RedisPlace, **options: Any) -> Redis:
    """A client of the primary: ``options`` as for :class:`redis.Redis` (timeouts). Through
    sentinels, each new connection asks them where the primary is, so a client whose
    connection broke at a failover reconnects to the new one."""
    if not place.is_sentinel:
        extra = {"password": place.password} if place.password else {}
        return Redis.from_url(place.url, **extra, **options)
    primary: Redis = _sentinel(place, _timeouts(options)).master_for(
        place.master, db=place.db, password=place.password, **options
    )
    return primary


class _SharedSentinel(Sentinel):
    """redis-py's Sentinel, asked by one thread at a time: its search for the primary
    reorders its list of sentinels, unlocked, and the worker's threads share one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._asking = threading.Lock()

    def discover_master(self, service_name: str) -> Any:
        with self._asking:
            return super().discover_master(service_name)


@lru_cache(maxsize=8)
def _sentinel(place: RedisPlace, timeouts: tuple[tuple[str, float], ...]) -> Sentinel:
    """The sentinels, asked with these timeouts (one set of connections to them per process)."""
    kwargs: dict[str, Any] = dict(timeouts)
    if place.sentinel_password:
        kwargs["password"] = place.sentinel_password
    return _SharedSentinel(list(place.sentinels), sentinel_kwargs=kwargs)


def _timeouts(options: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    """The sentinels are asked with the client's own timeouts (2 s at most to connect)."""
    connect = options.get("socket_connect_timeout") or options.get("socket_timeout") or 2.0
    read = options.get("socket_timeout") or 5.0
    return (("socket_connect_timeout", min(2.0, connect)), ("socket_timeout", min(5.0, read)))


def primary_at(place: RedisPlace) -> tuple[str, int] | None:
    """Where the sentinels say the primary is now (None: a single server)."""
    if not place.is_sentinel:
        return None
    found = _sentinel(place, _timeouts({})).discover_master(place.master)
    return str(found[0]), int(found[1])
