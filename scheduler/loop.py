"""The scheduler: from the roster to recorded, enqueued actions, once a tick (README: How
switching works).

- The roster is planned ahead for a window (:data:`HORIZON`) into a sorted list; a tick takes
  the transitions that became due off its front. A tick's cost grows with what is due, not with
  the roster: when nothing is due it is one ``stat`` of the roster file and a comparison.
- Due transitions are recorded under their unique key, then claimed and handed to the broker
  (:class:`~shiftswitch.actions.ActionStore`): restarts, crashes and a second scheduler neither
  repeat nor lose one.
- On start, on a roster change, and every few minutes, it reconciles: each managed device's
  desired state now against its last confirmed state. Boundaries missed while it was down are
  not replayed; the present desired state is applied once.
- A roster edit is picked up at the next tick; an invalid edit is refused with a log line and
  the last good roster stays in force.
- It trusts Exotel over its own records (README: How switching works): a device never
  confirmed, or whose request went unanswered, is *unknown*; it is read
  (:mod:`scheduler.checks`) before anything is sent to it, and every managed device is read
  every ``drift_every``. What a read finds is recorded,
  and the reconcile that follows corrects what is not as wanted.
- With several schedulers, one leads (:class:`~shiftswitch.coordination.Leadership`): only it
  reconciles, reads and sweeps; every one records and enqueues what is due, under unique keys.

Only :meth:`Scheduler.run` reads the clock; everything below takes ``now``.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from scheduler.checks import Checker
from scheduler.corrections import corrections, known_devices, supersede_unwanted
from scheduler.decisions import what_differs
from scheduler.outages import Outage
from scheduler.probes import OutageWatch
from scheduler.reads import Reads
from scheduler.versions import record_version
from scheduler.wake import first_quotas, next_wake, portions, sleep_until
from shiftswitch import heap, metrics
from shiftswitch.actions import ActionStore, for_transition
from shiftswitch.broker import Connecting, Dispatcher
from shiftswitch.clock import Clock
from shiftswitch.db import first_line
from shiftswitch.holds import Controls, Holds
from shiftswitch.logs import event
from shiftswitch.notify.config import NONE, NotifyConfig
from shiftswitch.planning.planner import Planner
from shiftswitch.planning.transitions import Transition
from shiftswitch.roster.model import Roster
from shiftswitch.sources.source import RosterFile, RosterSource
from shiftswitch.sources.store import left_on

log = logging.getLogger("shiftswitch.scheduler")

HORIZON = timedelta(minutes=30)  # how far ahead transitions are planned (in memory only)
RECONCILE_EVERY = timedelta(minutes=5)
# Every few seconds the sweep puts back in the queue the messages of workers that died (their
# heartbeat gone), and sends again an open action untouched for LOST_AFTER that no message
# covers: a scheduler died between claiming it and sending it, or Redis lost the message.
# When nothing open is that old, a sweep is one indexed query (and the claim of stranded ones).
SWEEP_EVERY = timedelta(seconds=5)
LOST_AFTER = timedelta(seconds=15)
STALL = timedelta(minutes=2)  # a longer gap between ticks is handled like a restart


class Leading(Protocol):
    def held(self) -> bool:
        """Whether this scheduler leads now (taking the lead, or keeping it)."""
        ...

    def release(self) -> None:
        """Give the lead up (on stopping), so that another takes it at its next tick."""
        ...


@dataclass
class TickReport:
    due: int = 0
    enqueued: int = 0
    reconciled: int = 0
    reloaded: bool = False
    checked: int = 0  # read results taken


class Scheduler:
    def __init__(
        self,
        source: RosterSource,
        store: ActionStore,
        dispatcher: Dispatcher,
        *,
        horizon: timedelta = HORIZON,
        reconcile_every: timedelta = RECONCILE_EVERY,
        requeue_after: timedelta = timedelta(minutes=16),
        checker: Checker | None = None,
        drift_every: timedelta | None = None,
        leadership: Leading | None = None,
        outages: OutageWatch | None = None,
    ) -> None:
        """``checker``: reads Exotel (None: devices are never read, the unknown are set);
        ``drift_every``: how often every managed device is read (None: never);
        ``leadership``: whether this scheduler leads (None: it always does); ``outages``: the
        accounts whose Exotel is down, probed while this scheduler leads (None: never)."""
        self.source = source
        # Who is told of a roster file that moves agents' starts (README: Notifications).
        self.notify: NotifyConfig = NONE
        self.store = store
        self.dispatcher = dispatcher
        self.horizon = horizon
        self.reconcile_every = reconcile_every
        self.requeue_after = requeue_after
        self._planner: Planner | None = None
        self._plan: list[Transition] = []
        self._times: list[datetime] = []
        self._next = 0  # index of the first transition not yet recorded
        self._planned_to: datetime | None = None
        self._next_reconcile: datetime | None = None
        self._last_tick: datetime | None = None
        self._next_sweep = datetime.max.replace(tzinfo=UTC)
        self.controls = Controls(store.engine)
        self._serials: dict[str, int] = {}
        self._holds = Holds()
        self._hold_end: datetime | None = None
        self.reads = None if checker is None else Reads(checker, store, drift_every)
        self.outages = outages
        self.leadership = leadership
        self.leading = leadership is None
        self._last_due: datetime | None = None

    @property
    def roster(self) -> Roster:
        assert self.source.roster is not None, "start() first"
        return self.source.roster

    def start(self, now: datetime) -> TickReport:
        """Load the roster, hand over actions a previous run recorded but never sent, reconcile."""
        self._serials = self.controls.serials()
        if self.outages is not None:
            self.outages.load()
        roster = self.source.load(now)
        self._lead(now, starting=True)
        if self.reads is not None:
            self.reads.start(now)
        self._last_tick = now
        self._next_sweep = now + SWEEP_EVERY
        self._load_holds(now)
        self._put_in_force(roster, now)
        self.supersede_unwanted(now)  # the roster may have changed while nothing ran
        stranded = self.store.enqueue(None, self.dispatcher, now)
        if stranded:
            log.info("enqueued=%d recorded before a restart and not sent", len(stranded))
        return TickReport(enqueued=len(stranded), reconciled=self.reconcile(now))

    def tick(self, now: datetime) -> TickReport:
        """Record and enqueue what became due; pick up roster edits; reconcile when it is time."""
        report = TickReport()
        if self._lead(now):
            report.reconciled += self.reconcile(now)  # it has just taken the lead
        if self._last_tick is not None and now - self._last_tick > STALL:
            # Asleep or stalled: like a restart, apply the present state once, not each
            # boundary missed in between.
            log.warning("tick gap=%s; replanning from now", now - self._last_tick)
            self._put_in_force(self.roster, now)
            report.reconciled = self.reconcile(now)
        self._last_tick = now
        serials = self.controls.serials()
        edited = {name for name, n in serials.items() if self._serials.get(name) != n}
        self._serials = serials
        if self.outages is not None and "outages" in edited:
            self.outages.load()
        previous = self.source.roster
        roster = self.source.poll(now, serials)
        held = "holds" in edited or (self._hold_end is not None and now >= self._hold_end)
        if held:
            self._load_holds(now)
        if roster is not None:
            self._put_in_force(roster, now)  # what is due now is reconciled, below
            report.reloaded = True
            self._warn_left_on(previous, roster)
        end = bisect_right(self._times, now, lo=self._next)
        if end > self._next:
            due = [t for t in self._plan[self._next : end] if not self._holds.blocks(t)]
            enqueued = 0
            # A few users of every account first: their messages leave before the rest of a
            # large boundary is recorded. Each portion is recorded under its keys before it
            # is claimed and sent.
            quota = first_quotas(self.roster.accounts)
            for portion in portions(due, lambda t: t.agent, lambda t: t.account, quota):
                self.store.record([for_transition(self.roster, t) for t in portion], now)
                sent = self.store.enqueue([t.key for t in portion], self.dispatcher, now)
                enqueued += len(sent)
            self._next = end  # only once all are recorded: a failed tick is tried again
            self._last_due = self._times[end - 1]
            report.due, report.enqueued = len(due), enqueued
            event(log, logging.INFO, "tick", due=len(due), enqueued=enqueued, at=now.isoformat())
        if roster is not None or held or "pauses" in edited:
            # The roster, a hold or a pause changed what is wanted now, or what may be sent.
            self.supersede_unwanted(now)
            report.reconciled = self.reconcile(now)
        assert self._planned_to is not None
        if self._planned_to - now < self.horizon / 2:
            self._extend(self._planned_to, now + self.horizon)
        if self.leading:
            self._look_at_exotel(report, now)
        if self._next_reconcile is not None and now >= self._next_reconcile:
            report.reconciled += self.reconcile(now)
        if now >= self._next_sweep and self.leading:
            self.sweep(now)
        return report

    def supersede_unwanted(self, now: datetime) -> int:
        """Mark ``superseded`` the actions not yet sent that the roster now in force no longer
        wants (:func:`~scheduler.corrections.supersede_unwanted`). The reconcile that follows
        sends what the roster wants."""
        count = supersede_unwanted(self.store, self.desired(now), now)
        if count:
            event(log, logging.INFO, "superseded", count=count, at=now.isoformat())
        return count

    def _look_at_exotel(self, report: TickReport, now: datetime) -> None:
        """The leader's probes and reads. The accounts whose Exotel is down are probed; when
        one answers again, what was held back for it goes now, and the reconcile sets right
        what is off, whatever its phase. The reads skip those down; what they found is
        corrected."""
        down: frozenset[str] = frozenset()
        if self.outages is not None:
            if self.outages.step(self.roster, now):
                report.enqueued += len(self.store.enqueue(None, self.dispatcher, now))
                report.reconciled += self.reconcile(now)
            down = self.outages.down
        if self.reads is not None:
            self.reads.down = down
            following = self._times[self._next] if self._next < len(self._times) else None
            boundaries = (self._last_due, following)
            report.checked = self.reads.step(self.roster, self.desired(now), boundaries, now)
            if report.checked:
                report.reconciled += self.reconcile(now)  # corrects what the reads found

    def sweep(self, now: datetime) -> None:
        """Hand over actions recorded but never sent, and those whose message was lost."""
        self._next_sweep = now + SWEEP_EVERY
        if not self.store.anything_open():
            return
        stranded = self.store.enqueue(None, self.dispatcher, now)
        stale = self.store.requeue_stale(
            self.dispatcher, now, self.requeue_after, lost_after=LOST_AFTER
        )
        metrics.ENQUEUED.labels("requeued").inc(len(stranded) + len(stale))
        if stranded or stale:
            log.warning(
                "requeued: %d never sent, %d whose messages were lost", len(stranded), len(stale)
            )

    def reconcile(self, now: datetime) -> int:
        """Enqueue, for each managed device, its desired state now if it differs from the last
        confirmed one (source ``reconcile``). Devices with an action under way are left to it.

        A device whose state is unknown (never confirmed, or a request to it went unanswered)
        is read first, when this scheduler can read its account: it is sent nothing until the
        read shows whether it differs (or the read has failed for :data:`READ_GIVE_UP`).
        Only the leading scheduler reconciles."""
        if not self.leading:
            return 0
        self._next_reconcile = now + self.reconcile_every
        roster, reads = self.roster, self.reads
        found = what_differs(
            roster,
            self.desired(now),
            known_devices(self.store),
            readable=lambda name: reads is not None and reads.can_read(roster.accounts[name]),
            waits=lambda m, read_back: reads is not None and reads.waits(m, read_back, now),
        )
        differing = found.differing
        if found.unknown:
            assert reads is not None
            reads.read_unknown(roster, found.unknown, now)
        if not differing:
            return 0
        new = corrections(self.store, roster, differing, now)
        if not new:
            return 0
        self.store.record(new, now)
        keys = [a.key for a in new]
        # Let go of what was compared and recorded before the claim: at a first start of
        # 100,000 agents, 110,000 actions of each.
        del found, differing, new
        enqueued = self.store.enqueue(keys, self.dispatcher, now)
        event(log, logging.INFO, "reconcile", differing=len(keys), enqueued=len(enqueued))
        return len(enqueued)

    # -- leading ------------------------------------------------------------------------------

    def _lead(self, now: datetime, starting: bool = False) -> bool:
        """Take or keep the lead; True when this scheduler has just taken it (from another)."""
        if self.leadership is None:
            return False
        was = self.leading
        try:
            self.leading = self.leadership.held()
        except Exception as exc:  # Redis unreachable: lead nothing, still record what is due
            self.leading = False
            if was or starting:
                log.warning("cannot tell whether this scheduler leads: %s", exc)
        if self.leading != was or starting:
            event(log, logging.INFO, "leading" if self.leading else "following", at=now.isoformat())
        return self.leading and not was and not starting

    def run(self, clock: Clock, stop: threading.Event, tick_seconds: float = 1.0) -> None:
        """Tick at each due instant of the plan, at the sweep's, reconcile's and a hold's end,
        and at least every ``tick_seconds`` (each tick reads the roster, holds and pauses for
        edits), until ``stop`` is set. A tick that failed is tried again ``tick_seconds``
        later."""
        if self.reads is not None:
            self.reads.checker.start(stop)
        if self.outages is not None:
            self.outages.prober.start(stop)
        if isinstance(self.dispatcher, Connecting):
            self.dispatcher.connect()
        poll = timedelta(seconds=tick_seconds)
        started = clock.now()
        try:
            self.store.warm(started)
        except SQLAlchemyError as exc:  # best effort: the first boundary compiles it then
            log.warning("could not prepare for the first boundary: %s", first_line(exc))
        _count(self.start(started), due="stranded")
        wake = next_wake(started, self.next_due(), self._timers(), poll)
        outage = Outage(tick_seconds)
        while (now := sleep_until(clock, stop, wake)) is not None:
            began = time.monotonic()
            wake = now + poll  # after a failure: not at once again
            try:
                _count(self.tick(now))
                metrics.TICK_SECONDS.observe(time.monotonic() - began)
                metrics.LAST_TICK.set(time.time())
                wake = next_wake(now, self.next_due(), self._timers(), poll)
            except Exception as exc:  # the database, Redis or anything else: keep ticking
                outage.failed(exc)
            else:
                outage.ticked()
        if self.leadership is not None:
            try:
                self.leadership.release()
            except Exception as exc:  # Redis is gone: the lease lapses by itself
                log.warning("could not give up the lead: %s", exc)

    def next_due(self) -> datetime | None:
        """The instant of the next transition of the plan not yet taken (None: none planned)."""
        return self._times[self._next] if self._next < len(self._times) else None

    # -- internals ----------------------------------------------------------------------------

    def _timers(self) -> tuple[datetime | None, ...]:
        """When the tick has something to do besides what is due: sweep, reconcile, a hold's
        end (the reads' timers are looked at every poll)."""
        return (self._next_sweep, self._next_reconcile, self._hold_end)

    def desired(self, now: datetime) -> dict[str, str | None]:
        """Each agent's desired device now: the roster's, as the holds in force change it."""
        assert self._planner is not None
        return self._holds.overlay(self._planner.desired(now), now)

    def _load_holds(self, now: datetime) -> None:
        self._holds = self.controls.holds(now)
        self._hold_end = self._holds.next_end(now)

    def _put_in_force(self, roster: Roster, now: datetime) -> None:
        before = self._planner.roster if self._planner is not None else None
        self._planner = Planner(roster)
        self._plan, self._times, self._next = [], [], 0
        self._planned_to = now
        self._extend(now, now + self.horizon, after=now)
        self._record_version(now, before)

    def _warn_left_on(self, before: Roster | None, after: Roster) -> None:
        with self.store.sessions() as session:
            left = left_on(session, before, after)
        if left:
            event(
                log,
                logging.WARNING,
                "unnamed_devices_on",
                devices=", ".join(f"{s.agent} {s.device}" for s in left),
                note="the roster no longer names them: they stay ON until turned OFF "
                "('shiftswitch device off --user ID --device ID')",
            )

    def _extend(self, start: datetime, end: datetime, after: datetime | None = None) -> None:
        assert self._planner is not None
        with heap.paused():  # tens of thousands of new tuples, no cycles
            more = self._planner.transitions(start, end)
        if after is not None:
            more = [t for t in more if t.at > after]  # ``after`` itself is reconciled instead
        del self._plan[: self._next], self._times[: self._next]
        self._next = 0
        self._plan += more
        self._times += [t.at for t in more]
        self._planned_to = end

    def _record_version(self, now: datetime, before: Roster | None = None) -> None:
        """Record the roster file put in force as a version (a stored roster is one already)."""
        if isinstance(self.source, RosterFile):
            record_version(self.store, self.source, self.roster, before, self.notify, now)


def _count(report: TickReport, due: str = "due") -> None:
    metrics.ENQUEUED.labels(due).inc(report.enqueued)
    metrics.ENQUEUED.labels("reconcile").inc(report.reconciled)
