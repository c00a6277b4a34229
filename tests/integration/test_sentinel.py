"""Redis through Sentinel, against real ``redis-server`` and ``redis-sentinel`` processes: the
health check finds the primary, every use of Redis follows a failover in the same process, and a
URL that cannot be used is one line, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

from redis.exceptions import RedisError

from shiftswitch import redisclient
from shiftswitch.budget import RateLimiter
from shiftswitch.coordination import Lock
from shiftswitch.heartbeats import Heartbeat, live_workers
from shiftswitch.pacing import RateLimit
from shiftswitch.settings import Settings
from tests.commands import shiftswitch
from tests.sentinels import MASTER, SentinelGroup, sentinel_group

PASSWORD, SENTINEL_PASSWORD = "primary-pw-51c0", "sentinel-pw-77d3"


def env_for(group: SentinelGroup) -> dict[str, str]:
    return {
        "REDIS_URL": group.url,
        "SHIFTSWITCH_REDIS_MASTER": MASTER,
        "SHIFTSWITCH_REDIS_PASSWORD": PASSWORD,
        "SHIFTSWITCH_SENTINEL_PASSWORD": SENTINEL_PASSWORD,
    }


def check_finds_the_primary_through_the_sentinels(group: SentinelGroup) -> None:
    done = shiftswitch("check", "--only", "redis", env={**os.environ, **env_for(group)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok    redis     sentinels 127.0.0.1:")
    assert f"primary '{MASTER}'" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr
    assert SENTINEL_PASSWORD not in done.stdout + done.stderr


def a_wrong_password_or_master_name_fails_in_one_line(group: SentinelGroup) -> None:
    for change in ({"SHIFTSWITCH_REDIS_MASTER": "nosuch"}, {"SHIFTSWITCH_REDIS_PASSWORD": "x"}):
        done = shiftswitch(
            "check", "--only", "redis", env={**os.environ, **env_for(group), **change}
        )
        assert done.returncode == 1, done.stdout
        assert done.stdout.startswith("FAIL  redis     sentinels 127.0.0.1:")
        assert "Traceback" not in done.stdout + done.stderr
        assert len(done.stdout.strip().splitlines()) == 1


def test_unreachable_sentinels_are_one_line_never_a_traceback(tmp_path: Path) -> None:
    url = "sentinel://127.0.0.1:1;sentinel://127.0.0.1:2"  # nothing listens there
    env = {**os.environ, "REDIS_URL": url, "SHIFTSWITCH_REDIS_MASTER": MASTER}
    done = shiftswitch("check", "--only", "redis", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert done.stdout.startswith("FAIL  redis     sentinels 127.0.0.1:1,127.0.0.1:2")


def test_check_then_every_use_of_redis_follows_a_failover(tmp_path: Path) -> None:
    """``shiftswitch check`` finds the primary (and fails in one line with a wrong name or
    password); then leases, the rate limiter and heartbeats on one client each, made before
    the failover and used after it, as a long-running process's are. (One group of servers
    for all: starting one takes seconds.)"""
    with sentinel_group(tmp_path, PASSWORD, SENTINEL_PASSWORD) as group:
        check_finds_the_primary_through_the_sentinels(group)
        a_wrong_password_or_master_name_fails_in_one_line(group)
        place = Settings.from_env(env_for(group)).redis
        limiter = RateLimiter(redisclient.client(place, socket_timeout=2))
        locks = redisclient.client(place, socket_timeout=2)
        beats = redisclient.client(place, socket_timeout=2)
        limit = RateLimit(600, 60)
        assert limiter.reserve("acct", limit, 5)[0]
        with Lock(locks, "u-1", ttl=30):
            pass
        Heartbeat(beats, "w1@host-a/1/x").beat(frozenset(), {})
        assert redisclient.primary_at(place) == ("127.0.0.1", group.ports["primary"])

        group.kill_primary()
        group.wait_promoted()
        assert redisclient.primary_at(place) == ("127.0.0.1", group.ports["replica"])

        def soon(call: object) -> object:
            """A connection broken by the failover fails once; the next goes to the new
            primary (as the product's loops do: they try again at their next turn)."""
            try:
                return call()  # type: ignore[operator]
            except RedisError:
                return call()  # type: ignore[operator]

        assert soon(lambda: limiter.reserve("acct", limit, 5))[0]  # type: ignore[index]
        soon(lambda: Lock(locks, "u-1", ttl=30).acquire())
        soon(lambda: Heartbeat(beats, "w1@host-a/1/x").beat(frozenset(), {}))
        assert "w1@host-a/1/x" in live_workers(beats)
        assert beats.connection_pool.get_master_address()[1] == group.ports["replica"]  # type: ignore[attr-defined]
