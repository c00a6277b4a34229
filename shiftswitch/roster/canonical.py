"""The roster's own text read back without YAML where it is large: the ``assignments:``
section that :func:`~shiftswitch.roster.dump.dump` writes, one flow mapping a line.

A month of 10,000 agents is 250,000 such lines, past what a YAML document may hold (README:
Roster format, Limits) and seconds to parse. A version the roster store recorded is that text;
read back here (a rollback), its assignments take about a second, and the rest of it is read as
YAML as any roster is. A line not as ``dump`` writes it is not read here: the caller reads the
whole text as YAML instead, which names every problem.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from zoneinfo import ZoneInfo

from shiftswitch.roster.loader import parse_roster
from shiftswitch.roster.model import Assignment, Roster, parse_instant

_VALUE = r'(\w+): ("(?:[^"\\]|\\.)*"|true)'
_FIELD = re.compile(_VALUE)
_LINE = re.compile(rf"  - \{{{_VALUE}(?:, {_VALUE})*\}}")
_KEYS = frozenset({"agent", "device", "from", "to", "off", "shift", "activity", "timezone"})


class NotCanonical(ValueError):
    """A line of the section that ``dump`` would not have written."""


def stored(text: str) -> Roster:
    """A roster as the store recorded it (a version's content), its assignments read without
    YAML. Raises :class:`~shiftswitch.problems.RosterError`, :class:`NotCanonical` or
    ``ValueError`` when the text is not as :func:`~shiftswitch.roster.dump.dump` wrote it."""
    rest, lines = split(text)
    if not lines:
        return parse_roster(text)
    roster = parse_roster(rest)
    return replace(roster, assignments=assignments_of(lines, roster.zone), warnings=())


def split(text: str) -> tuple[str, list[str]]:
    """``text`` without its ``assignments:`` section, and that section's entry lines (none
    when it has no such section)."""
    lines = text.split("\n")
    try:
        start = lines.index("assignments:")
    except ValueError:
        return text, []
    end = start + 1
    while end < len(lines) and lines[end].startswith("  - {"):
        end += 1
    return "\n".join([*lines[:start], *lines[end:]]), lines[start + 1 : end]


def blanked(text: str) -> tuple[str, list[str], int]:
    """Like :func:`split`, with the section's lines left blank (so that the rest keeps its line
    numbers), and the 1-based line of its first entry."""
    lines = text.split("\n")
    try:
        start = lines.index("assignments:")
    except ValueError:
        return text, [], 0
    end = start + 1
    while end < len(lines) and lines[end].startswith("  - {"):
        end += 1
    entries = lines[start + 1 : end]
    return "\n".join([*lines[:start], *([""] * (end - start)), *lines[end:]]), entries, start + 2


def assignments_of(lines: list[str], zone: ZoneInfo) -> tuple[Assignment, ...]:
    """The assignments of ``lines`` (as ``dump`` writes them), in the roster's ``zone``."""
    zones: dict[str, ZoneInfo] = {}
    out: list[Assignment] = []
    for i, line in enumerate(lines):
        if not _LINE.fullmatch(line):  # a value unquoted, a key misspelt: not dump's
            raise NotCanonical(line)
        fields: dict[str, str | bool] = {}
        for key, raw in _FIELD.findall(line):
            if key not in _KEYS or key in fields:
                raise NotCanonical(line)
            fields[key] = True if raw == "true" else json.loads(raw)
        own = fields.get("timezone")
        where = zone if not isinstance(own, str) else zones.setdefault(own, ZoneInfo(own))
        start = parse_instant(str(fields.get("from", "")), where)
        end = parse_instant(str(fields.get("to", "")), where, end=True)
        agent = fields.get("agent")
        if start is None or end is None or not isinstance(agent, str):
            raise NotCanonical(line)
        device, shift, activity = (fields.get(k) for k in ("device", "shift", "activity"))
        out.append(
            Assignment(
                i, agent, device if isinstance(device, str) else None, start, end, where,
                fields.get("off") is True, shift if isinstance(shift, str) else None,
                activity if isinstance(activity, str) else None,
            )
        )  # fmt: skip
    return tuple(out)
