"""What the scheduler decides, as pure functions of what it knows and ``now`` (README: How
switching works): the devices a reconcile sets, the unknown ones it reads first, the actions
not yet sent that the roster in force no longer wants, which reads to submit, how long an
unknown device waits for its read, and when the next drift check is.

The loop (:mod:`scheduler.loop`) reads the facts, asks these functions, and writes what they
say; nothing here reads the clock, the database or the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shiftswitch.drift import Managed
from shiftswitch.models import CheckKind
from shiftswitch.roster.model import Agent, Device, Roster

DeviceKey = tuple[str, str, str]  # (account, user id, device id)

NEVER = datetime.max.replace(tzinfo=UTC)
READ_AGAIN = timedelta(seconds=15)  # a read that failed is tried again after this long
# An unknown device whose read has not succeeded for this long is set to its desired state
# without it: a device left as it is for want of a read could ring the wrong phone for hours.
READ_GIVE_UP = timedelta(minutes=3)


@dataclass(frozen=True, slots=True)
class Known:
    """What the database knows of the managed devices when a reconcile looks."""

    # (agent, device) with an action under way: left to it.
    busy: frozenset[tuple[str | None, str | None]] = frozenset()
    # The state Exotel last confirmed (True: ON), by device.
    confirmed: Mapping[DeviceKey, bool | None] = field(default_factory=dict)
    # (user id, device id) of the contact URIs resolved, by (account, contact URI).
    resolved: Mapping[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    # When the read-back of a device whose request went unanswered is due, by device.
    read_backs: Mapping[DeviceKey, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Differences:
    """What a reconcile does: set ``differing`` (agent, device, wanted ON?); read ``unknown``
    (devices never confirmed) before anything is sent to them."""

    differing: list[tuple[Agent, Device, bool]]
    unknown: list[Managed]


def what_differs(
    roster: Roster,
    desired: Mapping[str, str | None],
    known: Known,
    readable: Callable[[str], bool],
    waits: Callable[[Managed, datetime | None], bool],
) -> Differences:
    """Each managed device's desired state now (``desired``: each agent's device wanted ON)
    against its last confirmed one.

    A device with an action under way is left to it. A device whose state is unknown (never
    confirmed, or a request to it went unanswered) is read first when its account is
    ``readable``: it is set only once ``waits`` (for its read, from when its read-back was
    due, if any) says no longer; one never confirmed is listed to be read. A device never
    confirmed that cannot be read is set: its state is unknown.
    """
    differing: list[tuple[Agent, Device, bool]] = []
    unknown: list[Managed] = []
    for agent in roster.agents.values():
        want = desired.get(agent.name)
        can_read = readable(agent.account)
        for device in agent.devices.values():
            if (agent.name, device.name) in known.busy:
                continue
            ids = known.resolved.get((agent.account, device.contact_uri or ""))
            if device.device_id and agent.user_id:
                ids = (agent.user_id, device.device_id)
            key = (agent.account, *ids) if ids else None
            state = known.confirmed.get(key) if key else None
            read_back = known.read_backs.get(key) if key else None
            confirmed = key is not None and key in known.confirmed
            if can_read and (not confirmed or read_back is not None):
                m = Managed(
                    agent.account, agent.name, device.name,
                    agent.user_id, device.device_id, device.contact_uri,
                )  # fmt: skip
                if waits(m, read_back):
                    if read_back is None:
                        unknown.append(m)  # a read-back is read when it is due
                    continue
            wanted = device.name == want
            if not confirmed or state is not wanted:
                differing.append((agent, device, wanted))
    return Differences(differing, unknown)


@dataclass(frozen=True, slots=True)
class Unsent:
    """A recorded switch not yet sent (pending, queued or waiting for a retry) of the roster
    or a reconcile."""

    id: int
    agent: str
    device: str | None
    wants_on: bool


def unwanted(actions: Iterable[Unsent], desired: Mapping[str, str | None]) -> list[int]:
    """The ids of ``actions`` the roster in force no longer wants: an ON for a device that
    should be OFF now, or an OFF for the device that should be ON."""
    return [a.id for a in actions if (desired.get(a.agent) == a.device) is not a.wants_on]


@dataclass(slots=True)
class Reading:
    """An unknown device submitted for a read: since when, why, and when to submit it again
    (never, while its read is under way; :data:`READ_AGAIN` after it failed)."""

    since: datetime
    kind: CheckKind
    again: datetime = NEVER


def to_read(
    kind: CheckKind,
    devices: Iterable[Managed],
    reading: Mapping[Managed, Reading],
    now: datetime,
) -> tuple[dict[str, list[Managed]], dict[Managed, Reading]]:
    """Which of ``devices`` to read now, by account, and the readings to record for them.

    A drift check reads every device it is given. An unknown device (a first read, a
    read-back) is submitted once, and again only when its read failed and :data:`READ_AGAIN`
    has passed; it keeps the instant it was first submitted, from which it waits.
    """
    by_account: dict[str, list[Managed]] = {}
    recorded: dict[Managed, Reading] = {}
    for m in devices:
        if kind != CheckKind.DRIFT:
            submitted = reading.get(m)
            if submitted is not None and now < submitted.again:
                continue
            recorded[m] = Reading(submitted.since if submitted is not None else now, kind)
        by_account.setdefault(m.account, []).append(m)
    return by_account, recorded


def waits_for_read(
    m: Managed,
    read_back: datetime | None,
    submitted: Reading | None,
    down: frozenset[str],
    now: datetime,
) -> bool:
    """Whether unknown device ``m`` still waits for its read rather than being set now: until
    its read has failed for :data:`READ_GIVE_UP`, counted from when its read-back was due (or
    it was first submitted); always while its account's Exotel is down, when nothing could be
    sent either."""
    if m.account in down:
        return True
    since = read_back
    if since is None:
        since = submitted.since if submitted is not None else now
    return now - since < READ_GIVE_UP


def next_drift(every: timedelta, last: datetime | None, now: datetime) -> datetime:
    """The next drift check: ``every`` after the last one recorded (by any scheduler, before a
    restart too; now, if that is past), or ``every`` after now when there was none (the first
    start reads what it does not know anyway)."""
    return now + every if last is None else max(now, last + every)
