"""The common case of a roster's two largest parts, read at once: an agent, and a shift's
members (README: Large rosters).

A roster of 100,000 agents is almost all agents and shift members, and nearly every one of
them is right. Each is read here in one pass that makes no place and no message. Whatever is
not plainly right (a value of the wrong kind, a name used twice, an unknown account, a device
id without a user id) gives None, and the loader reads that entry the long way, which checks
the same rules and names each problem with its place. So the two agree wherever this gives a
value, and the tests compare them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from shiftswitch.roster.fields import names_credential
from shiftswitch.roster.model import EMAIL, NAME, Account, Agent, Device, Member, classify_device
from shiftswitch.roster.yamldoc import Value

AGENT_KEYS = frozenset({"account", "user_id", "devices", "contact"})
AGENT_REQUIRED = frozenset({"account", "devices"})

# Where each device's reference was first seen: (account, reference in lower case) → (agent,
# device). One device may serve one agent of an account.
Refs = dict[tuple[str, str], tuple[str, str]]


def plain_agent(
    name: str, body: Value, accounts: Mapping[str, Account], refs: Refs
) -> Agent | None:
    """The agent ``name`` when every check passes at once (its devices then added to
    ``refs``), else None and ``refs`` unchanged."""
    if not isinstance(body, dict) or not NAME.match(name):
        return None
    keys = body.keys()
    if not (AGENT_REQUIRED <= keys <= AGENT_KEYS):
        return None
    account = _text(body["account"])
    if account is None or account not in accounts:
        return None
    user_id = body.get("user_id")
    if user_id is not None:
        user_id = _text(user_id)
        if user_id is None:
            return None
    contact = None
    if "contact" in body:
        contact = _text(body["contact"])
        if contact is None or not EMAIL.match(contact):
            return None
    section = body["devices"]
    if not isinstance(section, dict) or not section:
        return None
    devices: dict[str, Device] = {}
    mine: dict[tuple[str, str], str] = {}
    for device, value in section.items():
        if not isinstance(value, str) or not (ref := value.strip()):
            return None
        kind = classify_device(ref)
        key = (account, ref.lower())
        if (
            kind is None
            or (kind == "id" and user_id is None)
            or key in refs
            or key in mine
            or names_credential(device)
            or not NAME.match(device)
        ):
            return None
        devices[device] = Device(device, ref, kind)
        mine[key] = device
    for key, device in mine.items():
        refs[key] = (name, device)
    return Agent(name, account, user_id, MappingProxyType(devices), contact)


def plain_members(value: list[Value], agents: Mapping[str, Agent]) -> tuple[Member, ...] | None:
    """A shift's members (``agent`` or ``agent:device``) when each names a known agent once, and
    one of its devices (or the agent has one), else None."""
    out: list[Member] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            return None
        name, _, device = item.partition(":")
        name, device = name.strip(), device.strip()
        agent = agents.get(name)
        if agent is None or name in seen:
            return None
        if not device:
            if len(agent.devices) != 1:
                return None
            device = next(iter(agent.devices))
        elif device not in agent.devices:
            return None
        seen.add(name)
        out.append(Member(name, device))
    return tuple(out)


def _text(value: Value) -> str | None:
    """A value that is text, stripped; None when it is not text or is blank."""
    return (value.strip() or None) if isinstance(value, str) else None
