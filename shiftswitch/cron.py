"""Cron expressions (croniter) evaluated on local wall-clock time.

croniter is always driven with *naive* wall-clock datetimes here: each local time comes out
exactly once, whatever the zone does, and :func:`shiftswitch.clock.local_to_utc` applies the DST
rules when turning it into an instant. (Driven with aware datetimes, croniter fires twice in a
repeated hour.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import lru_cache

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

_MACROS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_PROBE_FROM = datetime(2000, 1, 1)  # noqa: DTZ001 - cron runs on naive wall-clock time


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
    it = croniter(parse_cron(expr), local)
    while True:
        try:
            yield it.get_next(datetime)
        except CroniterBadDateError:
            return


def previous_before(expr: str, local: datetime, limit: int = 1000) -> Iterator[datetime]:
    """Firings of ``expr`` strictly before ``local``, newest first, at most ``limit`` of them."""
    it = croniter(parse_cron(expr), local)
    for _ in range(limit):
        try:
            yield it.get_prev(datetime)
        except CroniterBadDateError:
            return


def first_at_or_after(expr: str, local: datetime) -> Iterator[datetime]:
    """Like :func:`next_after`, but a firing exactly at ``local`` is included."""
    return next_after(expr, local - timedelta(seconds=1))
