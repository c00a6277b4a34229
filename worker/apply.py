"""Applying one Exotel user's actions, one at a time and in order (README: How switching works).

A task names a user (``owner``) and the actions it was sent for. Under the user's lease (in
Redis, so one worker at a time, whatever the process) the worker takes the user's open actions
in apply order, up to the last it was sent for, and brings each to a final status or to a
planned retry. Taking *every* earlier open action of the user, not only those in the message,
is what keeps the order across instants, lets a handoff's OFF go first, and picks up an action
whose message was lost.

Each turn: the store reads the next action with the facts that bear on it
(:class:`~shiftswitch.turns.Turn`), :mod:`worker.decisions` says what to do, an exchange with
Exotel is made if it is to send (:mod:`worker.exchange`), the decisions say what its answer
leads to, and the store records that. The clock is read when a turn starts and when an answer
arrives, and that instant is passed down.

A number change (kind ``number``, ``device set-number``) is taken in the same order; when it
succeeds, a roster kept in the database follows it (when that is the roster source).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from shiftswitch import metrics
from shiftswitch.actions import apply_order
from shiftswitch.coordination import LockBusy
from shiftswitch.db import first_line
from shiftswitch.exotel import Outcome
from shiftswitch.logs import event
from shiftswitch.models import FINAL_STATUSES, Action, ActionKind, Status
from shiftswitch.numbers import renumber_source
from shiftswitch.outages import failed_request
from shiftswitch.outcomes import Row
from shiftswitch.problems import RosterError
from shiftswitch.sources.store import renumber
from shiftswitch.turns import Turn, TurnStore
from worker import decisions
from worker.context import CredentialsMissing, Defer, Exotel, Hold, NoLongerOpen, WorkerContext
from worker.decisions import (
    AwaitExotel,
    Finish,
    LeavePending,
    ReadUser,
    Recorded,
    Resolve,
    Resolved,
    Retry,
    Send,
    Succeed,
    TurnOffFirst,
    Wait,
)
from worker.exchange import exchange

log = logging.getLogger("shiftswitch.worker")

BUSY_RETRY = (0.3, 1.0)  # seconds: when another worker holds the user's lease


def apply_owner(
    ctx: WorkerContext,
    owner: str,
    last: tuple[datetime, bool, int],
    slot: datetime | None = None,
) -> None:
    """Apply ``owner``'s open actions in order, up to ``last`` (an :func:`apply_order`);
    ``slot``: a request slot an earlier task reserved for the user (see :class:`Hold`).

    Raises :class:`Defer` when the user's actions must wait (the task comes back then).
    """
    lease = ctx.lease(owner)
    hold = Hold(lease, slot)
    try:
        lease.acquire()
    except LockBusy:
        raise Defer(ctx.rng.uniform(*BUSY_RETRY), f"user {owner} busy", slot) from None
    try:
        _turns(ctx, hold, owner, last)
    except BaseException:
        lease.release()  # at once: the user may be kept, and taken up by another thread
        raise
    lease.release(hand_over=True)


def _turns(ctx: WorkerContext, hold: Hold, owner: str, last: tuple[datetime, bool, int]) -> None:
    """The user's turns, under their lease (``hold.lease``)."""
    while (turn := ctx.store.next_turn(owner, last)) is not None:
        try:
            if not _take(ctx, hold, turn):
                return
        except NoLongerOpen:
            log.info("action=%s superseded before it was sent", turn.action.id)
            continue
        if turn.action.status in FINAL_STATUSES and apply_order(turn.action) == last:
            return  # the last action sent for: nothing after it is this task's
        if not hold.lease.extend():
            raise Defer(0.0, f"lock on {owner} lost")


def last_of(messages: list[dict[str, Any]]) -> tuple[datetime, bool, int]:
    """The apply order of the last action a task message names (see ``broker.message``)."""
    return max(
        (datetime.fromisoformat(m["due_at"]), bool(m["available"]), int(m["id"])) for m in messages
    )


def _take(ctx: WorkerContext, hold: Hold, turn: Turn) -> bool:
    """One step of the user's next action; False when the user's actions are to stay unsent."""
    action = turn.action
    now = ctx.clock.now()
    client: Exotel | None = None
    missing = None
    try:
        client = ctx.client_for(action)
    except CredentialsMissing as exc:
        missing = str(exc)
    if not turn.exotel_down:
        ctx.failures.ended(action.account)  # a run that showed an outage since ended is over
    if decisions.left_unanswered(action):
        # Its last request was sent and nobody recorded the answer (a worker died meanwhile).
        _read_back(ctx, action, now, "a worker stopped before recording the answer")
    match decisions.before_sending(turn, now, missing):
        case Wait(seconds):
            raise Defer(seconds, f"action {action.id} waits for its retry", planned=True)
        case LeavePending():
            ctx.store.leave_pending(action.user_key)
            log.info(
                "owner=%s account=%s paused: actions left pending", action.user_key, action.account
            )
            return False
        case AwaitExotel():
            # Said once per outage, when it began: not again per user.
            ctx.store.leave_pending(action.user_key)
            log.debug(
                "owner=%s account=%s Exotel down: actions left pending",
                action.user_key,
                action.account,
            )
            return False
        case Resolve(uri):
            assert client is not None
            _resolve(ctx, hold, client, action, uri, now)
        case Send(request):
            assert client is not None
            _send(ctx, hold, client, action, request, now)
        case decision:
            _record(ctx, action, decision, now)
    return True


def _resolve(
    ctx: WorkerContext, hold: Hold, client: Exotel, action: Action, uri: str, now: datetime
) -> None:
    """Find (user id, device id) of a device given by contact URI: GET users."""
    found: tuple[str, str] | None = None

    def lookup() -> Outcome:
        nonlocal found
        outcome, found = client.find_device(uri)
        return outcome

    outcome, attempt = exchange(ctx, hold, action, "GET users", lookup, now)
    now = ctx.clock.now()
    decision = decisions.after_lookup(
        action, outcome, found, now, ctx.policy, ctx.rng, down=_down(ctx, action, outcome)
    )
    _record(ctx, action, decision, now, attempt)


def _send(
    ctx: WorkerContext,
    hold: Hold,
    client: Exotel,
    action: Action,
    request: str,
    now: datetime,
) -> None:
    """The PUT, and what its answer leads to (after a read of the user, when it calls for one)."""
    assert action.user_id is not None and action.device_id is not None
    user_id, device_id, number = action.user_id, action.device_id, action.new_contact_uri
    put: Callable[[], Outcome]
    if action.kind == ActionKind.NUMBER:
        assert number is not None
        put = partial(client.set_contact_uri, user_id, device_id, number)
    else:
        put = partial(client.set_available, user_id, device_id, action.wants_on)
    outcome, attempt = exchange(ctx, hold, action, request, put, now)
    now = ctx.clock.now()
    if outcome.unanswered and action.kind == ActionKind.SWITCH:
        sent = now - timedelta(seconds=outcome.duration)
        _read_back(ctx, action, sent, f"{request} went unanswered: {outcome.summary()}")
    decision = decisions.after_put(
        action, outcome, now, ctx.policy, ctx.rng, down=_down(ctx, action, outcome)
    )
    if not isinstance(decision, ReadUser):
        _record(ctx, action, decision, now, attempt)
        return
    ctx.store.record_attempt(attempt)
    get_user = partial(client.get_user, user_id)
    read, attempt = exchange(ctx, hold, action, "GET user", get_user, now)
    now = ctx.clock.now()
    _record(ctx, action, _after_read(ctx, action, decision.refusal, read, now), now, attempt)


def _down(ctx: WorkerContext, action: Action, outcome: Outcome) -> bool:
    """Whether the account's Exotel is known to be down: by this process's run of failures,
    or, for a request that failed, by an outage another process recorded meanwhile (the
    action then waits for Exotel rather than using up its attempts)."""
    if ctx.failures.down(action.account):
        return True
    return failed_request(outcome) and ctx.store.exotel_down(action.account)


def _read_back(ctx: WorkerContext, action: Action, sent: datetime, reason: str) -> None:
    """Exotel may still apply the request sent at ``sent`` for ``action``, after whatever
    follows it: the device is to be read back once that request can no longer land."""
    due = sent + timedelta(seconds=ctx.read_back_after)
    ctx.store.expect_read_back(action, sent, due, reason)
    event(
        log,
        logging.WARNING,
        "state_unknown",
        action=action.id,
        agent=action.agent,
        device=action.device,
        read_back_at=due.isoformat(),
        reason=reason,
    )


def _after_read(
    ctx: WorkerContext, action: Action, refusal: Outcome, read: Outcome, now: datetime
) -> Succeed | Retry | Finish | TurnOffFirst:
    """What the read of the user that ``refusal`` called for shows."""
    if action.kind == ActionKind.NUMBER:
        return decisions.after_number_read(
            action, refusal, read, now, ctx.policy, ctx.rng, down=_down(ctx, action, read)
        )
    managed, recorded = ctx.store.siblings(action), ctx.store.offs_recorded(action)
    return decisions.after_conflict_read(
        action,
        refusal,
        read,
        managed,
        recorded,
        now,
        ctx.policy,
        ctx.rng,
        down=_down(ctx, action, read),
    )


def _record(
    ctx: WorkerContext,
    action: Action,
    decision: Recorded,
    now: datetime,
    attempt: Row | None = None,
) -> None:
    """Let the store record ``decision`` (with ``attempt``, the exchange that led to it)."""
    match decision:
        case Succeed(outcome):
            assert attempt is not None
            _succeed(ctx, action, outcome, attempt, now)
        case Retry(delay, outcome):
            ctx.store.plan_retry(action, delay, now, outcome, attempt)
            raise Defer(delay, f"action {action.id}: {outcome.summary()}", planned=True)
        case Finish(status, reason, outcome):
            ctx.store.finish(action, status, reason, now, outcome, attempt)
            _switched(action, status, reason=reason)
        case Resolved(user_id, device_id):
            ctx.store.resolved(action, user_id, device_id, now, attempt)
        case TurnOffFirst(offs):
            ctx.store.turn_off_first(action, offs, now, attempt)
            event(
                log,
                logging.INFO,
                "off_first",
                action=action.id,
                agent=action.agent,
                device=action.device,
                turning_off=", ".join(off.device or str(off.device_id) for off in offs),
            )


def _succeed(
    ctx: WorkerContext, action: Action, outcome: Outcome, attempt: Row, now: datetime
) -> None:
    if action.kind == ActionKind.NUMBER and ctx.stored_roster:
        assert action.new_contact_uri is not None
        # Before the success is recorded, so whoever sees it succeeded sees the version.
        _renumber_stored(ctx.store, action, action.new_contact_uri, now)
    ctx.store.succeed(action, outcome, attempt, now)
    late = (now - action.due_at).total_seconds()
    metrics.LATENESS.labels(action.account, action.source).observe(max(0.0, late))
    _switched(
        action,
        Status.SUCCEEDED,
        attempt=attempt["number"],
        http=outcome.http_code,
        ms=round(outcome.duration * 1000),
        late_s=round(late, 3),
    )


def _renumber_stored(store: TurnStore, action: Action, number: str, now: datetime) -> None:
    """The roster stored in the database (when it is the roster source) follows the change
    when it gives the device by its old number: a new version, in a transaction of its own.
    Exotel has the new number already: nothing here may fail the change, so any problem is
    logged (``roster_not_renumbered``) and the user changes the roster by hand."""
    if action.agent is None or action.device is None or action.contact_uri is None:
        return  # the roster gives the device id, which stays the same
    try:
        with store.sessions.begin() as session:
            written = renumber(
                session,
                agent=action.agent,
                device=action.device,
                old=action.contact_uri,
                new=number,
                source=renumber_source(action.agent, action.device, action.id),
                by="shiftswitch worker",
                now=now,
            )
    except Exception as exc:
        problem = str(exc) if isinstance(exc, RosterError) else first_line(exc)
        event(log, logging.ERROR, "roster_not_renumbered", action=action.id, problem=problem)
        return
    if written is not None:
        event(log, logging.INFO, "roster_renumbered", action=action.id, version=written.number)


def _switched(action: Action, status: Status, **more: Any) -> None:
    """Count and log an action that reached its final ``status`` (event ``switched``, or
    ``number_changed`` for a number change, which is no switch to count)."""
    change: dict[str, str | None] = {"state": "on" if action.wants_on else "off"}
    name = "switched"
    if action.kind == ActionKind.NUMBER:
        name, change = "number_changed", {"number": action.new_contact_uri}
    else:
        metrics.SWITCHES.labels(action.account, action.source, status).inc()
    level = logging.INFO if status in (Status.SUCCEEDED, Status.SUPERSEDED) else logging.WARNING
    event(
        log,
        level,
        name,
        action=action.id,
        key=action.key,
        source=action.source,
        account=action.account,
        agent=action.agent,
        device=action.device,
        **change,
        status=status,
        **more,
    )
