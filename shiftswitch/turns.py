"""A user's actions as the worker takes them, one turn at a time: the store (README: How
switching works).

:class:`TurnStore` is the :class:`~shiftswitch.actions.ActionStore` of the worker. It reads a
user's next open action together with what the database knows that bears on it (a later switch
of the same device, an OFF before it that failed, a pause of the account or an outage of its
Exotel, the user's other devices last confirmed ON, a contact URI resolved before): a
:class:`Turn`. What came of the turn it records as an :class:`~shiftswitch.outcomes.OutcomeStore`
does.

What to do with those facts is decided elsewhere, by pure functions (the worker's decisions).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, ScalarSelect, and_, bindparam, null, select
from sqlalchemy.exc import OperationalError

from shiftswitch.actions import Sibling, apply_order, off_first_key
from shiftswitch.db import first_line
from shiftswitch.holds import paused_condition
from shiftswitch.models import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    Action,
    ActionKind,
    DeviceState,
    Status,
    action_of,
    one_of,
)
from shiftswitch.numbers import RESOLVED
from shiftswitch.outages import down_condition
from shiftswitch.outcomes import ACTIONS, STATES, OutcomeStore
from shiftswitch.prepared import Prepared
from shiftswitch.queries import UNSUCCESSFUL

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
    exotel_down: bool = False  # an outage of the account's Exotel is open
    later: Later | None = None  # a switch that makes this one no longer wanted
    # The user's latest final switches, newest first: read only for an ON with an OFF of the
    # user before it that failed or was blocked.
    earlier: tuple[Earlier, ...] = ()
    resolved: tuple[str, str] | None = None  # (user id, device id) of its contact URI, cached
    siblings_on: tuple[Sibling, ...] = ()  # for an ON: the user's other devices confirmed ON
    offs_recorded: frozenset[str] = frozenset()  # keys of OFFs recorded to go before it


class TurnStore(OutcomeStore):
    """The actions, attempts and device states as the worker reads them (and, through
    :class:`~shiftswitch.outcomes.OutcomeStore`, writes them).

    The worker reads with SQLAlchemy Core, on a connection in autocommit mode (one statement
    needs no transaction around it), and builds each action it reads as a transient
    :class:`~shiftswitch.models.Action` (:func:`~shiftswitch.models.action_of`): an ORM
    session and its instances cost more CPU than a turn's statements themselves."""

    def next_turn(self, owner: str, last: tuple[datetime, bool, int]) -> Turn | None:
        """The user's next open action up to ``last`` (an :func:`apply_order`), with its facts;
        None when there is none."""
        with self.autocommitting.connect() as conn:
            row = _NEXT.first(conn, {"owner": owner})
            if row is None:
                return None
            action = action_of(row)
            if apply_order(action) > last:
                return None
            switch = action.kind == ActionKind.SWITCH  # a number change is wanted whatever
            on = switch and action.wants_on
            by_name = action.agent is not None and action.device is not None
            # The checks in one statement; each usually finds nothing.
            later_id, failed_off_id, paused, down = _checks(switch, on, by_name).rows(
                conn, _check_params(action)
            )[0]
            later = None
            if later_id is not None:
                found = conn.execute(_LATER, {"id": later_id}).one()
                later = Later(found.id, found.source, found.due_at)
            turn = Turn(
                action,
                paused=bool(paused),
                exotel_down=bool(down),
                later=later,
                earlier=() if failed_off_id is None else _earlier(conn, action),
            )
            if action.device_id is None:  # given by contact URI: resolved first
                return replace(turn, resolved=_resolved(conn, action.account, action.contact_uri))
            if on and action.user_id is not None and action.siblings:
                siblings_on = _confirmed_on(conn, action)
                if siblings_on:
                    recorded = _offs_recorded(conn, action)
                    return replace(turn, siblings_on=siblings_on, offs_recorded=recorded)
            return turn

    def exotel_down(self, account: str) -> bool:
        """Whether an outage of ``account``'s Exotel is open (recorded by any worker)."""
        with self.autocommitting.connect() as conn:
            return bool(conn.execute(select(down_condition(account))).scalar())

    def warm(self, now: datetime, connections: int = 1) -> str | None:
        """Open ``connections`` of each pool at once, and run a turn's statements once, on no
        action: compiling their SQL takes tens of milliseconds, and a boundary's first messages
        reach many threads at once, each opening a connection, which the first switches after
        a start would otherwise wait for. A connection refused (PostgreSQL's
        ``max_connections`` reached) ends the opening, not the rest: what it said (None: all
        opened)."""
        engines = [self.engine]
        if self.autocommitting.pool is not self.engine.pool:  # SQLite's reads (autocommit_engine)
            engines.append(self.autocommitting)
        refused, count = None, 0
        with contextlib.ExitStack() as opened:
            try:
                for engine in engines:
                    for _ in range(connections):
                        opened.enter_context(engine.connect())
                        count += 1
            except OperationalError as exc:
                refused = f"{count} of {connections * len(engines)} opened: {first_line(exc)}"
        # Back in their pools, open (each keeps up to its pool_size).
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
        with self.autocommitting.connect() as conn:
            _NEXT.first(conn, {"owner": ""})
            for switch, on, by_name in itertools.product((True, False), repeat=3):
                if on and not switch:
                    continue
                _checks(switch, on, by_name).rows(conn, nothing)
        self.start_attempt_of(-1, now)
        return refused

    def siblings(self, action: Action) -> tuple[Sibling, ...]:
        """The user's other managed devices whose device id is known (given, or resolved)."""
        with self.autocommitting.connect() as conn:
            return _siblings(conn, action)

    def offs_recorded(self, action: Action) -> frozenset[str]:
        """The keys of the OFFs recorded to go before ``action``."""
        with self.autocommitting.connect() as conn:
            return _offs_recorded(conn, action)


def _earlier(conn: Connection, action: Action) -> tuple[Earlier, ...]:
    rows = conn.execute(
        select(ACTIONS)
        .where(
            ACTIONS.c.user_key == action.user_key,
            ACTIONS.c.kind == ActionKind.SWITCH,
            one_of(ACTIONS.c.status, FINAL_STATUSES),
            ACTIONS.c.due_at <= action.due_at,
            ACTIONS.c.id != action.id,
        )
        .order_by(ACTIONS.c.due_at.desc(), ACTIONS.c.id.desc())
        .limit(EARLIER_LIMIT)
    ).all()  # fetched before the states are read on the same connection
    out = []
    for earlier in map(action_of, rows):
        state = None
        failed = earlier.status in (Status.FAILED, Status.BLOCKED) and not earlier.wants_on
        if failed and earlier.user_id is not None and earlier.device_id is not None:
            found = conn.execute(
                select(STATES).where(
                    STATES.c.account == earlier.account,
                    STATES.c.user_id == earlier.user_id,
                    STATES.c.device_id == earlier.device_id,
                )
            ).first()
            state = None if found is None else DeviceState(**found._mapping)
        out.append(Earlier(earlier, state))
    return tuple(out)


def _resolved(conn: Connection, account: str, uri: str | None) -> tuple[str, str] | None:
    """(user id, device id) of contact URI ``uri`` in ``account``, as resolved before; None
    when it was not."""
    assert uri is not None
    found = conn.execute(_RESOLVED, {"account": account, "uri": uri}).first()
    return None if found is None else (found.user_id, found.device_id)


def _siblings(conn: Connection, action: Action) -> tuple[Sibling, ...]:
    out = []
    for sibling in action.siblings:
        device_id, uri = sibling.get("device_id"), sibling.get("contact_uri")
        if device_id is None and uri is not None:
            cached = _resolved(conn, action.account, uri)
            device_id = cached[1] if cached is not None else None
        if device_id is not None:
            out.append(Sibling(sibling.get("device"), device_id, uri))
    return tuple(out)


def _confirmed_on(conn: Connection, action: Action) -> tuple[Sibling, ...]:
    siblings = _siblings(conn, action)
    if not siblings:
        return ()
    on = set(
        conn.scalars(
            select(STATES.c.device_id).where(
                STATES.c.account == action.account,
                STATES.c.user_id == action.user_id,
                STATES.c.device_id.in_([s.device_id for s in siblings]),
                STATES.c.available.is_(True),
            )
        )
    )
    return tuple(s for s in siblings if s.device_id in on)


def _offs_recorded(conn: Connection, action: Action) -> frozenset[str]:
    keys = [off_first_key(action, s.get("device"), s.get("device_id")) for s in action.siblings]
    if not keys:
        return frozenset()
    return frozenset(conn.scalars(select(ACTIONS.c.key).where(ACTIONS.c.key.in_(keys))))


# The worker's reads, built once: a statement built for each turn cost more CPU than running it.
# Those of every turn are prepared (:mod:`shiftswitch.prepared`).
_NEXT = Prepared(
    select(ACTIONS)
    .where(ACTIONS.c.user_key == bindparam("owner"), one_of(ACTIONS.c.status, OPEN_STATUSES))
    .order_by(ACTIONS.c.due_at, ACTIONS.c.wants_on, ACTIONS.c.id)
    .limit(1)
)
_LATER = select(ACTIONS.c.id, ACTIONS.c.source, ACTIONS.c.due_at).where(
    ACTIONS.c.id == bindparam("id")
)
_RESOLVED = select(RESOLVED.c.user_id, RESOLVED.c.device_id).where(
    RESOLVED.c.account == bindparam("account"), RESOLVED.c.contact_uri == bindparam("uri")
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
def _checks(switch: bool, on: bool, by_name: bool) -> Prepared:
    """The checks of an action's turn in one statement: the id of a later switch of its device
    wanting the other state (for a switch), of a failed OFF of the user before it (for an ON),
    whether its account is paused, and whether its Exotel is down; ``by_name``: the device is
    given by agent and device name, else by device id. Parameters: :func:`_check_params`."""
    return Prepared(
        select(
            _later_action(by_name) if switch else null(),
            _failed_off() if on else null(),
            paused_condition(bindparam("account")),
            down_condition(bindparam("account")),
        )
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
            one_of(Action.status, list(UNSUCCESSFUL)),
            Action.due_at <= bindparam("due_at"),
            Action.id != bindparam("id"),
        )
        .limit(1)
        .scalar_subquery()
    )
