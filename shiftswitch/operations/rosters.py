"""The roster in the database, stored whole: compare a new one with it, store it as a version,
export it, list its versions, roll back to one. (Its overrides one at a time:
:mod:`.overrides`.) An invalid roster raises :class:`~shiftswitch.problems.RosterError` with
every problem and its place; nothing is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shiftswitch.models import DeviceState
from shiftswitch.operations.context import Operations
from shiftswitch.planning.diff import RosterDiff, transition_changes
from shiftswitch.planning.transitions import Transition
from shiftswitch.planning.validation import validate_text
from shiftswitch.problems import Refused, RosterError, not_found
from shiftswitch.reports import iso
from shiftswitch.roster import canonical
from shiftswitch.roster.dump import dump
from shiftswitch.roster.model import Roster
from shiftswitch.sources.store import NoRoster, RosterStore, Written, left_on


@dataclass(frozen=True, slots=True)
class Compared:
    """What storing a roster would change: names, and the transitions in the next hours."""

    against: str  # "the stored roster (version 3)", "an empty database"
    diff: RosterDiff
    hours: float
    added: list[Transition]
    removed: list[Transition]
    left_on: list[DeviceState]  # devices it stops naming that Exotel last confirmed ON

    def as_json(self) -> dict[str, Any]:
        return {
            "against": self.against,
            "summary": self.diff.summary(),
            "changes": self.diff.lines(),
            "hours": self.hours,
            "added": [t.as_json() for t in self.added],
            "removed": [t.as_json() for t in self.removed],
            "left_on": [left_on_json(s) for s in self.left_on],
        }


def compare(ops: Operations, text: str, source: str, hours: float = 24.0) -> Compared:
    """Compare the roster ``text`` (from ``source``, for its problems' places) with the stored
    one. Changes nothing."""
    now = ops.clock.now()
    report = validate_text(text, now)
    if not report.ok:
        raise RosterError(report.errors, source)
    assert report.roster is not None
    store = ops.roster_store()
    try:
        number, before = store.current()
        against = f"the stored roster (version {number})"
    except NoRoster:
        before, against = None, "an empty database"
    added, removed = transition_changes(before, report.roster, now, now + timedelta(hours=hours))
    return Compared(
        against,
        RosterDiff.between(before, report.roster),
        hours,
        added,
        removed,
        devices_left_on(store, before, report.roster),
    )


def store(
    ops: Operations, text: str, *, source: str, by: str, origin: str | None = None
) -> Written:
    """Validate ``text`` and store it as the roster, as a new version (unchanged: none)."""
    return ops.roster_store().write(
        lambda _before: text, source=source, by=by, now=ops.clock.now(), origin=origin
    )


def rollback(ops: Operations, number: int, *, by: str) -> Written:
    """Store version ``number`` again, as a new version (validated again, as any import). Its
    assignments are read back without YAML (:mod:`~shiftswitch.roster.canonical`): a month of
    them is past what a YAML document may hold."""
    text = content(ops.roster_store(), number)
    if not canonical.split(text)[1]:
        return store(ops, text, source=f"rollback to {number}", by=by)

    def build(_before: Roster | None) -> str | Roster:
        try:
            return canonical.stored(text)
        except (RosterError, canonical.NotCanonical, ValueError):
            return text  # read whole as YAML, which names every problem

    return ops.roster_store().write(
        build, source=f"rollback to {number}", by=by, now=ops.clock.now()
    )


def export(ops: Operations, number: int | None = None) -> str:
    """The stored roster (or version ``number``) as YAML that imports back to the same roster."""
    roster_store = ops.roster_store()
    return dump(roster_store.current()[1]) if number is None else content(roster_store, number)


def versions(ops: Operations) -> list[dict[str, Any]]:
    """The roster's versions, oldest first, as ``roster versions --json`` prints them."""
    roster_store = ops.roster_store()
    stored = roster_store.current_version()
    return [
        {
            "number": v.number,
            "at": iso(v.created_at),
            "by": v.created_by,
            "source": v.source,
            "summary": v.summary,
            "stored": v.number == stored,
        }
        for v in roster_store.versions()
    ]


def content(roster_store: RosterStore, number: int) -> str:
    version = roster_store.version(number)
    if version is None:
        known = [v.number for v in roster_store.versions()]
        span = f"versions are {known[0]} to {known[-1]}" if known else "there are no versions yet"
        raise not_found(f"no roster version {number}: {span} (see 'roster versions')")
    if version.content is None:
        raise Refused(
            f"roster version {number} was recorded without its content (before this release)"
        )
    return version.content


def devices_left_on(
    roster_store: RosterStore, before: Roster | None, after: Roster
) -> list[DeviceState]:
    """Each device ``after`` stops naming that Exotel last confirmed ON: shiftswitch never
    touches a device the roster does not name, so it would stay ON."""
    with roster_store.sessions() as session:
        return left_on(session, before, after)


def written_json(written: Written, left: list[DeviceState]) -> dict[str, Any]:
    """What a write of the stored roster did, for the API."""
    return {
        "version": written.number,
        "unchanged": written.unchanged,
        "summary": written.diff.summary(),
        "changes": written.diff.lines(),
        "warnings": [w.render() for w in written.warnings],
        "left_on": [left_on_json(s) for s in left],
    }


def left_on_json(s: DeviceState) -> dict[str, Any]:
    return {
        "account": s.account,
        "agent": s.agent,
        "device": s.device,
        "user_id": s.user_id,
        "device_id": s.device_id,
        "confirmed_at": iso(s.confirmed_at),
    }


def left_on_warning(s: DeviceState) -> str:
    return (
        f"warning: {s.agent} {s.device} is ON (Exotel confirmed it "
        f"{s.confirmed_at:%Y-%m-%d %H:%M}Z) and the roster no longer names it, so "
        "shiftswitch will not turn it OFF; if no one should take its calls: "
        f"shiftswitch device off --user {s.user_id} --device {s.device_id} "
        f"--account {s.account}"
    )
