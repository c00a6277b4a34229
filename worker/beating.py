"""The worker process's heartbeat: the task messages it holds and the users it keeps.

The scheduler's sweep reads the live workers' heartbeats (:mod:`shiftswitch.heartbeats`) to
tell a message lost with a dead worker from one a live worker holds, and an action nobody will
take from one a worker will (README: Recovery).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from celery.worker import state as worker_state
from redis.exceptions import RedisError

from shiftswitch.heartbeats import BEAT_EVERY, Heartbeat
from shiftswitch.recovery import Cover, Holdings, cover
from worker.kept import User

log = logging.getLogger("shiftswitch.worker")

NAMED_WITHIN = 2.0  # seconds a task waits at most for a beat naming the users it kept


class Beating:
    """This worker process's heartbeat (:class:`~shiftswitch.heartbeats.Heartbeat`), renewed
    every :data:`~shiftswitch.heartbeats.BEAT_EVERY` s by a daemon thread: the task messages
    the process holds (waiting for a thread, running, or held until their countdown) by
    delivery tag, and the users they cover, with the users the worker keeps through a short
    wait (``kept``: see :mod:`worker.kept`). The scheduler's sweep puts back in the queue the
    messages of a worker whose heartbeat is gone, and never those of a live one."""

    def __init__(
        self,
        heartbeat: Heartbeat,
        every: float = BEAT_EVERY,
        kept: Callable[[], tuple[int, list[User]]] | None = None,
    ) -> None:
        self.heartbeat = heartbeat
        self._every = every
        self._kept = kept
        self._stop = threading.Event()
        self._asked = threading.Event()  # a beat is wanted now (see named)
        self._beaten = threading.Condition()
        self._named = -1  # the version of the users kept that the last beat in Redis named
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._tags: frozenset[str] | None = None  # the messages held at the last beat
        self._version: int | None = None  # and the version of the users kept
        self._owners: Cover = {}  # what they cover
        self._covers: dict[str, Cover] = {}  # what each of them covers, by tag
        self._kept_count = 0

    def start(self) -> None:
        self.beat()  # before the first message is taken
        self._thread.start()

    def beat(self) -> None:
        held = {}
        for request in held_requests():
            tag = getattr(getattr(request, "message", None), "delivery_tag", None)
            if tag is not None:
                held[str(tag)] = request
        tags = frozenset(held)
        version, kept = self._kept() if self._kept is not None else (None, [])
        # A message covers what it did: the same tags, the same users.
        if tags != self._tags or version != self._version:
            # A message's cover is worked out once, when it is first held: at a boundary a
            # worker holds a hundred messages, and a beat comes each time one comes or goes.
            before, self._covers = self._covers, {}
            holdings = Holdings()
            for tag, request in held.items():
                covered = before.get(tag)
                if covered is None:
                    covered = cover(getattr(request, "kwargs", None) or {})
                self._covers[tag] = covered
                holdings.add(covered)
            holdings.add(cover({"batch": kept}))
            self._tags, self._version, self._owners = tags, version, holdings.owners
            self._kept_count = len(kept)
        try:
            self.heartbeat.beat(self._tags, self._owners, self._kept_count)
        except RedisError as exc:  # the next beat tries again; missing several is dying
            log.warning("heartbeat not renewed: %s", exc)
            return
        if version is not None:
            with self._beaten:
                self._named = max(self._named, version)
                self._beaten.notify_all()

    def named(self, version: int, timeout: float = NAMED_WITHIN) -> bool:
        """Wait, ``timeout`` s at most, until a beat in Redis names the users kept at
        ``version`` of the keeper or later; whether one did. A task that kept a user waits for
        it before its message is acknowledged, so that the sweep finds the user in one or the
        other at every instant (the user's other open actions have no retry planned)."""
        with self._beaten:
            if self._named >= version:
                return True
            self._asked.set()
            return self._beaten.wait_for(lambda: self._named >= version, timeout)

    def stop(self) -> None:
        self._stop.set()
        self._asked.set()
        self._thread.join(timeout=self._every * 2)
        try:
            self.heartbeat.stop()
        except RedisError as exc:
            log.warning("heartbeat not removed: %s", exc)

    def _run(self) -> None:
        while True:
            self._asked.wait(self._every)  # the beat's time, or one asked for now
            self._asked.clear()
            if self._stop.is_set():
                return
            try:
                self.beat()
            except Exception:  # never let the heartbeat die with a live worker
                log.exception("heartbeat failed")


def held_requests() -> list[Any]:
    """The task requests this process holds: reserved, running, or scheduled for a countdown
    (Celery's worker state, which other threads change while this reads it)."""
    found: dict[int, Any] = {}
    sources: Iterable[Any] = (
        worker_state.requests.values,
        worker_state.reserved_requests,
        worker_state.active_requests,
        getattr(worker_state, "scheduled_requests", ()),
    )
    for source in sources:
        for _ in range(5):
            try:
                items = list(source() if callable(source) else source)
            except RuntimeError:  # changed size while copied: copy again
                continue
            found.update((id(r), r) for r in items)
            break
    return list(found.values())
