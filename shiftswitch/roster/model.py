"""The roster model: accounts, agents and their devices, shifts, dated assignments and overrides
(README: Roster format).

Immutable values, and the parsers of single values (durations, rates, instants, device
references) that the file loader (:mod:`shiftswitch.roster.loader`) and the CLI share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from shiftswitch import clock
from shiftswitch.pacing import RateLimit
from shiftswitch.problems import Problem, count
from shiftswitch.settings import credential_variables

DEFAULT_RATE_LIMIT = "50/min"  # Exotel's documented floor for the User Management API
MAX_RAMP = timedelta(hours=12)

DeviceKind = Literal["id", "tel", "sip"]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")  # agents, devices
# An account's name also names its credentials' variables (EXOTEL_<ACCOUNT>_API_KEY).
ACCOUNT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SIP = re.compile(r"^sip:[^\s@:]+(@[^\s]+)?$")
_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
EMAIL = re.compile(r"^[^@\s\"',;<>]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_DURATION = re.compile(r"^(?:(\d{1,3})d)?(?:(\d{1,5})h)?(?:(\d{1,6})m)?(?:(\d{1,7})s)?$")


@dataclass(frozen=True, slots=True)
class Account:
    """An Exotel account. Credentials are never part of it: see :attr:`key_env`."""

    name: str
    sid: str
    base_url: str
    region: str | None
    rate_limit: RateLimit
    # ON switches of the account's shifts start up to this long before the shift, at the rate
    # limit, so that agents are ON when it starts (see Planner); None: at the start.
    ramp: timedelta | None = None

    @property
    def key_env(self) -> str:
        return credential_variables(self.name)[0]

    @property
    def token_env(self) -> str:
        return credential_variables(self.name)[1]


@dataclass(frozen=True, slots=True)
class Device:
    """One of an agent's devices, given by Exotel device id or by contact URI."""

    name: str
    ref: str
    kind: DeviceKind

    @property
    def device_id(self) -> str | None:
        return self.ref if self.kind == "id" else None

    @property
    def contact_uri(self) -> str | None:
        return None if self.kind == "id" else self.ref


@dataclass(frozen=True, slots=True)
class Agent:
    name: str
    account: str
    user_id: str | None
    devices: Mapping[str, Device]
    contact: str | None = None  # an e-mail address, for the agent's own reminders


@dataclass(frozen=True, slots=True)
class Member:
    agent: str
    device: str

    def __str__(self) -> str:
        return f"{self.agent}:{self.device}"


@dataclass(frozen=True, slots=True)
class Shift:
    """A recurring shift. ``start``/``end`` are cron expressions in local wall-clock time."""

    index: int
    name: str
    start: str
    duration: timedelta | None
    end: str | None
    zone: ZoneInfo
    skip_dates: frozenset[date]
    members: tuple[Member, ...]
    ramp: timedelta | None = None  # overrides the account's ramp for this shift's ONs


@dataclass(frozen=True, slots=True)
class Override:
    """A dated exception for one agent: ``device`` ON (others OFF), or every device OFF."""

    index: int
    agent: str
    device: str | None
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    zone: ZoneInfo
    # How the roster's owner names it: None for a roster file (its place in the file's list);
    # "override 7" for the roster in the database (the id 'override list' shows).
    name: str | None = field(default=None, compare=False)
    reason: str | None = None  # why, as the person who made it said (leave, training...)

    @property
    def label(self) -> str:
        return self.name or f"overrides[{self.index}]"


@dataclass(frozen=True, slots=True)
class Assignment:
    """A dated shift of one agent, as a WFM tool or a spreadsheet plans it: ``device`` ON from
    ``start`` to ``end``; or, with ``off``, time inside the agent's work when ``device`` (every
    device, when None) is OFF: a break, lunch, training."""

    index: int
    agent: str
    device: str | None  # None only with ``off``: every device
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    zone: ZoneInfo
    off: bool = False
    shift: str | None = None  # the planner's own name for it ("early"), a label only
    activity: str | None = None  # what the time is for ("Lunch"), a label only
    # How the roster's owner names it: None for a roster file (its place in the file's list);
    # "assignment 7" for the roster in the database.
    name: str | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return self.name or f"assignments[{self.index}]"


@dataclass(frozen=True, slots=True)
class Roster:
    version: int
    zone: ZoneInfo
    accounts: Mapping[str, Account]
    agents: Mapping[str, Agent]
    shifts: tuple[Shift, ...]
    overrides: tuple[Override, ...]
    warnings: tuple[Problem, ...] = ()
    assignments: tuple[Assignment, ...] = ()

    def summary(self) -> str:
        """``1 account, 2 agents (3 devices), 4 shifts, 0 overrides`` (and ``, 5 assignments``
        when there are any)."""
        devices = sum(len(a.devices) for a in self.agents.values())
        parts = [
            count(len(self.accounts), "account"),
            f"{count(len(self.agents), 'agent')} ({count(devices, 'device')})",
            count(len(self.shifts), "shift"),
        ]
        if self.assignments:
            parts.append(count(len(self.assignments), "assignment"))
        parts.append(count(len(self.overrides), "override"))
        return ", ".join(parts)


def parse_duration(text: str) -> timedelta | None:
    """``9h``, ``1h30m``, ``45m``, ``2d``: elapsed time, or None when not of that form."""
    m = _DURATION.match(text.strip())
    if not m or not any(m.groups()):
        return None
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def parse_instant(text: str, zone: ZoneInfo, *, end: bool = False) -> datetime | None:
    """An override bound: ISO date-time (local to ``zone`` unless it has an offset) or a date.

    A date alone means the whole day: as ``from`` it is 00:00 of that day, as ``to`` (``end``)
    it is 24:00, so ``from: 2026-12-24, to: 2026-12-26`` covers three whole days.
    """
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            local = datetime.combine(day + timedelta(days=1 if end else 0), time())
            return clock.local_to_utc(local, zone)
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        return clock.local_to_utc(parsed, zone)
    except (ValueError, OverflowError):  # not a date, or at the very ends of the calendar
        return None


def classify_device(ref: str) -> DeviceKind | None:
    """What a roster device value is: an Exotel device id, a phone number or a SIP URI."""
    if ref.startswith("+"):
        return "tel" if _E164.match(ref) else None
    if ref.lower().startswith("sip:"):
        return "sip" if _SIP.match(ref) else None
    return "id" if _DEVICE_ID.match(ref) else None
