"""What the scheduler reads from Exotel, and when (README: How switching works): the decisions
around the checker.

The scheduler's loop asks :class:`Reads` at each tick (its leader only): the read-backs that
are due, the first reads of devices never confirmed (submitted by its reconcile), and the drift
check every ``drift_every``. A :class:`~scheduler.checks.Checker` makes the reads in a thread of
its own; :meth:`Reads.step` takes what they found, records it (``device_states``,
``read_backs``, ``remote_checks``), logs and counts it, and the reconcile that follows corrects
what is not as wanted. An unknown device waits for its read (:meth:`Reads.waits`) until the read
has failed for :data:`~scheduler.decisions.READ_GIVE_UP`. What to read and how long to wait are
decided by :mod:`scheduler.decisions`; this module keeps the state and does the I/O.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from scheduler.checks import Checker, ReadJob, ReadResult, read_everyone
from scheduler.decisions import (
    READ_AGAIN,
    READ_GIVE_UP,
    Reading,
    next_drift,
    to_read,
    waits_for_read,
)
from shiftswitch import drift, metrics, queries
from shiftswitch.actions import ActionStore
from shiftswitch.drift import Managed
from shiftswitch.logs import event
from shiftswitch.models import CheckKind
from shiftswitch.roster.model import Account, Roster

log = logging.getLogger("shiftswitch.scheduler")

READ_BACKS_EVERY = timedelta(seconds=2)  # how often the read-backs that are due are looked for


class Reads:
    """The reads of one scheduler: what to read next, and what was found."""

    def __init__(self, checker: Checker, store: ActionStore, drift_every: timedelta | None) -> None:
        self.checker = checker
        self.store = store
        self.drift_every = drift_every
        self._next_read_backs = datetime.min.replace(tzinfo=UTC)
        self._next_drift: datetime | None = None
        # Unknown devices submitted for a read: since when, why, when to submit them again.
        self._reading: dict[Managed, Reading] = {}
        self.down: frozenset[str] = frozenset()  # accounts whose Exotel is down: not read

    def start(self, now: datetime) -> None:
        """Plan the first drift check."""
        if self.drift_every is not None:
            self._next_drift = self._first_drift(now)

    def can_read(self, account: Account) -> bool:
        return self.checker.can_read(account)

    def waits(self, m: Managed, read_back: datetime | None, now: datetime) -> bool:
        """Whether unknown device ``m`` waits for a read rather than being set now: until its
        read has failed for :data:`READ_GIVE_UP` (counted from when its read-back was due);
        never given up while its account's Exotel is down, when nothing could be sent either."""
        if waits_for_read(m, read_back, self._reading.get(m), self.down, now):
            return True
        event(
            log,
            logging.WARNING,
            "read_given_up",
            agent=m.agent,
            device=m.device,
            note=f"not read for {READ_GIVE_UP}: set to its desired state without a read",
        )
        self._reading.pop(m, None)
        return False

    def step(
        self,
        roster: Roster,
        desired: dict[str, str | None],
        boundaries: tuple[datetime | None, datetime | None],
        now: datetime,
    ) -> int:
        """Record what the reads found (``desired``: each agent's device wanted now); ask for
        the read-backs due, the first reads that failed, and the drift check when it is time.
        ``boundaries``: the plan's last and next due instants, which no read may come near.
        Returns how many results were taken: the reconcile that follows corrects them."""
        self.checker.boundaries = boundaries
        results = self.checker.results()
        for result in results:
            self._take(result, desired, now)
        if now >= self._next_read_backs:
            self._next_read_backs = now + READ_BACKS_EVERY
            self._read_backs(roster, now)
            again = [m for m, r in self._reading.items() if r.kind == CheckKind.FIRST_READ]
            self._read(roster, CheckKind.FIRST_READ, again, now)
        if self.drift_every is not None:
            if self._next_drift is None:
                self._next_drift = self._first_drift(now)
            if now >= self._next_drift:
                self._next_drift = now + self.drift_every
                self._read(roster, CheckKind.DRIFT, drift.managed(roster), now)
        return len(results)

    def read_unknown(self, roster: Roster, devices: list[Managed], now: datetime) -> None:
        """Read these devices, never confirmed, before anything is sent to them."""
        self._read(roster, CheckKind.FIRST_READ, devices, now)

    def _read(self, roster: Roster, kind: CheckKind, devices: list[Managed], now: datetime) -> None:
        """Submit reads of ``devices`` (of any accounts). An unknown device (a first read, a
        read-back) is submitted once, and again only after its read failed."""
        by_account, recorded = to_read(kind, devices, self._reading, now)
        self._reading.update(recorded)
        for name, chosen in by_account.items():
            account = roster.accounts.get(name)
            if account is None or name in self.down or not self.checker.can_read(account):
                continue
            users = len({a.user_id or a.name for a in roster.agents.values()
                         if a.account == name})  # fmt: skip
            everyone = kind == CheckKind.DRIFT or read_everyone(chosen, users)
            self.checker.submit(ReadJob(kind, account, tuple(chosen), everyone))

    def _read_backs(self, roster: Roster, now: datetime) -> None:
        """Submit the read-backs that are due."""
        with self.store.sessions() as session:
            due = queries.read_backs_due(session, now)
        devices = [
            Managed(r.account, r.agent or "", r.device or "", r.user_id, r.device_id, None)
            for r in due
            if r.account in roster.accounts
        ]
        if devices:
            self._read(roster, CheckKind.READ_BACK, devices, now)

    def _take(self, result: ReadResult, desired: dict[str, str | None], now: datetime) -> None:
        """Record what a read found (the reconcile that follows corrects it), or its failure."""
        job = result.job
        if result.error is not None:
            for m in job.devices:
                if m in self._reading:
                    self._reading[m].again = now + READ_AGAIN
            if job.kind == CheckKind.DRIFT:
                self._next_drift = min(self._next_drift or now, now + 4 * READ_AGAIN)
            metrics.CHECKS.labels(job.account.name, job.kind, "failed").inc()
            event(
                log,
                logging.WARNING,
                "check_failed",
                kind=job.kind,
                account=job.account.name,
                devices=len(job.devices),
                error=result.error,
            )
            return
        found = drift.compare(job.devices, result.users, desired, result.at)
        found = drift.confirmed_since(self.store, found, result.at)
        settles = [
            (m.account, m.user_id, m.device_id)
            for m in job.devices
            if m.user_id is not None and m.device_id is not None
        ]
        drift.record(self.store, found, job.kind, result.at, result.reads, settles)
        for m in job.devices:
            self._reading.pop(m, None)
        drifted = [f for f in found.findings if f.found is not None]
        metrics.CHECKS.labels(job.account.name, job.kind, "read").inc()
        metrics.DRIFTED.labels(job.account.name, job.kind).inc(len(drifted))
        event(
            log,
            logging.WARNING if drifted else logging.INFO,
            "check",
            kind=job.kind,
            account=job.account.name,
            devices=found.devices,
            reads=result.reads,
            drifted=len(drifted),
            missing=len(found.findings) - len(drifted),
        )
        for f in drifted if job.kind != CheckKind.FIRST_READ else ():  # first: not drift
            event(
                log,
                logging.WARNING,
                "drift",
                kind=job.kind,
                agent=f.agent,
                device=f.device,
                found="on" if f.found else "off",
                wanted="on" if f.wanted else "off",
            )

    def _first_drift(self, now: datetime) -> datetime:
        """The next drift check, after the last one recorded (:func:`next_drift`)."""
        assert self.drift_every is not None
        with self.store.sessions() as session:
            check = queries.last_full_check(session)
        last = check.at if check is not None else None
        return next_drift(self.drift_every, last, now)
