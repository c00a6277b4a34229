"""Delivering the outbox (README: Notifications): one process at a time, whichever holds the
deliverer's lease (the scheduler, a worker or the API server: each runs one, so a message goes
out with no worker, or no scheduler).

Each tick it puts the waiting events of a channel and kind into one message (a delivery): the
first :data:`GATHER` after the first event, so that a burst goes as one; then at most one more
every :data:`FOLLOW_UP`. It sends the deliveries due, each in a transaction of its own after
the send: a deliverer killed between the two sends that message again on the next tick, with
the same delivery key in its text, and never a third time. A failed send is tried again after
1, 2, 4 ... up to 60 seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import sessionmaker

from shiftswitch.clock import Clock
from shiftswitch.coordination import Leadership
from shiftswitch.logs import event
from shiftswitch.notify.config import ALERTS, NotifyConfig
from shiftswitch.notify.messages import SHOWN, message
from shiftswitch.notify.send import send
from shiftswitch.notify.tables import Notification, NotificationDelivery
from shiftswitch.notify.watch import Watching

log = logging.getLogger("shiftswitch.notify")

GATHER = timedelta(seconds=2)  # a message waits this long after its first event (at most 5 s)
FOLLOW_UP = timedelta(seconds=30)  # and the next of its kind to its channel this long after it
MAX_BACKOFF = 60.0
CLAIM = timedelta(seconds=120)  # a delivery taken for sending is left to its sender this long
KEEP = timedelta(days=30)  # messages sent are kept this long (notify list, the console)
PRUNE_EVERY = timedelta(hours=1)
LEASE = "notify-deliverer"
LEASE_TTL = 15.0
TICK = 1.0  # seconds between ticks
WATCH_EVERY = 5.0  # seconds between looks at the process's watches

Send = Callable[[str, str, str, str | None], str | None]
# Kinds grouped into one follow-up per FOLLOW_UP: alerts. An agent's reminders and test
# messages go as they come.
GROUPED = frozenset(ALERTS) | {"recovered"}


class Deliverer:
    def __init__(
        self,
        engine: Engine,
        config: NotifyConfig,
        *,
        redis: Redis | None = None,
        public_url: str | None = None,
        env: Mapping[str, str] | None = None,
        sender: Send = send,
    ) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.config = config
        self.lease = Leadership(redis, LEASE_TTL, name=LEASE) if redis is not None else None
        self.public_url = public_url
        self.env = env
        self.sender = sender
        self._pruned: datetime | None = None
        self.delivering = True  # False: this process lacks a channel's URL, and leaves it

    def tick(self, now: datetime) -> int:
        """Gather and send what is due, if this process holds the lease; messages sent. Once
        an hour, forget what was sent long ago."""
        if not self.delivering or (self.lease is not None and not self.lease.held()):
            return 0
        self.gather(now)
        sent = self.send_due(now)
        if self._pruned is None or now - self._pruned >= PRUNE_EVERY:
            self._pruned = now
            self.prune(now)
        return sent

    def release(self) -> None:
        """Give the lease up, so that another process delivers at once."""
        if self.lease is not None and self.delivering:
            self.lease.release()

    def gather(self, now: datetime) -> int:
        """Put waiting events into deliveries; how many deliveries were made."""
        made = 0
        with self.sessions.begin() as session:
            waiting = session.execute(
                select(
                    Notification.channel, Notification.kind, Notification.recipient,
                    func.min(Notification.created_at), func.max(Notification.id),
                    func.count(),
                )
                .where(Notification.delivery_id.is_(None))
                .group_by(Notification.channel, Notification.kind, Notification.recipient)
            ).all()  # fmt: skip
            for channel, kind, recipient, first, last_id, count in waiting:
                if now - first < GATHER and kind != "test":
                    continue
                previous = session.scalar(
                    select(func.max(NotificationDelivery.created_at)).where(
                        NotificationDelivery.channel == channel,
                        NotificationDelivery.kind == kind,
                        _same(NotificationDelivery.recipient, recipient),
                    )
                )
                if previous is not None and now - previous < FOLLOW_UP and kind in GROUPED:
                    continue
                delivery = NotificationDelivery(
                    channel=channel, kind=kind, recipient=recipient, created_at=now,
                    events=count, attempts=0, next_try_at=now,
                )  # fmt: skip
                session.add(delivery)
                session.flush()
                taken = session.execute(
                    update(Notification)
                    .where(
                        Notification.channel == channel,
                        Notification.kind == kind,
                        _same(Notification.recipient, recipient),
                        Notification.delivery_id.is_(None),
                        Notification.id <= last_id,
                    )
                    .values(delivery_id=delivery.id),
                    execution_options={"synchronize_session": False},
                ).rowcount  # type: ignore[attr-defined]
                if not taken:  # another deliverer gathered them first
                    session.delete(delivery)
                    continue
                delivery.events = taken
                made += 1
        return made

    def send_due(self, now: datetime, limit: int = 20) -> int:
        """Send the deliveries due, each claimed first (so that no other deliverer sends it
        meanwhile, should this one lose the lease); how many went. A batch stops when the
        lease is lost or it has run for half the lease."""
        with self.sessions() as session:
            due = list(
                session.scalars(
                    select(NotificationDelivery)
                    .where(
                        NotificationDelivery.sent_at.is_(None),
                        NotificationDelivery.next_try_at <= now,
                        NotificationDelivery.kind != "test",  # sent once, by 'notify test'
                    )
                    .order_by(NotificationDelivery.id)
                    .limit(limit)
                )
            )
        sent = 0
        began = time.monotonic()
        for delivery in due:
            if time.monotonic() - began > LEASE_TTL / 2:
                break
            if self.lease is not None and not self.lease.held():
                break
            if self._claim(delivery, now):
                sent += self._send(delivery, now)
        return sent

    def _claim(self, delivery: NotificationDelivery, now: datetime) -> bool:
        """Take ``delivery`` for sending now: no other deliverer takes it for :data:`CLAIM`
        (a deliverer that dies holding it leaves it to be sent again after that)."""
        with self.sessions.begin() as session:
            taken = session.execute(
                update(NotificationDelivery)
                .where(
                    NotificationDelivery.id == delivery.id,
                    NotificationDelivery.sent_at.is_(None),
                    NotificationDelivery.next_try_at <= now,
                )
                .values(next_try_at=now + CLAIM),
                execution_options={"synchronize_session": False},
            ).rowcount  # type: ignore[attr-defined]
        return bool(taken)

    def prune(self, now: datetime) -> None:
        """Forget messages sent more than :data:`KEEP` ago, and their events."""
        old = now - KEEP
        with self.sessions.begin() as session:
            gone = select(NotificationDelivery.id).where(NotificationDelivery.sent_at < old)
            session.execute(delete(Notification).where(Notification.delivery_id.in_(gone)))
            session.execute(delete(NotificationDelivery).where(NotificationDelivery.sent_at < old))

    def _send(self, delivery: NotificationDelivery, now: datetime) -> int:
        with self.sessions() as session:
            details = list(
                session.scalars(
                    select(Notification.detail)
                    .where(Notification.delivery_id == delivery.id)
                    .order_by(Notification.id)
                    .limit(SHOWN)
                )
            )
        key = f"ssw-{delivery.kind}-{delivery.id}"
        title, body = message(delivery.kind, details, delivery.events, key, self.public_url)
        url = self.config.url(delivery.channel, self.env)
        if url is None:
            variable = self.config.channels.get(delivery.channel, "?")
            error: str | None = f"channel {delivery.channel}: {variable} is not set"
        else:
            error = self.sender(url, title, body, delivery.recipient)
        with self.sessions.begin() as session:
            row = session.get_one(NotificationDelivery, delivery.id)
            row.attempts += 1
            if error is None:
                row.sent_at, row.last_error = now, None
            else:
                row.last_error = error
                wait = min(MAX_BACKOFF, 2.0 ** (row.attempts - 1))
                row.next_try_at = now + timedelta(seconds=wait)
        level = logging.INFO if error is None else logging.WARNING
        event(log, level, "notified" if error is None else "notify_failed",
              channel=delivery.channel, kind=delivery.kind, events=delivery.events, key=key,
              **({"error": error} if error else {}))  # fmt: skip
        return 1 if error is None else 0


def _same(column: Any, value: str | None) -> Any:
    return column.is_(None) if value is None else column == value


class DelivererThread:
    """A :class:`Deliverer` ticking in a daemon thread of its process, every :data:`TICK`,
    and the process's watches (:mod:`shiftswitch.notify.watch`) every :data:`WATCH_EVERY`."""

    def __init__(
        self, deliverer: Deliverer, clock: Clock, watches: Sequence[Watching] = ()
    ) -> None:
        self.deliverer = deliverer
        self.clock = clock
        self.watches = list(watches)
        self._watched = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)

    def start(self) -> DelivererThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.deliverer.release()
        except Exception:
            log.debug("notify lease not released")

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                now = self.clock.now()
                if self.watches and time.monotonic() - self._watched >= WATCH_EVERY:
                    self._watched = time.monotonic()
                    for watch in self.watches:
                        self._look(watch, now)
                self.deliverer.tick(now)
            except Exception as exc:
                event(log, logging.WARNING, "notify_tick_failed", error=type(exc).__name__)

    def _look(self, watch: Watching, now: datetime) -> None:
        """One watch's look; its failure spares the others and the deliveries."""
        try:
            watch.check(self.deliverer.engine, self.deliverer.config, now)
        except Exception as exc:  # a database blip must not end the thread
            event(log, logging.WARNING, "notify_watch_failed", watch=type(watch).__name__,
                  error=type(exc).__name__)  # fmt: skip
