"""The scheduler's dealings with the database around a reconcile: what it weighs
(:func:`known_devices`), and what it sends to the devices that differ from their desired state
(:func:`corrections`): one action each (source ``reconcile``), keyed after the device's latest
action so that a reconcile is recorded once per change, and none again to a device Exotel
refused for good (4xx) the same correction; and which unsent actions a roster put in force no
longer wants (:func:`supersede_unwanted`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import bindparam, select, update

from scheduler import decisions
from scheduler.decisions import Known, Unsent
from shiftswitch import queries
from shiftswitch.actions import ActionStore, NewAction, for_device
from shiftswitch.db import CHUNK, chunks
from shiftswitch.models import (
    UNSENT_STATUSES,
    Action,
    DeviceState,
    ReadBack,
    ResolvedDevice,
    Source,
    Status,
    busy_devices,
)
from shiftswitch.roster.model import Agent, Device, Roster

# The latest action of one roster device: a reverse seek on ix_actions_device_latest.
_LATEST = (
    select(Action.id)
    .where(
        Action.account == bindparam("account"),
        Action.agent == bindparam("agent"),
        Action.device == bindparam("device"),
    )
    .order_by(Action.id.desc())
    .limit(1)
)

Device3 = tuple[str, str, str]  # (account, agent, device)


def latest_actions(store: ActionStore, devices: set[Device3]) -> dict[Device3, Action]:
    """The latest recorded action of each (account, agent, device), where there is one.

    Asked only for the devices that differ, one index lookup each
    (``ix_actions_device_latest``), so its cost follows them, not the length of the history.
    """
    ids: list[int] = []
    with store.engine.connect() as conn:
        for account, agent, device in sorted(devices):
            found = conn.execute(
                _LATEST, {"account": account, "agent": agent, "device": device}
            ).scalar()
            if found is not None:
                ids.append(found)
    latest: dict[Device3, Action] = {}
    with store.sessions() as session:
        for chunk in chunks(ids, CHUNK):
            for a in session.scalars(select(Action).where(Action.id.in_(chunk))):
                assert a.agent is not None and a.device is not None
                latest[(a.account, a.agent, a.device)] = a
    return latest


def known_devices(store: ActionStore) -> Known:
    """What a reconcile weighs (:class:`~scheduler.decisions.Known`): the devices with an
    action under way, those Exotel confirmed, the contact URIs resolved, the read-backs due."""
    with store.sessions() as session:
        busy = frozenset(busy_devices(session))
        confirmed = {
            (s.account, s.user_id, s.device_id): s.available
            for s in session.scalars(select(DeviceState))
        }
        resolved = {
            (r.account, r.contact_uri): (r.user_id, r.device_id)
            for r in session.scalars(select(ResolvedDevice))
        }
        read_backs = {
            (r.account, r.user_id, r.device_id): r.due_at for r in session.scalars(select(ReadBack))
        }
    return Known(busy, confirmed, resolved, read_backs)


def corrections(
    store: ActionStore,
    roster: Roster,
    differing: Iterable[tuple[Agent, Device, bool]],
    now: datetime,
) -> list[NewAction]:
    """The actions that set each (agent, device, wanted) that differs."""
    differing = list(differing)
    last = latest_actions(store, {(a.account, a.name, d.name) for a, d, _ in differing})
    new: list[NewAction] = []
    for agent, device, wanted in differing:
        previous = last.get((agent.account, agent.name, device.name))
        if previous is not None and _refused_for_good(previous, wanted):
            continue  # Exotel said no (4xx) to this very reconcile: not again and again
        after = previous.id if previous is not None else 0
        key = (
            f"reconcile:{agent.account}/{agent.name}/{device.name}/"
            f"{'on' if wanted else 'off'}/after:{after}"
        )
        new.append(
            for_device(
                roster,
                agent.name,
                device.name,
                wanted,
                key=key,
                source=Source.RECONCILE,
                due_at=now,
            )
        )
    return new


def _refused_for_good(action: Action, wanted: bool) -> bool:
    """A reconcile to the same state that Exotel refused with a final (4xx) answer."""
    return (
        action.source == Source.RECONCILE
        and action.wants_on is wanted
        and action.status == Status.FAILED
        and action.last_http_code is not None
        and 400 <= action.last_http_code < 500
    )


def supersede_unwanted(store: ActionStore, desired: Mapping[str, str | None], now: datetime) -> int:
    """Mark ``superseded`` the actions not yet sent (pending, queued, or waiting for a retry)
    that ``desired`` (each agent's device now) no longer wants: an ON for a device that should
    be OFF now, or an OFF for the device that should be ON. Manual actions and those a worker
    is applying are left alone. How many were found unwanted."""
    with store.sessions.begin() as session:
        unsent = queries.unsent_roster_switches(session)
        unwanted = decisions.unwanted(
            (Unsent(id_, agent or "", device, on) for id_, agent, device, on in unsent), desired
        )
        for ids in chunks(unwanted, CHUNK):
            session.execute(
                update(Action)
                .where(Action.id.in_(ids), Action.status.in_(UNSENT_STATUSES))
                .values(
                    status=Status.SUPERSEDED,
                    finished_at=now,
                    retry_at=None,
                    reason="no longer wanted by the roster put in force at "
                    f"{now:%Y-%m-%d %H:%M:%S}Z",
                ),
                execution_options={"synchronize_session": False},
            )
    return len(unwanted)
