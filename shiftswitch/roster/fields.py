"""Reading one value of a roster document at a time, each problem kept with its place.

:class:`FieldReader` knows the roster's kinds of value (a zone, a cron expression, a duration,
a rate, a URL, a device reference, a date-time, ...) and the words to refuse each with; it
records every problem and goes on, so that one parse reports them all. How the values make up
accounts, agents, shifts and overrides is :mod:`shiftswitch.roster.loader`'s part.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Set
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shiftswitch.cron import CronError, parse_cron
from shiftswitch.pacing import RateLimit, parse_rate
from shiftswitch.problems import Place, Problem, quote
from shiftswitch.roster.model import (
    MAX_RAMP,
    DeviceKind,
    classify_device,
    parse_duration,
    parse_instant,
)
from shiftswitch.roster.yamldoc import Document, Value

CREDENTIALS_HERE = (
    "credentials must not be written in the roster; set them in the environment "
    "(EXOTEL_<ACCOUNT>_API_KEY / EXOTEL_<ACCOUNT>_API_TOKEN)"
)
_SECRET_KEY = re.compile(
    r"(api_?key|api_?token|token|password|passwd|secret|credential|authori[sz]ation)", re.I
)
MAX_DURATION = timedelta(days=31)
# A rate limit's count per window: far above any Exotel account's, and short enough to store.
MAX_RATE_COUNT = 1_000_000
# The date-times a roster may name: two days clear of the ends of datetime's calendar, so that
# shown in any zone they stay within it.
EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=2)
LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=2)
CALENDAR = f"from {EARLIEST.date().isoformat()} to {LATEST.date().isoformat()} (UTC)"


REASON_MAX = 200  # characters of an override's reason


def within_calendar(instant: datetime) -> bool:
    """Whether ``instant`` is one a roster may name (see :data:`CALENDAR`)."""
    return EARLIEST <= instant <= LATEST


@functools.lru_cache(maxsize=4096)
def names_credential(key: str) -> bool:
    """Whether a key (or a device's name) looks like it holds a credential. Remembered: a
    roster of 100,000 agents asks it 400,000 times of a handful of keys."""
    return _SECRET_KEY.search(key) is not None


def join(names: Iterable[object]) -> str:
    """Names for a message, sorted: ``a, b, c``, or ``(none)``."""
    items = sorted(str(n) for n in names)
    return ", ".join(items) if items else "(none)"


class FieldReader:
    """Reads the values of one document, collecting every problem instead of stopping."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = list(doc.problems)
        self.warnings: list[Problem] = []

    def error(self, path: Place, message: str) -> None:
        self.problems.append(Problem(path, message, self.doc.line(path)))

    def warn(self, path: Place, message: str) -> None:
        self.warnings.append(Problem(path, message, self.doc.line(path), "warning"))

    # -- shape ------------------------------------------------------------------------------

    def mapping(self, value: Value, path: Place, what: str) -> dict[str, Value] | None:
        if isinstance(value, dict):
            return value
        self.error(path, f"expected {what}")
        return None

    def keys(
        self, value: dict[str, Value], path: Place, allowed: Set[str], required: Set[str]
    ) -> None:
        present = value.keys()
        # The keys checked in bulk, one by one only when one is unknown or names a credential
        # (a roster of 100,000 agents has 300,000 keys, all of them known).
        if not present <= allowed or any(map(names_credential, present)):
            for key in value:
                if names_credential(key):
                    self.error((*path, key), CREDENTIALS_HERE)
                elif key not in allowed:
                    self.error(
                        (*path, key), f"unknown key {quote(key)}; expected one of {join(allowed)}"
                    )
        if not present >= required:
            for key in sorted(required - present):
                self.error(path, f"missing {quote(key)}")

    def entries(
        self, value: Value, path: Place, what: str, allowed: set[str], required: set[str]
    ) -> Iterator[tuple[int, Place, dict[str, Value]]]:
        """Each entry of a list section (shifts, overrides) that is a mapping, with its index
        and place, its keys checked; ``what`` says what one entry should be."""
        if not isinstance(value, list):
            self.error(path, f"expected a list of {path[-1]}")
            return
        for i, body in enumerate(value):
            here: Place = (*path, i)
            fields = self.mapping(body, here, what)
            if fields is not None:
                self.keys(fields, here, allowed, required)
                yield i, here, fields

    def text(self, value: Value, path: Place, what: str = "a value") -> str | None:
        if isinstance(value, str) and (stripped := value.strip()):
            return stripped
        if value is None or isinstance(value, str):
            self.error(path, f"missing {what}")
        else:
            self.error(
                path, f"expected {what}, not a {'list' if isinstance(value, list) else 'mapping'}"
            )
        return None

    def reason(self, value: Value, path: Place) -> str | None:
        """Why an override is there: one line of text, at most :data:`REASON_MAX` characters."""
        text = self.text(value, path, "a reason (text)")
        if text is not None and ("\n" in text or len(text) > REASON_MAX):
            self.error(path, f"a reason is one line of at most {REASON_MAX} characters")
            return None
        return text

    def declared(self, section: str, name: str) -> bool:
        """Whether ``section`` of the document names ``name``, though perhaps refused (and so
        reported already)."""
        root = self.doc.root
        names = root.get(section) if isinstance(root, dict) else None
        return isinstance(names, dict) and name in names

    def agent_named(self, name: str) -> bool:
        """Whether the document names an agent ``name``, though perhaps refused: an entry that
        names it is not told it is unknown."""
        return self.declared("agents", name)

    def declared_device(self, agent: str, device: str) -> bool:
        """Written in the document, though perhaps refused (and so reported already)."""
        root = self.doc.root
        agents = root.get("agents") if isinstance(root, dict) else None
        body = agents.get(agent) if isinstance(agents, dict) else None
        devices = body.get("devices") if isinstance(body, dict) else None
        return isinstance(devices, dict) and device in devices

    # -- values -----------------------------------------------------------------------------

    def zone(self, value: Value, path: Place) -> ZoneInfo | None:
        name = self.text(value, path, "an IANA time zone such as Asia/Kolkata")
        if name is None:
            return None
        try:
            return ZoneInfo(name)
        # OSError: a name longer than a file name may be, looked up in the tzdata package.
        except (ZoneInfoNotFoundError, ValueError, OSError):
            self.error(
                path, f"unknown time zone {quote(name)}; use an IANA name such as Asia/Kolkata"
            )
            return None

    def cron(self, value: Value, path: Place) -> str | None:
        raw = self.text(value, path, 'a cron expression such as "0 9 * * mon-fri"')
        if raw is None:
            return None
        try:
            parse_cron(raw)
        except CronError as exc:
            self.error(path, f"invalid cron {quote(raw)}: {exc}")
            return None
        return raw

    def duration(self, value: Value, path: Place) -> timedelta | None:
        """A shift's ``duration``: elapsed time, up to :data:`MAX_DURATION`."""
        raw = self.text(value, path, "a duration such as 9h or 7h30m")
        duration = parse_duration(raw) if raw is not None else None
        if raw is not None and not duration:
            self.error(path, f"bad duration {quote(raw)}; write e.g. 9h, 7h30m, 45m or 1d")
        elif duration and duration > MAX_DURATION:
            self.error(path, f"duration {raw} is longer than {MAX_DURATION.days} days")
            return None
        return duration or None

    def ramp(self, value: Value, path: Place) -> timedelta | None:
        raw = self.text(value, path, "a duration such as 15m")
        zero = raw is not None and raw.strip() == "0"  # no ramp: a shift's 0 beats its account's
        ramp = timedelta(0) if zero else parse_duration(raw) if raw is not None else None
        if raw is not None and ramp is None:
            self.error(path, f"bad ramp {quote(raw)}; write a duration such as 15m or 1h")
        elif ramp is not None and ramp > MAX_RAMP:
            self.error(path, f"ramp {raw} is longer than {MAX_RAMP.seconds // 3600}h")
            ramp = None
        return ramp

    def rate(self, value: Value, path: Place) -> RateLimit | None:
        raw = self.text(value, path, "a rate such as 50/min or 2/s")
        rate = parse_rate(raw) if raw is not None else None
        if raw is not None and rate is None:
            self.error(
                path, f"bad rate limit {quote(raw)}; write N/s or N/min with N > 0, e.g. 50/min"
            )
        elif rate is not None and rate.count > MAX_RATE_COUNT:
            self.error(
                path,
                f"rate limit {quote(raw)} is over {MAX_RATE_COUNT:,} per window; "
                "write the account's own limit, e.g. 50/min",
            )
            return None
        return rate

    def base_url(self, value: Value, path: Place) -> str | None:
        raw = self.text(value, path, "a URL such as http://127.0.0.1:8090")
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.username or parts.password or "@" in raw:
            self.error(
                path,
                "credentials must not be written in the roster (found in the URL); "
                "set EXOTEL_<ACCOUNT>_API_KEY / EXOTEL_<ACCOUNT>_API_TOKEN",
            )
            return None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.error(path, "bad base_url; expected http(s)://host[:port]")
            return None
        if parts.query or parts.fragment or parts.path.strip("/"):
            # Not echoed: whatever follows the host is where a token would hide.
            self.error(
                path,
                "base_url must be only http(s)://host[:port], with no path or query "
                "(nor credentials: those go in the environment)",
            )
            return None
        return raw

    def device_ref(self, value: Value, path: Place) -> tuple[str, DeviceKind] | None:
        """A device: an Exotel device id, a +E.164 number or a sip: URI, and which it is."""
        raw = self.text(value, path, "a device id or a contact URI (+E.164 or sip:...)")
        if raw is None:
            return None
        kind = classify_device(raw)
        if kind is not None:
            return raw, kind
        if raw.startswith("+"):
            self.error(
                path,
                f"bad E.164 number {quote(raw)}; expected + and 7 to 15 digits, e.g. +919953125068",
            )
        elif raw.lower().startswith("sip:"):
            self.error(path, f"bad SIP URI {quote(raw)}; expected sip:user or sip:user@host")
        else:
            self.error(
                path,
                f"bad device {quote(raw)}; give an Exotel device id, a +E.164 number or a sip: URI",
            )
        return None

    def skip_dates(self, value: Value, path: Place) -> frozenset[date] | None:
        if value is None:
            return frozenset()
        if not isinstance(value, list):
            self.error(path, "expected a list of dates such as [2026-12-25]")
            return None
        out: set[date] = set()
        ok = True
        for j, item in enumerate(value):
            raw = self.text(item, (*path, j), "a date YYYY-MM-DD")
            try:
                out.add(date.fromisoformat(raw or ""))
            except ValueError:
                if raw is not None:
                    self.error((*path, j), f"bad date {quote(raw)}; expected YYYY-MM-DD")
                ok = False
        return frozenset(out) if ok else None

    def flag(self, value: Value, path: Place) -> bool | None:
        if value is None:
            return False
        if isinstance(value, str) and value.lower() in ("true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "off"):
            return False
        self.error(path, "expected true or false")
        return None

    def instant(
        self, value: Value, path: Place, zone: ZoneInfo | None, *, end: bool
    ) -> datetime | None:
        raw = self.text(value, path, "a date or date-time such as 2026-12-01T09:00")
        if raw is None or zone is None:
            return None
        parsed = parse_instant(raw, zone, end=end)
        if parsed is None:
            self.error(path, f"bad date-time {quote(raw)}; expected YYYY-MM-DD or YYYY-MM-DDTHH:MM")
        elif not within_calendar(parsed):
            self.error(path, f"date-time {quote(raw)} is too far out; write one {CALENDAR}")
            return None
        return parsed
