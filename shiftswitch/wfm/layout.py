"""How to read a WFM tool's CSV export: its columns, time format, delimiter, how its agents are
matched to the roster's, and which of its activities are working time (README: Importing
shifts).

With no mapping file, a CSV has the columns ``agent,start,end`` and, when present,
``device``, ``timezone`` and ``activity`` (a label only: a break is a gap between rows). A
mapping file (YAML) names the export's own columns instead, for example a Verint-style one::

    agent: EmployeeID
    start: StartTime
    end: EndTime
    activity: ActivityName
    timezone: TimeZone
    format: "%d/%m/%Y %H:%M"
    match: user_id
    on: [Phone, Open]
    off: [Break, Lunch, Training]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shiftswitch.problems import RosterError
from shiftswitch.roster.yamldoc import Value, load
from shiftswitch.wfm.files import BadFile, FileProblem

Match = Literal["name", "user_id"]
DELIMITERS = {",": ",", ";": ";", "|": "|", "\\t": "\t", "\t": "\t", "tab": "\t"}
_COLUMNS = ("agent", "start", "end", "minutes", "activity", "timezone", "device", "date")
_KEYS = {*_COLUMNS, "format", "time_format", "match", "delimiter", "on", "off", "agents"}


@dataclass(frozen=True, slots=True)
class Layout:
    """The columns of an export and how to read them. ``date``: a column of the day, when
    ``start`` and ``end`` hold times of day only (an ``end`` not after its ``start`` is on the
    next day). ``on``/``off``: activities that are working time and breaks (casefolded); when
    both are empty, every row is working time. ``agents``: for a calendar, the agent of each
    SUMMARY or attendee."""

    agent: str = "agent"
    start: str = "start"
    end: str = "end"
    activity: str | None = None
    timezone: str | None = None
    device: str | None = None
    date: str | None = None
    minutes: str | None = None  # a column of the row's length in minutes, in place of ``end``
    format: str | None = None  # strptime format of start and end (default ISO 8601)
    time_format: str | None = None  # with a date column: strptime format of the times
    match: Match = "name"
    delimiter: str = ","
    on: frozenset[str] = frozenset()
    off: frozenset[str] = frozenset()
    agents: dict[str, str] = field(default_factory=dict)
    plain: bool = False  # no mapping file: optional columns are used when the header has them

    def classifies(self) -> bool:
        return bool(self.on or self.off)


PLAIN = Layout(activity="activity", timezone="timezone", device="device", plain=True)


MAPPINGS = Path(__file__).parent / "mappings"  # the mappings shipped, by name


def shipped() -> list[str]:
    """The names of the mappings shipped (``nice-iex``, ``verint``, ...)."""
    return sorted(p.stem for p in MAPPINGS.glob("*.yaml"))


def shipped_mapping(name: str) -> tuple[str, str] | None:
    """The text of the shipped mapping ``name`` and its name, or None when there is none."""
    if name not in shipped():
        return None
    return (MAPPINGS / f"{name}.yaml").read_text(encoding="utf-8"), f"{name}.yaml"


def read_layout(text: str, name: str) -> Layout:
    """The mapping file ``name`` (YAML text); every problem refuses it, at its line."""
    problems: list[FileProblem] = []

    def bad(key: str | None, message: str) -> None:
        line = doc.line((key,)) if key else None
        problems.append(FileProblem(name, f"{key}: {message}" if key else message, line))

    try:
        doc = load(text)
    except RosterError as exc:
        raise BadFile([FileProblem(name, p.message, p.line) for p in exc.problems]) from None
    root = doc.root
    if not isinstance(root, dict):
        raise BadFile([FileProblem(name, "expected a mapping of keys such as agent: EmployeeID")])
    values: dict[str, object] = {}
    for key, value in root.items():
        if key not in _KEYS:
            bad(key, f"unknown key; expected one of {', '.join(sorted(_KEYS))}")
        elif key in ("on", "off"):
            items = _texts(value)
            if items is None:
                bad(key, "expected a list of activity names, such as [Break, Lunch]")
            else:
                values[key] = frozenset(i.casefold() for i in items)
        elif key == "agents":
            table = _table(value)
            if table is None:
                bad(key, "expected a mapping of calendar names or addresses to agents")
            else:
                values[key] = table
        elif not isinstance(value, str) or not value.strip():
            bad(key, "expected a text value")
        elif key == "match" and value not in ("name", "user_id"):
            bad(key, f"{value!r} is not name or user_id")
        elif key == "delimiter":
            if value not in DELIMITERS:
                bad(key, f"{value!r} is not one of , ; | or \\t")
            else:
                values[key] = DELIMITERS[value]
        elif key in ("format", "time_format") and "%" not in value:
            bad(key, f'{value!r} is not a strptime format such as "%d/%m/%Y %H:%M"')
        else:
            values[key] = value.strip()
    if values.get("on", frozenset()) & values.get("off", frozenset()):  # type: ignore[operator]
        bad("off", "an activity is in both on and off")
    if problems:
        raise BadFile(problems)
    return Layout(**values)  # type: ignore[arg-type]


def _texts(value: Value) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return [v.strip() for v in value]  # type: ignore[union-attr]
    return None


def _table(value: Value) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    if not all(isinstance(v, str) and v.strip() for v in value.values()):
        return None
    return {k.casefold(): v.strip() for k, v in value.items()}  # type: ignore[union-attr]
