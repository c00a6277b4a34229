"""A report asked (README: Reports): its period of local days, agent or account, and how its
rows are cut; a question asked wrongly is a :class:`BadQuery` naming the option."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

BY = ("day", "shift", "agent")
MAX_DAYS = 92  # the longest period one report covers
YEARS = (1970, 2200)  # the days a report may name


class BadQuery(ValueError):
    """A report asked wrongly: ``place`` (an option's name) and why."""

    def __init__(self, place: str, message: str) -> None:
        super().__init__(message)
        self.place = place


@dataclass(frozen=True, slots=True)
class Query:
    first: date
    last: date  # included, whole
    agent: str | None = None
    account: str | None = None
    by: str = "agent"

    def check(self) -> Query:
        if self.by not in BY:
            raise BadQuery("by", f"{self.by!r}: give one of {', '.join(BY)}")
        if self.last < self.first:
            raise BadQuery("to", f"{self.last} is before --from {self.first}")
        if (self.last - self.first).days >= MAX_DAYS:
            raise BadQuery("to", f"at most {MAX_DAYS} days in one report; ask for less")
        return self


def day_of(text: str, place: str) -> date:
    """A ``--from``/``--to`` day: ``YYYY-MM-DD``."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise BadQuery(place, f"{text!r} is not a day: give YYYY-MM-DD") from None
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise BadQuery(place, f"{text!r} is out of range: give a day in {YEARS[0]}-{YEARS[1]}")
    return day
