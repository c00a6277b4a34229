"""``roster import-shifts``: a WFM export or a calendar put into the roster in force, the file
(``--into FILE``) or the stored roster (a new version), in place of the assignments it replaces
(README: Importing shifts).

The file is read whole and every problem named before anything is changed; the roster it makes
is validated as any roster (conflicts included); then it is written, or with ``dry_run`` only
compared. A roster file keeps everything but its ``assignments:`` section, which is written
anew; it is replaced atomically.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from shiftswitch import heap
from shiftswitch.operations.context import Operations
from shiftswitch.planning.diff import RosterDiff, assignment_name, transition_changes
from shiftswitch.planning.transitions import Transition
from shiftswitch.planning.validation import validate_built, validate_text
from shiftswitch.problems import Problem, Refused, RosterError
from shiftswitch.roster.dump import assignments_section
from shiftswitch.roster.loader import read_text
from shiftswitch.roster.model import Assignment, Roster
from shiftswitch.sources.store import DATABASE, NoRoster
from shiftswitch.wfm.csvfile import read_csv
from shiftswitch.wfm.files import BadFile, FileProblem, decode
from shiftswitch.wfm.ics import read_ics
from shiftswitch.wfm.layout import PLAIN, Layout, read_layout
from shiftswitch.wfm.rows import DAYS, Row
from shiftswitch.wfm.shifts import Imported, assignments, first_free, matched, put_in

Format = Literal["csv", "ics"]
FIRST = 100  # the switches an answer lists (the first that change; all are counted)
FIRST_DAY = timedelta(days=1)  # the switches compared: the import's first day from now


@dataclass(frozen=True, slots=True)
class Request:
    """What to import and where."""

    data: bytes
    name: str  # the file's name, for its problems
    format: Format | None = None  # None: by the name (.ics), else CSV
    mapping: tuple[str, str] | None = None  # (YAML text, its name)
    agent: str | None = None
    into: str | None = None  # a roster file; None: the stored roster
    days: int = DAYS
    dry_run: bool = False
    by: str = ""


@dataclass(frozen=True, slots=True)
class AgentChange:
    agent: str
    added: int
    removed: int
    changed: int

    def as_json(self) -> dict[str, Any]:
        return {"agent": self.agent, "added": self.added, "removed": self.removed,
                "changed": self.changed}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ShiftImport:
    """What an import did (or, dry, would do)."""

    file: str
    format: Format
    target: str  # "schedules.yaml", "the stored roster (version 3)"
    dry_run: bool
    start: datetime
    end: datetime
    rows: int
    agents: tuple[AgentChange, ...]
    diff: RosterDiff
    added: list[Transition]  # the first FIRST switches it adds in its first day, by time
    removed: list[Transition]  # and removes
    compared: tuple[datetime, datetime]  # the time those switches were compared over
    added_count: int
    removed_count: int
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    version: int | None = None  # the stored roster's new version
    unchanged: bool = False
    replaced: int = 0
    assignments: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "into": self.target,
            "dry_run": self.dry_run,
            "window": {"from": _z(self.start), "to": _z(self.end)},
            "rows": self.rows,
            "assignments": self.assignments,
            "replaced": self.replaced,
            "agents": [a.as_json() for a in self.agents],
            "summary": self.diff.summary(),
            "changes": self.diff.lines(),
            "switches": {
                "from": _z(self.compared[0]),
                "to": _z(self.compared[1]),
                "added": self.added_count,
                "removed": self.removed_count,
            },
            "added": [t.as_json() for t in self.added],
            "removed": [t.as_json() for t in self.removed],
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "version": self.version,
            "unchanged": self.unchanged,
        }


def import_shifts(ops: Operations, req: Request) -> ShiftImport:
    """Read ``req``'s file, put its assignments in the roster in force, and write it (unless
    ``dry_run``). Raises :class:`BadFile` (the file's problems), :class:`RosterError` (the
    roster it would make is not valid), :class:`NoRoster` or :class:`Refused`."""
    now = ops.clock.now()
    fmt = req.format or ("ics" if req.name.lower().endswith((".ics", ".ical")) else "csv")
    layout = PLAIN if req.mapping is None else read_layout(*req.mapping)
    text = decode(req.data, req.name)
    with heap.paused():
        if req.into is not None:
            return _into_file(ops, req, fmt, layout, text, now)
        return _into_store(ops, req, fmt, layout, text, now)


def _into_file(
    ops: Operations, req: Request, fmt: Format, layout: Layout, text: str, now: datetime
) -> ShiftImport:
    assert req.into is not None
    original = read_text(req.into)
    report = validate_text(original, now)
    if not report.ok or report.roster is None:
        raise RosterError(report.errors, req.into)
    before = report.roster
    imported, rows, notes = _imported(req, fmt, layout, text, before, now)
    new_text = with_assignments(original, imported.roster)
    after_report = validate_text(new_text, now)
    if not after_report.ok or after_report.roster is None:
        raise RosterError(_unplaced(after_report.errors), f"{req.into} with {req.name}")
    after = after_report.roster
    if not req.dry_run and new_text != original:
        _replace_file(req.into, new_text)
    outcome = _outcome(req, fmt, req.into, before, after, imported, rows, notes,
                       after_report.warnings, now)  # fmt: skip
    return replace(outcome, unchanged=new_text == original)


def _into_store(
    ops: Operations, req: Request, fmt: Format, layout: Layout, text: str, now: datetime
) -> ShiftImport:
    store = ops.roster_store()
    if req.dry_run:
        number, current = store.current()  # NoRoster when nothing is stored yet
        imported, rows, notes = _imported(req, fmt, layout, text, current, now)
        report = validate_built(imported.roster, now)
        if not report.ok or report.roster is None:
            raise RosterError(report.errors, DATABASE)
        return _outcome(req, fmt, f"the stored roster (version {number})", current,
                        report.roster, imported, rows, notes, report.warnings, now)  # fmt: skip
    made: list[tuple[Imported, int, list[FileProblem]]] = []

    def build(before: Roster | None) -> Roster:
        if before is None:
            raise NoRoster()
        made.append(_imported(req, fmt, layout, text, before, now))
        return made[-1][0].roster

    written = store.write(build, source=f"import-shifts {req.name}", by=req.by, now=now)
    imported, rows, notes = made[-1]
    assert written.before is not None
    outcome = _outcome(req, fmt, f"the stored roster (version {written.number})",
                       written.before, written.roster, imported, rows, notes,
                       written.warnings, now)  # fmt: skip
    return replace(outcome, version=written.number, unchanged=written.unchanged)


def _imported(
    req: Request, fmt: Format, layout: Layout, text: str, roster: Roster, now: datetime
) -> tuple[Imported, int, list[FileProblem]]:
    """The file's rows put into ``roster``: the import, how many rows, and the notes."""
    rows: list[Row]
    if fmt == "ics":
        rows, notes = read_ics(text, req.name, layout, roster.zone, req.agent, now,
                               now + timedelta(days=req.days))  # fmt: skip
    else:
        rows, notes = read_csv(text, req.name, layout, roster.zone)
    column = layout.agent if fmt == "csv" else "agent"
    found = matched(rows, roster, layout, req.name, column)
    if req.agent is not None and fmt == "csv":
        if req.agent not in roster.agents:
            raise Refused(f"unknown agent {req.agent!r}", place="agent", usage=True)
        found = [f for f in found if f[1].name == req.agent]
        if not found:
            raise BadFile([FileProblem(req.name, f"no rows of agent {req.agent!r}")])
    made = assignments(found, first_free(roster))
    imported = put_in(roster, made, {agent.name for _, agent, _ in found})
    return imported, len(found), notes


def _outcome(
    req: Request,
    fmt: Format,
    target: str,
    before: Roster,
    after: Roster,
    imported: Imported,
    rows: int,
    notes: list[FileProblem],
    warnings: tuple[Problem, ...],
    now: datetime,
) -> ShiftImport:
    # The first switches it changes: those of the day from its start (or now, if later).
    start = max(now, imported.start)
    added, removed = transition_changes(before, after, start, start + FIRST_DAY)
    added.sort(key=lambda t: t.at)
    removed.sort(key=lambda t: t.at)
    return ShiftImport(
        file=req.name,
        format=fmt,
        target=target,
        dry_run=req.dry_run,
        start=imported.start,
        end=imported.end,
        rows=rows,
        agents=per_agent(before, after, imported.agents),
        diff=RosterDiff.between(before, after),
        compared=(start, start + FIRST_DAY),
        added=added[:FIRST],
        removed=removed[:FIRST],
        added_count=len(added),
        removed_count=len(removed),
        notes=tuple(n.render() for n in notes),
        warnings=tuple(w.render() for w in warnings),
        replaced=len(imported.replaced),
        assignments=len(imported.added),
    )


def per_agent(before: Roster, after: Roster, agents: tuple[str, ...]) -> tuple[AgentChange, ...]:
    """Per agent of the file: assignments added, removed, and changed (one removed and one
    added that start on the same local day)."""
    old_of, new_of = _by_agent(before, agents), _by_agent(after, agents)
    out = []
    for agent in agents:
        old, new = old_of.get(agent, {}), new_of.get(agent, {})
        gone = [a for n, a in old.items() if n not in new]
        came = [a for n, a in new.items() if n not in old]
        gone_days = Counter((a.off, a.start.astimezone(a.zone).date()) for a in gone)
        came_days = Counter((a.off, a.start.astimezone(a.zone).date()) for a in came)
        changed = sum(min(n, came_days[day]) for day, n in gone_days.items())
        out.append(AgentChange(agent, len(came) - changed, len(gone) - changed, changed))
    return tuple(out)


def _by_agent(roster: Roster, agents: tuple[str, ...]) -> dict[str, dict[str, Assignment]]:
    wanted = set(agents)
    out: dict[str, dict[str, Assignment]] = {}
    for a in roster.assignments:
        if a.agent in wanted:
            out.setdefault(a.agent, {})[assignment_name(a)] = a
    return out


_TOP_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*:")


def with_assignments(text: str, roster: Roster) -> str:
    """Roster file ``text`` with its ``assignments:`` section written anew from ``roster``
    (appended when it has none); every other line kept as it is."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("assignments:")), None)
    section = assignments_section(roster)
    if start is None:
        body = lines
        while body and not body[-1].strip():
            body = body[:-1]
        return "\n".join([*body, *section]) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if _TOP_KEY.match(lines[i])), len(lines))
    return "\n".join([*lines[:start], *section, *lines[end:]]) + "\n"


def _replace_file(path: str, text: str) -> None:
    """Write ``text`` to ``path`` at once: a reader (the scheduler) sees the old or the new."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".import-", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, os.stat(path).st_mode & 0o777)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise Refused(f"cannot write {path}: {exc.strerror}") from None


def _unplaced(errors: tuple[Problem, ...]) -> tuple[Problem, ...]:
    """Problems of a roster built from text, without lines of a text no one wrote."""
    return tuple(replace(p, line=None) for p in errors)


def _z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
