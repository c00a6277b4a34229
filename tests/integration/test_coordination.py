"""The request budget and the user locks, against the real Redis."""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from shiftswitch.broker import QUEUE, REPR_USERS, CeleryDispatcher, make_celery, message, reprs
from shiftswitch.budget import RateLimiter
from shiftswitch.coordination import Leadership, Leases, Lock, LockBusy
from shiftswitch.heartbeats import Heartbeat, live_workers, read_beats
from shiftswitch.models import Action
from shiftswitch.pacing import RateLimit
from shiftswitch.settings import Settings
from shiftswitch.web.health import Queue, queue
from tests.services import COORDINATION_REDIS_DB, redis_url


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


def test_a_slot_too_far_away_is_not_reserved(redis: Redis) -> None:
    limiter = RateLimiter(redis, prefix="test:")
    limit = RateLimit(1, 60)
    assert limiter.reserve("acct", limit, max_wait=1) == (True, 0.0)
    reserved, wait = limiter.reserve("acct", limit, max_wait=1)
    assert not reserved and 59 < wait < 62
    reserved, again = limiter.reserve("acct", limit, max_wait=1)
    assert not reserved and again <= wait  # nothing was taken by the refused call


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


def test_the_leases_of_one_redis_exclude_each_other_like_locks(redis: Redis) -> None:
    leases = Leases(redis, ttl=5.0, prefix="test:")
    first, second = leases("main/u-1"), leases("main/u-1")
    first.acquire()
    with pytest.raises(LockBusy):
        second.acquire()
    assert first.extend() and not second.extend()
    second.release()  # not its lease: nothing happens
    assert redis.exists(first.key)
    first.release()
    second.acquire()  # free now
    second.release()


def test_a_threads_leases_taken_one_after_another_are_handed_over_in_one_round_trip(
    redis: Redis,
) -> None:
    """A task message's users: each lease is let go of when the next is taken, the last on
    leaving; a lease busy elsewhere still lets go of the one before; other threads, and this
    one outside, let go at once."""
    leases = Leases(redis, ttl=5.0, prefix="test:")
    u1, u2, u3, busy = (leases(f"main/u-{i}") for i in (1, 2, 3, 4))
    leases("main/u-4").acquire()  # another worker's
    with leases.one_after_another():
        u1.acquire()
        u1.release(hand_over=True)
        assert redis.exists(u1.key)  # held back until the next is taken
        u2.acquire()
        assert not redis.exists(u1.key) and redis.exists(u2.key)
        u2.release(hand_over=True)
        with pytest.raises(LockBusy):
            busy.acquire()
        assert not redis.exists(u2.key)
        with ThreadPoolExecutor(1) as other:  # another thread: let go at once
            other.submit(lambda: (u3.acquire(), u3.release(hand_over=True))).result()
        assert not redis.exists(u3.key)
        u3.acquire()
        u3.release()  # not handed over: at once
        assert not redis.exists(u3.key)
        u3.acquire()
        with leases.one_after_another():  # within another: the outer one lets go
            u3.release(hand_over=True)
        assert redis.exists(u3.key)
    assert not redis.exists(u3.key)  # the last, on leaving
    u1.acquire()
    u1.release(hand_over=True)
    assert not redis.exists(u1.key)  # outside: at once
    assert redis.exists(busy.key)  # the other worker's, untouched


def test_a_lease_held_back_is_let_go_of_whatever_redis_answers(
    redis: Redis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The handover failing still lets go of the lease held back; a last release that fails
    leaves it to expire, with a warning, and is no error of the task's; the handover run again
    after its answer was lost finds the lease its own."""
    leases = Leases(redis, ttl=5.0, prefix="test:")
    handover = vars(leases)["_handover"]
    u1, u2 = leases("main/u-1"), leases("main/u-2")

    def unreachable(*_args: object, **_kwargs: object) -> None:
        raise RedisConnectionError("Redis is away")

    with leases.one_after_another():
        u1.acquire()
        u1.release(hand_over=True)
        with monkeypatch.context() as m:
            m.setattr(handover, "script", unreachable)
            with pytest.raises(RedisConnectionError):
                u2.acquire()
        assert not redis.exists(u1.key)
        u2.acquire()
        u2.release(hand_over=True)
        monkeypatch.setattr(u2, "_release", unreachable)
    assert redis.exists(u2.key) and "not let go of (it expires)" in caplog.text
    u1.acquire()
    key, token, ttl = u1.renewal()
    assert handover.script(keys=["test:lock:gone", key], args=["-", token, ttl]) == b"OK"


def test_the_live_workers_and_the_leader_as_the_console_asks(redis: Redis) -> None:
    assert live_workers(redis, prefix="test:") == []
    assert Leadership.last_renewed(redis, prefix="test:") is None
    for name in ("w2@b/7/cd", "w1@a/5/ab"):
        Heartbeat(redis, name, ttl=5.0, prefix="test:").beat(frozenset(), {})
    assert live_workers(redis, prefix="test:") == ["w1@a/5/ab", "w2@b/7/cd"]
    assert Leadership(redis, prefix="test:").held()
    renewed = Leadership.last_renewed(redis, prefix="test:")
    assert renewed is not None and 0 <= renewed < 2


def test_a_heartbeat_says_what_its_worker_holds_and_is_renewed_unchanged(redis: Redis) -> None:
    at = datetime(2026, 11, 30, 9, tzinfo=UTC)
    heartbeat = Heartbeat(redis, "w1", ttl=5.0, prefix="test:")
    owners = {"main/u-1": (at, True, 7)}
    heartbeat.beat(frozenset({"tag-1"}), owners)
    beats = read_beats(redis, prefix="test:")
    assert beats.tags == {"tag-1"} and beats.owners == owners
    redis.pexpire(heartbeat.key, 100)
    heartbeat.beat(frozenset({"tag-1"}), owners)  # the same messages: the payload sent again
    assert redis.pttl(heartbeat.key) > 1000
    assert read_beats(redis, prefix="test:").owners == owners
    more = {**owners, "main/u-2": (at, False, 8)}
    heartbeat.beat(frozenset({"tag-1", "tag-2"}), more)
    beats = read_beats(redis, prefix="test:")
    assert beats.tags == {"tag-1", "tag-2"} and beats.owners == more
    later = {**more, "main/u-1": (at, False, 9)}  # a user's last action changed
    heartbeat.beat(frozenset({"tag-3", "tag-2"}), later)
    assert read_beats(redis, prefix="test:").owners == later
    heartbeat.beat(frozenset(), {})
    assert read_beats(redis, prefix="test:").tags == set()


def test_the_users_kept_by_the_live_workers_are_counted_together(redis: Redis) -> None:
    at = datetime(2026, 11, 30, 9, tzinfo=UTC)
    Heartbeat(redis, "w1", ttl=5.0, prefix="test:").beat(frozenset(), {}, kept=2)
    Heartbeat(redis, "w2", ttl=5.0, prefix="test:").beat(
        frozenset(), {"main/u-3": (at, True, 9)}, kept=1
    )
    beats = read_beats(redis, prefix="test:")
    assert beats.kept == 3 and set(beats.owners) == {"main/u-3"}


def test_the_operations_page_counts_the_users_kept_beside_the_queue(redis: Redis) -> None:
    Heartbeat(redis, "w1", ttl=5.0).beat(frozenset(), {}, kept=2)
    assert queue(redis) == Queue(waiting=0, taken=0, kept=2)


def test_a_boundarys_messages_name_their_users_in_celerys_reprs(redis: Redis) -> None:
    """The task messages carry every action; Celery's argsrepr and kwargsrepr (shown by its
    events and ``celery inspect``) name the users only, a few at most."""
    settings = Settings.from_env({"REDIS_URL": redis_url(COORDINATION_REDIS_DB)})
    dispatcher = CeleryDispatcher(make_celery(settings))
    dispatcher.dispatch([("main/solo", [_action(99)])])
    dispatcher.dispatch([(f"main/u{i}", [_action(i)]) for i in range(2)])  # small: 2 messages
    assert dispatcher.messages == 3
    sent = [json.loads(raw) for raw in reversed(redis.lrange(QUEUE, 0, -1))]
    headers = [m["headers"] for m in sent]
    assert [h["argsrepr"] for h in headers] == ["()", "()", "()"]
    assert headers[0]["kwargsrepr"] == "{'batch': [main/solo]}"
    body = json.loads(base64.b64decode(sent[0]["body"]))
    assert body[1]["batch"][0]["actions"][0]["id"] == 99  # the message itself carries all
    many = _batch([(f"main/u{i}", [_action(i)]) for i in range(REPR_USERS + 3)])
    assert reprs(many)["kwargsrepr"] == (
        "{'batch': [" + ", ".join(f"main/u{i}" for i in range(REPR_USERS)) + ", ... 3 more]}"
    )


def _action(i: int) -> Action:
    return Action(
        id=i, key=f"k{i}", account="main", sid="main", base_url="http://exotel",
        rate_limit="6000/min", user_key=f"main/u{i}", agent=f"a{i}", device="desk",
        user_id=f"u{i}", device_id=f"d{i}", wants_on=True,
        due_at=datetime(2026, 11, 30, 9, tzinfo=UTC),
    )  # fmt: skip


def _batch(users: list[tuple[str, list[Action]]]) -> list[dict[str, object]]:
    return [{"owner": owner, "actions": [message(a) for a in actions]} for owner, actions in users]
