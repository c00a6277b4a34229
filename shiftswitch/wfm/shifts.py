"""From the rows of an imported file to the roster's assignments, and the roster with them in
place of the ones they replace (README: Importing shifts). Pure: no files, no clock.

Rows of one agent that touch or overlap make one stretch of work: the time of its working rows
is one assignment per device (``device`` ON from its first working row to its last), and each
break row inside it an ``off: true`` entry, so that a break is an OFF and an ON, not two shifts.
The import replaces every assignment of the file's agents that starts inside the file's span
(its first start to its last end); everything else in the roster is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from shiftswitch.roster.model import Agent, Assignment, Roster
from shiftswitch.wfm.files import BadFile, FileProblem
from shiftswitch.wfm.layout import Layout
from shiftswitch.wfm.rows import Row


@dataclass(frozen=True, slots=True)
class Imported:
    """What a file brings: its agents, the span it covers, and the roster with its assignments
    in place of those it replaces."""

    roster: Roster
    agents: tuple[str, ...]
    start: datetime
    end: datetime
    added: tuple[Assignment, ...]
    replaced: tuple[Assignment, ...]


def matched(
    rows: Sequence[Row], roster: Roster, layout: Layout, name: str, column: str
) -> list[tuple[Row, Agent, str | None]]:
    """Each row with the roster's agent it names (by name, or by Exotel user id with ``match:
    user_id``) and its device (the row's, or the agent's only one; None for a break of every
    device). Raises :class:`BadFile` naming every row that names no agent or device."""
    by_user = {a.user_id: a for a in roster.agents.values() if a.user_id is not None}
    problems: list[FileProblem] = []
    out: list[tuple[Row, Agent, str | None]] = []
    for row in rows:
        if layout.match == "user_id":
            agent = by_user.get(row.agent)
            unknown = f"no agent of the roster has user_id {row.agent!r}"
        else:
            agent = roster.agents.get(row.agent)
            unknown = f"unknown agent {row.agent!r}"
        if agent is None:
            problems.append(FileProblem(name, unknown, row.line, column))
            continue
        device = row.device
        if device is not None and device not in agent.devices:
            problems.append(
                FileProblem(
                    name,
                    f"unknown device {device!r} of agent {agent.name!r}; it has "
                    f"{', '.join(agent.devices)}",
                    row.line,
                    layout.device or "device",
                )
            )
            continue
        if device is None and row.working:
            if len(agent.devices) != 1:
                problems.append(
                    FileProblem(
                        name,
                        f"agent {agent.name!r} has {len(agent.devices)} devices "
                        f"({', '.join(agent.devices)}); add a device column",
                        row.line,
                        column,
                    )
                )
                continue
            device = next(iter(agent.devices))
        out.append((row, agent, device))
    if problems:
        raise BadFile(problems)
    return out


def assignments(rows: Iterable[tuple[Row, Agent, str | None]], first: int = 0) -> list[Assignment]:
    """The assignments and breaks that ``rows`` (matched) make, agent by agent, by start;
    numbered from ``first`` (past those of the roster they go into)."""
    by_agent: dict[str, list[tuple[Row, str | None]]] = {}
    for row, agent, device in rows:
        by_agent.setdefault(agent.name, []).append((row, device))
    out: list[Assignment] = []
    for name, items in by_agent.items():
        items.sort(key=lambda item: (item[0].start, item[0].end, item[0].line))
        for stretch in _stretches(items):
            _stretch(name, stretch, out, first)
    return out


def _stretches(
    items: list[tuple[Row, str | None]],
) -> Iterable[list[tuple[Row, str | None]]]:
    """The rows (by start) in runs that touch or overlap."""
    run = [items[0]]
    reach = items[0][0].end
    for item in items[1:]:
        if item[0].start <= reach:
            run.append(item)
            reach = max(reach, item[0].end)
        else:
            yield run
            run, reach = [item], item[0].end
    yield run


def _stretch(
    agent: str, stretch: list[tuple[Row, str | None]], out: list[Assignment], first: int
) -> None:
    """One stretch of work, added to ``out`` (numbered in its order): each run of working rows
    of one device (breaks between them do not end it) is an assignment; each break row, an
    ``off`` entry."""
    working = [(row, device) for row, device in stretch if row.working]
    run = 0  # the first working row of the run of one device
    for i in range(1, len(working) + 1):
        if i == len(working) or working[i][1] != working[run][1]:
            row, device = working[run]
            end = max(r.end for r, _ in working[run:i])
            out.append(Assignment(first + len(out), agent, device, row.start, end, row.zone,
                                  activity=row.activity))  # fmt: skip
            run = i
    for row, device in stretch:
        if not row.working:
            out.append(Assignment(first + len(out), agent, device, row.start, row.end, row.zone,
                                  off=True, activity=row.activity))  # fmt: skip


def first_free(roster: Roster) -> int:
    """The first number no assignment of ``roster`` has."""
    return max((a.index for a in roster.assignments), default=-1) + 1


def put_in(roster: Roster, new: Sequence[Assignment], agents: Iterable[str]) -> Imported:
    """``roster`` with ``new`` (numbered from :func:`first_free`) in place of every assignment
    of ``agents`` that starts inside the span ``new`` covers (its first start to its last
    end)."""
    start = min(a.start for a in new)
    end = max(a.end for a in new)
    names = frozenset(agents)
    kept: list[Assignment] = []
    replaced: list[Assignment] = []
    for a in roster.assignments:
        if a.agent in names and start <= a.start < end:
            replaced.append(a)
        else:
            kept.append(a)
    merged = [*kept, *new]  # numbered apart already (see assignments), names kept
    return Imported(
        replace(roster, assignments=tuple(merged), warnings=()),
        tuple(sorted(names)),
        start,
        end,
        tuple(new),
        tuple(replaced),
    )
