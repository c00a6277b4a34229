"""Recording actions under their unique key, and claiming them for the broker (README: How
switching works).

An action is recorded (``pending``) before it is handed to the broker, and it is handed over
only by whoever moves it from ``pending`` to ``queued``: a conditional update that exactly one
process wins. So a restart, a crash between the two steps, or two schedulers at once never
send an action twice and never lose one (a ``pending`` row is picked up on the next pass).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, or_, select, update
from sqlalchemy.orm import Session

from shiftswitch.broker import Dispatcher, Recovering, Sendable
from shiftswitch.claims import CLAIMED, Claimed, claimed_of
from shiftswitch.db import CHUNK, Database, chunks, upsert
from shiftswitch.models import Action, ActionKind, DeviceState, Source, Status
from shiftswitch.outages import held_back
from shiftswitch.planning.transitions import Transition
from shiftswitch.prepared import Prepared
from shiftswitch.recovery import Holdings, lost
from shiftswitch.roster.model import Account, Agent, Roster


@dataclass(frozen=True, slots=True)
class NewAction:
    """An action about to be recorded."""

    key: str
    source: str
    user_key: str
    account: str
    sid: str
    base_url: str
    rate_limit: str
    agent: str | None
    device: str | None
    user_id: str | None
    device_id: str | None
    contact_uri: str | None
    wants_on: bool
    due_at: datetime
    shift: str | None = None
    override: str | None = None
    siblings: list[dict[str, str | None]] = field(default_factory=list)
    kind: str = ActionKind.SWITCH
    new_contact_uri: str | None = None  # the number a ``number`` action sets
    boundary_at: datetime | None = None  # the shift start a ramped ON serves


def user_key_of(account: str, user_id: str | None, agent: str | None) -> str:
    """Whose actions are applied one at a time, in order: one Exotel user of one account."""
    return f"{account}/{user_id}" if user_id else f"{account}/@{agent}"


def siblings_of(agent: Agent, device: str) -> list[dict[str, str | None]]:
    """The agent's other managed devices, as an action carries them."""
    return [
        {"device": d.name, "device_id": d.device_id, "contact_uri": d.contact_uri}
        for d in agent.devices.values()
        if d.name != device
    ]


def for_device(
    roster: Roster,
    agent_name: str,
    device_name: str,
    available: bool,
    *,
    key: str,
    source: Source,
    due_at: datetime,
    shift: str | None = None,
    override: str | None = None,
    boundary_at: datetime | None = None,
) -> NewAction:
    """The action that switches one roster device."""
    agent = roster.agents[agent_name]
    device = agent.devices[device_name]
    action = for_ids(
        roster.accounts[agent.account],
        agent.user_id,
        device.device_id,
        available,
        key=key,
        source=source,
        due_at=due_at,
        agent=agent.name,
        device=device.name,
    )
    return replace(
        action,
        contact_uri=device.contact_uri,
        shift=shift,
        override=override,
        boundary_at=boundary_at,
        siblings=siblings_of(agent, device.name),
    )


def for_ids(
    account: Account,
    user_id: str | None,
    device_id: str | None,
    available: bool,
    *,
    key: str,
    source: Source,
    due_at: datetime,
    agent: str | None = None,
    device: str | None = None,
) -> NewAction:
    """The action that switches an Exotel device given by its ids (named ``agent`` ``device``
    when it was a roster device); the one place an action's fields are filled in."""
    return NewAction(
        key=key,
        source=source,
        user_key=user_key_of(account.name, user_id, agent),
        account=account.name,
        sid=account.sid,
        base_url=account.base_url,
        rate_limit=str(account.rate_limit),
        agent=agent,
        device=device,
        user_id=user_id,
        device_id=device_id,
        contact_uri=None,
        wants_on=available,
        due_at=due_at,
    )


@dataclass(frozen=True, slots=True)
class Sibling:
    """Another managed device of an action's user, as the action carries it (see
    :func:`siblings_of`), with its Exotel device id known."""

    device: str | None
    device_id: str
    contact_uri: str | None


def off_first(parent: Action, sibling: Sibling) -> NewAction:
    """The OFF of ``sibling`` that goes before ``parent``, an ON of another device of the same
    user: the parent's account, user, due time and reasons, under a key of the parent's."""
    inherited = {name: getattr(parent, name) for name in _NEW_FIELDS}
    return NewAction(
        **{
            **inherited,
            "key": off_first_key(parent, sibling.device, sibling.device_id),
            "device": sibling.device,
            "device_id": sibling.device_id,
            "contact_uri": sibling.contact_uri,
            "wants_on": False,
            "siblings": [],
            "kind": ActionKind.SWITCH,
            "new_contact_uri": None,
        }
    )


def off_first_key(parent: Action, device: str | None, device_id: str | None) -> str:
    """The key of the OFF of the user's ``device`` (or ``device_id``) that goes before
    ``parent``: one per device and parent, whoever records it."""
    return f"{parent.key}/off:{device or device_id}"


def for_transition(roster: Roster, t: Transition) -> NewAction:
    """The scheduled action of a planned transition, keyed by the transition's stable key."""
    return for_device(
        roster,
        t.agent,
        t.device,
        t.available,
        key=t.key,
        source=Source.SCHEDULE,
        due_at=t.at,
        shift=t.shift,
        override=t.override,
        boundary_at=t.boundary,
    )


class ActionStore(Database):
    """The actions as the scheduler, the CLI, reports and drift use them: recording them and
    handing them to the broker. The worker has a store of its own
    (:class:`~shiftswitch.turns.TurnStore`), which neither claims nor enqueues."""

    def record(self, actions: Iterable[NewAction], now: datetime) -> None:
        """Insert each action unless one with its key exists already: a transaction for
        every :data:`CHUNK` rows, so that on SQLite the workers' writes (applying a boundary's
        first switches) go in between, rather than wait for a whole boundary's recording. A
        recording cut short is finished by the next (a key recorded is left as it is). The
        rows of one chunk are made at a time: at a first start, 110,000 of them held at once
        were 56 MiB."""
        stmt = upsert(self.engine, Action.__table__).on_conflict_do_nothing(index_elements=["key"])
        for chunk in chunks(actions, CHUNK):
            rows = [new_row(a, now) for a in chunk]
            with self.sessions.begin() as session:
                session.execute(stmt, rows)  # one statement, executed for many rows

    def warm(self, now: datetime) -> None:
        """Record and claim an action once, in a transaction that is rolled back: compiling
        the SQL of a boundary's recording and claim takes tens of milliseconds, which the first
        boundary after a start would otherwise wait for. Nothing is kept (on PostgreSQL, one
        number of the ids' sequence is used up)."""
        probe = NewAction(
            key="warm-up",
            source=Source.SCHEDULE,
            user_key="warm-up/@warm-up",
            account="warm-up",
            sid="warm-up",
            base_url="http://warm-up.invalid",
            rate_limit="1/s",
            agent="warm-up",
            device="warm-up",
            user_id=None,
            device_id=None,
            contact_uri=None,
            wants_on=True,
            due_at=now,
        )
        stmt = upsert(self.engine, Action.__table__).on_conflict_do_nothing(index_elements=["key"])
        with self.sessions() as session:
            session.execute(stmt, [new_row(probe, now)])
            self.claim(session, Action.key.in_([probe.key]), now)
            session.rollback()

    def claim(self, session: Session, condition: object, now: datetime) -> list[Claimed]:
        """Move matching ``pending`` actions to ``queued``; return those this call moved.
        Actions of an account held back stay ``pending``: paused (see :mod:`shiftswitch.holds`),
        or its Exotel down (see :mod:`shiftswitch.outages`)."""
        stmt = (
            update(Action)
            .where(
                Action.status == Status.PENDING,
                condition,  # type: ignore[arg-type]
                ~held_back(Action.account),
            )
            .values(status=Status.QUEUED, enqueued_at=now)
            .returning(*CLAIMED)
        )
        rows = session.execute(stmt, execution_options={"synchronize_session": False})
        return claimed_of(rows)

    def enqueue(
        self, keys: Sequence[str] | None, dispatcher: Dispatcher, now: datetime
    ) -> list[Claimed]:
        """Claim and hand to the broker the ``pending`` actions with these keys (None: all).

        The claim commits before the broker is told, so two processes never both send one;
        if this process dies in between, :meth:`requeue_stale` hands the action over later.
        """
        claimed: list[Claimed] = []
        with self.sessions.begin() as session:
            if keys is None:
                claimed = self.claim(session, Action.id.is_not(None), now)
            else:
                for chunk in chunks(list(keys), CHUNK):
                    claimed += self.claim(session, Action.key.in_(chunk), now)
        claimed.sort(key=lambda a: a.id)  # in the order recorded (RETURNING keeps none)
        try:
            dispatch_in_order(claimed, dispatcher)
        except Exception:
            # The broker is unreachable: give the claim back, so the next pass sends them.
            # (Those already sent may go twice; workers skip what is already final.)
            with self.sessions.begin() as session:
                for ids in chunks([a.id for a in claimed], CHUNK):
                    session.execute(
                        update(Action)
                        .where(Action.id.in_(ids), Action.status == Status.QUEUED)
                        .values(status=Status.PENDING, enqueued_at=None)
                    )
            raise
        return claimed

    def anything_open(self) -> bool:
        """Whether any action is pending, queued or running: one indexed lookup
        (``ix_actions_status``), the whole of an idle sweep."""
        with self.engine.connect() as conn:
            return conn.execute(_ANY_OPEN).first() is not None

    def requeue_stale(
        self,
        dispatcher: Dispatcher,
        now: datetime,
        grace: timedelta,
        lost_after: timedelta | None = None,
    ) -> list[Claimed]:
        """Hand again to the broker the open actions whose task message is lost.

        A message can be lost: a worker died holding it, Redis lost its data (restarted without
        persistence), or a scheduler died between claiming actions and sending them. When the
        broker can put back the messages of dead workers and say what the others cover
        (:class:`~shiftswitch.broker.Recovering`; else :meth:`Dispatcher.held`), an action
        untouched for ``lost_after`` that no message covers is lost; and, whatever the broker
        says, one untouched for ``grace`` (see :func:`~shiftswitch.recovery.lost`). Workers skip
        actions already final and take a user's actions one at a time, so a duplicate message
        sends nothing twice.

        Costs one indexed query when no open action is old enough to be lost; only then is the
        broker asked.
        """
        since = now - (grace if lost_after is None else min(grace, lost_after))
        with self.autocommit() as session:
            candidates = list(session.scalars(_open_untouched(since)))
        if not candidates:
            return []
        holdings = _holdings(dispatcher) if lost_after is not None else None
        stale = lost(candidates, holdings, now, lost_after or grace, grace)
        if not stale:
            return []
        with self.sessions.begin() as session:
            # Only those still open and untouched: another scheduler's sweep, or a worker, may
            # have moved them since they were read.
            rows = session.execute(
                update(Action)
                .where(Action.id.in_([a.id for a in stale]))
                .where(*_untouched_since(since))
                .where(Action.status.in_([Status.QUEUED, Status.RUNNING]))
                .values(enqueued_at=now)
                .returning(*CLAIMED),
                execution_options={"synchronize_session": False},
            )
            resent = claimed_of(rows)
        dispatch_in_order(resent, dispatcher)
        return resent


_ANY_OPEN = (
    select(Action.id)
    .where(Action.status.in_([Status.PENDING, Status.QUEUED, Status.RUNNING]))
    .limit(1)
)


def _untouched_since(since: datetime) -> tuple[Any, ...]:
    return (
        or_(Action.retry_at.is_(None), Action.retry_at < since),
        or_(Action.enqueued_at.is_(None), Action.enqueued_at < since),
        or_(Action.started_at.is_(None), Action.started_at < since),
    )


def _open_untouched(since: datetime) -> Any:
    """Queued and running actions (``ix_actions_status``) untouched since ``since``, not
    held back (paused, or their Exotel down)."""
    return select(Action).where(
        Action.status.in_([Status.QUEUED, Status.RUNNING]),
        *_untouched_since(since),
        ~held_back(Action.account),
    )


def _holdings(dispatcher: Dispatcher) -> Holdings | None:
    """What the broker's messages cover, once it has put back those of dead workers; from
    the ids its messages name when it cannot do more; None: it cannot tell."""
    if isinstance(dispatcher, Recovering):
        return dispatcher.recover()
    held = dispatcher.held()
    if held is None:
        return None
    return Holdings.naming(held)


def dispatch_in_order(actions: Sequence[Sendable], dispatcher: Dispatcher) -> None:
    """Each user's actions together, in the order they must be applied."""
    by_owner: dict[str, list[Sendable]] = defaultdict(list)
    for action in actions:
        by_owner[action.user_key].append(action)
    for group in by_owner.values():
        group.sort(key=apply_order)
    if by_owner:
        dispatcher.dispatch(list(by_owner.items()))


def confirm_states(
    engine: Engine, session: Connection | Session, states: Sequence[DeviceState]
) -> None:
    """Write each device's confirmed state (a transient :class:`DeviceState` each), in
    ``session``'s transaction (a connection's, or a session's): a new row, or the one the
    device had replaced."""
    if not states:
        return
    table = DeviceState.__table__.columns
    rows = [{c.name: getattr(state, c.name) for c in table} for state in states]
    prepared = _state_upsert(engine)
    if isinstance(session, Connection):  # the worker's: one state at a time
        for row in rows:
            prepared.run(session, row)
    else:
        session.execute(prepared.statement, rows)


@functools.cache
def _state_upsert(engine: Engine) -> Prepared:
    """INSERT a device's confirmed state, or UPDATE it (one statement, built once per engine)."""
    stmt = upsert(engine, DeviceState.__table__)
    keys = {"account", "user_id", "device_id"}
    return Prepared(
        stmt.on_conflict_do_update(
            index_elements=sorted(keys),
            set_={
                c.name: stmt.excluded[c.name] for c in DeviceState.__table__.c if c.name not in keys
            },
        )
    )


_NEW_FIELDS = tuple(f.name for f in fields(NewAction))


def new_row(action: NewAction, now: datetime) -> dict[str, Any]:
    """The row of ``action``, recorded ``now``, pending."""
    row = {name: getattr(action, name) for name in _NEW_FIELDS}
    row["created_at"], row["status"] = now, Status.PENDING
    return row


def apply_order(action: Sendable) -> tuple[datetime, bool, int]:
    """A user's actions run by due time; at one instant OFF before ON; then as recorded."""
    return (action.due_at, action.wants_on, action.id)
