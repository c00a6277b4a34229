"""Users a worker keeps through a short wait, rather than sending them back through the broker.

A user whose switch must wait for a retry planned in the database (a request slot reserved a
second or two away, a backoff) used to come back in a task message of its own: a message
published, received, held until its countdown and acknowledged. At a boundary of many slow
accounts that was most of the messages and a large part of the workers' CPU. A wait of at most
:data:`KEEP_FOR` seconds is kept here instead: a timer thread hands the user to the worker's
own thread pool when it is due, beside the tasks Celery gives it, and a user who must wait
again is kept again.

Nothing is lost with the process. A kept user's actions are open in the database, and the
worker's heartbeat names the users it keeps (:meth:`Keeper.users`), as it names the messages it
holds; a worker that dies stops naming them, and the scheduler's sweep sends their actions
again once their retry is 15 s past. A worker that stops hands the users it still keeps back
to the broker (:meth:`Keeper.stop`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("shiftswitch.worker")

KEEP_FOR = 30.0  # seconds: a longer wait goes back through the broker

User = dict[str, Any]  # one user of a task message: owner, actions, and slot


@dataclass(order=True)
class _Kept:
    due: float  # on the monotonic clock
    seq: int
    user: User = field(compare=False)
    started: bool = field(default=False, compare=False)
    handed_back: bool = field(default=False, compare=False)


class Keeper:
    """Keeps users until they are due, then runs each (``run``) in the pool (``submit``).

    ``hand_back(user, countdown)`` sends a user back through the broker: at :meth:`stop`, and
    when the pool takes no more work (it is shutting down).
    """

    def __init__(
        self,
        submit: Callable[[Callable[[], None]], object],
        run: Callable[[User], object],
        hand_back: Callable[[User, float], None],
        monotonic: Callable[[], float] = time.monotonic,
        keep_for: float = KEEP_FOR,
    ) -> None:
        self._submit = submit
        self._run = run
        self._hand_back = hand_back
        self._monotonic = monotonic
        self._keep_for = keep_for
        self._waiting: list[_Kept] = []  # a heap, the soonest first
        self._submitted: dict[int, _Kept] = {}  # handed to the pool, not finished
        self._handing_back: dict[int, _Kept] = {}  # being sent to the broker
        self._seq = itertools.count()
        self._changed = threading.Condition()
        self._stopped = False
        self.version = 0  # changes whenever the users kept change (the heartbeat's cue)
        self._thread = threading.Thread(target=self._loop, name="kept", daemon=True)
        self._thread.start()

    def keep(self, user: User, countdown: float) -> bool:
        """Keep ``user`` for ``countdown`` seconds; False when this is no wait to keep (too
        long, or the keeper is stopped): the caller sends the user back through the broker."""
        if countdown > self._keep_for:
            return False
        kept = _Kept(self._monotonic() + max(0.0, countdown), next(self._seq), user)
        with self._changed:
            if self._stopped:
                return False
            heapq.heappush(self._waiting, kept)
            self.version += 1
            if self._waiting[0] is kept:
                self._changed.notify()
        return True

    def users(self) -> tuple[int, list[User]]:
        """The users kept (waiting, running in the pool, or being sent back to the broker),
        and the :attr:`version` they are."""
        with self._changed:
            users = [k.user for k in self._waiting]
            users.extend(k.user for k in self._submitted.values())
            users.extend(k.user for k in self._handing_back.values())
            return self.version, users

    def waiting(self) -> int:
        """How many users wait for their time (not handed to the pool yet)."""
        with self._changed:
            return len(self._waiting)

    def stop(self, timeout: float = 5.0) -> int:
        """Keep nothing more, and hand back to the broker every user still waiting, or given to
        the pool and not started there; how many were handed back."""
        left = self._close()
        self._thread.join(timeout)
        self._give_all_back(left)
        return len(left)

    def _close(self) -> list[_Kept]:
        """Keep nothing more; the users to hand back, named until they are."""
        with self._changed:
            self._stopped = True
            self._changed.notify()
            left = [k for k in self._waiting]
            left.extend(k for k in self._submitted.values() if not k.started)
            self._waiting.clear()
            for kept in left:
                kept.handed_back = True
                self._submitted.pop(kept.seq, None)
                self._handing_back[kept.seq] = kept
            self.version += 1
            return left

    def _give_all_back(self, left: list[_Kept]) -> None:
        now = self._monotonic()
        for kept in sorted(left):
            self._give_back(kept, kept.due - now)
        if left:
            log.info("stopping: %d users kept for a wait handed back to the broker", len(left))

    def _loop(self) -> None:
        try:
            self._hand_out()
        except Exception:  # a bug: keep nothing more, and let the broker have the users
            log.exception("the worker stopped keeping users: they go back to the broker")
            self._give_all_back(self._close())

    def _hand_out(self) -> None:
        """Hand each user to the pool when it is due, until stopped."""
        while True:
            with self._changed:
                while not self._stopped:
                    wait = self._waiting[0].due - self._monotonic() if self._waiting else None
                    if wait is not None and wait <= 0:
                        break
                    self._changed.wait(wait)
                if self._stopped:
                    return
                kept = heapq.heappop(self._waiting)
                self._submitted[kept.seq] = kept
            try:
                self._submit(lambda kept=kept: self._apply(kept))  # type: ignore[misc]
            except Exception as exc:  # the pool is shutting down: the broker keeps the user
                with self._changed:
                    if kept.handed_back:  # stop() has it
                        continue
                    kept.handed_back = True
                    self._submitted.pop(kept.seq, None)
                    self._handing_back[kept.seq] = kept
                log.info("owner=%s handed back to the broker: %s", kept.user.get("owner"), exc)
                self._give_back(kept, 0.0)

    def _apply(self, kept: _Kept) -> None:
        with self._changed:
            if kept.handed_back:
                return
            kept.started = True
        try:
            self._run(kept.user)
        except Exception:  # a bug: the user's actions stay open, and the sweep sends them again
            log.exception("owner=%s failed in the worker's keeping", kept.user.get("owner"))
        finally:
            with self._changed:
                self._submitted.pop(kept.seq, None)
                self.version += 1

    def _give_back(self, kept: _Kept, countdown: float) -> None:
        """Send ``kept`` back to the broker; it is named by :meth:`users` until it is there."""
        try:
            self._hand_back(kept.user, max(0.0, countdown))
        except Exception as exc:  # the broker is away: the sweep sends the actions again
            log.error("owner=%s could not be sent back: %s", kept.user.get("owner"), exc)
        finally:
            with self._changed:
                self._handing_back.pop(kept.seq, None)
                self.version += 1
