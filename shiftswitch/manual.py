"""What a person asks for by hand (``device on|off``, ``device set-number``): the roster
device they name, checked, and the action for it. Naming something the roster does not have
is a :class:`~shiftswitch.problems.Refused` that says what it has instead."""

from __future__ import annotations

import uuid
from datetime import datetime
from http import HTTPStatus
from typing import Any

from shiftswitch.actions import NewAction, for_device, for_ids
from shiftswitch.models import Source
from shiftswitch.problems import Refused, quote
from shiftswitch.roster.model import Roster


def manual_action(
    roster: Roster,
    available: bool,
    now: datetime,
    *,
    agent: str | None = None,
    device: str | None = None,
    account: str | None = None,
    user_id: str | None = None,
    device_id: str | None = None,
) -> NewAction:
    """The action for ``device on|off``: a roster agent's device, or an Exotel user's device."""
    key = manual_key("on" if available else "off")
    if agent is not None:
        device = roster_device(roster, agent, device)
        return for_device(
            roster, agent, device, available, key=key, source=Source.MANUAL, due_at=now
        )
    if account is None or user_id is None or device_id is None:
        raise unknown("name an AGENT (and DEVICE), or give --account, --user and --device")
    if account not in roster.accounts:
        raise unknown(f"unknown account {quote(account)}; {_known('accounts', roster.accounts)}")
    return for_ids(
        roster.accounts[account], user_id, device_id, available,
        key=key, source=Source.MANUAL, due_at=now,
    )  # fmt: skip


def manual_key(what: str) -> str:
    """A new key for an on-demand action (``what``: on, off, number)."""
    return f"manual:{uuid.uuid4().hex}/{what}"


def roster_device(roster: Roster, agent: str, device: str | None) -> str:
    """The name of ``agent``'s device ``device`` (None: the agent's only device); raise
    :class:`Refused` (404) naming what the roster has instead."""
    if agent not in roster.agents:
        raise unknown(unknown_agent(roster, agent))
    devices = roster.agents[agent].devices
    if device is None:
        if len(devices) != 1:
            raise unknown(
                f"agent {quote(agent)} has {len(devices)} devices; name one: {', '.join(devices)}"
            )
        device = next(iter(devices))
    if device not in devices:
        raise unknown(
            f"agent {quote(agent)} has no device {quote(device)}; {_known('devices', devices)}"
        )
    return device


def unknown_agent(roster: Roster, agent: str) -> str:
    """Why ``agent`` is not found, with the agents the roster has."""
    return f"unknown agent {quote(agent)}; {_known('agents', roster.agents)}"


def unknown(message: str) -> Refused:
    """Something named that the roster does not have: a 404, and the command line's usage
    error."""
    return Refused(message, status=HTTPStatus.NOT_FOUND, usage=True)


def _known(what: str, names: Any) -> str:
    listed = sorted(names)
    shown = ", ".join(listed[:10]) + (", ..." if len(listed) > 10 else "")
    return f"{what} are: {shown}" if listed else f"there are no {what}"
