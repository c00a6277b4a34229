"""Times on the console's pages: in the roster's zone, with the instant in UTC on hover (a
``<time>`` element whose ``title`` says it), and countdowns the page's script keeps going."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime as Instant
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape


def instant(value: Instant | str | None) -> Instant | None:
    """An aware instant from a datetime or the ``...Z`` text the reports give."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = Instant.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utc_text(at: Instant) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def duration_text(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``."""
    s = int(abs(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


class Clockface:
    """How a page shows instants: wall-clock time in ``zone``, UTC on hover."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    @property
    def name(self) -> str:
        return self.zone.key

    def local(self, value: Instant | str | None) -> Instant | None:
        at = instant(value)
        return None if at is None else at.astimezone(self.zone)

    def _time(self, value: Instant | str | None, fmt: str) -> Markup:
        at = instant(value)
        if at is None:
            return Markup("&ndash;")
        local = at.astimezone(self.zone)
        iso = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return Markup('<time datetime="{}" title="{}">{}</time>').format(
            iso, utc_text(at), local.strftime(fmt)
        )

    def time(self, value: Instant | str | None) -> Markup:
        """``14:05``."""
        return self._time(value, "%H:%M")

    def clock(self, value: Instant | str | None, now: Instant) -> Markup:
        """``14:05`` today (in the zone), ``Tue 09:00`` another day."""
        at = instant(value)
        if at is not None and at.astimezone(self.zone).date() != now.astimezone(self.zone).date():
            return self._time(value, "%a %H:%M")
        return self._time(value, "%H:%M")

    def seconds(self, value: Instant | str | None) -> Markup:
        """``14:05:09``."""
        return self._time(value, "%H:%M:%S")

    def datetime(self, value: Instant | str | None) -> Markup:
        """``Mon 30 Nov 14:05``."""
        return self._time(value, "%a %d %b %H:%M")

    def countdown(self, value: Instant | str | None, now: Instant) -> Markup:
        """``in 12 min``, kept current by the page's script."""
        at = instant(value)
        if at is None:
            return Markup("")
        left = (at - now).total_seconds()
        text = f"in {duration_text(left)}" if left >= 0 else f"{duration_text(left)} ago"
        iso = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return Markup('<span class="countdown" data-at="{}">{}</span>').format(iso, escape(text))
