"""Reading an imported file: its size, its encoding, and the problems found in it.

A problem in an imported file is one line, ``FILE:LINE: column NAME: why``, so that whoever
exported it finds the row; one problem refuses the whole import (:class:`BadFile`).
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass

MIB = 1024 * 1024
MAX_BYTES = 64 * MIB  # a month of 10,000 agents with breaks is about 14 MB of CSV
SHOWN = 50  # problems listed before "and N more"


@dataclass(frozen=True, slots=True)
class FileProblem:
    """One problem of an imported file, at its line and column when it has them."""

    file: str
    message: str
    line: int | None = None
    column: str | None = None

    def render(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        column = f" column {self.column}:" if self.column else ""
        return f"{where}:{column} {self.message}"


class BadFile(Exception):
    """An imported file refused, with every problem found in it."""

    def __init__(self, problems: list[FileProblem]) -> None:
        super().__init__(problems[0].render() if problems else "refused")
        self.problems = problems

    def lines(self) -> list[str]:
        shown = [p.render() for p in self.problems[:SHOWN]]
        if len(self.problems) > SHOWN:
            shown.append(f"... and {len(self.problems) - SHOWN} more problems")
        return shown


def read_bytes(path: str, name: str | None = None) -> bytes:
    """The bytes of ``path``, refused (without reading them) when over :data:`MAX_BYTES`."""
    name = name or path
    try:
        size = os.stat(path).st_size
        if size > MAX_BYTES:
            raise BadFile([too_large(name, size)])
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise BadFile([FileProblem(name, f"cannot read it: {exc.strerror}")]) from None
    if len(data) > MAX_BYTES:
        raise BadFile([too_large(name, len(data))])
    return data


def too_large(name: str, size: int) -> FileProblem:
    return FileProblem(
        name,
        f"{size / MIB:.1f} MiB is over the {MAX_BYTES // MIB} MiB an import reads; "
        "split it by week or by team",
    )


_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def decode(data: bytes, name: str) -> str:
    """The text of an imported file: UTF-8 (with or without a byte-order mark) or, as Excel
    saves a CSV on Windows, Windows-1252. Any other encoding is refused, naming it where it
    can be told (UTF-16, UTF-32)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            raise BadFile([_other(name, encoding)])
    if b"\x00" in data[:4096]:
        raise BadFile([_other(name, "UTF-16 or UTF-32 (it has NUL bytes)")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadFile(
            [
                FileProblem(
                    name,
                    f"byte 0x{data[exc.start]:02X} is neither UTF-8 nor Windows-1252; "
                    "save the file as UTF-8",
                    line,
                )
            ]
        ) from None


def _other(name: str, encoding: str) -> FileProblem:
    return FileProblem(
        name, f"the file is {encoding}; save it as UTF-8 (or Windows-1252, as Excel does)"
    )
