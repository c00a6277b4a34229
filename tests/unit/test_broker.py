"""How a boundary's users are cut into task messages (pure)."""

from __future__ import annotations

import collections
import inspect
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from kombu.connection import Connection
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

from shiftswitch.broker import (
    SPREAD,
    USERS_PER_MESSAGE,
    batch_size,
    batches,
    make_celery,
    messages,
    paced,
)
from shiftswitch.broker_connection import RECONNECT_EVERY, PromptConnection
from shiftswitch.models import Action
from shiftswitch.settings import Settings


@pytest.mark.parametrize(
    ("users", "per_message", "messages"),
    [
        (0, 0, 0),
        (1, 1, 1),
        (SPREAD, 1, SPREAD),  # small boundaries: every user applied at once
        (SPREAD + 1, 2, (SPREAD + 2) // 2),
        (2_000, USERS_PER_MESSAGE, 125),
        (10_000, USERS_PER_MESSAGE, 625),
    ],
)
def test_users_per_message_grow_with_the_boundary_up_to_a_bound(
    users: int, per_message: int, messages: int
) -> None:
    groups = [(f"main/u-{i:05}", []) for i in range(users)]
    cut = batches(groups)
    assert len(cut) == messages
    assert max((len(b) for b in cut), default=0) == per_message
    assert sorted(g for b in cut for g in b) == sorted(groups)  # every user once
    assert all(list(b) == sorted(b) for b in cut)  # in order within a message


def test_a_dead_workers_restore_mutex_does_not_hold_restores_for_minutes() -> None:
    from shiftswitch.broker import make_celery  # noqa: PLC0415
    from shiftswitch.settings import Settings  # noqa: PLC0415

    for visibility, expected in ((5, 5), (900, 60)):
        options = make_celery(Settings(visibility_timeout=visibility)).conf.broker_transport_options
        assert options["unacked_mutex_expire"] == expected  # kombu's own default: 300 s
        assert options["visibility_timeout"] == visibility


# -- pacing: an account's users in waves, due as their slots come up ---------------------------


def _action(i: int, sid: str, rate: str, on: bool = True) -> Action:
    return Action(
        id=i,
        key=f"k{i}",
        account=sid,
        sid=sid,
        base_url="http://exotel",
        rate_limit=rate,
        user_key=f"{sid}/u{i}",
        agent=f"a{i}",
        device="desk",
        user_id=f"u{i}",
        device_id=f"d{i}",
        wants_on=on,
        due_at=datetime(2026, 11, 30, 9, tzinfo=UTC),
    )


def test_a_slow_accounts_users_are_sent_as_their_slots_come_up() -> None:
    slow = [(f"slow/u{i}", [_action(i, "slow", "60/min")]) for i in range(5)]
    fast = [(f"fast/u{i}", [_action(100 + i, "fast", "6000/min")]) for i in range(60)]
    waves = paced([*slow, *fast], window=0.25, horizon=300)
    countdowns = {owner: c for c, part in waves for owner, _ in part}
    # 60/min: a request every ~1.01 s; each user in the wave of its slot
    assert [countdowns[f"slow/u{i}"] for i in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    # 6000/min: ~10 ms apart: 60 users within the first three waves
    assert {countdowns[f"fast/u{i}"] for i in range(60)} == {0.0, 0.25, 0.5}
    assert countdowns["fast/u0"] == 0.0  # the fast account does not wait behind the slow one
    assert [c for c, _ in waves] == sorted(c for c, _ in waves)


def test_a_users_actions_count_as_that_many_requests_and_no_wave_passes_the_horizon() -> None:
    users = [(f"s/u{i}", [_action(2 * i, "s", "60/min", False), _action(2 * i + 1, "s", "60/min")])
             for i in range(3)]  # fmt: skip
    countdowns = [c for c, part in paced(users, window=1.0, horizon=3.0) for _ in part]
    assert countdowns == [0.0, 2.0, 3.0]  # 0, 2 and 4 requests before each: the last held at 3


def test_the_batch_size_follows_the_boundary_and_its_wave() -> None:
    assert batch_size(10) == 1 and batch_size(10, 10) == 1  # a small boundary: one user each
    assert batch_size(1000) == 16  # a large one, not paced: up to 16 users a message
    # paced: a wave of 25 users (6000/min, 0.25 s) in 4 messages of at most 7, not in two
    assert batch_size(1000, 25) == 7
    assert batch_size(1000, 400) == 16 and batch_size(1000, 1) == 1


def test_a_waves_users_are_dealt_to_its_messages_in_turn() -> None:
    """Each message's users have slots spread across the wave: the first message does not
    hold its first slots while the last users of another wait for theirs."""
    groups = [(f"main/u-{i:02}", []) for i in range(10)]
    cut = batches(groups, 4)  # type: ignore[arg-type]
    assert [[owner[-2:] for owner, _ in b] for b in cut] == [
        ["00", "03", "06", "09"],
        ["01", "04", "07"],
        ["02", "05", "08"],
    ]
    assert [len(b) for b in batches([("u", [])] * 40, 16)] == [14, 13, 13]  # type: ignore[list-item]


def test_a_large_boundarys_waves_are_each_cut_into_several_messages() -> None:
    """1,000 users at 6000/min: 41 waves of about 25 users (the spacing is a little wider than
    10 ms), each in 4 messages, not 2 of 16 and 9 whose users two threads alone would apply
    one after the other."""
    fast = [(f"fast/u{i:04}", [_action(i, "fast", "6000/min")]) for i in range(1000)]
    cut = messages(fast)
    per_wave = collections.Counter(countdown for countdown, _ in cut)
    assert len(per_wave) == 41 and set(per_wave.values()) == {4}
    assert max(len(batch) for _, batch in cut) == 7
    assert sorted(owner for _, batch in cut for owner, _ in batch) == [o for o, _ in fast]


def test_the_prompt_connection_keeps_kombus_order_of_arguments() -> None:
    """PromptConnection overrides kombu's private ``_ensure_connection`` with other defaults:
    the positional order it relies on (callers pass up to five) must still be kombu's."""
    ours = list(inspect.signature(PromptConnection._ensure_connection).parameters)
    kombus = list(inspect.signature(Connection._ensure_connection).parameters)
    head = ["self", "errback", "max_retries", "interval_start", "interval_step", "interval_max"]
    assert ours[: len(head)] == head and kombus[: len(head)] == head
    assert RECONNECT_EVERY <= 1.0
    app = make_celery(Settings(database_url="sqlite://", redis_url="redis://127.0.0.1:9/0"))
    assert isinstance(app.connection_for_read(), PromptConnection)
    assert app.conf.broker_connection_max_retries is None  # waits for Redis however long


@pytest.mark.parametrize("url", ["redis://127.0.0.1:9/0", "sentinel://127.0.0.1:9;sentinel://h:9"])
def test_a_channel_whose_connection_let_go_of_it_fails_as_redis_unreachable(url: str) -> None:
    """What a worker meets when it lost Redis holding messages: Celery detaches the transport
    (``Connection.collect``), then closes the channel (which would put its messages back) and
    acknowledges messages on it. Both must fail as a lost Redis does (which kombu and Celery
    survive), never with the AttributeError that ended the worker."""
    app = make_celery(Settings(database_url="sqlite://", redis_url=url))
    transport = app.connection_for_read().get_transport_cls()
    assert issubclass(transport.Channel, kombu_redis.Channel)
    channel = object.__new__(transport.Channel)  # as it is after the collect; nothing reached
    channel.connection = SimpleNamespace(client=None)
    with pytest.raises(RedisConnectionError):
        channel._get_pool()
    channel.basic_ack("tag-1")  # nothing acknowledged, nothing raised
