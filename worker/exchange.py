"""One HTTP exchange with Exotel for an action: a request slot, the lease, the request.

The action is marked running, with its attempt counted, before the request: a worker killed
between the answer and the transaction that records it leaves the action running, to be sent
again, and that exchange without its row. The attempt's row is returned to the caller, which
writes it in the same transaction as what the outcome leads to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from shiftswitch import metrics
from shiftswitch.budget import rate_bucket
from shiftswitch.db import first_line
from shiftswitch.exotel import Outcome
from shiftswitch.logs import event
from shiftswitch.models import Action
from shiftswitch.outages import PROBE_EVERY, answered, failed_request
from shiftswitch.outcomes import Row, attempt_row
from shiftswitch.pacing import parse_rate
from worker.context import Defer, Hold, NoLongerOpen, WorkerContext

log = logging.getLogger("shiftswitch.worker")


def exchange(
    ctx: WorkerContext,
    hold: Hold,
    action: Action,
    request: str,
    call: Callable[[], Outcome],
    now: datetime,
) -> tuple[Outcome, Row]:
    """``call`` (the HTTP request ``request``, such as ``PUT available=true``) for ``action``,
    after a slot of its account's request budget; its outcome and attempt row.

    Raises :class:`Defer` when the slot is too far away or the lease was lost (the action then
    waits for a retry, unsent), and :class:`NoLongerOpen` when the action is final already.
    """
    wait = _slot(ctx, hold, action)
    send_at = ctx.monotonic() + wait
    # The database write happens while waiting for the slot, not between slot and send.
    number = ctx.store.start_attempt(action, now)
    if number is None:  # superseded by a roster edit since it was read: not sent
        raise NoLongerOpen(action.id)
    if (left := send_at - ctx.monotonic()) > 0:
        ctx.sleep(left)
    # At its slot: later still if the account was widened since the slot was reserved, or the
    # request before it left late, so that the two reach the gateway a spacing apart. The lease
    # must outlast this request (its TTL exceeds one request's longest time): it is renewed in
    # the same round trip, and nothing is sent once it is lost, for another worker may hold
    # this user now.
    limit = parse_rate(action.rate_limit)
    assert limit is not None, action.rate_limit
    bucket = rate_bucket(action.base_url, action.sid)
    later = ctx.budget.sending_held(bucket, limit, hold.lease)
    if later is None:  # ``now`` is the turn's start: the lease's TTL may have passed since
        ctx.store.plan_retry(action, 0.0, ctx.clock.now())
        raise Defer(0.0, f"lock on {action.user_key} lost", planned=True)
    if later > 0:
        ctx.sleep(later)
    sent = ctx.monotonic()
    outcome = call()
    noted = _watch(ctx, action, outcome, sent)
    # What the account's gateway made of it teaches every worker's spacing of the account.
    if outcome.http_code == 429:
        ctx.budget.refused(bucket, outcome.retry_after, outcome.duration)
    elif outcome.http_code is not None and outcome.http_code < 500:
        ctx.budget.admitted(bucket)
    metrics.ATTEMPTS.labels(
        action.account,
        request.split(maxsplit=1)[0],
        str(outcome.kind),
        str(outcome.http_code or "none"),
    ).inc()
    # A success is logged once, with the action's final status; anything else here, as it
    # happens, but of failures in a row to an account only the first: the rest may be an
    # outage, which is said once (``exotel_down``).
    event(
        log,
        logging.INFO if noted else logging.DEBUG,
        "attempt",
        action=action.id,
        agent=action.agent,
        device=action.device,
        request=request,
        attempt=number,
        outcome=outcome.kind,
        http=outcome.http_code,
        ms=round(outcome.duration * 1000),
        error="" if outcome.ok else outcome.summary(),
    )
    return outcome, attempt_row(action, number, request, now, outcome)


def _watch(ctx: WorkerContext, action: Action, outcome: Outcome, sent: float) -> bool:
    """Count the request in its account's run of failures; when the run says the account's
    Exotel is down, record the outage (once, whichever worker notices it first). Whether the
    attempt is worth a line of the log: not a success (said with the action's final status),
    nor a failure after the first of its run."""
    if answered(outcome):
        ctx.failures.answered(action.account)
        return not outcome.ok
    if not failed_request(outcome):
        return True
    length, run = ctx.failures.failed(action.account, sent, action.id)
    if run is None or ctx.outages is None:
        return length == 1
    now = ctx.clock.now()
    try:
        begun = ctx.outages.begin(action.account, outcome.summary(), now)
    except Exception as exc:  # the database: each action goes on retrying by itself
        log.warning("account=%s outage not recorded: %s", action.account, first_line(exc))
        return False
    ctx.failures.recorded(action.account)
    if begun is not None:
        event(
            log,
            logging.ERROR,
            "exotel_down",
            account=action.account,
            failed=run,
            error=outcome.summary(),
            note="nothing is sent for the account until Exotel answers a probe "
            f"(every {PROBE_EVERY.total_seconds():g} s)",
        )
    return False


def _slot(ctx: WorkerContext, hold: Hold, action: Action) -> float:
    """Seconds until the request may leave: the slot an earlier task reserved for the user, if
    it is still to come (or only just past); else a slot of the account's budget reserved now.

    A slot more than ``rate_block`` away is not waited for in the thread, which other users'
    switches need: the action is planned for it and :class:`Defer` hands the slot to the task
    that comes back for it, once. One beyond the ``horizon`` is not reserved yet.
    """
    limit = parse_rate(action.rate_limit)
    assert limit is not None, action.rate_limit
    now = ctx.clock.now()
    if hold.slot is not None:
        slot, hold.slot = hold.slot, None
        wait = (slot - now).total_seconds()
        if -min(SLOT_LATE, limit.spacing / 2) <= wait <= ctx.rate_block + SLOT_LEAD:
            return max(0.0, wait)
        # Missed (the task came back late) or still far: the slot is given up, a new one taken.
    bucket = rate_bucket(action.base_url, action.sid)
    reserved, wait = ctx.budget.reserve(bucket, limit, max_wait=ctx.horizon)
    if not reserved:
        back = wait - ctx.horizon * ctx.rng.uniform(0.5, 0.9)
        ctx.store.plan_retry(action, back, now)
        why = f"account {action.account}: its next slot is {wait:.0f} s away"
        raise Defer(back, why, planned=True)
    if wait <= ctx.rate_block:
        return wait
    back = max(0.0, wait - SLOT_LEAD)
    ctx.store.plan_retry(action, back, now)
    slot = now + timedelta(seconds=wait)
    why = f"account {action.account}: slot reserved in {wait:.1f} s"
    raise Defer(back, why, slot=slot, planned=True)


SLOT_LEAD = 0.1  # a task coming back for its slot is due this much before it (seconds)
SLOT_LATE = 0.5  # a slot missed by more than this (or half the spacing) is given up
