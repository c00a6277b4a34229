"""The request budget's adaptation, against the real Redis: what one worker process learns of an
account's gateway (a 429, a Retry-After, requests let through, a request that left late) spaces
every process's requests.

Two :class:`RateLimiter` instances on one Redis stand for two worker processes; each has only
what Redis holds in common (the server's clock included)."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis

from shiftswitch.budget import MAX_WIDENING, WIDENING_MEMORY, RateLimiter, narrowed, widened
from shiftswitch.coordination import Leases
from shiftswitch.pacing import RateLimit
from tests.services import COORDINATION_REDIS_DB, redis_url

BUCKET = "https://ccm-api.exotel.com/acme"
LIMIT = RateLimit(60, 60)  # spacing 1.0217 s; strict 1.0617 s


@pytest.fixture
def redis() -> Iterator[Redis]:
    client = Redis.from_url(redis_url(COORDINATION_REDIS_DB))
    try:
        client.ping()
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable: {exc}")
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def two(redis: Redis) -> tuple[RateLimiter, RateLimiter]:
    return RateLimiter(redis, prefix="test:"), RateLimiter(redis, prefix="test:")


def gap(limiter: RateLimiter, bucket: str = BUCKET) -> float:
    """The wait of the next slot after one reserved now (the spacing in force, less the time
    between the two calls)."""
    first = limiter.reserve(bucket, LIMIT, max_wait=3600)
    second = limiter.reserve(bucket, LIMIT, max_wait=3600)
    assert first[0] and second[0]
    return second[1] - first[1]


def strict_and_widened(a: RateLimiter, b: RateLimiter) -> None:
    """A first 429 (the account becomes strict), then one to a request sent after it."""
    a.refused(BUCKET, retry_after=None, took=0.0)
    time.sleep(0.002)
    b.refused(BUCKET, retry_after=None, took=0.0)


def test_a_first_429_in_one_process_makes_the_account_strict_in_the_other(
    two: tuple[RateLimiter, RateLimiter], redis: Redis
) -> None:
    a, b = two
    assert gap(b) == pytest.approx(LIMIT.spacing, abs=0.02)  # 10 ms of jitter allowance
    a.refused(BUCKET, retry_after=None, took=0.05)
    assert b.pace(BUCKET) == (True, 1.0)
    # remembered from the 429 on, for a while; a success does not renew it
    assert (
        WIDENING_MEMORY * 1000 - 5000 < redis.pttl(f"test:pace:{BUCKET}") <= WIDENING_MEMORY * 1000
    )
    b.reserve(BUCKET, LIMIT, max_wait=3600)  # the slot already free at the old spacing
    assert gap(b) == pytest.approx(LIMIT.strict_spacing, abs=0.02)
    assert gap(b, "https://ccm-api.exotel.com/other") == pytest.approx(LIMIT.spacing, abs=0.02)


def test_a_later_429_widens_the_strict_spacing_for_every_process(
    two: tuple[RateLimiter, RateLimiter],
) -> None:
    a, b = two
    strict_and_widened(a, b)
    assert a.pace(BUCKET) == (True, pytest.approx(1.1))
    a.reserve(BUCKET, LIMIT, max_wait=3600)
    assert gap(a) == pytest.approx(1.1 * LIMIT.strict_spacing, abs=0.02)


def test_requests_let_through_in_either_process_narrow_it_back(
    two: tuple[RateLimiter, RateLimiter], redis: Redis
) -> None:
    a, b = two
    strict_and_widened(a, b)
    b.reserve(BUCKET, LIMIT, max_wait=3600)  # b has seen the widening
    a.reserve(BUCKET, LIMIT, max_wait=3600)  # a too
    expected = widened(1.0)
    for limiter in (a, b) * 3:
        limiter.admitted(BUCKET)
        expected = narrowed(expected)
    assert a.widening(BUCKET) == pytest.approx(expected) == pytest.approx(1.04)
    for _ in range(5):
        a.admitted(BUCKET)
    assert a.pace(BUCKET) == (True, 1.0)  # back to the strict spacing, still strict
    assert 0 < redis.pttl(f"test:pace:{BUCKET}") <= WIDENING_MEMORY * 1000


def test_429s_widen_up_to_four_times_the_strict_spacing(
    two: tuple[RateLimiter, RateLimiter],
) -> None:
    a, _ = two
    fast = RateLimit(100, 1)
    for _ in range(17):
        # each refused request left at its slot, after the last change: each counts
        reserved, wait = a.reserve(BUCKET, fast, max_wait=5)
        assert reserved
        time.sleep(wait + a.sending(BUCKET, fast) + 0.001)
        a.refused(BUCKET, retry_after=None, took=0.0)
    assert a.pace(BUCKET) == (True, MAX_WIDENING)


def test_429s_to_requests_sent_before_a_change_do_not_change_it_again(
    two: tuple[RateLimiter, RateLimiter],
) -> None:
    a, b = two
    for _ in range(4):  # four slots reserved at the spacing: ~4 s of queue
        assert a.reserve(BUCKET, LIMIT, max_wait=3600)[0]
    a.refused(BUCKET, retry_after=None, took=0.0)
    b.refused(BUCKET, retry_after=None, took=0.01)  # one in flight before it, refused too
    assert a.pace(BUCKET) == (True, 1.0)


def test_a_request_leaves_a_spacing_after_the_last_one_sent_in_any_process(
    two: tuple[RateLimiter, RateLimiter],
) -> None:
    a, b = two
    limit = RateLimit(20, 1)  # spacing ~61 ms
    assert a.sending(BUCKET, limit) == 0.0
    later = b.sending(BUCKET, limit)  # at once: as if the one before had left late
    assert 0.03 < later <= limit.spacing
    a.refused(BUCKET, retry_after=None, took=0.0)  # strict from now: the next one wider still
    assert later + 0.03 < b.sending(BUCKET, limit) <= later + limit.strict_spacing
    assert a.sending("https://ccm-api.exotel.com/other", limit) == 0.0


def test_a_request_under_a_lease_renews_it_in_the_same_round_trip(
    redis: Redis, two: tuple[RateLimiter, RateLimiter]
) -> None:
    a, b = two
    limit = RateLimit(20, 1)
    leases = Leases(redis, ttl=5.0, prefix="test:")
    mine = leases("main/u1")
    mine.acquire()
    redis.pexpire(mine.key, 100)  # about to expire
    assert a.sending_held(BUCKET, limit, mine) == 0.0
    assert 4000 < redis.pttl(mine.key) <= 5000  # renewed to its whole TTL
    later = b.sending_held(BUCKET, limit, mine)  # the spacing holds as for sending()
    assert later is not None and 0.03 < later <= limit.spacing
    sent = redis.get(f"test:sent:{BUCKET}")
    redis.delete(mine.key)
    theirs = leases("main/u1")
    theirs.acquire()  # expired, and taken by another worker
    assert a.sending_held(BUCKET, limit, mine) is None
    assert redis.get(f"test:sent:{BUCKET}") == sent  # nothing recorded as leaving
    assert redis.get(mine.key) == theirs.renewal()[1].encode()  # theirs, untouched


def test_a_lease_of_another_kind_is_renewed_on_its_own(
    two: tuple[RateLimiter, RateLimiter],
) -> None:
    a, _ = two

    class Held:
        def __init__(self, held: bool) -> None:
            self.held, self.renewed = held, 0

        def extend(self) -> bool:
            self.renewed += 1
            return self.held

    lease = Held(True)
    assert a.sending_held(BUCKET, LIMIT, lease) == 0.0
    assert lease.renewed == 1
    assert a.sending_held(BUCKET, LIMIT, Held(False)) is None


def test_retry_after_holds_the_whole_account_in_every_process(
    two: tuple[RateLimiter, RateLimiter],
) -> None:
    a, b = two
    a.refused(BUCKET, retry_after=2.0, took=0.05)
    reserved, wait = b.reserve(BUCKET, LIMIT, max_wait=5)
    assert reserved and 1.9 < wait <= 2.0
    refused_now, later = b.reserve(BUCKET, LIMIT, max_wait=1)
    assert not refused_now and later > 2.0  # nothing of the account before then
    assert b.reserve("https://ccm-api.exotel.com/other", LIMIT, max_wait=1) == (True, 0.0)


def test_a_process_that_saw_no_widening_asks_redis_nothing_for_a_success(
    redis: Redis,
) -> None:
    # The commands this client sends (the server's own count takes in other test processes').
    commands: list[object] = []

    class Counting(Redis):
        def execute_command(self, *args: Any, **options: Any) -> Any:
            commands.append(args[0])
            return super().execute_command(*args, **options)

    limiter = RateLimiter(Counting(connection_pool=redis.connection_pool), prefix="test:")
    limiter.reserve(BUCKET, LIMIT, max_wait=5)
    assert commands  # the reservation went through the counting client
    commands.clear()
    limiter.admitted(BUCKET)
    assert commands == []


def test_the_spacing_is_enforced_across_processes_at_the_widened_interval(
    two: tuple[RateLimiter, RateLimiter],
) -> None:
    a, b = two
    limit = RateLimit(20, 1)  # spacing ~61 ms
    strict_and_widened(a, b)
    sent = []  # each slot lies between the call's start and its end, plus its wait
    for limiter in (a, b) * 4:
        start = time.monotonic()
        reserved, wait = limiter.reserve(BUCKET, limit, max_wait=5)
        assert reserved
        sent.append((start + wait, time.monotonic() + wait))
    # The widest each gap can be (a busy machine's own delays between calls aside).
    gaps = [later[1] - earlier[0] for earlier, later in itertools.pairwise(sent)]
    assert min(gaps) >= 1.1 * limit.strict_spacing * 0.97
