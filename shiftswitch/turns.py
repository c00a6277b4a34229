"""A user's actions as the worker takes them, one turn at a time: the store (SPEC §3, §5).

:class:`TurnStore` is the :class:`~shiftswitch.actions.ActionStore` of the worker. It reads a
user's next open action together with what the database knows that bears on it (a later switch
of the same device, an OFF before it that failed, a pause of the account, the user's other
devices last confirmed ON, a contact URI resolved before): a :class:`Turn`. What came of the
turn it records as an :class:`~shiftswitch.outcomes.OutcomeStore` does.

What to do with those facts is decided elsewhere, by pure functions (the worker's decisions).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, ScalarSelect, and_, bindparam, null, select
from sqlalchemy.orm import Session

from shiftswitch.actions import Sibling, apply_order, off_first_key
from shiftswitch.holds import paused_condition
from shiftswitch.models import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    Action,
    ActionKind,
    DeviceState,
    ResolvedDevice,
    Status,
    one_of,
)
from shiftswitch.outcomes import OutcomeStore

EARLIER_LIMIT = 50  # the user's latest final switches looked at when an OFF before an ON failed


@dataclass(frozen=True, slots=True)
class Later:
    """A recorded switch of the same device, due after the action, wanting the other state."""

    id: int
    source: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Earlier:
    """A final switch of the user due no later than the action, with its device's last
    confirmed state (looked up for an OFF that failed or was blocked; else None)."""

    action: Action
    state: DeviceState | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """The user's next open action, and the stored facts that bear on it."""

    action: Action
    paused: bool = False  # sending is paused for the action's account
    later: Later | None = None  # a switch that makes this one no longer wanted
    # The user's latest final switches, newest first: read only for an ON with an OFF of the
    # user before it that failed or was blocked.
    earlier: tuple[Earlier, ...] = ()
    resolved: tuple[str, str] | None = None  # (user id, device id) of its contact URI, cached
    siblings_on: tuple[Sibling, ...] = ()  # for an ON: the user's other devices confirmed ON
    offs_recorded: frozenset[str] = frozenset()  # keys of OFFs recorded to go before it


class TurnStore(OutcomeStore):
    """The actions, attempts and device states as the worker reads them (and, through
    :class:`~shiftswitch.outcomes.OutcomeStore`, writes them)."""

    def next_turn(self, owner: str, last: tuple[datetime, bool, int]) -> Turn | None:
        """The user's next open action up to ``last`` (an :func:`apply_order`), with its facts;
        None when there is none."""
        with self.autocommit() as session:
            action = session.scalars(_NEXT, {"owner": owner}).first()
            if action is None or apply_order(action) > last:
                return None
            switch = action.kind == ActionKind.SWITCH  # a number change is wanted whatever
            on = switch and action.wants_on
            by_name = action.agent is not None and action.device is not None
            # The checks in one statement; each usually finds nothing.
            later_id, failed_off_id, paused = session.execute(
                _checks(switch, on, by_name), _check_params(action)
            ).one()
            later = None
            if later_id is not None:
                found = session.get_one(Action, later_id)
                later = Later(found.id, found.source, found.due_at)
            turn = Turn(
                action,
                paused=bool(paused),
                later=later,
                earlier=() if failed_off_id is None else self._earlier(session, action),
            )
            if action.device_id is None:  # given by contact URI: resolved first
                return replace(turn, resolved=self._resolved(session, action))
            if on and action.user_id is not None and action.siblings:
                siblings_on = self._confirmed_on(session, action)
                if siblings_on:
                    recorded = self._offs_recorded(session, action)
                    return replace(turn, siblings_on=siblings_on, offs_recorded=recorded)
            return turn

    def warm(self, now: datetime) -> None:
        """Open a connection and run a turn's statements once, on no action: compiling their
        SQL takes tens of milliseconds, which the first switch after a start would otherwise
        wait for."""
        nothing = {
            "id": -1,
            "account": "",
            "user_key": "",
            "agent": "",
            "device": "",
            "device_id": "",
            "due_at": now,
            "wants_on": True,
        }
        with self.autocommit() as session:
            session.scalars(_NEXT, {"owner": ""}).first()
            for switch, on, by_name in itertools.product((True, False), repeat=3):
                if on and not switch:
                    continue
                session.execute(_checks(switch, on, by_name), nothing).one()
        self.start_attempt_of(-1, now)

    def siblings(self, action: Action) -> tuple[Sibling, ...]:
        """The user's other managed devices whose device id is known (given, or resolved)."""
        with self.autocommit() as session:
            return self._siblings(session, action)

    def offs_recorded(self, action: Action) -> frozenset[str]:
        """The keys of the OFFs recorded to go before ``action``."""
        with self.autocommit() as session:
            return self._offs_recorded(session, action)

    def _earlier(self, session: Session, action: Action) -> tuple[Earlier, ...]:
        rows = session.scalars(
            select(Action)
            .where(
                Action.user_key == action.user_key,
                Action.kind == ActionKind.SWITCH,
                Action.status.in_(FINAL_STATUSES),
                Action.due_at <= action.due_at,
                Action.id != action.id,
            )
            .order_by(Action.due_at.desc(), Action.id.desc())
            .limit(EARLIER_LIMIT)
        )
        out = []
        for earlier in rows:
            state = None
            failed = earlier.status in (Status.FAILED, Status.BLOCKED) and not earlier.wants_on
            if failed and earlier.user_id is not None and earlier.device_id is not None:
                state = session.get(
                    DeviceState, (earlier.account, earlier.user_id, earlier.device_id)
                )
            out.append(Earlier(earlier, state))
        return tuple(out)

    def _resolved(self, session: Session, action: Action) -> tuple[str, str] | None:
        assert action.contact_uri is not None
        cached = session.get(ResolvedDevice, (action.account, action.contact_uri))
        return None if cached is None else (cached.user_id, cached.device_id)

    def _siblings(self, session: Session, action: Action) -> tuple[Sibling, ...]:
        out = []
        for sibling in action.siblings:
            device_id, uri = sibling.get("device_id"), sibling.get("contact_uri")
            if device_id is None and uri is not None:
                cached = session.get(ResolvedDevice, (action.account, uri))
                device_id = cached.device_id if cached is not None else None
            if device_id is not None:
                out.append(Sibling(sibling.get("device"), device_id, uri))
        return tuple(out)

    def _confirmed_on(self, session: Session, action: Action) -> tuple[Sibling, ...]:
        siblings = self._siblings(session, action)
        if not siblings:
            return ()
        on = set(
            session.scalars(
                select(DeviceState.device_id).where(
                    DeviceState.account == action.account,
                    DeviceState.user_id == action.user_id,
                    DeviceState.device_id.in_([s.device_id for s in siblings]),
                    DeviceState.available.is_(True),
                )
            )
        )
        return tuple(s for s in siblings if s.device_id in on)

    def _offs_recorded(self, session: Session, action: Action) -> frozenset[str]:
        keys = [off_first_key(action, s.get("device"), s.get("device_id")) for s in action.siblings]
        if not keys:
            return frozenset()
        return frozenset(session.scalars(select(Action.key).where(Action.key.in_(keys))))


# The worker's reads, built once: a statement built for each turn cost more CPU than running it.
_NEXT = (
    select(Action)
    .where(Action.user_key == bindparam("owner"), one_of(Action.status, OPEN_STATUSES))
    .order_by(Action.due_at, Action.wants_on, Action.id)
    .limit(1)
)


def _check_params(action: Action) -> dict[str, Any]:
    """The parameters of :func:`_checks` for ``action``."""
    return {
        "id": action.id,
        "account": action.account,
        "user_key": action.user_key,
        "agent": action.agent,
        "device": action.device,
        "device_id": action.device_id,
        "due_at": action.due_at,
        "wants_on": action.wants_on,
    }


@functools.cache
def _checks(switch: bool, on: bool, by_name: bool) -> Executable:
    """The checks of an action's turn in one statement: the id of a later switch of its device
    wanting the other state (for a switch), of a failed OFF of the user before it (for an ON),
    and whether its account is paused; ``by_name``: the device is given by agent and device
    name, else by device id. Parameters: :func:`_check_params`."""
    return select(
        _later_action(by_name) if switch else null(),
        _failed_off() if on else null(),
        paused_condition(bindparam("account")),
    )


def _later_action(by_name: bool) -> ScalarSelect[int]:
    """The id of a recorded switch of the same device, due after this one, wanting the other
    state (the latest such), or NULL.

    (A later action wanting the same state does not make this one wrong: sending both is
    harmless, and an OFF that a handoff waits for must not vanish.)
    """
    same_device = (
        and_(Action.agent == bindparam("agent"), Action.device == bindparam("device"))
        if by_name
        else Action.device_id == bindparam("device_id")
    )
    return (
        select(Action.id)
        .where(
            Action.account == bindparam("account"),
            same_device,
            Action.kind == ActionKind.SWITCH,
            Action.due_at > bindparam("due_at"),
            Action.wants_on != bindparam("wants_on"),
            Action.id != bindparam("id"),
        )
        .order_by(Action.due_at.desc())
        .limit(1)
        .scalar_subquery()
    )


def _failed_off() -> ScalarSelect[int]:
    """The id of an OFF of the user, due no later than the action, that failed or was blocked,
    or NULL: if there is one, the user's earlier switches are read to look closer."""
    return (
        select(Action.id)
        .where(
            Action.user_key == bindparam("user_key"),
            Action.kind == ActionKind.SWITCH,
            Action.wants_on.is_(False),
            one_of(Action.status, [Status.FAILED, Status.BLOCKED]),
            Action.due_at <= bindparam("due_at"),
            Action.id != bindparam("id"),
        )
        .limit(1)
        .scalar_subquery()
    )
