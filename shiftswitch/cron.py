"""Cron expressions (croniter) evaluated on local wall-clock time.

Firings are always *naive* wall-clock datetimes here: each local time comes out exactly once,
whatever the zone does, and :func:`shiftswitch.clock.local_to_utc` applies the DST rules when
turning it into an instant. (Driven with aware datetimes, croniter fires twice in a repeated hour.)

croniter parses every expression. Expressions made only of numbers, ranges, steps and lists (all
that rosters use in practice) are then walked day by day here (:class:`_Plain`), which gives the
same firings as croniter's own search at a small fraction of its cost; anything else (``L``,
``#``, ``W``) is left to croniter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import islice

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_PROBE_FROM = datetime(2000, 1, 1)  # noqa: DTZ001 - cron runs on naive wall-clock time
_MAX_DAYS_BETWEEN = 50 * 366  # croniter's limit: no firing within 50 years ends the search
_DAY = timedelta(days=1)


class CronError(ValueError):
    """A cron expression that cannot be used, with the reason in words."""


@lru_cache(maxsize=4096)
def parse_cron(expr: str) -> str:
    """Check ``expr`` (five fields, or a macro such as ``@daily``) and return it normalised.

    Raises :class:`CronError` for syntax errors, out-of-range values and expressions that never
    fire (``0 0 30 2 *``).
    """
    expr = " ".join(expr.split())
    if expr.startswith("@"):
        if expr.lower() not in _MACROS:
            raise CronError(f"unknown macro; use one of {', '.join(sorted(_MACROS))}")
        expr = expr.lower()
    elif len(expr.split()) != 5:
        raise CronError("expected 5 fields: minute hour day-of-month month day-of-week")
    if not _fires(expr):
        if not expr.startswith("@"):
            fields = expr.split()
            for i, (name, allowed) in enumerate(_FIELDS):
                alone = " ".join(f if j == i else "*" for j, f in enumerate(fields))
                if _fires(alone) is None:
                    raise CronError(f'{name} field "{fields[i]}" is not valid ({allowed})')
        if _fires(expr) is False:
            raise CronError("it never fires")
        raise CronError("not a valid cron expression")
    return expr


_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or jan-dec"),
    ("day-of-week", "0-7 or sun-sat"),
)


def _fires(expr: str) -> bool | None:
    """True when ``expr`` fires, False when it is valid but never fires, None when invalid."""
    try:
        croniter(expr, _PROBE_FROM).get_next(datetime)
    except CroniterBadDateError:
        return False
    except (CroniterBadCronError, CroniterError, ValueError, KeyError, IndexError):
        return None
    return True


def next_after(expr: str, local: datetime) -> Iterator[datetime]:
    """Firings of ``expr`` strictly after naive wall-clock time ``local``, in order."""
    plain = _plain(parse_cron(expr))
    if plain is not None:
        return plain.after(local)
    return _croniter_next(expr, local)


def previous_before(expr: str, local: datetime, limit: int = 1000) -> Iterator[datetime]:
    """Firings of ``expr`` strictly before ``local``, newest first, at most ``limit`` of them."""
    plain = _plain(parse_cron(expr))
    if plain is not None:
        return islice(plain.before(local), limit)
    return _croniter_previous(expr, local, limit)


def first_at_or_after(expr: str, local: datetime) -> Iterator[datetime]:
    """Like :func:`next_after`, but a firing exactly at ``local`` is included."""
    return next_after(expr, local - timedelta(seconds=1))


def _croniter_next(expr: str, local: datetime) -> Iterator[datetime]:
    it = croniter(parse_cron(expr), local)
    while True:
        try:
            yield it.get_next(datetime)
        except CroniterBadDateError:
            return


def _croniter_previous(expr: str, local: datetime, limit: int) -> Iterator[datetime]:
    it = croniter(parse_cron(expr), local)
    for _ in range(limit):
        try:
            yield it.get_prev(datetime)
        except CroniterBadDateError:
            return


@dataclass(frozen=True, slots=True)
class _Plain:
    """An expression of numbers, ranges, steps and lists, as croniter expanded it.

    ``None`` is a ``*`` field. As in croniter (and cron), when both day fields are restricted a
    day matches either; otherwise it must match both.
    """

    times: tuple[tuple[int, int], ...]  # (hour, minute), in order
    days: frozenset[int] | None  # of the month
    months: frozenset[int] | None
    weekdays: frozenset[int] | None  # 0 = Sunday, as in cron
    either_day: bool

    def fires_on(self, day: date) -> bool:
        if self.months is not None and day.month not in self.months:
            return False
        by_date = self.days is None or day.day in self.days
        by_weekday = self.weekdays is None or (day.weekday() + 1) % 7 in self.weekdays
        return (by_date or by_weekday) if self.either_day else (by_date and by_weekday)

    def after(self, local: datetime) -> Iterator[datetime]:
        day, idle = local.date(), 0
        while idle <= _MAX_DAYS_BETWEEN:
            if self.fires_on(day):
                idle = 0
                for hour, minute in self.times:
                    at = datetime(day.year, day.month, day.day, hour, minute)  # noqa: DTZ001
                    if at > local:
                        yield at
            if day == date.max:
                return
            day, idle = day + _DAY, idle + 1

    def before(self, local: datetime) -> Iterator[datetime]:
        day, idle = local.date(), 0
        while idle <= _MAX_DAYS_BETWEEN:
            if self.fires_on(day):
                idle = 0
                for hour, minute in reversed(self.times):
                    at = datetime(day.year, day.month, day.day, hour, minute)  # noqa: DTZ001
                    if at < local:
                        yield at
            if day == date.min:
                return
            day, idle = day - _DAY, idle + 1


@lru_cache(maxsize=4096)
def _plain(expr: str) -> _Plain | None:
    """``expr`` (valid, normalised) as a :class:`_Plain`, or None if it needs croniter."""
    parsed = croniter(expr, _PROBE_FROM)
    if parsed.nth_weekday_of_month or parsed.nearest_weekday:
        return None  # "#" or "W"
    fields: list[frozenset[int] | None] = []
    for values in parsed.expanded:
        if values == ["*"]:
            fields.append(None)
        elif all(isinstance(v, int) for v in values):
            fields.append(frozenset(int(v) for v in values))
        else:
            return None  # "L"
    minutes, hours, days, months, weekdays = fields
    times = tuple((h, m) for h in sorted(hours or range(24)) for m in sorted(minutes or range(60)))
    return _Plain(times, days, months, weekdays, days is not None and weekdays is not None)


# -- in words -----------------------------------------------------------------------------------

_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_DAY_NAMES = {name.lower(): i for i, name in enumerate(_DAYS)}


def in_words(expr: str) -> str | None:
    """A shift's start (or end) in words, for people: ``0 9 * * mon-fri`` → ``09:00 Mon-Fri``
    (with an en dash),
    ``30 21 * * *`` → ``21:30 every day``; None for what does not read simply (days of the month,
    months, steps, macros): the cron itself is shown then."""
    fields = expr.split()
    if len(fields) != 5 or fields[2] != "*" or fields[3] != "*":
        return None
    minute, hour, _, _, dow = fields
    if not minute.isdigit() or not all(h.isdigit() for h in hour.split(",")):
        return None
    times = [f"{int(h):02d}:{int(minute):02d}" for h in hour.split(",")]
    days = _days_in_words(dow)
    if days is None:
        return None
    return f"{' and '.join(times)} {days}"


def _days_in_words(dow: str) -> str | None:
    if dow in ("*", "0-6", "1-7", "0-7", "sun-sat", "mon-sun"):
        return "every day"
    parts = []
    for part in dow.lower().split(","):
        ends = part.split("-")
        numbers = [_day_number(e) for e in ends]
        if len(ends) > 2 or any(n is None for n in numbers):
            return None
        names = [_DAYS[n % 7] for n in numbers if n is not None]
        parts.append("–".join(names))  # noqa: RUF001 - an en dash, as a range is written
    return ", ".join(parts)


def _day_number(text: str) -> int | None:
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    return _DAY_NAMES.get(text[:3]) if len(text) == 3 else None
