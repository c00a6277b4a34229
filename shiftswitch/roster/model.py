"""The roster model: accounts, agents and their devices, shifts and overrides (README: Roster
format).

Immutable values, and the parsers of single values (durations, rates, instants, device
references) that the file loader (:mod:`shiftswitch.roster.loader`) and the CLI share.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from shiftswitch import clock
from shiftswitch.problems import Problem, count
from shiftswitch.settings import credential_variables

DEFAULT_RATE_LIMIT = "50/min"  # Exotel's documented floor for the User Management API
# Requests are spaced a little wider than the limit (1%, and 100 ms per window), so that jitter
# between a request's slot and Exotel's clock never puts one request too many into its window.
REQUEST_SAFETY = 1.01
WINDOW_SLACK_SECONDS = 0.1
# A gateway that refuses any request closer than 1/rate to the one before (nginx limit_req with
# no burst) sees the network's jitter on every single gap, not once per window: two requests sent
# S apart arrive S - J apart at worst. An account whose gateway has answered 429 is spaced this
# much wider (RateLimit.strict_spacing) at intervals of JITTER_FULL_INTERVAL and longer, and a
# share falling with the square of the interval below (5% at 60/min, 0.5% at 600/min): at high
# rates covering it would cost more than a 429 now and then, and the adaptation in Redis
# (shiftswitch.coordination) widens an account that meets more. A windowed gateway never pays it.
JITTER_ALLOWANCE = 0.05
JITTER_FULL_INTERVAL = 1.0
MAX_RAMP = timedelta(hours=12)

DeviceKind = Literal["id", "tel", "sip"]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")  # agents, devices
# An account's name also names its credentials' variables (EXOTEL_<ACCOUNT>_API_KEY).
ACCOUNT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SIP = re.compile(r"^sip:[^\s@:]+(@[^\s]+)?$")
_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_DURATION = re.compile(r"^(?:(\d{1,3})d)?(?:(\d{1,5})h)?(?:(\d{1,6})m)?(?:(\d{1,7})s)?$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|min|minute)\s*$")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A request budget: ``count`` requests every ``per_seconds`` seconds."""

    count: int
    per_seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{'s' if self.per_seconds == 1 else 'min'}"

    @property
    def interval(self) -> float:
        """Seconds between two requests at exactly this limit (``1/rate``)."""
        return self.per_seconds / self.count

    @property
    def spacing(self) -> float:
        """Seconds between two requests sent at this limit, as the workers space them at the
        least: a little wider than the limit for a gateway counting requests per window
        (:data:`REQUEST_SAFETY`, :data:`WINDOW_SLACK_SECONDS`)."""
        return (self.per_seconds * REQUEST_SAFETY + WINDOW_SLACK_SECONDS) / self.count

    @property
    def strict_spacing(self) -> float:
        """The spacing for an account whose gateway has refused a request (429): as a gateway
        refusing each request closer than ``1/rate`` to the one before would need it,
        :attr:`spacing` plus the network's jitter (:data:`JITTER_ALLOWANCE`, in full from
        :data:`JITTER_FULL_INTERVAL` up)."""
        share = min(1.0, (self.interval / JITTER_FULL_INTERVAL) ** 2)
        return self.spacing + JITTER_ALLOWANCE * share


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

    @property
    def label(self) -> str:
        return self.name or f"overrides[{self.index}]"


@dataclass(frozen=True, slots=True)
class Roster:
    version: int
    zone: ZoneInfo
    accounts: Mapping[str, Account]
    agents: Mapping[str, Agent]
    shifts: tuple[Shift, ...]
    overrides: tuple[Override, ...]
    warnings: tuple[Problem, ...] = ()

    def summary(self) -> str:
        """``1 account, 2 agents (3 devices), 4 shifts, 0 overrides``."""
        devices = sum(len(a.devices) for a in self.agents.values())
        return ", ".join(
            (
                count(len(self.accounts), "account"),
                f"{count(len(self.agents), 'agent')} ({count(devices, 'device')})",
                count(len(self.shifts), "shift"),
                count(len(self.overrides), "override"),
            )
        )


def parse_duration(text: str) -> timedelta | None:
    """``9h``, ``1h30m``, ``45m``, ``2d``: elapsed time, or None when not of that form."""
    m = _DURATION.match(text.strip())
    if not m or not any(m.groups()):
        return None
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


@functools.lru_cache(maxsize=1024)
def parse_rate(text: str) -> RateLimit | None:
    """A rate limit such as ``60/min`` or ``5/s``; None when ``text`` is not one. Cached: the
    worker reads an action's for each request."""
    m = _RATE.match(text)
    if not m or int(m.group(1)) <= 0:
        return None
    return RateLimit(int(m.group(1)), 1 if m.group(2).startswith("s") else 60)


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
