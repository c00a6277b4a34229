"""Problems found in user input, each with the place it was found; and how messages show a
user's values and counts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Place = tuple[str | int, ...]


def quote(value: object) -> str:
    """A user's value in a message, double-quoted and escaped: ``invalid cron "0 25 * * *"``."""
    return json.dumps(str(value), ensure_ascii=False)


def count(n: int, noun: str) -> str:
    """``1 shift``, ``3 shifts``: a number of things in a message."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def format_path(path: Place) -> str:
    """Render a path the way a user reads it: ``shifts[2].start``, ``agents.asha.devices``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth a warning) in a roster, with where it is."""

    path: Place
    message: str
    line: int | None = None
    level: Literal["error", "warning"] = "error"

    @property
    def place(self) -> str:
        return format_path(self.path) or "(document)"

    def render(self, source: str | None = None) -> str:
        """``schedules.yaml:14: shifts[2].start: invalid cron "0 25 * * *"``."""
        prefix = ""
        if source is not None:
            prefix = f"{source}:{self.line}: " if self.line else f"{source}: "
        elif self.line:
            prefix = f"line {self.line}: "
        tag = "warning: " if self.level == "warning" else ""
        return f"{prefix}{tag}{self.place}: {self.message}"


class RosterError(Exception):
    """A roster was refused; ``problems`` lists every error found, in document order."""

    def __init__(self, problems: Iterable[Problem], source: str | None = None) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line or 0, format_path(p.path)))
        self.source = source
        count = len(self.problems)
        first = self.problems[0].render(source) if self.problems else "no details"
        super().__init__(f"{count} problem(s) in roster; first: {first}")
