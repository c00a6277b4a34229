"""When the scheduler wakes, and how a boundary's first switches leave first (README: How
switching works).

The scheduler sleeps until the first of: the next due instant of its plan, its next poll of the
roster, holds and pauses (about once a second after the last tick), and its own timers (the
sweep, the reconcile, the end of a hold). So a boundary is taken at its instant, not up to a
second after it, and an edit is still seen within a second. :func:`next_wake` decides; only the
loop (:meth:`scheduler.loop.Scheduler.run`) reads the clock and sleeps, with :func:`sleep_until`.

At a boundary of thousands of switches, recording, claiming and sending them all before the
first message leaves would make the first switch late by the time the whole boundary takes
(about 0.3 s for 2,000). :func:`portions` puts a few users first: their actions are recorded
under their unique keys, claimed and sent; then the rest are, as one portion (more portions
would cut the rest into more, smaller task messages).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from shiftswitch.clock import Clock

T = TypeVar("T")

POLL_EVERY = timedelta(seconds=1)  # the roster, holds and pauses are read at least this often
MIN_GAP = timedelta(milliseconds=25)  # between two ticks, at least (40 a second at most)
FIRST = 32  # users in the first portion of a boundary


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
    items: Sequence[T], owner: Callable[[T], Hashable], first: int = FIRST
) -> list[list[T]]:
    """``items`` in two portions of whole owners (an owner's items in one portion, in their
    order): the first ``first`` owners to appear, then the rest (no empty portion)."""
    by_owner: dict[Hashable, list[T]] = {}
    for item in items:
        by_owner.setdefault(owner(item), []).append(item)
    groups = list(by_owner.values())
    cut = max(1, first)
    parts = [groups[:cut], groups[cut:]]
    return [[item for group in part for item in group] for part in parts if part]
