"""Recording what came of a turn of the worker: the SQL of its writes (README: How switching
works; Results tables).

Every HTTP attempt is written in the same transaction as what its outcome leads to: a planned
retry, a final status, the device's confirmed state, a resolved contact URI, OFFs of the user's
other devices that must go first. Nothing here reads the clock: every write takes ``now``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, update

from shiftswitch import timeline
from shiftswitch.actions import NewAction, confirm_states, new_row
from shiftswitch.db import Database, upsert
from shiftswitch.exotel import Outcome
from shiftswitch.models import (
    OPEN_STATUSES,
    Action,
    ActionKind,
    Attempt,
    DeviceState,
    ReadBack,
    Source,
    Status,
    one_of,
)
from shiftswitch.notify import outbox
from shiftswitch.notify.config import NONE, NotifyConfig
from shiftswitch.numbers import number_changed, remember_resolved
from shiftswitch.prepared import Prepared

ACTIONS: Table = Action.__table__  # type: ignore[assignment]
ATTEMPTS: Table = Attempt.__table__  # type: ignore[assignment]
READ_BACKS: Table = ReadBack.__table__  # type: ignore[assignment]
STATES: Table = DeviceState.__table__  # type: ignore[assignment]

Row = dict[str, Any]  # an attempt, written together with what its outcome leads to


class OutcomeStore(Database):
    """The worker's writes to the actions, attempts and device states.

    Each method takes the ``action`` it is about, as the worker read it (added to no session),
    and changes it as it changes its row, so that the worker sees the status it left the
    action in.
    """

    # Who is told of a switch that failed, or came late (README: Notifications); nobody
    # unless configured. A boundary's switch this many seconds after its instant is late.
    notify: NotifyConfig = NONE
    late_after: float = 120.0

    def leave_pending(self, owner: str) -> None:
        """Sending is held back (paused, or Exotel down): the user's queued actions go back to
        ``pending``, unsent."""
        with self.autocommitting.connect() as conn:
            conn.execute(
                update(ACTIONS)
                .where(ACTIONS.c.user_key == owner, ACTIONS.c.status == Status.QUEUED)
                .values(status=Status.PENDING, enqueued_at=None)
            )

    def start_attempt(self, action: Action, now: datetime) -> int | None:
        """Mark ``action`` running, with one attempt more; that attempt's number, or None when
        the action is no longer open (a roster edit superseded it since it was read)."""
        number = self.start_attempt_of(action.id, now)
        if number is not None:
            action.status, action.attempts = Status.RUNNING, number
            action.started_at = action.started_at or now
        return number

    def start_attempt_of(self, action_id: int, now: datetime) -> int | None:
        """:meth:`start_attempt` by id: the row's new attempt number, or None."""
        with self.autocommitting.connect() as conn:
            rows = _START.rows(conn, {"action_id": action_id, "now": now})
        return int(rows[0][0]) if rows else None

    def expect_read_back(
        self, action: Action, since: datetime, due_at: datetime, reason: str
    ) -> None:
        """The request for ``action`` sent at ``since`` went unanswered: its device's state is
        unknown until it is read back, from ``due_at`` (a later due time wins)."""
        assert action.user_id is not None and action.device_id is not None
        stmt = upsert(self.engine, READ_BACKS)
        row = {
            "account": action.account,
            "user_id": action.user_id,
            "device_id": action.device_id,
            "agent": action.agent,
            "device": action.device,
            "since": since,
            "due_at": due_at,
            "action_id": action.id,
            "reason": reason,
        }
        later = READ_BACKS.c.due_at < stmt.excluded.due_at
        unknown = timeline.Mark(
            action.account, action.user_id, action.device_id, action.agent, action.device,
            timeline.UNKNOWN, since, action.id,
        )  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["account", "user_id", "device_id"],
                    set_={k: stmt.excluded[k] for k in ("since", "due_at", "action_id", "reason")},
                    where=later,
                ),
                row,
            )
            timeline.mark(self.engine, conn, [unknown])

    def record_attempt(self, attempt: Row) -> None:
        """An attempt whose outcome calls for another exchange before anything is decided."""
        with self.engine.begin() as conn:
            _write(conn, attempt)

    def plan_retry(
        self,
        action: Action,
        delay: float,
        now: datetime,
        outcome: Outcome | None = None,
        attempt: Row | None = None,
    ) -> None:
        """``action`` is tried again ``delay`` seconds after ``now`` (the attempt says so)."""
        if attempt is not None:
            attempt = {**attempt, "retry_delay": round(delay, 3)}
        with self.engine.begin() as conn:
            _write(
                conn,
                attempt,
                action,
                status=Status.QUEUED,
                retry_at=now + timedelta(seconds=delay),
                **_columns(outcome),
            )

    def finish(
        self,
        action: Action,
        status: Status,
        reason: str,
        now: datetime,
        outcome: Outcome | None = None,
        attempt: Row | None = None,
    ) -> None:
        """``action`` ends ``status`` (failed, blocked, superseded), ``reason`` saying why; a
        switch failed or blocked is told (``switch_failed``) in the same transaction."""
        with self.engine.begin() as conn:
            _write(
                conn,
                attempt,
                action,
                status=status,
                finished_at=now,
                retry_at=None,
                reason=reason,
                **_columns(outcome),
            )
            if (
                status in (Status.FAILED, Status.BLOCKED)
                and action.kind == ActionKind.SWITCH
                and self.notify.rules
            ):
                outbox.switch_failed(conn, self.notify, action, status, reason, now)

    def succeed(self, action: Action, outcome: Outcome, attempt: Row, now: datetime) -> None:
        """Exotel did what ``action`` asked: its success, and the device's confirmed state
        (for a number change: the new number, unverified, which the contact-URI cache learns)."""
        assert action.user_id is not None and action.device_id is not None
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
        number = action.new_contact_uri if action.kind == ActionKind.NUMBER else None
        if number is not None:  # a new number is unverified: Exotel says available null
            state.contact_uri = number
            state.available = outcome.device.available if outcome.device else None
        with self.engine.begin() as conn:
            _write(
                conn,
                attempt,
                action,
                status=Status.SUCCEEDED,
                finished_at=now,
                reason=None,
                **_columns(outcome),
            )
            if number is not None:
                number_changed(
                    conn,
                    account=action.account,
                    user_id=action.user_id,
                    device_id=action.device_id,
                    new=number,
                    at=now,
                )
            confirm_states(self.engine, conn, [state])
            timeline.mark(self.engine, conn, [timeline.mark_of(state)])
            # Late against the boundary it serves: a ramped ON confirmed after its own early
            # instant but before the shift's start is in time.
            late = now - action.serves if action.due_at is not None else None
            if (
                late is not None
                and late.total_seconds() > self.late_after
                and action.source == Source.SCHEDULE
                and self.notify.rules
            ):
                outbox.boundary_late(conn, self.notify, action, late, now)

    def resolved(
        self,
        action: Action,
        user_id: str,
        device_id: str,
        now: datetime,
        attempt: Row | None = None,
    ) -> None:
        """``action``'s contact URI is device ``device_id`` of ``user_id``: from the cache, or
        found by ``attempt`` (then the cache keeps it). An action left running by a lookup
        (this one, or one a worker died in) is queued again for its switch: no request for its
        device was sent yet, so none is left unanswered."""
        assert action.contact_uri is not None
        requeued = {"status": Status.QUEUED} if action.status == Status.RUNNING else {}
        with self.engine.begin() as conn:
            _write(conn, attempt, action, user_id=user_id, device_id=device_id, **requeued)
            if attempt is not None:
                remember_resolved(
                    conn,
                    account=action.account,
                    contact_uri=action.contact_uri,
                    user_id=user_id,
                    device_id=device_id,
                    at=now,
                )

    def turn_off_first(
        self,
        action: Action,
        offs: Sequence[NewAction],
        now: datetime,
        attempt: Row | None = None,
    ) -> None:
        """Record ``offs`` (OFFs of other devices of the user) queued to go before ``action``,
        which is taken again after them; with the ``attempt`` that found those devices ON."""
        rows = [
            {
                **new_row(off, now),
                "status": Status.QUEUED,
                "enqueued_at": now,
                "parent_id": action.id,
            }
            for off in offs
        ]
        with self.engine.begin() as conn:
            if rows:
                stmt = upsert(self.engine, ACTIONS).on_conflict_do_nothing(index_elements=["key"])
                conn.execute(stmt, rows)
            if attempt is not None:  # the user was read: the ON waits for the OFFs, queued
                _write(conn, attempt, action, status=Status.QUEUED)


def attempt_row(action: Action, number: int, request: str, at: datetime, outcome: Outcome) -> Row:
    """The attempt of one HTTP exchange (``request``, such as ``PUT available=true``)."""
    return {
        "action_id": action.id,
        "number": number,
        "request": request,
        "at": at,
        "duration_ms": round(outcome.duration * 1000, 2),
        "http_code": outcome.http_code,
        "outcome": str(outcome.kind),
        "error_code": outcome.error_code,
        "error": None if outcome.ok else outcome.description,
        "retry_delay": None,
        "request_id": outcome.request_id,
    }


def _write(
    conn: Connection, attempt: Row | None, action: Action | None = None, **values: Any
) -> None:
    """INSERT ``attempt`` (if any) and UPDATE ``action``'s row with ``values`` (if any), and
    the ``action`` object with it."""
    if attempt is not None:
        _INSERT_ATTEMPT.run(conn, attempt)
    if action is not None and values:
        params = {f"new_{name}": value for name, value in values.items()}
        _update(tuple(values)).run(conn, {**params, "action_id": action.id})
        for name, value in values.items():
            setattr(action, name, value)


# The worker's writes, built once and prepared (:mod:`shiftswitch.prepared`): a statement built,
# or run through SQLAlchemy's execution layer, for each turn cost more CPU than running it.
_START = Prepared(
    update(ACTIONS)
    .where(ACTIONS.c.id == bindparam("action_id"), one_of(ACTIONS.c.status, OPEN_STATUSES))
    .values(
        status=Status.RUNNING,
        started_at=func.coalesce(
            ACTIONS.c.started_at, bindparam("now", type_=ACTIONS.c.started_at.type)
        ),
        attempts=ACTIONS.c.attempts + 1,
        retry_at=None,
    )
    .returning(ACTIONS.c.attempts)
)
_INSERT_ATTEMPT = Prepared(  # the columns of attempt_row
    insert(ATTEMPTS).values(
        {c.name: bindparam(c.name, type_=c.type) for c in ATTEMPTS.c if c.name != "id"}
    )
)


@functools.cache
def _update(columns: tuple[str, ...]) -> Prepared:
    """UPDATE an action's ``columns``; parameters ``action_id`` and ``new_<column>``."""
    values = {name: bindparam(f"new_{name}", type_=ACTIONS.c[name].type) for name in columns}
    return Prepared(update(ACTIONS).where(ACTIONS.c.id == bindparam("action_id")).values(values))


def _columns(outcome: Outcome | None) -> dict[str, Any]:
    """The columns of an action that keep its last answer from Exotel."""
    if outcome is None:
        return {}
    return {
        "last_http_code": outcome.http_code,
        "request_id": outcome.request_id,
        "error_code": None if outcome.ok else outcome.error_code,
        "error_description": None if outcome.ok else outcome.description,
    }
