"""Problems found in user input, each with the place it was found; a caller's request refused
(:class:`Refused`, said once for every shell); and how messages show a user's values and
counts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
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


class Refused(Exception):
    """What the caller asked cannot be done as asked; nothing was changed.

    ``place`` names the value at fault as the HTTP API calls it (``until``, ``from``); the
    command line shows it as its option (``--until``). ``status`` is the HTTP status the API
    answers with; ``usage`` marks a malformed request, which the command line answers with its
    usage exit code (2) rather than 1.
    """

    def __init__(
        self,
        message: str,
        *,
        place: str | None = None,
        status: HTTPStatus = HTTPStatus.BAD_REQUEST,
        usage: bool = False,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, for a refusal to come back later (429)
        self.message = message
        self.place = place
        self.status = status
        self.usage = usage

    def __str__(self) -> str:
        return f"{self.place}: {self.message}" if self.place else self.message


def not_found(message: str, place: str | None = None) -> Refused:
    return Refused(message, place=place, status=HTTPStatus.NOT_FOUND)


def conflict(message: str) -> Refused:
    return Refused(message, status=HTTPStatus.CONFLICT)


def invalid(message: str, place: str | None = None) -> Refused:
    """A malformed value: the command line's usage error, the API's 400."""
    return Refused(message, place=place, usage=True)
