"""Writing a :class:`~shiftswitch.roster.model.Roster` back as YAML (README: Roster format).

:func:`dump` gives the roster's canonical text: every value quoted, sections and entries in a
fixed order (assignments by start, then agent), the bounds of assignments and overrides as local
times with their offset. Reading the text back
(:func:`shiftswitch.roster.loader.parse_roster`) gives the same roster, and dumping that gives the
same text, so two rosters are equal exactly when their dumps are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shiftswitch.hosts import REGIONS
from shiftswitch.roster.model import Assignment, Override, Roster, Shift


def dump(roster: Roster) -> str:
    out = ["version: 1", f"timezone: {_q(roster.zone.key)}", "accounts:"]
    for account in sorted(roster.accounts.values(), key=lambda a: a.name):
        out += [f"  {account.name}:", f"    sid: {_q(account.sid)}"]
        if account.region:
            out.append(f"    region: {_q(account.region)}")
        if account.base_url != REGIONS.get(account.region or ""):
            out.append(f"    base_url: {_q(account.base_url)}")
        out.append(f"    rate_limit: {_q(str(account.rate_limit))}")
        if account.ramp is not None:
            out.append(f"    ramp: {_q(duration(account.ramp))}")
    out.append("agents:")
    for agent in sorted(roster.agents.values(), key=lambda a: a.name):
        out += [f"  {_key(agent.name)}:", f"    account: {_q(agent.account)}"]
        if agent.user_id is not None:
            out.append(f"    user_id: {_q(agent.user_id)}")
        if agent.contact is not None:
            out.append(f"    contact: {_q(agent.contact)}")
        out.append("    devices:")
        out += [f"      {_key(d.name)}: {_q(d.ref)}" for d in agent.devices.values()]
    out.append("shifts:" if roster.shifts else "shifts: []")
    for shift in roster.shifts:
        out += _shift(shift, roster)
    out += assignments_section(roster)
    if roster.overrides:
        out.append("overrides:")
        out += [_override(o, roster) for o in roster.overrides]
    return "\n".join(out) + "\n"


def duration(d: timedelta) -> str:
    """``9h``, ``1h30m``, ``1d2h``: the form the roster reads (``0`` for no time at all)."""
    seconds = int(d.total_seconds())
    if seconds == 0:
        return "0"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def local_time(at: datetime, zone: ZoneInfo) -> str:
    """An instant as the roster writes it: local time in ``zone``, with its offset."""
    local = at.astimezone(zone)
    return local.isoformat(timespec="minutes" if not local.second else "seconds")


def _shift(shift: Shift, roster: Roster) -> list[str]:
    out = [f"  - name: {_q(shift.name)}", f"    start: {_q(shift.start)}"]
    if shift.duration is not None:
        out.append(f"    duration: {_q(duration(shift.duration))}")
    if shift.end is not None:
        out.append(f"    end: {_q(shift.end)}")
    if shift.zone.key != roster.zone.key:
        out.append(f"    timezone: {_q(shift.zone.key)}")
    if shift.skip_dates:
        out.append(
            f"    skip_dates: [{', '.join(d.isoformat() for d in sorted(shift.skip_dates))}]"
        )
    if shift.ramp is not None:
        out.append(f"    ramp: {_q(duration(shift.ramp))}")
    out.append(f"    members: [{', '.join(_q(str(m)) for m in shift.members)}]")
    return out


def _override(o: Override, roster: Roster) -> str:
    fields = [f"agent: {_q(o.agent)}"]
    fields.append(f"device: {_q(o.device)}" if o.device is not None else "off: true")
    fields += [
        f"from: {_q(local_time(o.start, o.zone))}",
        f"to: {_q(local_time(o.end, o.zone))}",
    ]
    if o.zone.key != roster.zone.key:
        fields.append(f"timezone: {_q(o.zone.key)}")
    if o.reason:
        fields.append(f"reason: {_q(o.reason)}")
    return "  - {" + ", ".join(fields) + "}"


def assignments_section(roster: Roster) -> list[str]:
    """The lines of the ``assignments:`` section (none when there are no assignments)."""
    if not roster.assignments:
        return []
    ordered = sorted(roster.assignments, key=assignment_order)
    times: dict[tuple[datetime, str], str] = {}  # a month repeats a few thousand instants

    def local(at: datetime, zone: ZoneInfo) -> str:
        key = (at, zone.key)
        text = times.get(key)
        if text is None:
            text = times[key] = _q(local_time(at, zone))
        return text

    return ["assignments:", *(_assignment(a, roster, local) for a in ordered)]


def assignment_order(a: Assignment) -> tuple[datetime, str, bool, str, datetime]:
    """The order assignments are written in: by start and agent, a break after the work it
    interrupts."""
    return (a.start, a.agent, a.off, a.device or "", a.end)


def _assignment(a: Assignment, roster: Roster, local: Callable[[datetime, ZoneInfo], str]) -> str:
    fields = [f"agent: {_q(a.agent)}"]
    if a.device is not None:
        fields.append(f"device: {_q(a.device)}")
    fields += [f"from: {local(a.start, a.zone)}", f"to: {local(a.end, a.zone)}"]
    if a.off:
        fields.append("off: true")
    if a.shift is not None:
        fields.append(f"shift: {_q(a.shift)}")
    if a.activity is not None:
        fields.append(f"activity: {_q(a.activity)}")
    if a.zone.key != roster.zone.key:
        fields.append(f"timezone: {_q(a.zone.key)}")
    return "  - {" + ", ".join(fields) + "}"


_PLAIN = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but for " and \: quoted as it is


def _q(text: str) -> str:
    if _PLAIN.fullmatch(text):
        return f'"{text}"'
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _key(name: str) -> str:
    return name  # names are letters, digits and . _ @ - (checked by the loader)
