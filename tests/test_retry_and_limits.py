"""Retry delays (pure), and the Redis request budget and locks (against the real Redis)."""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis import Redis

from shiftswitch.coordination import Lock, LockBusy, RateLimiter
from shiftswitch.retry import RetryPolicy, next_delay
from shiftswitch.roster.model import RateLimit
from shiftswitch.settings import ConfigError, Settings
from tests.conftest import REDIS_SERVER

POLICY = RetryPolicy(base_delay=1.0, max_delay=60.0, max_attempts=5, max_age=300.0)


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (4, 4.0, 8.0)],
)
def test_backoff_doubles_with_jitter_in_the_upper_half(
    attempts: int, low: float, high: float
) -> None:
    rng = random.Random(7)
    delays = [next_delay(POLICY, attempts, None, 0.0, rng) for _ in range(200)]
    assert all(d is not None and low <= d <= high for d in delays)
    assert len({round(d, 6) for d in delays if d is not None}) > 150  # jittered


def test_retry_after_is_honoured_with_a_little_jitter() -> None:
    rng = random.Random(1)
    delays = [next_delay(POLICY, 1, 7.0, 0.0, rng) for _ in range(100)]
    assert all(d is not None and 7.0 <= d <= 7.75 for d in delays)


def test_retry_after_is_capped_by_the_longest_delay() -> None:
    assert next_delay(POLICY, 1, 3600.0, 0.0, random.Random(1)) == 60.0


def test_giving_up_on_attempts_and_on_age() -> None:
    rng = random.Random(3)
    assert next_delay(POLICY, 5, None, 0.0, rng) is None
    assert next_delay(POLICY, 1, None, 299.9, rng) is None
    assert next_delay(POLICY, 1, 10.0, 295.0, rng) is None


def test_settings_refuse_a_visibility_timeout_below_the_longest_retry() -> None:
    with pytest.raises(ConfigError, match="SHIFTSWITCH_VISIBILITY_TIMEOUT"):
        Settings.from_env({"SHIFTSWITCH_VISIBILITY_TIMEOUT": "60"})
    with pytest.raises(ConfigError, match="SHIFTSWITCH_LOCK_TTL"):
        Settings.from_env({"SHIFTSWITCH_LOCK_TTL": "5"})
    with pytest.raises(ConfigError, match="SHIFTSWITCH_RETRY_MAX_ATTEMPTS='many'"):
        Settings.from_env({"SHIFTSWITCH_RETRY_MAX_ATTEMPTS": "many"})
    with pytest.raises(ConfigError, match="SHIFTSWITCH_HTTP_TIMEOUT='nan'"):
        Settings.from_env({"SHIFTSWITCH_HTTP_TIMEOUT": "nan"})


@pytest.fixture
def redis() -> Iterator[Redis]:
    client = Redis.from_url(f"{REDIS_SERVER}/13")
    try:
        client.ping()
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable: {exc}")
    client.flushdb()
    yield client
    client.flushdb()


@pytest.mark.integration
def test_the_request_budget_spaces_requests_across_threads(redis: Redis) -> None:
    limiter = RateLimiter(redis, prefix="test:")
    limit = RateLimit(20, 1)
    sent: list[float] = []

    def one() -> None:
        reserved, wait = limiter.reserve("acct", limit, max_wait=5)
        assert reserved
        time.sleep(wait)
        sent.append(time.monotonic())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: one(), range(30)))
    sent.sort()
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert sent[-1] - sent[0] >= 29 / 20  # never faster than the limit
    assert sum(gaps) / len(gaps) < 0.06  # and not much slower (1% + 100 ms per window)


@pytest.mark.integration
def test_a_slot_too_far_away_is_not_reserved(redis: Redis) -> None:
    limiter = RateLimiter(redis, prefix="test:")
    limit = RateLimit(1, 60)
    assert limiter.reserve("acct", limit, max_wait=1) == (True, 0.0)
    reserved, wait = limiter.reserve("acct", limit, max_wait=1)
    assert not reserved and 59 < wait < 62
    reserved, again = limiter.reserve("acct", limit, max_wait=1)
    assert not reserved and again <= wait  # nothing was taken by the refused call


@pytest.mark.integration
def test_a_lock_is_held_by_one_and_expires(redis: Redis) -> None:
    first = Lock(redis, "main/u-1", ttl=0.3, prefix="test:")
    second = Lock(redis, "main/u-1", ttl=0.3, prefix="test:")
    first.acquire()
    with pytest.raises(LockBusy):
        second.acquire()
    time.sleep(0.4)
    second.acquire()
    assert not first.extend()  # lost: another holds it now
    first.release()  # does not free the other's lock
    assert redis.exists(second.key)
    second.release()
    assert not redis.exists(second.key)
