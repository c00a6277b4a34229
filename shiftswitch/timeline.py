"""Each managed device's confirmed states as intervals (README: Reports): ON or OFF from the
moment Exotel confirmed it (a switch answered, or a read) until the next different state, and
UNKNOWN from a request that went unanswered until its read-back. The adherence report sums
these by SQL range over a period, without replaying actions.

A device has at most one open interval (``ended_at`` NULL; a partial unique index holds it).
:func:`mark` closes the open one when the state differs and opens the new one, in the caller's
transaction: two statements per device, whatever the history's length. A mark older than the
open interval (a read sent before a switch that was answered first) changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Index,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from shiftswitch.db import upsert
from shiftswitch.models import Base, BigId, UtcDateTime
from shiftswitch.prepared import Prepared

ON, OFF, UNKNOWN = "on", "off", "unknown"


class DeviceInterval(Base):
    """One device in one confirmed state (``on``, ``off`` or ``unknown``) from ``started_at``
    until ``ended_at`` (None: still so). ``action_id``: the switch that confirmed it, if one."""

    __tablename__ = "device_intervals"
    __table_args__ = (
        Index(
            "ix_device_intervals_open",
            "account",
            "user_id",
            "device_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_device_intervals_ended", "ended_at"),
        Index("ix_device_intervals_agent", "agent", "ended_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str] = mapped_column(Text)
    device_id: Mapped[str] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(Text)
    device: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    action_id: Mapped[int | None] = mapped_column(BigId)


TABLE: Table = DeviceInterval.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Mark:
    """A device seen in ``state`` at ``at``."""

    account: str
    user_id: str
    device_id: str
    agent: str | None
    device: str | None
    state: str
    at: datetime
    action_id: int | None = None


def state_of(available: bool | None) -> str:
    """A device's state from Exotel's ``available``: an unverified number (None) rings nowhere."""
    return ON if available else OFF


def mark(engine: Engine, conn: Connection | Session, marks: Sequence[Mark]) -> None:
    """Record ``marks`` in the caller's transaction (see the module's docstring)."""
    if not marks:
        return
    rows = [
        {
            "k_account": m.account, "k_user_id": m.user_id, "k_device_id": m.device_id,
            "k_agent": m.agent, "k_device": m.device, "k_state": m.state, "k_at": m.at,
            "k_action_id": m.action_id,
        }
        for m in marks
    ]  # fmt: skip
    if isinstance(conn, Connection):  # the worker's: a mark at a time
        opening = _open(engine)
        for row in rows:
            _CLOSE.run(conn, row)
            opening.run(conn, row)
    else:
        conn.execute(_CLOSE.statement, rows)
        conn.execute(_open(engine).statement, rows)


_KEY = and_(
    TABLE.c.account == bindparam("k_account"),
    TABLE.c.user_id == bindparam("k_user_id"),
    TABLE.c.device_id == bindparam("k_device_id"),
    TABLE.c.ended_at.is_(None),
)
_CLOSE = Prepared(
    update(TABLE)
    .where(
        _KEY,
        TABLE.c.state != bindparam("k_state"),
        TABLE.c.started_at <= bindparam("k_at", type_=UtcDateTime()),
    )
    .values(ended_at=bindparam("k_at", type_=UtcDateTime()))
)


@functools.cache
def _open(engine: Engine) -> Prepared:
    """INSERT the new open interval unless one is still open (the same state, or newer)."""
    stmt = upsert(engine, TABLE).values(
        account=bindparam("k_account"),
        user_id=bindparam("k_user_id"),
        device_id=bindparam("k_device_id"),
        agent=bindparam("k_agent"),
        device=bindparam("k_device"),
        state=bindparam("k_state"),
        started_at=bindparam("k_at", type_=UtcDateTime()),
        action_id=bindparam("k_action_id"),
    )
    return Prepared(
        stmt.on_conflict_do_nothing(
            index_elements=["account", "user_id", "device_id"],
            index_where=TABLE.c.ended_at.is_(None),
        )
    )


# -- reading --------------------------------------------------------------------------------------


# (agent, device, state, started_at, ended_at, action_id) of one interval, its times in POSIX
# seconds (ended_at None: still open).
Span = tuple[str, str, str, float, float | None, int | None]


def spans(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    agents: Iterable[str] | None = None,
    states: tuple[str, ...] = (ON, UNKNOWN),
) -> list[Span]:
    """The intervals in ``states`` that overlap ``[start, end)``, of devices the roster names
    (``agents``: only theirs), ordered by agent, device and start. The database gives their
    times as seconds: a month of 10,000 devices is a million instants, each a Python object
    less."""
    query = (
        select(
            TABLE.c.agent,
            TABLE.c.device,
            TABLE.c.state,
            _seconds(session, TABLE.c.started_at),
            _seconds(session, TABLE.c.ended_at),
            TABLE.c.action_id,
        )
        .where(
            or_(TABLE.c.ended_at.is_(None), TABLE.c.ended_at > start),
            TABLE.c.started_at < end,
            TABLE.c.state.in_(states),
            TABLE.c.agent.is_not(None),
        )
        .order_by(TABLE.c.agent, TABLE.c.device, TABLE.c.started_at)
    )
    if agents is not None:
        query = query.where(TABLE.c.agent.in_(list(agents)))
    return [tuple(row) for row in session.execute(query).all()]


def _seconds(session: Session, column: Any) -> Any:
    """``column`` (an instant) as POSIX seconds, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", column), Float)
    return (func.julianday(column) - 2440587.5) * 86400.0  # SQLite keeps UTC text


def mark_of(state: Any) -> Mark:
    """The mark of a confirmed :class:`~shiftswitch.models.DeviceState`."""
    return Mark(
        state.account, state.user_id, state.device_id, state.agent, state.device,
        state_of(state.available), state.confirmed_at, state.action_id,
    )  # fmt: skip
