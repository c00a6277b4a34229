"""On-demand actions: a device ON or OFF now (and held so until a time), or given a new number,
through the same task path as the scheduler's switches (source ``manual``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus

from sqlalchemy import select

from shiftswitch import audit, numbers
from shiftswitch.actions import ActionStore, NewAction
from shiftswitch.manual import manual_action
from shiftswitch.models import FINAL_STATUSES, Action, Status
from shiftswitch.operations.context import Operations
from shiftswitch.problems import Refused, count, invalid
from shiftswitch.roster.fields import LATEST, within_calendar
from shiftswitch.roster.model import Roster, parse_instant


@dataclass(frozen=True, slots=True)
class Submitted:
    """An on-demand action, recorded; ``sent`` is False when a pause keeps it from the broker."""

    action: Action
    new: NewAction
    what: str  # "asha desk ON, held until ...", for messages
    sent: bool


def hold_until(text: str | None, roster: Roster, now: datetime) -> datetime | None:
    """The instant ``until`` names (roster zone unless it carries an offset), after now."""
    if text is None:
        return None
    until = parse_instant(text, roster.zone)
    if until is None or until <= now or not within_calendar(until):
        raise invalid(
            f"{text!r} is not a date-time after now, before {LATEST:%Y-%m-%d}; "
            "write e.g. 2026-12-01T18:00",
            place="until",
        )
    return until


REASON_LENGTH = 200


def said_reason(text: str | None) -> str | None:
    """A hold's reason as given (None when blank): one line, at most 200 characters."""
    if text is None or not text.strip():
        return None
    text = " ".join(text.split())
    if len(text) > REASON_LENGTH:
        raise invalid(f"at most {REASON_LENGTH} characters", place="reason")
    return text


def switch(
    ops: Operations,
    roster: Roster,
    available: bool,
    *,
    by: str,
    agent: str | None = None,
    device: str | None = None,
    account: str | None = None,
    user_id: str | None = None,
    device_id: str | None = None,
    until: str | None = None,
    reason: str | None = None,
) -> Submitted:
    """Turn a device ON or OFF now: a roster agent's (``device`` may be left out when it has
    one), or an Exotel user's by ids. A manual switch ends the device's hold; with ``until`` it
    starts a new one, which the scheduler keeps until then."""
    now = ops.clock.now()
    if agent is not None and (user_id or device_id):
        raise invalid("give AGENT [DEVICE] or --user/--device, not both")
    if until is not None and agent is None:
        raise invalid("--until holds a roster device: give AGENT [DEVICE]")
    held_until = hold_until(until, roster, now)
    reason = said_reason(reason)
    new = manual_action(
        roster,
        available,
        now,
        agent=agent,
        device=device,
        account=account or (next(iter(roster.accounts)) if user_id else None),
        user_id=user_id,
        device_id=device_id,
    )
    state = "ON" if available else "OFF"
    held = (
        f", held until {held_until.astimezone(roster.zone):%Y-%m-%d %H:%M %Z}" if held_until else ""
    )
    what = f"{new.agent or new.user_id} {new.device or new.device_id} {state}{held}"

    def hold(store: ActionStore, action: Action) -> None:
        if new.agent is not None and new.device is not None:
            ops.controls().hold(
                account=new.account,
                agent=new.agent,
                device=new.device,
                available=available,
                now=now,
                until=held_until,
                by=by,
                action_id=action.id,
                reason=reason,
            )
            return  # audited with the hold
        with store.sessions.begin() as session:  # a device outside the roster: audited here
            audit.record(
                session, who=by, what=f"device {'on' if available else 'off'}", at=now,
                target=f"{new.account} user {new.user_id} device {new.device_id}", after=state,
            )  # fmt: skip

    return submit(ops, new, what, now, recorded=hold)


def number_change(roster: Roster, agent: str, device: str, number: str, now: datetime) -> NewAction:
    """The action giving a roster device a new number (Exotel's contact_uri), in E.164; submit
    it with :func:`submit`."""
    if (problem := numbers.number_problem(number)) is not None:
        raise invalid(problem)
    return numbers.number_action(roster, agent, device, number, now)


def submit(
    ops: Operations,
    new: NewAction,
    what: str,
    now: datetime,
    recorded: Callable[[ActionStore, Action], None] | None = None,
) -> Submitted:
    """Record an on-demand action and hand it to the broker (unless sending is paused);
    ``recorded`` is called once it is recorded."""
    store = ops.action_store()
    store.record([new], now)
    with store.sessions() as session:
        action = session.scalars(select(Action).where(Action.key == new.key)).one()
    if recorded is not None:
        recorded(store, action)
    claimed = store.enqueue([new.key], ops.dispatcher(), now)
    if claimed:  # as the claim left it (a worker may have taken it since)
        action.status, action.enqueued_at = Status.QUEUED, now
    return Submitted(action, new, what, sent=bool(claimed))


def paused_message(submitted: Submitted) -> str:
    a = submitted.action
    return (
        f"action {a.id} recorded, not sent: sending is paused for account {a.account} "
        f"('shiftswitch resume' to send again): {submitted.what}"
    )


def read(ops: Operations, action_id: int) -> Action:
    """The action as it is now."""
    with ops.action_store().sessions() as session:
        action: Action = session.get_one(Action, action_id)
    return action


def still_open(action: Action, timeout: float) -> Refused:
    """The refusal when a wait for ``action`` ran out (504)."""
    return Refused(
        f"action {action.id} is still {action.status} after {timeout:g} s "
        "(is a worker running? see 'shiftswitch history')",
        status=HTTPStatus.GATEWAY_TIMEOUT,
    )


WAIT_STEP = 0.2  # seconds between two looks at an action waited for


def wait_for(ops: Operations, action_id: int, timeout: float) -> Action:
    """The action once it is final; a :class:`Refused` (504) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        action = read(ops, action_id)
        if action.status in FINAL_STATUSES:
            return action
        if time.monotonic() > deadline:
            raise still_open(action, timeout)
        time.sleep(WAIT_STEP)


def result_line(a: Action, what: str) -> str:
    """One line saying how an action ended."""
    took = ""
    if a.finished_at and a.enqueued_at:
        took = f", {(a.finished_at - a.enqueued_at).total_seconds():.1f} s"
    tries = count(a.attempts, "attempt")
    if a.status == Status.SUCCEEDED:
        return f"succeeded: {what} (HTTP {a.last_http_code}, {tries}{took})"
    detail = a.reason or a.error_description or ""
    return f"{a.status}: {what} ({tries}{took}): {detail}"
