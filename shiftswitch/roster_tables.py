"""The roster's tables (README: Roster format; ``roster_versions`` under Results tables):

- ``roster_versions``: each roster put in force or stored, with its content;
- ``roster_*``: the roster itself, when it lives in the database (the roster format's model,
  row by row: settings, accounts, agents, devices, shifts with their members and skipped
  dates, overrides and dated assignments).

On the same metadata as :mod:`shiftswitch.models`, whose conventions they follow.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, ForeignKeyConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shiftswitch.models import Base, BigId, UtcDateTime


class RosterVersion(Base):
    """A roster put in force or stored: its digest and content, where it came from, when, by
    whom, and what changed from the one before."""

    __tablename__ = "roster_versions"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    digest: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    content: Mapped[str | None] = mapped_column(Text)  # the roster as YAML (README: Roster format)


class RosterSettings(Base):
    """The roster's one row of settings: its default zone, and the version the tables hold."""

    __tablename__ = "roster_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # always 1
    timezone: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)


class RosterAccount(Base):
    __tablename__ = "roster_accounts"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    sid: Mapped[str] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(Text)  # singapore | mumbai, or None: base_url
    base_url: Mapped[str] = mapped_column(Text)
    rate_limit: Mapped[str] = mapped_column(String(20))
    ramp_seconds: Mapped[int | None] = mapped_column(Integer)


class RosterAgent(Base):
    __tablename__ = "roster_agents"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    account: Mapped[str] = mapped_column(Text, ForeignKey("roster_accounts.name"))
    user_id: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(Text)  # an e-mail address, for reminders


class RosterDevice(Base):
    __tablename__ = "roster_devices"

    agent: Mapped[str] = mapped_column(Text, ForeignKey("roster_agents.name"), primary_key=True)
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    ref: Mapped[str] = mapped_column(Text)  # an Exotel device id, or a contact URI


class RosterShift(Base):
    __tablename__ = "roster_shifts"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, unique=True)
    start: Mapped[str] = mapped_column(Text)  # cron, local wall-clock time
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    end_cron: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str | None] = mapped_column(Text)  # None: the roster's zone
    ramp_seconds: Mapped[int | None] = mapped_column(Integer)  # 0: none; None: the account's


class RosterShiftMember(Base):
    __tablename__ = "roster_shift_members"
    __table_args__ = (
        ForeignKeyConstraint(["agent", "device"], ["roster_devices.agent", "roster_devices.name"]),
    )

    shift: Mapped[str] = mapped_column(Text, ForeignKey("roster_shifts.name"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent: Mapped[str] = mapped_column(Text)
    device: Mapped[str] = mapped_column(Text)


class RosterSkipDate(Base):
    __tablename__ = "roster_skip_dates"

    shift: Mapped[str] = mapped_column(Text, ForeignKey("roster_shifts.name"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class RosterOverride(Base):
    """An override; its id is what ``override list`` shows and ``override remove`` takes."""

    __tablename__ = "roster_overrides"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - ids never reused

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign key: an override keeps its row (and id) while the agents are written anew;
    # every write is validated whole, so it always names an agent of the roster.
    agent: Mapped[str] = mapped_column(Text)
    device: Mapped[str | None] = mapped_column(Text)  # None: every device OFF
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    timezone: Mapped[str | None] = mapped_column(Text)  # None: the roster's zone
    reason: Mapped[str | None] = mapped_column(Text)  # why, as its author said


class RosterAssignment(Base):
    """A dated assignment (a WFM tool's shift, or a break inside one, with ``off``); rows that
    stay across writes keep their ids."""

    __tablename__ = "roster_assignments"
    __table_args__ = (
        Index("ix_roster_assignments_agent_start", "agent", "starts_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent: Mapped[str] = mapped_column(Text)  # no foreign key: as for overrides
    device: Mapped[str | None] = mapped_column(Text)  # None (with off): every device
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    off: Mapped[bool] = mapped_column(Boolean, default=False)
    shift: Mapped[str | None] = mapped_column(Text)
    activity: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str | None] = mapped_column(Text)  # None: the roster's zone
