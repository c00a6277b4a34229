"""SQLAlchemy models: what shiftswitch did and why (README: Results tables).

- ``actions``: one row per switch the system decided to make (or device number to change),
  under a unique key, with its life from ``pending`` to a final status;
- ``attempts``: every HTTP exchange with Exotel made for an action;
- ``device_states``: each device's last state confirmed by Exotel;
- ``read_backs``: devices whose state is unknown since a request to them went unanswered, each
  to be read again once that request can no longer land;
- ``resolved_devices``: contact URIs resolved to (user id, device id) through GET users;
- ``roster_versions`` and ``roster_*``: in :mod:`shiftswitch.roster_tables`;
- ``holds`` and ``pauses``: what ops said by hand: keep a device as it is until a time; send
  nothing for an account (or all) until resumed;
- ``exotel_outages``: each time an account's Exotel failed every request, from when it was
  noticed until a probe found it answering again;
- ``installation``: values made once per installation (the login throttle's salt);
- ``changes``: one counter per kind of edit above (and per outage begun or ended), which the
  scheduler watches each tick.

Instants are stored in UTC (:class:`UtcDateTime`). No column ever holds a credential.
A naming convention is fixed from the first migration so that constraint names are the same on
SQLite and PostgreSQL and later migrations can refer to them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, QueryableAttribute, Session, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Every table's base. Its metadata holds every table only once the modules that declare
    them are imported: use :data:`shiftswitch.schema.METADATA`, which imports them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware instant, stored as UTC; SQLite (which keeps no zone) gives it back as UTC too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} where an instant is needed")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Source(enum.StrEnum):
    SCHEDULE = "schedule"
    RECONCILE = "reconcile"
    MANUAL = "manual"


class Status(enum.StrEnum):
    PENDING = "pending"  # recorded, not yet handed to the broker
    QUEUED = "queued"  # handed to the broker (or waiting for a retry)
    RUNNING = "running"  # a worker is applying it
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BLOCKED = "blocked"  # an ON not sent because an OFF before it failed
    SUPERSEDED = "superseded"  # no longer wanted when its turn came


class ActionKind(enum.StrEnum):
    SWITCH = "switch"  # PUT available: the device ON or OFF
    NUMBER = "number"  # PUT contact_uri: the device's number changed (``device set-number``)


FINAL_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED, Status.BLOCKED, Status.SUPERSEDED})
OPEN_STATUSES = frozenset({Status.PENDING, Status.QUEUED, Status.RUNNING})
UNSENT_STATUSES = frozenset({Status.PENDING, Status.QUEUED})  # not yet with a worker


def _in(values: Any) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


def one_of(
    column: ColumnElement[str] | QueryableAttribute[str],
    statuses: Iterable[Status],
) -> ColumnElement[bool]:
    """SQL: ``column IN ('queued', ...)``, with the statuses written into the statement. A
    statement built once then runs as compiled, where an IN of bound values is expanded
    again at every execution (about a tenth of a millisecond each, in a worker's turn)."""
    return column.in_([literal_column(f"'{Status(s)}'") for s in sorted(statuses)])


class Action(Base):
    """One switch of one device (or one change of its number), from the moment it is decided
    to its final status."""

    __tablename__ = "actions"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(Status)})", name="status"),
        CheckConstraint(f"source IN ({_in(Source)})", name="source"),
        CheckConstraint(f"kind IN ({_in(ActionKind)})", name="kind"),
        Index("ix_actions_user_order", "user_key", "due_at", "wants_on", "id"),
        Index("ix_actions_account_device", "account", "user_id", "device_id"),
        Index("ix_actions_agent_due", "agent", "due_at"),
        Index("ix_actions_device_latest", "account", "agent", "device", "id"),
        Index("ix_actions_status", "status"),
        Index("ix_actions_boundary_at", "boundary_at"),  # a ramp under way's ONs sent so far
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(Text, unique=True)
    source: Mapped[str] = mapped_column(String(16))
    # The Exotel user whose actions are applied one at a time, in order: "<account>/<user id>"
    # (or "<account>/@<agent>" while the user id is known only through a contact URI).
    user_key: Mapped[str] = mapped_column(Text)
    account: Mapped[str] = mapped_column(Text)
    sid: Mapped[str] = mapped_column(Text)
    base_url: Mapped[str] = mapped_column(Text)
    rate_limit: Mapped[str] = mapped_column(String(20))
    agent: Mapped[str | None] = mapped_column(Text)
    device: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(Text)
    contact_uri: Mapped[str | None] = mapped_column(Text)
    # The agent's other managed devices: [{"device", "device_id", "contact_uri"}]. An ON that
    # meets "Another device is ON" may turn these OFF, never a device the roster does not name.
    siblings: Mapped[list[dict[str, str | None]]] = mapped_column(JSON, default=list)
    # A switch's desired state (Exotel's ``available``): True for ON. A number change sends no
    # ``available`` (Exotel refuses both in one request); it carries False, which orders it like
    # an OFF among the user's actions.
    wants_on: Mapped[bool]
    kind: Mapped[str] = mapped_column(
        String(16), default=ActionKind.SWITCH, server_default=ActionKind.SWITCH.value
    )
    new_contact_uri: Mapped[str | None] = mapped_column(Text)  # the number a change sets
    shift: Mapped[str | None] = mapped_column(Text)
    override: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # For an ON a ramp moved before its shift start, the start it serves: the boundary it is
    # counted under (README: Boundaries). None: the switch serves its own due instant.
    boundary_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default=Status.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_http_code: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(Text)
    error_description: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)  # why blocked, superseded or failed, in words
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("actions.id", ondelete="SET NULL")
    )

    @property
    def serves(self) -> datetime:
        """The boundary it serves: a ramped ON's shift start, else its own due instant."""
        return self.boundary_at or self.due_at


def action_of(row: Row[Any] | Mapping[str, Any]) -> Action:
    """The action in ``row``, a row of the actions table read with SQLAlchemy Core (or its
    values by column): a transient :class:`Action`, added to no session (the worker reads its
    actions so, for an ORM session and its instances cost more CPU than the statement)."""
    return Action(**(row if isinstance(row, Mapping) else row._mapping))


def busy_devices(session: Session) -> set[tuple[str | None, str | None]]:
    """(agent, device) of every device with an action not yet final: the reconcile and the
    correction of drift leave each of these to the action under way."""
    query = select(Action.agent, Action.device).where(Action.status.in_(OPEN_STATUSES))
    return {(agent, device) for agent, device in session.execute(query)}


class Attempt(Base):
    """One HTTP exchange with Exotel on behalf of an action."""

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("action_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("actions.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    request: Mapped[str] = mapped_column(String(60))  # "PUT available=true", "GET users"
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_ms: Mapped[float] = mapped_column(Float)
    http_code: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))  # ok | retry | final
    error_code: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    retry_delay: Mapped[float | None] = mapped_column(Float)
    request_id: Mapped[str | None] = mapped_column(Text)


class DeviceState(Base):
    """A device's last state confirmed by Exotel (a successful PUT or a read)."""

    __tablename__ = "device_states"

    account: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[str] = mapped_column(Text, primary_key=True)
    device_id: Mapped[str] = mapped_column(Text, primary_key=True)
    agent: Mapped[str | None] = mapped_column(Text)
    device: Mapped[str | None] = mapped_column(Text)
    contact_uri: Mapped[str | None] = mapped_column(Text)
    available: Mapped[bool | None]
    confirmed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    action_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("actions.id", ondelete="SET NULL")
    )

    __table_args__ = (
        # The devices ON per account: counted without reading the rest (queries.on_by_account,
        # the status summary). Each dialect's predicate is the form its
        # planner matches to the query's ``WHERE available`` (SQLite: ``available = 1``).
        Index(
            "ix_device_states_on",
            "account",
            postgresql_where=text("available"),
            sqlite_where=text("available = 1"),
        ),
    )


class ResolvedDevice(Base):
    """A contact URI of the roster resolved to Exotel's (user id, device id)."""

    __tablename__ = "resolved_devices"

    account: Mapped[str] = mapped_column(Text, primary_key=True)
    contact_uri: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[str] = mapped_column(Text)
    device_id: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ReadBack(Base):
    """A device whose state is unknown: a request to it went unanswered (a timeout, a connection
    lost after sending, a worker killed mid-request) and Exotel may still apply it, after
    whatever followed it. The scheduler reads the device again from ``due_at``, when the request
    can no longer land, and removes the row (unless a later unanswered request moved it on)."""

    __tablename__ = "read_backs"
    __table_args__ = (Index("ix_read_backs_due_at", "due_at"),)

    account: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[str] = mapped_column(Text, primary_key=True)
    device_id: Mapped[str] = mapped_column(Text, primary_key=True)
    agent: Mapped[str | None] = mapped_column(Text)
    device: Mapped[str | None] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(UtcDateTime)  # the unanswered request was sent
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    action_id: Mapped[int | None] = mapped_column(BigId)  # the action whose request it was
    reason: Mapped[str] = mapped_column(Text)


class CheckKind(enum.StrEnum):
    REMOTE = "remote"  # ``reconcile --remote``
    DRIFT = "drift"  # the scheduler's check every SHIFTSWITCH_DRIFT_EVERY seconds
    READ_BACK = "read-back"  # devices whose request went unanswered
    FIRST_READ = "first-read"  # devices never confirmed, read before anything is sent


class RemoteCheck(Base):
    """One read of managed devices from Exotel (``kind``: :class:`CheckKind`): how many it read,
    in how many GET requests, and those whose real state differed from the desired one
    (``findings``: agent, device, wanted, found, and the action sent to correct it, if any)."""

    __tablename__ = "remote_checks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(
        String(16), default=CheckKind.REMOTE, server_default=CheckKind.REMOTE.value
    )
    reads: Mapped[int | None] = mapped_column(Integer)
    devices: Mapped[int] = mapped_column(Integer)
    drifted: Mapped[int] = mapped_column(Integer)
    findings: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)


# -- what ops said by hand ------------------------------------------------------------------------


class Hold(Base):
    """``device on|off ... --until T``: the scheduler keeps the device so until ``until``."""

    __tablename__ = "holds"
    __table_args__ = (Index("ix_holds_until", "until"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account: Mapped[str] = mapped_column(Text)
    agent: Mapped[str] = mapped_column(Text)
    device: Mapped[str] = mapped_column(Text)
    available: Mapped[bool] = mapped_column(Boolean)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    until: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(Text)
    action_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("actions.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(Text)  # as the person who held it said


class Pause(Base):
    """``shiftswitch pause``: nothing is sent for ``account`` (None: every account) while the
    pause lasts; what would have been sent is recorded."""

    __tablename__ = "pauses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime] = mapped_column(UtcDateTime)
    paused_by: Mapped[str] = mapped_column(Text)
    resumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resumed_by: Mapped[str | None] = mapped_column(Text)


class ExotelOutage(Base):
    """An account's Exotel failing every request (README: When Exotel is down). Open while
    ``ended_at`` is None, and one open at a time per account; ``error`` is the failure that
    showed it, ``probes`` how many probes found it still down, the last at ``probed_at``."""

    __tablename__ = "exotel_outages"
    __table_args__ = (
        Index(
            "ix_exotel_outages_open",
            "account",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    error: Mapped[str] = mapped_column(Text)
    probes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    probed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    probe_error: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Installation(Base):
    """Values made once for the installation and shared by its processes, by name."""

    __tablename__ = "installation"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Change(Base):
    """A counter per kind of edit (``roster``, ``holds``, ``pauses``, ``outages``), raised in the
    edit's transaction: the scheduler compares them each tick, and a roster write takes its
    row's lock first, so that two imports run one after the other."""

    __tablename__ = "changes"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    serial: Mapped[int] = mapped_column(Integer)


CHANGE_NAMES = ("roster", "holds", "pauses", "outages")


# -- who changed what -----------------------------------------------------------------------------


class AuditEvent(Base):
    """A change by a person or a process to what shiftswitch does (README: Audit): appended,
    never changed (a trigger refuses UPDATE and DELETE). ``before``/``after`` are short and never
    hold a password, a token or a key."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    who: Mapped[str] = mapped_column(Text)  # a user, a token's name, an OS user, a process
    via: Mapped[str] = mapped_column(String(16))  # cli | api | console | scheduler | worker
    what: Mapped[str] = mapped_column(Text)  # "roster import", "override add", "login failed"
    target: Mapped[str | None] = mapped_column(Text)  # what it was done to
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
