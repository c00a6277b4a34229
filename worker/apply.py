"""Applying one Exotel user's actions, one at a time and in order (SPEC §3, §5).

A task names a user (``owner``) and the actions it was sent for. Under the user's lock (in
Redis, so one worker at a time, whatever the process) the worker takes the user's open actions
in apply order, up to the last it was sent for, and brings each to a final status or to a
planned retry. Taking *every* earlier open action of the user, not only those in the message,
is what keeps the order across instants, lets a handoff's OFF go first, and picks up an action
whose message was lost.

For each action, in this order:

1. superseded: a later switch of the same device, wanting the other state, is recorded;
2. blocked: an ON whose user may still have another device ON because an OFF before it failed
   (and Exotel has not confirmed that device OFF since);
3. a device given by contact URI is resolved to (user id, device id), once, through GET users;
4. an ON first turns OFF any other managed device of the user last confirmed ON;
5. the PUT, after a slot of the account's shared request budget; then success, a retry
   planned with backoff (:class:`Defer`), or a final failure. "Another device is ON" on an ON
   reads the user: managed devices found ON are turned OFF and the ON tried again; a device the
   roster does not manage is a conflict, recorded with its name.

A number change (kind ``number``, ``device set-number``) is taken in the same order, is never
superseded or blocked, and its PUT carries ``contact_uri`` alone (3, then 5). A 409 for a
change that was sent before (a timeout, a crash) reads the user: the number already on the
device is the change done, not a conflict.

Every HTTP exchange is recorded as an attempt, in the same transaction as what its outcome
leads to (the action's status, the device's confirmed state). The action is marked RUNNING,
with its attempt counted, before the request: a worker killed between the answer and that
transaction leaves it RUNNING, to be sent again, and that exchange without its row.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import ScalarSelect, Table, and_, func, insert, null, select, update
from sqlalchemy.orm import Session, sessionmaker

from shiftswitch import metrics
from shiftswitch.actions import ActionStore, Sibling, apply_order, off_first
from shiftswitch.clock import Clock
from shiftswitch.coordination import Lock, LockBusy, RateLimiter, rate_bucket
from shiftswitch.db import first_line
from shiftswitch.exotel import ExotelClient, Kind, Outcome
from shiftswitch.holds import paused_condition
from shiftswitch.logs import event
from shiftswitch.models import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    Action,
    ActionKind,
    Attempt,
    DeviceState,
    ResolvedDevice,
    Status,
)
from shiftswitch.numbers import number_changed, refused, renumber_source
from shiftswitch.problems import RosterError
from shiftswitch.retry import RetryPolicy, next_delay
from shiftswitch.roster.model import parse_rate
from shiftswitch.roster.store import renumber

log = logging.getLogger("shiftswitch.worker")

ACTIONS: Table = Action.__table__  # type: ignore[assignment]
ATTEMPTS: Table = Attempt.__table__  # type: ignore[assignment]
ANOTHER_DEVICE_ON = "another device is on"
BUSY_RETRY = (0.3, 1.0)  # seconds: when another worker holds the user's lock


class Defer(Exception):
    """Come back to this user's actions in ``countdown`` seconds (the task retries itself)."""

    def __init__(self, countdown: float, why: str) -> None:
        super().__init__(f"{why}; again in {countdown:.2f} s")
        self.countdown = max(0.0, countdown)
        self.why = why


class NoLongerOpen(Exception):
    """The action became final elsewhere (the scheduler superseded it) before it was sent."""


class CredentialsMissing(Exception):
    """This worker's environment lacks an account's credentials (the message names them)."""


@dataclass
class WorkerContext:
    """What applying actions needs, built once per worker process."""

    sessions: sessionmaker[Session]
    # Sessions in autocommit mode, for reads and single-statement writes: no BEGIN and COMMIT
    # round trips (on PostgreSQL) where one statement needs no transaction around it.
    autocommit: sessionmaker[Session]
    store: ActionStore
    redis: Redis
    limiter: RateLimiter
    client_for: Callable[[Action], ExotelClient]  # may raise CredentialsMissing
    policy: RetryPolicy
    lock_ttl: float
    clock: Clock
    rng: random.Random
    rate_block: float = 5.0  # longest wait for a request slot inside a task, seconds
    stored_roster: bool = False  # the roster source is the database: number changes update it
    sleep: Callable[[float], None] = time.sleep


def apply_owner(ctx: WorkerContext, owner: str, last: tuple[datetime, bool, int]) -> None:
    """Apply ``owner``'s open actions in order, up to ``last`` (an :func:`apply_order`)."""
    lock = Lock(ctx.redis, owner, ctx.lock_ttl)
    try:
        lock.acquire()
    except LockBusy:
        raise Defer(ctx.rng.uniform(*BUSY_RETRY), f"user {owner} busy") from None
    try:
        while (turn := _next_turn(ctx, owner, last)) is not None:
            try:
                _step(ctx, lock, turn)
            except NoLongerOpen:
                log.info("action=%s superseded before it was sent", turn.action.id)
                continue
            if turn.action.status in FINAL_STATUSES and apply_order(turn.action) == last:
                return  # the last action sent for: nothing after it is this task's
            if not lock.extend():
                raise Defer(0.0, f"lock on {owner} lost")
    finally:
        lock.release()


def last_of(messages: list[dict[str, Any]]) -> tuple[datetime, bool, int]:
    """The apply order of the last action a task message names (see :func:`message`)."""
    return max(
        (datetime.fromisoformat(m["due_at"]), bool(m["available"]), int(m["id"])) for m in messages
    )


@dataclass
class Turn:
    """The user's next open action, and what the database says of it before sending."""

    action: Action
    superseded_by: Action | None = None
    blocked: str | None = None


def _next_turn(ctx: WorkerContext, owner: str, last: tuple[datetime, bool, int]) -> Turn | None:
    """The next open action up to ``last``, checked; None when there is none."""
    with ctx.autocommit() as session:
        action = session.scalars(
            select(Action)
            .where(Action.user_key == owner, Action.status.in_(OPEN_STATUSES))
            .order_by(Action.due_at, Action.wants_on, Action.id)
            .limit(1)
        ).first()
        if action is None or apply_order(action) > last:
            return None
        now = ctx.clock.now()
        if action.retry_at is not None and action.retry_at > now:
            wait = (action.retry_at - now).total_seconds()
            raise Defer(wait, f"action {action.id} waits for its retry")
        number = action.kind == ActionKind.NUMBER  # wanted whatever the switches around it
        # The checks in one statement; each usually finds nothing.
        later_id, failed_off_id, paused = session.execute(
            select(
                null() if number else _later_action(action),
                _failed_off(action) if action.wants_on and not number else null(),
                paused_condition(action.account),
            )
        ).one()
        if paused:
            # Sending is paused for the account: leave its actions recorded, unsent.
            session.execute(
                update(ACTIONS)
                .where(ACTIONS.c.user_key == owner, ACTIONS.c.status == Status.QUEUED)
                .values(status=Status.PENDING, enqueued_at=None)
            )
            log.info("owner=%s account=%s paused: actions left pending", owner, action.account)
            return None
        turn = Turn(action)
        if later_id is not None:
            turn.superseded_by = session.get_one(Action, later_id)
        elif failed_off_id is not None:
            turn.blocked = _blocked_reason(session, action)
        return turn


def _step(ctx: WorkerContext, lock: Lock, turn: Turn) -> None:
    action = turn.action
    if (later := turn.superseded_by) is not None:
        _finish(
            ctx,
            action,
            Status.SUPERSEDED,
            f"action {later.id} ({later.source}, due {later.due_at:%Y-%m-%d %H:%M:%SZ}) "
            "came after it for the same device",
        )
        return
    if turn.blocked:
        _finish(ctx, action, Status.BLOCKED, turn.blocked)
        return
    try:
        client = ctx.client_for(action)
    except CredentialsMissing as exc:
        _finish(ctx, action, Status.FAILED, str(exc))
        return
    if action.device_id is None and not _resolve(ctx, lock, client, action):
        return
    if action.kind == ActionKind.NUMBER:
        _change_number(ctx, lock, client, action)
        return
    if action.wants_on and _clear_siblings(ctx, action, _confirmed_on_siblings(ctx, action)):
        return  # the OFFs come first; this ON is taken again after them
    assert action.user_id is not None and action.device_id is not None
    user_id, device_id = action.user_id, action.device_id
    state = "true" if action.wants_on else "false"
    outcome, attempt = _exchange(
        ctx,
        lock,
        action,
        f"PUT available={state}",
        lambda: client.set_available(user_id, device_id, action.wants_on),
    )
    if outcome.ok:
        _succeed(ctx, action, outcome, attempt)
    elif outcome.kind is Kind.RETRY:
        _retry_or_fail(ctx, action, outcome, attempt)
    elif action.wants_on and outcome.http_code == 403 and _another_device_on(outcome):
        _record(ctx, attempt)
        _conflict(ctx, lock, client, action, outcome)
    else:
        _finish(
            ctx, action, Status.FAILED, f"Exotel refused: {outcome.summary()}", outcome, attempt
        )


def _change_number(ctx: WorkerContext, lock: Lock, client: ExotelClient, action: Action) -> None:
    assert action.user_id is not None and action.device_id is not None
    assert action.new_contact_uri is not None
    user_id, device_id, number = action.user_id, action.device_id, action.new_contact_uri
    outcome, attempt = _exchange(
        ctx,
        lock,
        action,
        f"PUT contact_uri={number}",
        lambda: client.set_contact_uri(user_id, device_id, number),
    )
    if outcome.ok:
        _succeed(ctx, action, outcome, attempt)
    elif outcome.kind is Kind.RETRY:
        _retry_or_fail(ctx, action, outcome, attempt)
    elif outcome.http_code == 409 and action.attempts > 1:
        # An earlier attempt may have set the number before its answer was lost.
        _record(ctx, attempt)
        _number_already_set(ctx, lock, client, action, outcome)
    else:
        _finish(ctx, action, Status.FAILED, refused(outcome, number, action.sid), outcome, attempt)


def _number_already_set(
    ctx: WorkerContext, lock: Lock, client: ExotelClient, action: Action, refusal: Outcome
) -> None:
    """A 409 for a number sent before: done if the device has the number, else refused."""
    assert action.user_id is not None and action.new_contact_uri is not None
    user_id, number = action.user_id, action.new_contact_uri
    outcome, attempt = _exchange(ctx, lock, action, "GET user", lambda: client.get_user(user_id))
    if outcome.kind is Kind.RETRY:
        _retry_or_fail(ctx, action, outcome, attempt)
        return
    devices = outcome.users[0].devices if outcome.ok and outcome.users else ()
    mine = next((d for d in devices if d.id == action.device_id), None)
    if mine is not None and mine.contact_uri == number:
        _succeed(ctx, action, replace(outcome, device=mine), attempt)
        return
    _finish(ctx, action, Status.FAILED, refused(refusal, number, action.sid), refusal, attempt)


# -- checks before sending ----------------------------------------------------------------------


def _same_device(action: Action) -> object:
    if action.agent is not None and action.device is not None:
        return and_(Action.agent == action.agent, Action.device == action.device)
    return Action.device_id == action.device_id


def _later_action(action: Action) -> ScalarSelect[int]:
    """The id of a recorded switch of the same device, due after this one, wanting the other
    state (the latest such), or NULL.

    (A later action wanting the same state does not make this one wrong: sending both is
    harmless, and an OFF that a handoff waits for must not vanish.)
    """
    return (
        select(Action.id)
        .where(
            Action.account == action.account,
            _same_device(action),  # type: ignore[arg-type]
            Action.kind == ActionKind.SWITCH,
            Action.due_at > action.due_at,
            Action.wants_on.is_not(action.wants_on),
            Action.id != action.id,
        )
        .order_by(Action.due_at.desc())
        .limit(1)
        .scalar_subquery()
    )


def _failed_off(action: Action) -> ScalarSelect[int]:
    """The id of an OFF of the user, due no later than ``action``, that failed or was blocked,
    or NULL: if there is one, :func:`_blocked_reason` looks closer."""
    return (
        select(Action.id)
        .where(
            Action.user_key == action.user_key,
            Action.kind == ActionKind.SWITCH,
            Action.wants_on.is_(False),
            Action.status.in_([Status.FAILED, Status.BLOCKED]),
            Action.due_at <= action.due_at,
            Action.id != action.id,
        )
        .limit(1)
        .scalar_subquery()
    )


def _blocked_reason(session: Session, action: Action) -> str | None:
    """Why this ON must not be sent: an OFF of another device of the user, before it, failed."""
    before = session.scalars(
        select(Action)
        .where(
            Action.user_key == action.user_key,
            Action.kind == ActionKind.SWITCH,
            Action.status.in_(FINAL_STATUSES),
            Action.due_at <= action.due_at,
            Action.id != action.id,
        )
        .order_by(Action.due_at.desc(), Action.id.desc())
        .limit(50)
    )
    seen: set[str | None] = {action.device}
    for earlier in before:
        if apply_order(earlier) > apply_order(action) or earlier.device in seen:
            continue
        seen.add(earlier.device)
        if (
            not earlier.wants_on
            and earlier.status in (Status.FAILED, Status.BLOCKED)
            and not _confirmed_off_since(session, earlier)
        ):
            return (
                f"the OFF of {earlier.device or earlier.device_id} (action {earlier.id}) "
                f"before it did not succeed ({earlier.status}: {earlier.reason}); "
                "that device may still be ON"
            )
    return None


def _confirmed_off_since(session: Session, failed: Action) -> bool:
    """Exotel confirmed the device OFF after the ``failed`` OFF (by hand, or a later action)."""
    if failed.user_id is None or failed.device_id is None:
        return False
    state = session.get(DeviceState, (failed.account, failed.user_id, failed.device_id))
    return (
        state is not None
        and state.available is False
        and failed.finished_at is not None
        and state.confirmed_at >= failed.finished_at
    )


def _resolve(ctx: WorkerContext, lock: Lock, client: ExotelClient, action: Action) -> bool:
    """Find (user id, device id) of a contact-URI device: from the cache, else GET users."""
    assert action.contact_uri is not None
    uri = action.contact_uri
    with ctx.sessions.begin() as session:
        cached = session.get(ResolvedDevice, (action.account, uri))
        if cached is not None:
            _set_ids(session, action, cached.user_id, cached.device_id)
            return True
    found: tuple[str, str] | None = None

    def lookup() -> Outcome:
        nonlocal found
        outcome, found = client.find_device(uri)
        return outcome

    outcome, attempt = _exchange(ctx, lock, action, "GET users", lookup)
    if outcome.kind is Kind.RETRY:
        _retry_or_fail(ctx, action, outcome, attempt)
        return False
    if not outcome.ok:
        _finish(
            ctx, action, Status.FAILED, f"looking up {uri}: {outcome.summary()}", outcome, attempt
        )
        return False
    if found is None:
        _finish(
            ctx,
            action,
            Status.FAILED,
            f"no device with contact URI {uri} in Exotel account {action.sid}; "
            "check the number in the roster",
            attempt=attempt,
        )
        return False
    user_id, device_id = found
    with ctx.sessions.begin() as session:
        session.execute(insert(ATTEMPTS), attempt)
        session.merge(
            ResolvedDevice(
                account=action.account,
                contact_uri=uri,
                user_id=user_id,
                device_id=device_id,
                resolved_at=ctx.clock.now(),
            )
        )
        _set_ids(session, action, user_id, device_id)
    return True


def _set_ids(session: Session, action: Action, user_id: str, device_id: str) -> None:
    _update(session, action, user_id=user_id, device_id=device_id)


def _sibling_ids(ctx: WorkerContext, action: Action) -> list[tuple[dict[str, str | None], str]]:
    """The user's other managed devices whose device id is known."""
    out: list[tuple[dict[str, str | None], str]] = []
    if not action.siblings:
        return out
    with ctx.sessions() as session:
        for sibling in action.siblings:
            device_id = sibling.get("device_id")
            uri = sibling.get("contact_uri")
            if device_id is None and uri is not None:
                cached = session.get(ResolvedDevice, (action.account, uri))
                device_id = cached.device_id if cached is not None else None
            if device_id is not None:
                out.append((sibling, device_id))
    return out


def _confirmed_on_siblings(
    ctx: WorkerContext, action: Action
) -> list[tuple[dict[str, str | None], str]]:
    if action.user_id is None or not action.siblings:
        return []
    out = []
    with ctx.sessions() as session:
        for sibling, device_id in _sibling_ids(ctx, action):
            state = session.get(DeviceState, (action.account, action.user_id, device_id))
            if state is not None and state.available:
                out.append((sibling, device_id))
    return out


def _clear_siblings(
    ctx: WorkerContext, action: Action, devices: list[tuple[dict[str, str | None], str]]
) -> bool:
    """Record an OFF, before ``action``, for each of ``devices``; False if none was new."""
    if not devices:
        return False
    children = [
        off_first(action, Sibling(sibling.get("device"), device_id, sibling.get("contact_uri")))
        for sibling, device_id in devices
    ]
    with ctx.sessions() as session:
        known = set(
            session.scalars(select(Action.key).where(Action.key.in_([c.key for c in children])))
        )
    new = [c for c in children if c.key not in known]
    if not new:
        return False
    ctx.store.record(new, ctx.clock.now())
    with ctx.sessions.begin() as session:
        for child in session.scalars(select(Action).where(Action.key.in_([c.key for c in new]))):
            child.parent_id = action.id
            child.status = Status.QUEUED
            child.enqueued_at = ctx.clock.now()
    event(
        log,
        logging.INFO,
        "off_first",
        action=action.id,
        agent=action.agent,
        device=action.device,
        turning_off=", ".join(c.device or str(c.device_id) for c in new),
    )
    return True


# -- the exchange and its outcome --------------------------------------------------------------

Row = dict[str, Any]  # an attempt, written together with what its outcome leads to


def _exchange(
    ctx: WorkerContext, lock: Lock, action: Action, request: str, call: Callable[[], Outcome]
) -> tuple[Outcome, Row]:
    """One HTTP request for ``action``, after a request slot.

    Returns the outcome and its attempt row, which the caller writes in the same transaction
    as what it does with the outcome (see :func:`_record`).
    """
    send_at = _reserve_slot(ctx, action)
    now = ctx.clock.now()
    with ctx.autocommit() as session:
        number = session.execute(
            update(ACTIONS)
            .where(ACTIONS.c.id == action.id, ACTIONS.c.status.in_(OPEN_STATUSES))
            .values(
                status=Status.RUNNING,
                started_at=func.coalesce(ACTIONS.c.started_at, now),
                attempts=ACTIONS.c.attempts + 1,
                retry_at=None,
            )
            .returning(ACTIONS.c.attempts)
        ).scalar_one_or_none()
    if number is None:  # superseded by a roster edit since it was read: not sent
        raise NoLongerOpen(action.id)
    action.status, action.attempts = Status.RUNNING, number
    action.started_at = action.started_at or now
    # The database write above happens while waiting for the slot, not between slot and send.
    if (wait := send_at - time.monotonic()) > 0:
        ctx.sleep(wait)
    # The lease must outlast this request (its TTL exceeds one request's longest time): renew
    # it now, and never send once it is lost, for another worker may hold this user now.
    if not lock.extend():
        _plan_retry(ctx, action, 0.0)
        raise Defer(0.0, f"lock on {action.user_key} lost")
    outcome = call()
    metrics.ATTEMPTS.labels(
        action.account,
        request.split(maxsplit=1)[0],
        str(outcome.kind),
        str(outcome.http_code or "none"),
    ).inc()
    # A success is logged once, by _succeed; anything else here, as it happens.
    event(
        log,
        logging.DEBUG if outcome.ok else logging.INFO,
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
    attempt = {
        "action_id": action.id,
        "number": number,
        "request": request,
        "at": now,
        "duration_ms": round(outcome.duration * 1000, 2),
        "http_code": outcome.http_code,
        "outcome": str(outcome.kind),
        "error_code": outcome.error_code,
        "error": None if outcome.ok else outcome.description,
        "retry_delay": None,
        "request_id": outcome.request_id,
    }
    return outcome, attempt


def _record(ctx: WorkerContext, attempt: Row) -> None:
    with ctx.sessions.begin() as session:
        session.execute(insert(ATTEMPTS), attempt)


def _reserve_slot(ctx: WorkerContext, action: Action) -> float:
    """Reserve the account's next request slot; its ``time.monotonic()`` instant."""
    limit = parse_rate(action.rate_limit)
    assert limit is not None, action.rate_limit
    reserved, wait = ctx.limiter.reserve(
        rate_bucket(action.base_url, action.sid), limit, max_wait=ctx.rate_block
    )
    if not reserved:
        _plan_retry(ctx, action, wait)
        raise Defer(wait * ctx.rng.uniform(0.5, 1.0), f"account {action.account} at its limit")
    return time.monotonic() + wait


def _retry_or_fail(ctx: WorkerContext, action: Action, outcome: Outcome, attempt: Row) -> None:
    now = ctx.clock.now()
    age = (now - (action.started_at or now)).total_seconds()
    delay = next_delay(ctx.policy, action.attempts, outcome.retry_after, age, ctx.rng)
    if delay is None:
        _finish(
            ctx,
            action,
            Status.FAILED,
            f"gave up after {action.attempts} attempts in {age:.0f} s: {outcome.summary()}",
            outcome,
            attempt,
        )
        return
    attempt["retry_delay"] = round(delay, 3)
    _plan_retry(ctx, action, delay, outcome, attempt)
    raise Defer(delay, f"action {action.id}: {outcome.summary()}")


def _plan_retry(
    ctx: WorkerContext,
    action: Action,
    delay: float,
    outcome: Outcome | None = None,
    attempt: Row | None = None,
) -> None:
    retry_at = ctx.clock.now() + timedelta(seconds=delay)
    with ctx.sessions.begin() as session:
        if attempt is not None:
            session.execute(insert(ATTEMPTS), attempt)
        _update(session, action, status=Status.QUEUED, retry_at=retry_at, **_outcome(outcome))


def _succeed(ctx: WorkerContext, action: Action, outcome: Outcome, attempt: Row) -> None:
    assert action.user_id is not None and action.device_id is not None
    now = ctx.clock.now()
    number = action.new_contact_uri if action.kind == ActionKind.NUMBER else None
    state = DeviceState(
        account=action.account,
        user_id=action.user_id,
        device_id=action.device_id,
        agent=action.agent,
        device=action.device,
        contact_uri=outcome.device.contact_uri if outcome.device else action.contact_uri,
        available=action.wants_on,
        confirmed_at=now,
        action_id=action.id,
    )
    if number is not None:  # a new number is unverified: Exotel says available null
        state.contact_uri = number
        state.available = outcome.device.available if outcome.device else None
        if ctx.stored_roster:
            # Before the success is recorded, so whoever sees it succeeded sees the version.
            _renumber_stored(ctx, action, number, now)
    with ctx.sessions.begin() as session:
        session.execute(insert(ATTEMPTS), attempt)
        _update(
            session,
            action,
            status=Status.SUCCEEDED,
            finished_at=now,
            reason=None,
            **_outcome(outcome),
        )
        if number is not None:
            old = session.get(DeviceState, (action.account, action.user_id, action.device_id))
            number_changed(
                session,
                account=action.account,
                user_id=action.user_id,
                device_id=action.device_id,
                agent=action.agent,
                device=action.device,
                old=action.contact_uri or (old.contact_uri if old is not None else None),
                new=number,
                at=now,
            )
        ctx.store.confirm(session, [state])
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


def _renumber_stored(ctx: WorkerContext, action: Action, number: str, now: datetime) -> None:
    """The roster stored in the database (when it is the roster source) follows the change
    when it gives the device by its old number: a new version, in a transaction of its own.
    Exotel has the new number already: nothing here may fail the change, so any problem is
    logged (``roster_not_renumbered``) and the user changes the roster by hand."""
    if action.agent is None or action.device is None or action.contact_uri is None:
        return  # the roster gives the device id, which stays the same
    try:
        with ctx.sessions.begin() as session:
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


def _finish(
    ctx: WorkerContext,
    action: Action,
    status: Status,
    reason: str,
    outcome: Outcome | None = None,
    attempt: Row | None = None,
) -> None:
    with ctx.sessions.begin() as session:
        if attempt is not None:
            session.execute(insert(ATTEMPTS), attempt)
        _update(
            session,
            action,
            status=status,
            finished_at=ctx.clock.now(),
            retry_at=None,
            reason=reason,
            **_outcome(outcome),
        )
    _switched(action, status, reason=reason)


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


def _update(session: Session, action: Action, **values: Any) -> None:
    """UPDATE one action's row, and the detached ``action`` with it."""
    session.execute(update(ACTIONS).where(ACTIONS.c.id == action.id).values(**values))
    for name, value in values.items():
        setattr(action, name, value)


def _outcome(outcome: Outcome | None) -> dict[str, Any]:
    """The columns of an action that keep its last answer from Exotel."""
    if outcome is None:
        return {}
    return {
        "last_http_code": outcome.http_code,
        "request_id": outcome.request_id,
        "error_code": None if outcome.ok else outcome.error_code,
        "error_description": None if outcome.ok else outcome.description,
    }


def _another_device_on(outcome: Outcome) -> bool:
    return ANOTHER_DEVICE_ON in (outcome.description or "").lower()


def _conflict(
    ctx: WorkerContext, lock: Lock, client: ExotelClient, action: Action, refusal: Outcome
) -> None:
    """An ON met "Another device is ON": find which; turn it OFF if the roster manages it."""
    assert action.user_id is not None
    user_id = action.user_id
    refused = f"Exotel refused: {refusal.summary()}"
    outcome, attempt = _exchange(ctx, lock, action, "GET user", lambda: client.get_user(user_id))
    if outcome.kind is Kind.RETRY:
        _retry_or_fail(ctx, action, outcome, attempt)
        return
    if not outcome.ok or not outcome.users:
        _finish(
            ctx,
            action,
            Status.FAILED,
            f"{refused}; reading the user: {outcome.summary()}",
            attempt=attempt,
        )
        return
    on = [d for d in outcome.users[0].devices if d.available and d.id != action.device_id]
    managed = {device_id: sibling for sibling, device_id in _sibling_ids(ctx, action)}
    for sibling in action.siblings:
        for device in on:
            if sibling.get("contact_uri") and sibling.get("contact_uri") == device.contact_uri:
                managed[device.id] = sibling
    strangers = [d for d in on if d.id not in managed]
    if strangers:
        names = ", ".join(
            f"{d.name or 'device'} {d.contact_uri or ''} (id {d.id})" for d in strangers
        )
        _finish(
            ctx,
            action,
            Status.FAILED,
            f"conflict: another device is ON: {names}, which the roster does not manage; "
            "turn it OFF in Exotel or add it to the agent's devices",
            refusal,
            attempt,
        )
        return
    if not _clear_siblings(ctx, action, [(managed[d.id], d.id) for d in on]):
        if not on:  # it went OFF meanwhile: try the ON again
            _retry_or_fail(ctx, action, outcome, attempt)
            return
        _finish(
            ctx,
            action,
            Status.FAILED,
            f"{refused}, again after turning the others OFF",
            attempt=attempt,
        )
        return
    with ctx.sessions.begin() as session:
        session.execute(insert(ATTEMPTS), attempt)
        _update(session, action, status=Status.QUEUED)
