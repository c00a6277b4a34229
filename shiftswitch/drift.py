"""What Exotel says about the managed devices, against what the roster wants (README: How
switching works).

The ordinary reconcile trusts ``device_states`` (what Exotel last confirmed to us). A device
switched by hand in Exotel's app or dashboard, or by a request that Exotel applied after its
answer was lost, drifts from it unseen. A read of the devices (``GET /users``, paged, or
``GET /users/{id}`` for a few) shows their real state:

- :func:`compare` (pure) turns what a read found into the devices' confirmed states and the
  findings: devices whose real state is not the one the roster wants now;
- :func:`record` writes both, in one transaction: a state only where no newer one was confirmed
  since the read was sent, the read-backs the read settles, and the check (``remote_checks``);
- :func:`check` is ``reconcile --remote``: it reads every managed device now, records what it
  found, and enqueues a ``reconcile`` action for each device that drifted (unless an action for
  it is already under way). The scheduler's own checks (``scheduler.checks``) read on spare
  request budget and leave the corrections to its reconcile.

``shiftswitch status`` shows the last check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select

from shiftswitch import timeline
from shiftswitch.actions import ActionStore, NewAction, for_device
from shiftswitch.broker import Dispatcher
from shiftswitch.db import upsert
from shiftswitch.exotel import Device, ExotelClient, User
from shiftswitch.models import (
    CheckKind,
    DeviceState,
    ReadBack,
    RemoteCheck,
    ResolvedDevice,
    Source,
    busy_devices,
)
from shiftswitch.roster.model import Account, Roster


class RemoteError(Exception):
    """Exotel did not answer a remote check for an account; the message says why."""


@dataclass(frozen=True, slots=True)
class Managed:
    """A roster device, as a read looks for it: by (user id, device id), or by contact URI."""

    account: str
    agent: str
    device: str
    user_id: str | None
    device_id: str | None
    contact_uri: str | None


def managed(roster: Roster, account: str | None = None) -> list[Managed]:
    """Every device the roster manages (of ``account``, when given)."""
    return [
        Managed(agent.account, agent.name, d.name, agent.user_id, d.device_id, d.contact_uri)
        for agent in roster.agents.values()
        if account is None or agent.account == account
        for d in agent.devices.values()
    ]


@dataclass
class Finding:
    agent: str
    device: str
    wanted: bool
    found: bool | None  # None: Exotel has no such device for this user
    action: str | None = None  # the key of the action sent to correct it


@dataclass
class Found:
    """What a read of managed devices found: their states, and those not as wanted."""

    states: list[DeviceState] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    resolved: list[ResolvedDevice] = field(default_factory=list)
    devices: int = 0


def compare(
    devices: Iterable[Managed],
    users: Sequence[User],
    desired: Mapping[str, str | None],
    at: datetime,
) -> Found:
    """Each of ``devices`` looked up in ``users`` (what Exotel returned, read at ``at``) and
    compared with ``desired`` (each agent's device that should be ON now; None: none)."""
    by_id = {u.id: u for u in users}
    by_uri = {d.contact_uri: (u, d) for u in users for d in u.devices if d.contact_uri}
    found = Found()
    for m in devices:
        wanted = desired.get(m.agent) == m.device
        found.devices += 1
        hit = _find(by_id, by_uri, m)
        if hit is None:
            found.findings.append(Finding(m.agent, m.device, wanted, None))
            continue
        user, real = hit
        found.states.append(
            DeviceState(
                account=m.account,
                user_id=user.id,
                device_id=real.id,
                agent=m.agent,
                device=m.device,
                contact_uri=real.contact_uri,
                available=real.available,
                confirmed_at=at,
            )
        )
        if m.device_id is None and m.contact_uri is not None:
            found.resolved.append(
                ResolvedDevice(
                    account=m.account,
                    contact_uri=m.contact_uri,
                    user_id=user.id,
                    device_id=real.id,
                    resolved_at=at,
                )
            )
        if bool(real.available) is not wanted:
            found.findings.append(Finding(m.agent, m.device, wanted, bool(real.available)))
    return found


def confirmed_since(store: ActionStore, found: Found, at: datetime) -> Found:
    """``found`` less the findings about devices whose state was confirmed after ``at`` (a switch
    answered while the read was under way): the read is older than what is known of them."""
    keys = {(s.account, s.user_id, s.device_id): (s.agent, s.device) for s in found.states}
    if not keys or not found.findings:
        return found
    newer: set[tuple[str | None, str | None]] = set()
    with store.sessions() as session:
        rows = session.execute(
            select(DeviceState.account, DeviceState.user_id, DeviceState.device_id).where(
                DeviceState.confirmed_at > at
            )
        )
        for row in rows:
            named = keys.get(tuple(row))  # type: ignore[arg-type]
            if named is not None:
                newer.add(named)
    if not newer:
        return found
    findings = [f for f in found.findings if (f.agent, f.device) not in newer]
    return Found(found.states, findings, found.resolved, found.devices)


def record(
    store: ActionStore,
    found: Found,
    kind: CheckKind,
    at: datetime,
    reads: int | None = None,
    settles: Iterable[tuple[str, str, str]] = (),
) -> None:
    """Write what a read sent at ``at`` found, in one transaction: each device's state unless a
    newer one was confirmed meanwhile (a switch answered after the read was sent), the contact
    URIs it resolved, the read-backs it settles (``settles``: (account, user id, device id) of
    devices it read, or found missing; only those due by ``at``), and the check itself."""
    with store.sessions.begin() as session:
        if found.states:
            table = DeviceState.__table__
            stmt = upsert(store.engine, table)
            keys = ("account", "user_id", "device_id")
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=list(keys),
                    set_={c.name: stmt.excluded[c.name] for c in table.c if c.name not in keys},
                    where=table.c.confirmed_at <= stmt.excluded.confirmed_at,
                ),
                [{c.name: getattr(s, c.name) for c in table.c} for s in found.states],
            )
            timeline.mark(store.engine, session, [timeline.mark_of(s) for s in found.states])
        if found.resolved:
            table = ResolvedDevice.__table__
            stmt = upsert(store.engine, table)
            session.execute(
                stmt.on_conflict_do_nothing(index_elements=["account", "contact_uri"]),
                [{c.name: getattr(r, c.name) for c in table.c} for r in found.resolved],
            )
        settled = set(settles) | {(s.account, s.user_id, s.device_id) for s in found.states}
        due = session.execute(
            select(ReadBack.account, ReadBack.user_id, ReadBack.device_id).where(
                ReadBack.due_at <= at
            )
        )
        for a, u, d in (tuple(row) for row in due):
            if (a, u, d) in settled:
                session.execute(
                    delete(ReadBack).where(
                        ReadBack.account == a,
                        ReadBack.user_id == u,
                        ReadBack.device_id == d,
                        ReadBack.due_at <= at,
                    )
                )
        session.add(
            RemoteCheck(
                at=at,
                kind=kind,
                reads=reads,
                devices=found.devices,
                drifted=len(found.findings),
                findings=[f.__dict__ for f in found.findings],
            )
        )


@dataclass
class RemoteReport:
    at: datetime
    devices: int = 0
    findings: list[Finding] = field(default_factory=list)
    enqueued: int = 0


def check(
    roster: Roster,
    desired: Mapping[str, str | None],
    store: ActionStore,
    dispatcher: Dispatcher,
    client_for: Callable[[Account], ExotelClient],
    now: datetime,
) -> RemoteReport:
    """Read every managed device from Exotel, record it, correct drift; raise RemoteError when
    an account cannot be read (nothing is recorded for it then). ``desired`` is each agent's
    device that should be ON now (None: none), as the scheduler wants it: the roster's, as the
    holds in force change it, so that a held device is no drift."""
    report = RemoteReport(now)
    with store.sessions() as session:
        busy = busy_devices(session)
    total = Found()
    for account in roster.accounts.values():
        devices = managed(roster, account.name)
        if not devices:
            continue
        outcome = client_for(account).list_users()
        if not outcome.ok:
            raise RemoteError(f"account {account.name}: reading its users: {outcome.summary()}")
        found = compare(devices, outcome.users, desired, now)
        total.states += found.states
        total.resolved += found.resolved
        total.findings += found.findings
        total.devices += found.devices
    fixes: list[NewAction] = []
    for finding in total.findings:
        if finding.found is None or (finding.agent, finding.device) in busy:
            continue  # missing in Exotel; or an action under way will set it
        agent = roster.agents[finding.agent]
        key = f"remote:{agent.account}/{finding.agent}/{finding.device}/{now.isoformat()}"
        fixes.append(
            for_device(
                roster, finding.agent, finding.device, finding.wanted,
                key=key, source=Source.RECONCILE, due_at=now,
            )
        )  # fmt: skip
        finding.action = key
    record(store, total, CheckKind.REMOTE, now)
    report.devices, report.findings = total.devices, total.findings
    if fixes:
        store.record(fixes, now)
        report.enqueued = len(store.enqueue([f.key for f in fixes], dispatcher, now))
    return report


def _find(
    by_id: dict[str, User], by_uri: dict[str, tuple[User, Device]], m: Managed
) -> tuple[User, Device] | None:
    if m.user_id is not None and m.device_id is not None:
        user = by_id.get(m.user_id)
        if user is None:
            return None
        return next(((user, d) for d in user.devices if d.id == m.device_id), None)
    if m.contact_uri is not None:
        return by_uri.get(m.contact_uri)
    return None
