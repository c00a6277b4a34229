"""One reconcile now, on demand (``shiftswitch reconcile``, ``POST /api/v1/reconcile``): what
the scheduler does when it starts, and, with ``remote``, a read of every managed device from
Exotel that corrects what drifted."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from scheduler.loop import Scheduler
from shiftswitch import audit, drift, redisclient
from shiftswitch.budget import RateLimiter, rate_bucket
from shiftswitch.exotel import ExotelClient
from shiftswitch.operations.context import Operations
from shiftswitch.problems import Refused
from shiftswitch.roster.model import Account
from shiftswitch.settings import CONNECT_TIMEOUT, credentials


@dataclass(frozen=True, slots=True)
class Reconciled:
    enqueued: int  # actions the reconcile enqueued
    stranded: int  # actions recorded earlier and never sent, handed over now
    remote: drift.RemoteReport | None  # with ``remote``: what the read found

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"enqueued": self.enqueued, "stranded": self.stranded}
        if self.remote is not None:
            out["remote"] = {
                "devices": self.remote.devices,
                "enqueued": self.remote.enqueued,
                "findings": [f.__dict__ for f in self.remote.findings],
            }
        return out


def reconcile_now(
    ops: Operations, *, remote: bool = False, roster_path: str | None = None, by: str = "unknown"
) -> Reconciled:
    """Enqueue each managed device whose desired state differs from the last one Exotel
    confirmed (source ``reconcile``); with ``remote``, from what Exotel says now. Audited as
    asked by ``by``."""
    now = ops.clock.now()
    if remote:  # a missing credential refuses the whole request, before anything is recorded
        for account in ops.current_roster(roster_path, now).accounts.values():
            credentials(account.name)
    store, dispatcher = ops.action_store(), ops.dispatcher()
    sched = Scheduler(ops.roster_source(roster_path), store, dispatcher)
    report = sched.start(now)
    found = None
    if remote:
        try:
            found = drift.check(
                sched.roster, sched.desired(now), store, dispatcher, paced_client(ops), now
            )
        except drift.RemoteError as exc:
            raise Refused(str(exc), status=HTTPStatus.BAD_GATEWAY) from None
    with store.sessions.begin() as session:
        audit.record(
            session, who=by, what="reconcile --remote" if remote else "reconcile", at=now,
            after=f"{report.reconciled} devices set, {report.enqueued} actions sent",
        )  # fmt: skip
    return Reconciled(report.reconciled, report.enqueued, found)


def paced_client(ops: Operations) -> Callable[[Account], ExotelClient]:
    """Exotel clients that wait for the account's request budget, shared with the workers."""
    limiter = RateLimiter(redisclient.client(ops.settings.redis))

    def client(account: Account) -> ExotelClient:
        def pace() -> None:
            bucket = rate_bucket(account.base_url, account.sid)
            _reserved, wait = limiter.reserve(bucket, account.rate_limit, max_wait=3600)
            time.sleep(wait)

        return ExotelClient(
            account.base_url,
            account.sid,
            credentials(account.name),
            timeout=(CONNECT_TIMEOUT, ops.settings.http_timeout),
            pace=pace,
        )

    return client
