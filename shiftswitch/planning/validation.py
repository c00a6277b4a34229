"""Whole-roster validation: the shape checks of :mod:`shiftswitch.roster` plus conflicts in time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shiftswitch import heap
from shiftswitch.clock import as_utc
from shiftswitch.hosts import AllowedHosts
from shiftswitch.planning.planner import RAMP_LEAD, Conflict, Planner
from shiftswitch.problems import Place, Problem, RosterError, quote
from shiftswitch.roster import canonical
from shiftswitch.roster.dump import dump
from shiftswitch.roster.fields import CALENDAR, within_calendar
from shiftswitch.roster.loader import parse_document, read_text
from shiftswitch.roster.model import Roster
from shiftswitch.roster.yamldoc import LineOf, no_line

CONFLICT_HORIZON = timedelta(days=28)
RAMP_HORIZON = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of validating a roster: the roster when valid, and every problem found."""

    roster: Roster | None
    errors: tuple[Problem, ...]
    warnings: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return self.roster is not None and not self.errors


def check(
    roster: Roster, now: datetime, line: LineOf = no_line, planner: Planner | None = None
) -> list[Problem]:
    """Problems that need time: agents ON on two devices at once within 28 days of ``now``
    (each at the ``line`` of its place in the document); ``planner``: the roster's, if made."""
    now = as_utc(now)
    planner = planner or Planner(roster)
    return [
        _conflict_problem(roster, c, line) for c in planner.conflicts(now, now + CONFLICT_HORIZON)
    ]


def validate_text(text: str, now: datetime, hosts: AllowedHosts | None = None) -> Report:
    """Parse and check a roster document; never raises for problems in the document.
    ``hosts``: where an account's ``base_url`` may point (default: the environment's).
    A roster is one large tree of new objects and no cycles: the collector is kept off it
    while it is read and checked (halving the time for big rosters)."""
    with heap.paused():
        large = _large(text, now, hosts)
        if large is not None:
            return large
        try:
            roster, doc = parse_document(text, hosts)
        except RosterError as exc:
            return Report(None, tuple(exc.problems), ())
        planner = Planner(roster)
        errors = check(roster, now, doc.exact_line, planner)
        ramps = ramp_warnings(roster, now, doc.exact_line, planner) if not errors else []
    return Report(None if errors else roster, tuple(errors), (*roster.warnings, *ramps))


LARGE = 10_000  # assignments from which the roster's own lines of them are read without YAML


def _large(text: str, now: datetime, hosts: AllowedHosts | None) -> Report | None:
    """A roster with :data:`LARGE` assignments or more, written one a line as the roster writes
    them (a month of a large call centre, past what a YAML document may hold): its assignments
    read line by line, the rest as YAML, checked as any roster, each problem at its line. None
    for any other roster, or when a line is not as the roster writes it (then read whole)."""
    rest, entries, first = canonical.blanked(text)
    if len(entries) < LARGE:
        return None
    try:
        roster, doc = parse_document(rest, hosts)
        dated = canonical.assignments_of(entries, roster.zone)
    except (RosterError, canonical.NotCanonical, ValueError):
        return None
    report = validate_built(replace(roster, assignments=dated), now, hosts)

    def placed(p: Problem) -> Problem:
        if len(p.path) >= 2 and p.path[0] == "assignments" and isinstance(p.path[1], int):
            return replace(p, line=first + p.path[1])
        return replace(p, line=doc.line(p.path)) if p.path else p

    return Report(
        report.roster,
        tuple(map(placed, report.errors)),
        tuple(map(placed, report.warnings)),
    )


def validate_built(roster: Roster, now: datetime, hosts: AllowedHosts | None = None) -> Report:
    """Check a roster built from parts rather than read from a document: its assignments
    (dated shifts by the hundred thousand, as a WFM import makes them) checked as objects,
    and the rest as ``roster validate`` reads it, from its text; then conflicts in time over
    the whole. The same checks as :func:`validate_text` of its dump, without writing and
    reading every assignment as YAML."""
    with heap.paused():
        rest = validate_text(dump(replace(roster, assignments=(), warnings=())), now, hosts)
        if not rest.ok or rest.roster is None:
            return Report(None, tuple(replace(p, line=None) for p in rest.errors), ())
        built = replace(rest.roster, assignments=roster.assignments)
        errors = assignment_problems(built)
        ramps: list[Problem] = []
        if not errors:  # a planner needs assignments without problems
            planner = Planner(built)
            errors = check(built, now, planner=planner)
            ramps = ramp_warnings(built, now, planner=planner) if not errors else []
        dated = {a.agent for a in built.assignments}
        warnings = tuple(w for w in rest.warnings if not _idle_warning_of(w, dated))
    return Report(None if errors else built, tuple(errors), (*warnings, *ramps))


def assignment_problems(roster: Roster) -> list[Problem]:
    """What the loader would refuse in ``roster``'s assignments, had they been read: unknown
    agents and devices, ends not after starts, instants off the calendar."""
    out: list[Problem] = []
    for a in roster.assignments:
        place: Place = ("assignments", a.index)
        agent = roster.agents.get(a.agent)
        if agent is None:
            out.append(Problem((*place, "agent"), f"unknown agent {quote(a.agent)}"))
        elif a.device is not None and a.device not in agent.devices:
            out.append(Problem((*place, "device"), f"unknown device {quote(a.device)} of "
                               f"agent {quote(a.agent)}"))  # fmt: skip
        elif a.device is None and not a.off:
            out.append(Problem(place, "give device, or off: true for a break"))
        if a.end <= a.start:
            out.append(Problem((*place, "to"), "must be after from"))
        elif not (within_calendar(a.start) and within_calendar(a.end)):
            out.append(Problem(place, f"too far out; give instants {CALENDAR}"))
    return out


def _idle_warning_of(warning: Problem, agents: set[str]) -> bool:
    """Whether ``warning`` is the "in no shift" warning of one of ``agents``, who have
    assignments the text it was found in left out."""
    path = warning.path
    return len(path) == 2 and path[0] == "agents" and path[1] in agents


def ramp_warnings(
    roster: Roster, now: datetime, line: LineOf = no_line, planner: Planner | None = None
) -> list[Problem]:
    """Shift starts in the next 7 days whose ONs cannot all be sent within their ramp at the
    account's rate limit: one warning per shift (its first such start), naming how late."""
    planner = planner or Planner(roster)
    if not planner.max_ramp:
        return []
    now = as_utc(now)
    shifts = {s.name: s for s in roster.shifts}
    dated = {a.label: a for a in roster.assignments}
    seen: set[str] = set()
    out: list[Problem] = []
    for f in planner.shortfalls(now, now + RAMP_HORIZON):
        if f.shift in seen:
            continue
        seen.add(f.shift)
        shift = shifts.get(f.shift)
        path: Place = (
            ("shifts", shift.index, "ramp")
            if f.from_shift and shift is not None
            else ("accounts", f.account, "ramp")
        )
        zone = shift.zone if shift is not None else dated[f.shift].zone
        late = f.needed - RAMP_LEAD - f.ramp  # the last ON's send, after the start
        when = (
            f"{_minutes(late)} after the start"
            if late > timedelta(0)
            else f"only {_minutes(-late)} before the start"
        )
        rate = roster.accounts[f.account].rate_limit
        message = (
            f"{'shift' if shift else 'assignment'} {quote(f.shift)} at "
            f"{f.boundary.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}: {f.count} ONs "
            f"need {_minutes(f.needed)} at {rate} (account {f.account}; the last "
            f"{_minutes(RAMP_LEAD)} before the start), longer than the ramp of {_minutes(f.ramp)}: "
            f"the last ON will be sent {when}; lengthen the ramp or raise the limit"
        )
        out.append(Problem(path, message, line(path), "warning"))
    return out


def _minutes(d: timedelta) -> str:
    seconds = round(d.total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def validated_roster(path: str, now: datetime) -> Roster:
    """Load the roster at ``path`` and check it; raise :class:`RosterError` with every problem."""
    report = validate_text(read_text(path), now)
    if not report.ok:
        raise RosterError(report.errors, path)
    assert report.roster is not None
    return report.roster


def _conflict_problem(roster: Roster, c: Conflict, line: LineOf) -> Problem:
    """The conflict, placed at the second of its shifts or assignments."""
    shifts = {s.name: s for s in roster.shifts}
    dated = {a.label: a for a in roster.assignments}
    path: Place
    second = shifts.get(c.shifts[1])
    if second is not None:
        member = next(j for j, m in enumerate(second.members) if m.agent == c.agent)
        path, zone = ("shifts", second.index, "members", member), second.zone
    else:
        assignment = dated[c.shifts[1]]
        path, zone = ("assignments", assignment.index), assignment.zone

    def what(label: str) -> str:
        return f"shift {label}" if label in shifts else label

    message = (
        f"conflict: agent {quote(c.agent)} would be ON on two devices at once: {c.devices[0]} "
        f"({what(c.shifts[0])}) and {c.devices[1]} ({what(c.shifts[1])}), first at "
        f"{c.at.astimezone(zone):%Y-%m-%d %H:%M} {zone.key} ({c.at:%Y-%m-%dT%H:%MZ})"
    )
    return Problem(path, message, line(path))
