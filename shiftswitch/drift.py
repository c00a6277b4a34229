"""``reconcile --remote``: read each managed device's real state from Exotel and correct drift.

The ordinary reconcile trusts ``device_states`` (what Exotel last confirmed to us). A device
switched by hand in Exotel's dashboard, or by another tool, drifts from it unseen. A remote
check reads every user of each roster account (``GET /users``, paged, at the account's
request budget shared with the workers), records the real state of each managed device in
``device_states``, and enqueues a ``reconcile`` action for each one whose real state differs
from the one the roster wants now (unless an action for it is already under way). What it
found is recorded in ``remote_checks``; ``shiftswitch status`` shows the last one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from shiftswitch.actions import ActionStore, NewAction, for_device
from shiftswitch.broker import Dispatcher
from shiftswitch.exotel import Device, ExotelClient, User
from shiftswitch.models import DeviceState, RemoteCheck, Source, busy_devices
from shiftswitch.roster.model import Account, Roster


class RemoteError(Exception):
    """Exotel did not answer a remote check for an account; the message says why."""


@dataclass
class Finding:
    agent: str
    device: str
    wanted: bool
    found: bool | None  # None: Exotel has no such device for this user
    action: str | None = None  # the key of the action sent to correct it


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
    states: list[DeviceState] = []
    fixes: list[NewAction] = []
    for account in roster.accounts.values():
        agents = [a for a in roster.agents.values() if a.account == account.name]
        if not agents:
            continue
        outcome = client_for(account).list_users()
        if not outcome.ok:
            raise RemoteError(f"account {account.name}: reading its users: {outcome.summary()}")
        users = {u.id: u for u in outcome.users}
        by_uri = {d.contact_uri: (u, d) for u in outcome.users for d in u.devices if d.contact_uri}
        for agent in agents:
            for device in agent.devices.values():
                found = _find(users, by_uri, agent.user_id, device.device_id, device.contact_uri)
                wanted = desired.get(agent.name) == device.name
                report.devices += 1
                if found is None:
                    report.findings.append(Finding(agent.name, device.name, wanted, None))
                    continue
                user, real = found
                states.append(
                    DeviceState(
                        account=account.name,
                        user_id=user.id,
                        device_id=real.id,
                        agent=agent.name,
                        device=device.name,
                        contact_uri=real.contact_uri,
                        available=real.available,
                        confirmed_at=now,
                    )
                )
                if bool(real.available) is wanted:
                    continue
                finding = Finding(agent.name, device.name, wanted, bool(real.available))
                report.findings.append(finding)
                if (agent.name, device.name) in busy:
                    continue  # an action under way will set it
                key = f"remote:{account.name}/{agent.name}/{device.name}/{now.isoformat()}"
                fixes.append(
                    for_device(
                        roster, agent.name, device.name, wanted,
                        key=key, source=Source.RECONCILE, due_at=now,
                    )
                )  # fmt: skip
                finding.action = key
    _record(store, states, report)
    if fixes:
        store.record(fixes, now)
        report.enqueued = len(store.enqueue([f.key for f in fixes], dispatcher, now))
    return report


def _find(
    users: dict[str, User],
    by_uri: dict[str, tuple[User, Device]],
    user_id: str | None,
    device_id: str | None,
    contact_uri: str | None,
) -> tuple[User, Device] | None:
    if user_id is not None and device_id is not None and user_id in users:
        user = users[user_id]
        return next(((user, d) for d in user.devices if d.id == device_id), None)
    if contact_uri is not None:
        return by_uri.get(contact_uri)
    return None


def _record(store: ActionStore, states: list[DeviceState], report: RemoteReport) -> None:
    with store.sessions.begin() as session:
        store.confirm(session, states)
        session.add(
            RemoteCheck(
                at=report.at,
                devices=report.devices,
                drifted=len(report.findings),
                findings=[f.__dict__ for f in report.findings],
            )
        )
