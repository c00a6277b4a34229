"""What to do with a user's next action: pure functions of the facts, Exotel's answer and ``now``.

The switching rules (README: How switching works), in the order the worker asks them:

- :func:`before_sending`, given the action and the stored facts about its user (a
  :class:`~shiftswitch.turns.Turn`): wait for a planned retry; leave it pending while the account
  is paused; supersede it when a later switch of the same device wants the other state; block an
  ON when an OFF of the user before it failed (and that device was not confirmed OFF since);
  resolve a device given by contact URI; turn the user's other devices OFF before an ON; send.
- :func:`after_put`, given Exotel's answer to the PUT: success, a retry (:func:`retry_or_fail`),
  a final failure, or a read of the user first when the answer may not be the last word (an ON
  refused because "another device is ON"; a number change refused with 409 after an earlier
  attempt of it whose answer was lost).
- :func:`after_conflict_read` and :func:`after_number_read`: what that read shows;
  :func:`after_lookup`: what the search for a contact URI found.

A number change (kind ``number``) is never superseded or blocked, and never turns other devices
OFF: it sends ``contact_uri`` alone. Nothing here reads the clock, the database or the network;
the worker reads, asks, and lets the store record the answer.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from shiftswitch.actions import NewAction, Sibling, apply_order, off_first
from shiftswitch.exotel import Device, Kind, Outcome
from shiftswitch.models import Action, ActionKind, DeviceState, Status
from shiftswitch.numbers import refused
from shiftswitch.outages import failed_request
from shiftswitch.retry import RetryPolicy, next_delay
from shiftswitch.turns import Earlier, Later, Turn

ANOTHER_DEVICE_ON = "another device is on"


@dataclass(frozen=True, slots=True)
class Wait:
    """The action waits for its planned retry: come back in ``seconds``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class LeavePending:
    """Sending is paused for the account: the user's actions stay recorded, unsent."""


@dataclass(frozen=True, slots=True)
class AwaitExotel:
    """The account's Exotel is down: the user's actions stay recorded, unsent, until a probe
    finds it answering (:mod:`shiftswitch.outages`)."""


@dataclass(frozen=True, slots=True)
class Resolve:
    """Find the device with ``contact_uri`` in Exotel (GET users) before anything is sent."""

    contact_uri: str


@dataclass(frozen=True, slots=True)
class Send:
    """Send the PUT (``request`` as an attempt records it, such as ``PUT available=true``)."""

    request: str


@dataclass(frozen=True, slots=True)
class ReadUser:
    """Read the user's devices (GET user) before deciding what ``refusal`` means."""

    refusal: Outcome


@dataclass(frozen=True, slots=True)
class Resolved:
    """The action's contact URI is device ``device_id`` of user ``user_id``."""

    user_id: str
    device_id: str


@dataclass(frozen=True, slots=True)
class TurnOffFirst:
    """Record these OFFs of the user's other devices; the action is taken again after them."""

    offs: tuple[NewAction, ...]


@dataclass(frozen=True, slots=True)
class Succeed:
    """Exotel did it; ``outcome`` says what the device is now."""

    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again in ``delay`` seconds; ``outcome`` is the answer that calls for it."""

    delay: float
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Finish:
    """The action ends ``status`` (failed, blocked, superseded) for ``reason``; ``outcome`` is
    the answer from Exotel its row keeps, if any."""

    status: Status
    reason: str
    outcome: Outcome | None = None


Recorded = Resolved | TurnOffFirst | Succeed | Retry | Finish  # what the store records
BeforeSending = (
    Wait | LeavePending | AwaitExotel | Resolve | Send | Resolved | TurnOffFirst | Finish
)


def before_sending(turn: Turn, now: datetime, credentials_missing: str | None) -> BeforeSending:
    """What to do with the user's next action before anything is sent for it.

    ``credentials_missing`` is why this worker cannot send for the action's account (its
    environment lacks the credentials), or None.
    """
    action = turn.action
    number = action.kind == ActionKind.NUMBER
    undone = turn.later is not None and not number  # a later switch of the device undoes it
    # A retry planned later is waited for, unless the action is undone already: the user's
    # newer actions (a new boundary's) are not to wait for the backoff of one no longer wanted;
    # nor while Exotel is down: its return, not the backoff, says when to send.
    waits = action.retry_at is not None and action.retry_at > now
    if waits and not undone and not turn.exotel_down:
        assert action.retry_at is not None
        return Wait((action.retry_at - now).total_seconds())
    if turn.paused:
        return LeavePending()
    if undone:
        assert turn.later is not None
        return Finish(Status.SUPERSEDED, superseded(turn.later))
    if not number and (reason := blocked(action, turn.earlier)) is not None:
        return Finish(Status.BLOCKED, reason)
    if turn.exotel_down:
        return AwaitExotel()
    if credentials_missing is not None:
        return Finish(Status.FAILED, credentials_missing)
    if action.device_id is None:
        assert action.contact_uri is not None, action.id
        return Resolve(action.contact_uri) if turn.resolved is None else Resolved(*turn.resolved)
    if number:
        return Send(f"PUT contact_uri={action.new_contact_uri}")
    if action.wants_on and (offs := offs_first(action, turn.siblings_on, turn.offs_recorded)):
        return TurnOffFirst(offs)
    return Send(f"PUT available={'true' if action.wants_on else 'false'}")


def left_unanswered(action: Action) -> bool:
    """A switch whose last request was started (the action left ``running``) and whose answer
    was never recorded: Exotel may have applied it, or may still."""
    return (
        action.status == Status.RUNNING
        and action.kind == ActionKind.SWITCH
        and action.attempts > 0
        and action.user_id is not None
        and action.device_id is not None
    )


def superseded(later: Later) -> str:
    """Why an action is no longer wanted: ``later`` came after it for the same device."""
    return (
        f"action {later.id} ({later.source}, due {later.due_at:%Y-%m-%d %H:%M:%SZ}) "
        "came after it for the same device"
    )


def blocked(action: Action, earlier: Iterable[Earlier]) -> str | None:
    """Why an ON must not be sent, or None: the last switch before it of another device of the
    user was an OFF that did not succeed, and Exotel has not confirmed that device OFF since,
    so it may still be ON. ``earlier``: the user's final switches, newest first."""
    if not action.wants_on:
        return None
    seen: set[str | None] = {action.device}
    for switch in earlier:
        before = switch.action
        if apply_order(before) > apply_order(action) or before.device in seen:
            continue
        seen.add(before.device)
        if (
            not before.wants_on
            and before.status in (Status.FAILED, Status.BLOCKED)
            and not confirmed_off_since(before, switch.state)
        ):
            return (
                f"the OFF of {before.device or before.device_id} (action {before.id}) "
                f"before it did not succeed ({before.status}: {before.reason}); "
                "that device may still be ON"
            )
    return None


def confirmed_off_since(failed: Action, state: DeviceState | None) -> bool:
    """Exotel confirmed the device OFF after the ``failed`` OFF (by hand, or a later action)."""
    return (
        state is not None
        and state.available is False
        and failed.finished_at is not None
        and state.confirmed_at >= failed.finished_at
    )


def offs_first(
    action: Action, on: Iterable[Sibling], recorded: frozenset[str]
) -> tuple[NewAction, ...]:
    """The OFFs of the devices ``on`` that must go before the ON ``action``, less those
    already ``recorded`` (keys) for it."""
    return tuple(off for off in (off_first(action, s) for s in on) if off.key not in recorded)


def after_put(
    action: Action,
    outcome: Outcome,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    *,
    down: bool = False,
) -> Succeed | Retry | Finish | ReadUser:
    """What Exotel's answer to the action's PUT leads to (``down``: the account's Exotel is
    known to be down, see :func:`retry_or_fail`)."""
    if outcome.ok:
        return Succeed(outcome)
    if outcome.kind is Kind.RETRY:
        return retry_or_fail(action, outcome, now, policy, rng, down=down)
    if action.kind == ActionKind.NUMBER:
        assert action.new_contact_uri is not None, action.id
        if outcome.http_code == 409 and action.attempts > 1:
            # An earlier attempt may have set the number before its answer was lost.
            return ReadUser(outcome)
        return Finish(Status.FAILED, refused(outcome, action.new_contact_uri, action.sid), outcome)
    if action.wants_on and outcome.http_code == 403 and another_device_on(outcome):
        return ReadUser(outcome)
    # No answer at all is no refusal of Exotel's: the request never left (its host not allowed).
    said = "Exotel refused: " if outcome.http_code is not None else ""
    return Finish(Status.FAILED, f"{said}{outcome.summary()}", outcome)


def retry_or_fail(
    action: Action,
    outcome: Outcome,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    *,
    down: bool = False,
) -> Retry | Finish:
    """Try a retryable ``outcome`` again after a backoff, unless the action is out of attempts
    or of time (its age counted from its first attempt). While the account's Exotel is known to
    be ``down``, an action neither waits for a backoff nor gives up: it is taken again at once,
    to be left pending until Exotel answers again (:mod:`shiftswitch.outages`)."""
    if down and failed_request(outcome):
        return Retry(0.0, outcome)
    age = (now - (action.started_at or now)).total_seconds()
    delay = next_delay(policy, action.attempts, outcome.retry_after, age, rng)
    if delay is None:
        return Finish(
            Status.FAILED,
            f"gave up after {action.attempts} attempts in {age:.0f} s: {outcome.summary()}",
            outcome,
        )
    return Retry(delay, outcome)


def another_device_on(outcome: Outcome) -> bool:
    """Exotel refused an ON because another device of the user is ON."""
    return ANOTHER_DEVICE_ON in (outcome.description or "").lower()


def after_conflict_read(
    action: Action,
    refusal: Outcome,
    read: Outcome,
    managed: Sequence[Sibling],
    recorded: frozenset[str],
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    *,
    down: bool = False,
) -> TurnOffFirst | Retry | Finish:
    """An ON met "Another device is ON" (``refusal``) and the user was ``read``: turn OFF the
    devices found ON that the roster manages (``managed``: the user's other devices with known
    ids; ``recorded``: keys of OFFs recorded for the action already), then try again; a device
    ON that the roster does not name is a conflict, which the reason names."""
    if read.kind is Kind.RETRY:
        return retry_or_fail(action, read, now, policy, rng, down=down)
    refused_by = f"Exotel refused: {refusal.summary()}"
    if not read.ok or not read.users:
        return Finish(Status.FAILED, f"{refused_by}; reading the user: {read.summary()}")
    on = [d for d in read.users[0].devices if d.available and d.id != action.device_id]
    ours = {s.device_id: s for s in managed}
    for sibling in action.siblings:  # a device given by a number not resolved yet
        uri = sibling.get("contact_uri")
        for device in on:
            if uri and uri == device.contact_uri:
                ours[device.id] = Sibling(sibling.get("device"), device.id, uri)
    if strangers := [d for d in on if d.id not in ours]:
        return Finish(Status.FAILED, conflict(strangers), refusal)
    if offs := offs_first(action, (ours[d.id] for d in on), recorded):
        return TurnOffFirst(offs)
    if not on:  # it went OFF meanwhile: try the ON again
        return retry_or_fail(action, read, now, policy, rng, down=down)
    return Finish(Status.FAILED, f"{refused_by}, again after turning the others OFF")


def conflict(strangers: Iterable[Device]) -> str:
    """The reason of an ON refused for devices ON that the roster does not manage."""
    names = ", ".join(f"{d.name or 'device'} {d.contact_uri or ''} (id {d.id})" for d in strangers)
    return (
        f"conflict: another device is ON: {names}, which the roster does not manage; "
        "turn it OFF in Exotel or add it to the agent's devices"
    )


def after_number_read(
    action: Action,
    refusal: Outcome,
    read: Outcome,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    *,
    down: bool = False,
) -> Succeed | Retry | Finish:
    """A number change sent before was refused with 409 (``refusal``) and the user was
    ``read``: the device having the number already is the change done, else it is refused."""
    assert action.new_contact_uri is not None, action.id
    if read.kind is Kind.RETRY:
        return retry_or_fail(action, read, now, policy, rng, down=down)
    devices = read.users[0].devices if read.ok and read.users else ()
    mine = next((d for d in devices if d.id == action.device_id), None)
    if mine is not None and mine.contact_uri == action.new_contact_uri:
        return Succeed(replace(read, device=mine))
    reason = refused(refusal, action.new_contact_uri, action.sid)
    return Finish(Status.FAILED, reason, refusal)


def after_lookup(
    action: Action,
    outcome: Outcome,
    found: tuple[str, str] | None,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    *,
    down: bool = False,
) -> Resolved | Retry | Finish:
    """What the search (GET users) for the action's contact URI ``found``: (user id, device
    id), or None."""
    if outcome.kind is Kind.RETRY:
        return retry_or_fail(action, outcome, now, policy, rng, down=down)
    uri = action.contact_uri
    if not outcome.ok:
        return Finish(Status.FAILED, f"looking up {uri}: {outcome.summary()}", outcome)
    if found is None:
        return Finish(
            Status.FAILED,
            f"no device with contact URI {uri} in Exotel account {action.sid}; "
            "check the number in the roster",
        )
    return Resolved(*found)
