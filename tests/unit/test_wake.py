"""When the scheduler wakes (scheduler/wake.py): a table of instants, and the sleep on a test clock.

No test here sleeps: :class:`TestStop` is a stop event whose ``wait`` moves a
:class:`~shiftswitch.clock.FixedClock` on by the timeout (or by what the test says) instead.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from scheduler.wake import (
    FIRST,
    FIRST_TOTAL,
    MIN_GAP,
    POLL_EVERY,
    first_users,
    next_wake,
    portions,
    seconds_until,
    sleep_until,
)
from shiftswitch.clock import FixedClock
from shiftswitch.pacing import RateLimit
from tests.rosters import utc

T = utc("2026-11-30T09:00:00+00:00")  # the last tick
MS = timedelta(milliseconds=1)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("due", "timers", "wake"),
    [
        (None, (), T + S),  # nothing planned: the next poll
        (T + 3 * S, (), T + S),  # due after the next poll: poll first
        (T + 250 * MS, (), T + 250 * MS),  # due before the poll: at its instant, to the ms
        (T + S, (), T + S),  # at the poll: one tick does both
        (T + 250 * MS, (T + 100 * MS, None), T + 100 * MS),  # a timer first (a sweep)
        (None, (T + 5 * S,), T + S),  # a timer after the poll: the poll first
        (None, (T, T - S), T + S),  # timers not after the last tick: already seen to
        (T + 5 * S, (T + 990 * MS,), T + 990 * MS),  # a timer well before: at its instant
        (T + 1010 * MS, (), T + 1010 * MS),  # a poll 10 ms before due: both at the due instant
        (T + 1030 * MS, (), T + S),  # a poll 30 ms before: the poll, then due on time (below)
        (T + 5 * MS, (), T + 25 * MS),  # ticks 25 ms apart at least
        (T - 2 * MS, (), T + 25 * MS),  # due already passed (a slow tick): soon
    ],
)
def test_next_wake_is_the_first_of_due_poll_and_timers(
    due: datetime | None, timers: tuple[datetime | None, ...], wake: datetime
) -> None:
    assert next_wake(T, due, timers) == wake


def test_a_poll_just_before_a_boundary_never_delays_it() -> None:
    """Whatever the poll's phase, the boundary's tick is at its instant."""
    due = T + 2 * S
    for offset_ms in range(0, 1000, 5):
        last, ticks = T + offset_ms * MS, []
        while last < due:
            last = next_wake(last, due if last < due else None, ())
            ticks.append(last)
        assert due in ticks, offset_ms


def test_next_wake_polls_at_the_given_interval() -> None:
    assert POLL_EVERY == S
    assert next_wake(T, None, (), poll_every=5 * S) == T + 5 * S
    assert next_wake(T, T + 2 * S, (), poll_every=5 * S) == T + 2 * S


def test_a_fast_ramp_is_taken_a_few_at_a_time_at_most_min_gap_late() -> None:
    """Ramped ONs 10 ms apart (6,000/min): a tick every 25 ms takes those due since."""
    plan = [T + k * 10 * MS for k in range(1, 101)]
    ticks, last = [], T
    while last < plan[-1]:
        following = next((at for at in plan if at > last), None)
        last = next_wake(last, following, ())
        ticks.append(last)
    assert all(b - a >= MIN_GAP for a, b in zip([T, *ticks], ticks, strict=False))
    assert len(ticks) <= 1 * S / MIN_GAP + 1
    taken_at = [next(t for t in ticks if t >= at) for at in plan]
    assert max(t - at for t, at in zip(taken_at, plan, strict=True)) <= MIN_GAP


def test_a_ramp_wakes_at_each_of_its_instants_and_still_polls_every_second() -> None:
    """Ramped ONs 400 ms apart: each is taken at its instant; between them, a poll a second
    after the last tick at most."""
    plan = [T + k * 400 * MS for k in range(1, 8)] + [T + 6 * S]
    ticks, last = [], T
    while last < T + 7 * S:
        following = next((at for at in plan if at > last), None)
        last = next_wake(last, following, ())
        ticks.append(last)
    assert set(plan) <= set(ticks)
    assert all(b - a <= S for a, b in zip([T, *ticks], ticks, strict=False))
    assert ticks[:8] == [T + k * 400 * MS for k in range(1, 8)] + [T + 3800 * MS]


def test_seconds_until() -> None:
    assert seconds_until(T, T + 250 * MS) == 0.25
    assert seconds_until(T, T) == 0.0
    assert seconds_until(T, T - S) == 0.0


class TestStop(threading.Event):
    """A stop event on a test clock: ``wait(timeout)`` moves the clock on by
    ``advance(timeout)`` (by default the timeout) and returns at once; set when the clock
    reaches ``until``."""

    __test__ = False

    def __init__(
        self,
        clock: FixedClock,
        until: datetime,
        advance: Callable[[float], timedelta] = lambda s: timedelta(seconds=s),
    ) -> None:
        super().__init__()
        self.clock, self.until, self.advance = clock, until, advance
        self.waits: list[float] = []

    def is_set(self) -> bool:
        return self.clock.now() >= self.until

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None, "the scheduler never waits without a timeout"
        self.waits.append(timeout)
        self.clock.advance(self.advance(timeout))
        return self.is_set()


def test_sleep_until_wakes_at_the_instant_on_the_clock() -> None:
    clock = FixedClock(T)
    stop = TestStop(clock, T + 10 * S)
    assert sleep_until(clock, stop, T + 250 * MS) == T + 250 * MS
    assert stop.waits == [0.25]


def test_sleep_until_a_passed_instant_does_not_wait() -> None:
    clock = FixedClock(T)
    stop = TestStop(clock, T + 10 * S)
    assert sleep_until(clock, stop, T - S) == T
    assert stop.waits == []


def test_sleep_until_waits_again_after_waking_early() -> None:
    """The wait runs on the monotonic clock; when the wall clock shows less time passed (it
    was stepped back, or the wait ended early), the rest is waited for: never ticks early."""
    clock = FixedClock(T)
    short = iter([0.6 * S, -0.1 * S])  # woke 0.4 s early; then the clock was stepped back
    stop = TestStop(clock, T + 10 * S, advance=lambda s: next(short, timedelta(seconds=s)))
    assert sleep_until(clock, stop, T + S) == T + S
    assert stop.waits == [1.0, 0.4, 0.5]


def test_sleep_until_returns_none_when_stopped() -> None:
    clock = FixedClock(T)
    stop = TestStop(clock, T + 100 * MS)
    assert sleep_until(clock, stop, T + S) is None


def test_portions_put_a_few_owners_first_and_keep_each_owner_whole() -> None:
    items = [("a", 1), ("b", 1), ("a", 2), ("c", 1), ("d", 1), ("c", 2)]
    parts = portions(items, lambda i: i[0], first=2)
    assert parts == [[("a", 1), ("a", 2), ("b", 1)], [("c", 1), ("c", 2), ("d", 1)]]


def test_portions_of_a_small_boundary_is_one_and_of_nothing_none() -> None:
    items = list(range(FIRST))
    assert portions(items, lambda i: i) == [items]
    assert portions([], lambda i: i) == []


def test_portions_of_a_large_boundary_first_then_the_rest() -> None:
    items = [(f"u{k % 2000}", k) for k in range(4000)]  # 2,000 users, two actions each
    parts = portions(items, lambda i: i[0])
    assert [len(p) for p in parts] == [2 * FIRST, 4000 - 2 * FIRST]
    assert sorted(parts[0] + parts[1]) == sorted(items)


def test_portions_put_the_first_users_of_every_account_first() -> None:
    """Fifty accounts at one instant: each account's first users go in the first portion, not
    only the first accounts' (their first switches leave before the rest is recorded)."""
    items = [(f"acct{a}", f"u{a}-{k}") for k in range(20) for a in range(50)]
    items.sort()  # account by account, as a plan of many accounts may come
    quota = {f"acct{a}": 1 + a % 3 for a in range(50)}
    head, rest = portions(items, lambda i: i[1], lambda i: i[0], lambda a: quota[str(a)])
    firsts = collections.Counter(account for account, _ in head)
    assert firsts == quota
    assert sorted(head + rest) == sorted(items)


def test_an_accounts_first_users_fill_a_second_and_a_half_of_its_rate() -> None:
    assert first_users(RateLimit(6000, 60)) == FIRST  # 150 in 1.5 s: cut to 32
    assert first_users(RateLimit(1200, 60)) == 30
    assert first_users(RateLimit(600, 60)) == 15
    assert first_users(RateLimit(120, 60)) == 3  # until the rest of the boundary is recorded
    assert first_users(RateLimit(50, 60)) == 2
    assert first_users(None) == FIRST


def test_fifty_accounts_send_every_accounts_whole_first_quota_first() -> None:
    # one account at each of 6,000, 1,200 and 600/min, eight at 120/min, 39 at 50/min
    rates = [RateLimit(6000, 60), RateLimit(1200, 60), RateLimit(600, 60)]
    rates += [RateLimit(120, 60)] * 8 + [RateLimit(50, 60)] * 39
    quota = {f"c{k:02d}": first_users(rate) for k, rate in enumerate(rates)}
    items = [(account, f"{account}-u{n}") for account in quota for n in range(40)]
    head, rest = portions(items, lambda i: i[1], lambda i: i[0], lambda a: quota[str(a)])
    firsts = collections.Counter(account for account, _ in head)
    assert firsts == quota  # the fast accounts' 32, 30 and 15 too: their slots go on being used
    assert sum(quota.values()) == len(head) == 179 <= FIRST_TOTAL
    assert head[:50] == [(account, f"{account}-u0") for account in quota]  # each one's first
    assert sorted(head + rest) == sorted(items)


def test_the_first_portion_is_capped_but_keeps_every_accounts_first() -> None:
    many = [(f"acct{a}", f"u{a}-{k}") for a in range(60) for k in range(40)]  # fast accounts
    head, rest = portions(many, lambda i: i[1], lambda i: i[0], lambda _a: FIRST)
    assert len(head) == FIRST_TOTAL
    assert {account for account, _ in head} == {f"acct{a}" for a in range(60)}
    assert sorted(head + rest) == sorted(many)
    crowd = [(f"acct{a}", f"u{a}") for a in range(300)]  # more accounts than the cap
    head, *_ = portions(crowd, lambda i: i[1], lambda i: i[0], lambda _a: 1)
    assert len(head) == 300
