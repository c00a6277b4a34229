"""The adherence report written out (README: Reports): CSV, JSON and XLSX, the same rows and
numbers in each; and the cells of the command line's table."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from shiftswitch.adherence.report import Report

FORMATS = ("table", "csv", "json", "xlsx")
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_WIDTHS = {"agent": 18, "device": 10, "account": 12, "day": 11, "shift": 16, "zone": 16}


def columns(report: Report) -> tuple[str, ...]:
    """The file's columns: the report's, with the zone after the keys."""
    cols = list(report.columns)
    cols.insert(cols.index("planned_s"), "zone")
    return tuple(cols)


def as_json(report: Report) -> str:
    """A JSON array of the rows."""
    return json.dumps(report.rows, indent=2, ensure_ascii=False)


def as_csv(report: Report) -> str:
    """A header row, then one line per row; reasons joined by "; "."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    cols = columns(report)
    writer.writerow(cols)
    for row in report.rows:
        writer.writerow([_text(name, row.get(name)) for name in cols])
    return out.getvalue()


def as_xlsx(report: Report) -> bytes:
    """A workbook: the rows on sheet "Adherence" (a header row, frozen; numbers as numbers,
    days as dates, adherence as a percentage), and what they cover on sheet "About"."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Adherence")
    cols = columns(report)
    sheet.freeze_panes = "C2"
    for i, name in enumerate(cols, start=1):
        width = _WIDTHS.get(name, 60 if name == "reasons" else max(len(name) + 2, 10))
        sheet.column_dimensions[get_column_letter(i)].width = width
    bold = Font(bold=True)
    header = []
    for name in cols:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in report.rows:
        cells = []
        for name in cols:
            value = row.get(name)
            if name == "day" and value is not None:
                value = date.fromisoformat(value)
            elif name == "reasons":
                value = "; ".join(value or ()) or None
            cell = WriteOnlyCell(sheet, value=value)
            if name == "adherence":
                cell.number_format = "0.0%"
            elif name == "day":
                cell.number_format = "yyyy-mm-dd"
            elif name.endswith("_s") or name == "late_starts":
                cell.number_format = "#,##0"
            cells.append(cell)
        sheet.append(cells)
    about = book.create_sheet("About")
    about.column_dimensions["A"].width = 14
    about.column_dimensions["B"].width = 90
    for label, value in (
        ("Report", report.title()),
        ("Zone", report.zone.key),
        ("From", report.start.astimezone(report.zone).isoformat()),
        ("Up to", report.end.astimezone(report.zone).isoformat()),
        ("Seconds", "planned_s, confirmed_s and the rest are seconds"),
    ):
        about.append([label, value])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render(report: Report, fmt: str) -> str | bytes:
    if fmt == "json":
        return as_json(report)
    if fmt == "csv":
        return as_csv(report)
    if fmt == "xlsx":
        return as_xlsx(report)
    raise ValueError(f"format {fmt!r}: give one of csv, json, xlsx")


def table_cells(report: Report) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The command line's table: durations in h:mm, adherence in %."""
    key = {"day": ("DAY",), "shift": ("SHIFT",), "agent": ()}[report.query.by]
    header = ("AGENT", "DEVICE", *key, "PLANNED", "CONFIRMED", "ADHERENCE", "LATE",
              "LATE TIME", "EARLY OFF", "ON UNPLANNED", "REASONS")  # fmt: skip
    rows = []
    for r in report.rows:
        keys = {"day": (r.get("day") or "",), "shift": (r.get("shift") or "-",), "agent": ()}
        cells = (
            r["agent"], r["device"], *keys[report.query.by], _hm(r["planned_s"]),
            _hm(r["confirmed_s"]), _pct(r["adherence"]), str(r["late_starts"]),
            _hm(r["late_start_s"]), _hm(r["early_off_s"]), _hm(r["unplanned_on_s"]),
            "; ".join(r["reasons"]),
        )  # fmt: skip
        rows.append(cells)
    return header, rows


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "reasons":
        return "; ".join(value)
    return str(value)


def _hm(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def _pct(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f}%"
