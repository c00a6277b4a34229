"""A WFM tool's CSV export, read into rows (README: Importing shifts).

Every bad row is named, ``FILE:LINE: column NAME: why``, and one refuses the file. Quotes and
delimiters inside quoted fields are read as CSV has them; a field may span lines (the row is
named by its first line).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shiftswitch.wfm.files import BadFile, FileProblem
from shiftswitch.wfm.layout import Layout
from shiftswitch.wfm.rows import (
    BadValue,
    Row,
    day_of,
    instant,
    time_of,
    wall_clock,
    zone_named,
)

MAX_MINUTES = 7 * 24 * 60  # no row of a roster is longer than a week
_FIELDS = re.compile(r"^#fields:?", re.IGNORECASE)
csv.field_size_limit(1024 * 1024)  # one field of a megabyte is already not a WFM export


def read_csv(
    text: str, name: str, layout: Layout, zone: ZoneInfo
) -> tuple[list[Row], list[FileProblem]]:
    """The rows of CSV ``text`` (file ``name``), times local to ``zone`` unless a row gives its
    own; and notes (times in a DST gap, moved as shifts are). Raises :class:`BadFile` with
    every problem found."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise BadFile([FileProblem(name, f"not CSV: {exc}", 1)]) from None
    if header is None or not any(h.strip() for h in header):
        raise BadFile([FileProblem(name, "empty: expected a header row such as agent,start,end")])
    header[0] = _FIELDS.sub("", header[0])  # NICE IEX: "#fields:excdate|..."
    rows_of = _RowReader(name, layout, zone, header)
    rows: list[Row] = []
    problems: list[FileProblem] = []
    last = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(FileProblem(name, f"not CSV: {exc}", last + 1))
            break
        line, last = last + 1, reader.line_num
        if not any(f.strip() for f in fields):
            continue  # a blank line
        read = rows_of.row(fields, line)
        if isinstance(read, Row):
            rows.append(read)
        else:
            problems += read
    if problems:
        raise BadFile(problems)
    if not rows:
        raise BadFile([FileProblem(name, "no rows after the header")])
    return rows, rows_of.notes


class _RowReader:
    """Reads the rows of one file, given its header."""

    def __init__(self, name: str, layout: Layout, zone: ZoneInfo, header: list[str]) -> None:
        self.name, self.layout, self.zone = name, layout, zone
        self.columns = _columns(header, layout, name)
        self.width = len(header)
        self.shown = {key: header[i].strip() for key, i in self.columns.items()}
        self.fmt = layout.time_format if "date" in self.columns else layout.format
        self.notes: list[FileProblem] = []
        # A month of 10,000 agents repeats a few thousand times and zones: each read once.
        self._times: dict[str, datetime] = {}
        self._zones: dict[str, ZoneInfo] = {}
        self._instants: dict[tuple[datetime, ZoneInfo], tuple[datetime, str | None]] = {}

    def row(self, fields: list[str], line: int) -> Row | list[FileProblem]:
        """The row, or its problems."""
        if len(fields) < self.width:
            delimiter = self.layout.delimiter
            return [
                FileProblem(
                    self.name,
                    f"{len(fields)} fields where the header has {self.width}"
                    + ("" if delimiter == "," else f" (delimiter {delimiter!r})"),
                    line,
                )
            ]
        found: list[FileProblem] = []

        def bad(key: str, why: str) -> None:
            found.append(FileProblem(self.name, why, line, self.shown.get(key, key)))

        def value(key: str) -> str | None:
            at = self.columns.get(key)
            return fields[at].strip() or None if at is not None else None

        agent = value("agent")
        if agent is None:
            bad("agent", "empty; expected an agent")
        zone = self.zone
        named = value("timezone")
        if named is not None:
            try:
                zone = self._zones.get(named) or self._zones.setdefault(named, zone_named(named))
            except BadValue as exc:
                bad("timezone", str(exc))
        local = self._bounds(value, bad)
        working = self._working(value("activity"), bad)
        if found or agent is None or local is None or working is None:
            return found
        try:
            start, moved = self._instant(local[0], zone)
            if "minutes" in self.columns:  # elapsed time: added to the instant, across DST
                end, moved_end = start + (local[1] - local[0]), None
            else:
                end, moved_end = self._instant(local[1], zone)
        except OverflowError:
            bad("start", "is at the very end of the calendar; give a date from 0002 to 9998")
            return found
        for key, note in (("start", moved), ("end", moved_end)):
            if note:
                self.notes.append(FileProblem(self.name, note, line, self.shown.get(key, key)))
        if end <= start:
            bad("end", f"{value('end')!r} is not after start {value('start')!r}")
            return found
        return Row(line, agent, start, end, zone, value("device"), value("activity"), working)

    def _instant(self, local: datetime, zone: ZoneInfo) -> tuple[datetime, str | None]:
        key = (local, zone)
        found = self._instants.get(key)
        if found is None:
            found = self._instants[key] = instant(local, zone)
        return found

    def _wall_clock(self, text: str) -> datetime:
        found = self._times.get(text)
        if found is None:
            found = self._times[text] = wall_clock(text, self.fmt)
        return found

    def _bounds(
        self, value: Callable[[str], str | None], bad: Callable[[str, str], None]
    ) -> tuple[datetime, datetime] | None:
        """The row's local start and end (with a date column: an end not after the start is
        past midnight)."""
        day = None
        if "date" in self.columns:
            try:
                day = day_of(value("date") or "", self.layout.format)
            except BadValue as exc:
                bad("date", str(exc))
        bounds: list[datetime] = []
        for key in ("start", "end") if "minutes" not in self.columns else ("start",):
            try:
                if "date" not in self.columns:
                    bounds.append(self._wall_clock(value(key) or ""))
                elif day is not None:
                    bounds.append(datetime.combine(day, time_of(value(key) or "", self.fmt)))
            except BadValue as exc:
                bad(key, str(exc))
        try:
            if "minutes" in self.columns and bounds:
                length = value("minutes") or ""
                if not length.isdigit() or not 0 < int(length) <= MAX_MINUTES:
                    bad("minutes", f"{length!r} is not a length in whole minutes (1 to "
                        f"{MAX_MINUTES})")  # fmt: skip
                    return None
                return bounds[0], bounds[0] + timedelta(minutes=int(length))
            if len(bounds) < 2:
                return None
            start, end = bounds
            if day is not None and end <= start:
                end += timedelta(days=1)
        except OverflowError:
            bad("end", "is past the end of the calendar; give a date from 0002 to 9998")
            return None
        return start, end

    def _working(self, activity: str | None, bad: Callable[[str, str], None]) -> bool | None:
        """Whether the row is working time (True) or a break (False); None when its activity
        is in neither list of the mapping."""
        if not self.layout.classifies():
            return True
        folded = (activity or "").casefold()
        if folded in self.layout.on:
            return True
        if folded in self.layout.off:
            return False
        bad(
            "activity",
            f"unknown activity {activity or ''!r}; list it under on (working time) or off "
            "(a break) in the mapping",
        )
        return None


def _columns(header: list[str], layout: Layout, name: str) -> dict[str, int]:
    """Where each of the layout's columns is in ``header`` (names matched without case)."""
    where = {h.strip().casefold(): i for i, h in enumerate(header)}
    wanted = {"agent": layout.agent, "start": layout.start}
    if layout.minutes is None:
        wanted["end"] = layout.end
    optional = {
        "minutes": layout.minutes,
        "activity": layout.activity,
        "timezone": layout.timezone,
        "device": layout.device,
        "date": layout.date,
    }
    out: dict[str, int] = {}
    missing: list[str] = []
    for key, column in [*wanted.items(), *optional.items()]:
        if column is None:
            continue
        i = where.get(column.casefold())
        if i is not None:
            out[key] = i
        elif key in wanted or not layout.plain:
            missing.append(column)
    if layout.classifies() and "activity" not in out and layout.activity is None:
        missing.append("(activity: the mapping lists on and off activities, but names no column)")
    if missing:
        has = ", ".join(h.strip() for h in header)
        if len(header) == 1:
            other = next((d for d in (";", "|", "\t") if d in header[0]), None)
            if other is not None:
                shown = "\\t" if other == "\t" else other
                has += f'; is the delimiter {shown!r}? say delimiter: "{shown}" in a mapping'
        raise BadFile(
            [FileProblem(name, f"column {m}: not in the header (it has {has})", 1) for m in missing]
        )
    return out
