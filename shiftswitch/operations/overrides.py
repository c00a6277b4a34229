"""The stored roster's overrides, one at a time: add, list, remove. Each edit is a new version
of the roster, validated whole (overlapping overrides, conflicts)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shiftswitch.operations.context import Operations
from shiftswitch.problems import Refused, RosterError, count, invalid, not_found, quote
from shiftswitch.reports import iso
from shiftswitch.roster.dump import local_time
from shiftswitch.roster.fields import CALENDAR, REASON_MAX, within_calendar
from shiftswitch.roster.model import Override, Roster, parse_instant
from shiftswitch.roster_tables import RosterOverride
from shiftswitch.sources.store import NoRoster, RosterStore, Written
from shiftswitch.sources.tables import override_key


@dataclass(frozen=True, slots=True)
class Edited:
    """An override added or removed: its row, what it says, and the roster version made."""

    row: RosterOverride
    text: str  # "asha: mobile ON from ... to ..."
    written: Written
    cut_at: datetime | None = None  # a removed override that was in force: cut at this instant


def add(
    ops: Operations,
    agent: str,
    *,
    device: str | None,
    off: bool,
    start: str,
    end: str,
    by: str,
    reason: str | None = None,
) -> Edited:
    """Add an override for ``agent``: ``device`` ON (its others OFF) or, with ``off``, every
    device OFF, from ``start`` to ``end`` (roster zone unless they carry an offset; ``now``),
    with why (``reason``: one line, at most :data:`REASON_MAX` characters)."""
    if (device is None) == (not off):
        raise invalid("give --device D (that device ON) or --off (every device OFF)")
    reason = (reason or "").strip() or None
    if reason is not None and ("\n" in reason or len(reason) > REASON_MAX):
        raise invalid(f"one line of at most {REASON_MAX} characters", place="reason")
    now = ops.clock.now()
    store = ops.roster_store()
    made: list[Override] = []
    listed: list[Override] = []

    def build(before: Roster | None) -> Roster:
        if before is None:
            raise NoRoster()
        if agent not in before.agents:
            raise not_found(f"unknown agent {quote(agent)} in the stored roster", place="agent")
        devices = before.agents[agent].devices
        if device is not None and device not in devices:
            raise not_found(
                f"unknown device {quote(device)} of agent {quote(agent)}; "
                f"it has {', '.join(devices)}",
                place="device",
            )
        begin = instant(start, before, now, "from", end=False)
        finish = instant(end, before, now, "to", end=True)
        if finish <= begin:
            raise invalid("must be after the start (from)", place="to")
        if finish <= now:
            raise invalid("is in the past; the override would never apply", place="to")
        new = Override(
            len(before.overrides), agent, device, begin, finish, before.zone, reason=reason
        )
        made.append(new)
        listed.extend((*before.overrides, new))
        return _with_overrides(before, tuple(listed))

    try:
        written = store.write(build, source=f"override add {agent}", by=by, now=now)
    except RosterError as exc:
        raise Refused(_refused_override(exc, listed, store)) from None
    row = next(r for r in store.overrides() if override_key(r) == override_key(made[-1]))
    return Edited(row, describe(row, written.roster), written)


@dataclass(frozen=True, slots=True)
class Listed:
    row: RosterOverride
    state: str  # "in force", "ahead", "over"

    def as_json(self) -> dict[str, Any]:
        r = self.row
        return {
            "id": r.id,
            "agent": r.agent,
            "device": r.device,
            "off": r.device is None,
            "from": iso(r.starts_at),
            "to": iso(r.ends_at),
            "state": self.state,
            "reason": r.reason,
        }


def listing(ops: Operations, *, show_all: bool = False) -> list[Listed]:
    """The stored roster's overrides in force or ahead (``show_all``: also those over)."""
    now = ops.clock.now()
    return [
        Listed(r, when(r.starts_at, r.ends_at, now))
        for r in ops.roster_store().overrides()
        if show_all or r.ends_at > now
    ]


def remove(ops: Operations, override_id: int, *, by: str) -> Edited:
    """Remove an override; one in force is cut at now instead (what it did stays in the
    history, and the roster applies again from now)."""
    now = ops.clock.now().replace(microsecond=0)
    store = ops.roster_store()
    row = next((r for r in store.overrides() if r.id == override_id), None)
    if row is None:
        raise not_found(f"no override {override_id} (see 'shiftswitch override list')")
    if row.ends_at <= now:
        raise Refused(
            f"override {override_id} ended at {row.ends_at:%Y-%m-%d %H:%M}Z; "
            "nothing to remove (it stays in the roster's history)"
        )
    cut = row.starts_at < now
    key = (row.agent, row.device, row.starts_at, row.ends_at)

    def build(before: Roster | None) -> Roster:
        if before is None:
            raise NoRoster()
        kept: list[Override] = []
        found = False
        for o in before.overrides:
            if (o.agent, o.device, o.start, o.end) == key:
                found = True
                if cut:
                    kept.append(Override(o.index, o.agent, o.device, o.start, now, o.zone))
            else:
                kept.append(o)
        if not found:
            raise Refused(f"override {override_id} was changed meanwhile; try again")
        return _with_overrides(before, tuple(kept))

    written = store.write(build, source=f"override remove {override_id}", by=by, now=now)
    return Edited(row, describe(row, written.roster), written, cut_at=now if cut else None)


def instant(text: str, roster: Roster, now: datetime, place: str, *, end: bool) -> datetime:
    """A date, a date-time (roster zone unless it carries an offset) or ``now``."""
    if text.strip().lower() == "now":
        return now.replace(microsecond=0)
    parsed = parse_instant(text, roster.zone, end=end)
    if parsed is None or not within_calendar(parsed):
        raise invalid(
            f"{quote(text)} is not a date or date-time {CALENDAR}; write e.g. 2026-12-01T09:00, "
            "2026-12-24 or now",
            place=place,
        )
    return parsed


def describe(row: RosterOverride, roster: Roster) -> str:
    state = f"{row.device} ON" if row.device else "every device OFF"
    zone = roster.zone
    why = f" ({row.reason})" if row.reason else ""
    return (
        f"{row.agent}: {state} from {local_time(row.starts_at, zone)} "
        f"to {local_time(row.ends_at, zone)}{why}"
    )


def _refused_override(exc: RosterError, listed: Sequence[Override], store: RosterStore) -> str:
    """Why an override was refused, in one line, naming the overrides by the ids ``override
    list`` shows (the validator knows them by their place in the roster)."""
    ids = {override_key(row): row.id for row in store.overrides()}

    def name(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(listed):
            return match.group(0)
        if index == len(listed) - 1:
            return "the new override"
        return f"override {ids.get(override_key(listed[index]), '?')}"

    first = _OVERRIDE_PLACE.sub(name, exc.problems[0].render())
    more = len(exc.problems) - 1
    return (
        first
        + (f" (and {count(more, 'more problem')})" if more else "")
        + ("; 'shiftswitch override list' shows them" if "override " in first else "")
    )


_OVERRIDE_PLACE = re.compile(r"overrides\[(\d+)\]")


def _with_overrides(roster: Roster, overrides: tuple[Override, ...]) -> Roster:
    return replace(roster, overrides=overrides, warnings=())


def when(start: datetime, end: datetime, now: datetime) -> str:
    return "over" if end <= now else "in force" if start <= now else "ahead"
