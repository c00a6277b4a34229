"""When the scheduler wakes, and how a boundary's first switches leave first (README: How
switching works).

The scheduler sleeps until the first of: the next due instant of its plan, its next poll of the
roster, holds and pauses (about once a second after the last tick), and its own timers (the
sweep, the reconcile, the end of a hold). So a boundary is taken at its instant, not up to a
second after it, and an edit is still seen within a second. :func:`next_wake` decides; only the
loop (:meth:`scheduler.loop.Scheduler.run`) reads the clock and sleeps, with :func:`sleep_until`.

At a boundary of thousands of switches, recording, claiming and sending them all before the
first message leaves would make the first switch late by the time the whole boundary takes
(about 0.3 s for 2,000). :func:`portions` puts a few users of every account first (as many as
the account's rate limit sends in :data:`FIRST_WINDOW`, up to :data:`FIRST`): their actions are
recorded under their unique keys, claimed and sent; then the rest are, as one portion (more
portions would cut the rest into more, smaller task messages). Every account's first switch
then leaves at its instant, however many accounts share it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from shiftswitch.clock import Clock
from shiftswitch.pacing import RateLimit

T = TypeVar("T")

POLL_EVERY = timedelta(seconds=1)  # the roster, holds and pauses are read at least this often
MIN_GAP = timedelta(milliseconds=25)  # between two ticks, at least (40 a second at most)
FIRST = 32  # users of one account in the first portion of a boundary, at most
# Users in the first portion, at most (every account's first, though): room for every account's
# whole quota at fifty accounts (179 users), so the fast accounts' slots are used while the rest
# is recorded. Measured (BENCHMARKS.md, fifty accounts, ten pairs): at 128 the 1,200 and
# 600/min accounts got 8-9 users and finished at 1.10-1.19x their floor, at 256 at 1.04-1.09x,
# and the worst account was lower in nine pairs of ten (the first switches as early, the CPU a
# switch perhaps 0.5 ms more).
FIRST_TOTAL = 8 * FIRST
# Seconds of an account's request slots that its first portion fills: about the time the rest
# of a large boundary takes to be recorded and sent (1 s for 1,700 users of fifty accounts), so
# that no account's slots go unused meanwhile. Measured (BENCHMARKS.md, fifty accounts): at 0.5 s
# 11-13 accounts finished over 1.05x their floor, at 1.5 s 3-10, the worst 1.11-1.14x.
FIRST_WINDOW = 1.5


def next_wake(
    last_tick: datetime,
    due: datetime | None,
    timers: Iterable[datetime | None] = (),
    poll_every: timedelta = POLL_EVERY,
    min_gap: timedelta = MIN_GAP,
) -> datetime:
    """The instant to tick next, after a tick at ``last_tick``: ``due`` (the plan's next due
    instant; None: nothing planned), the next poll (``last_tick + poll_every``) or the first
    of ``timers`` that comes after ``last_tick`` (None: not set; one not after it was the last
    tick's to act on, or is not this scheduler's: a follower's sweep), whichever is first.

    Ticks are ``min_gap`` apart at least: due instants closer together than that (a ramp at a
    high rate) are taken a few at a time, up to ``min_gap`` late. A poll or timer less than
    ``min_gap`` before the due instant waits for it (one tick does both), so that it never
    makes the boundary wait. The instant may be past (a tick that took long): tick at once."""
    later = [t for t in timers if t is not None and t > last_tick]
    other = min([last_tick + poll_every, *later])
    if due is None:
        return other
    at = max(due, last_tick + min_gap)
    return other if other < at - min_gap else at


def seconds_until(now: datetime, at: datetime) -> float:
    """How long to sleep at ``now`` to wake at ``at`` (0: it is time)."""
    return max(0.0, (at - now).total_seconds())


class Stop(Protocol):
    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def sleep_until(clock: Clock, stop: Stop, at: datetime) -> datetime | None:
    """Sleep until ``clock`` reads ``at`` or later, and return what it reads then; None when
    ``stop`` is set first.

    ``stop.wait`` measures its timeout on the monotonic clock, the plan is in wall-clock
    instants: the clock is read again on waking, and a wait that ended early (the wall clock
    was stepped back, a spurious wake-up) is followed by another for the remainder."""
    while not stop.is_set():
        now = clock.now()
        if now >= at:
            return now
        stop.wait(seconds_until(now, at))
    return None


def portions(
    items: Sequence[T],
    owner: Callable[[T], Hashable],
    account: Callable[[T], Hashable] | None = None,
    first: int | Callable[[Hashable], int] = FIRST,
) -> list[list[T]]:
    """``items`` in two portions of whole owners (an owner's items in one portion, in their
    order): the first owners of each account to appear, taken in turn (every account's first
    owner, then every account's second...), then the rest in their order (no empty portion).
    ``account``: an item's account (None: all in one); ``first``: how many owners of an account
    go first, or a function of the account that says it (at least one); :data:`FIRST_TOTAL`
    at most in all, or one of every account when there are more accounts."""
    by_owner: dict[Hashable, list[T]] = {}
    for item in items:
        by_owner.setdefault(owner(item), []).append(item)
    head: list[tuple[int, list[T]]] = []
    rest: list[list[T]] = []
    taken: dict[Hashable, int] = {}
    for group in by_owner.values():
        key = account(group[0]) if account is not None else None
        quota = max(1, first if isinstance(first, int) else first(key))
        seen = taken.get(key, 0)
        if seen < quota:
            head.append((seen, group))
        else:
            rest.append(group)
        taken[key] = seen + 1
    head.sort(key=lambda ranked: ranked[0])  # each account's first, then each one's second...
    # Not so many first that the first message waits for them: every account's first owner,
    # and the next ranks up to FIRST_TOTAL; the others lead the rest.
    cut = max(FIRST_TOTAL, len(taken))
    first_part = [group for _, group in head[:cut]]
    rest = [group for _, group in head[cut:]] + rest
    return [[item for group in part for item in group] for part in (first_part, rest) if part]


def first_quotas(accounts: Mapping[str, HasRate]) -> Callable[[Hashable], int]:
    """For :func:`portions`: how many users of each of ``accounts`` (by name) go first
    (:func:`first_users` of its rate limit; one for a name not among them)."""
    quotas = {name: first_users(account.rate_limit) for name, account in accounts.items()}
    return lambda name: quotas.get(str(name), 1)


class HasRate(Protocol):
    @property
    def rate_limit(self) -> RateLimit: ...


def first_users(limit: RateLimit | None) -> int:
    """How many users of an account go in a boundary's first portion: as many as its rate
    limit lets send in :data:`FIRST_WINDOW`, at least one and at most :data:`FIRST`."""
    if limit is None or limit.spacing <= 0:
        return FIRST
    return max(1, min(FIRST, math.ceil(FIRST_WINDOW / limit.spacing)))
