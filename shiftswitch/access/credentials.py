"""What users, tokens and sessions are made of, as pure functions: the rules for names and
passwords, the secrets and their digests, and token expiry as the CLI takes it.

Secrets are stored only as digests: a token or session secret by its SHA-256 (it is random and
long, so a fast digest is enough and lets it be looked up), a password by argon2 (see
:mod:`shiftswitch.access.store`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shiftswitch.access.roles import AccessError
from shiftswitch.roster.fields import LATEST, within_calendar
from shiftswitch.roster.model import parse_instant

TOKEN_PREFIX = "ssw_"  # noqa: S105 - what every token starts with, not a secret
PREFIX_CHARS = 8  # of a token after "ssw_", shown by ``tokens list`` to tell tokens apart
MAX_SECRET = 128  # longer than any secret made here: refused before it is hashed
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_NAME = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*")
_DURATION = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def check_name(name: str, what: str) -> str:
    """``name`` when it is a good user or token name (as roster names: 1-64 of A-Z a-z 0-9 _ .
    @ -, starting with a letter or digit); :class:`AccessError` saying why otherwise."""
    if not (1 <= len(name) <= MAX_NAME and _NAME.fullmatch(name)):
        shown = name[:MAX_NAME] + ("..." if len(name) > MAX_NAME else "")
        raise AccessError(
            f"{what} name {shown!r}: use 1-{MAX_NAME} letters, digits and _ . @ -, "
            "starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    """``password`` when it is long enough (12-1024 characters); :class:`AccessError` otherwise.
    The message gives its length, never the password."""
    if len(password) < MIN_PASSWORD:
        raise AccessError(
            f"password: {len(password)} characters, at least {MIN_PASSWORD} needed; "
            "choose a longer one"
        )
    if len(password) > MAX_PASSWORD:
        raise AccessError(
            f"password: {len(password)} characters, at most {MAX_PASSWORD}; choose a shorter one"
        )
    return password


def new_token() -> str:
    """A new API token: ``ssw_`` and 43 URL-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_prefix(secret: str) -> str:
    """The part of a token ``tokens list`` shows: the first 8 characters after ``ssw_``."""
    return secret.removeprefix(TOKEN_PREFIX)[:PREFIX_CHARS]


def may_be_token(secret: str) -> bool:
    """Whether ``secret`` has a token's shape (checked before anything is looked up)."""
    return secret.startswith(TOKEN_PREFIX) and len(secret) <= MAX_SECRET


CALENDAR_PREFIX = "cal_"


def new_calendar_key() -> str:
    """A new calendar key: ``cal_`` and 43 URL-safe characters (256 random bits)."""
    return CALENDAR_PREFIX + secrets.token_urlsafe(32)


def new_secret() -> str:
    """A new session secret (the cookie's value): 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The SHA-256 hex digest under which a token, a session or a CSRF token is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(secret: str, stored: str) -> bool:
    """Whether ``secret`` is the one whose digest is ``stored``, in constant time."""
    return hmac.compare_digest(digest(secret), stored)


def csrf_token(session_secret: str) -> str:
    """A session's CSRF token, derived from its secret: as unguessable as the secret without
    it, and the same on every page of the session, so the console can put it in each form
    while the database keeps only digests."""
    mac = hmac.new(session_secret.encode(), b"shiftswitch csrf", hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def parse_expiry(text: str, now: datetime) -> datetime:
    """When a token given ``--expires TEXT`` at ``now`` expires.

    TEXT: a duration from now (``30d``, ``12h``, ``90m``, ``2w``), an ISO date-time (UTC unless
    it carries an offset) or a date (the end of that day, UTC). :class:`AccessError` when TEXT is
    none of these or is not after ``now``.
    """
    text = text.strip()
    at: datetime | None = None
    if (m := _DURATION.fullmatch(text)) is not None:
        try:
            at = now + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        except OverflowError:
            at = None
    elif len(text) <= 40:
        at = parse_instant(text, ZoneInfo("UTC"), end=True)
    if at is None or not within_calendar(at):
        raise AccessError(
            f"--expires {text[:40]!r}: write a duration (30d, 12h, 90m, 2w), "
            "a date-time (2026-12-31T18:00, UTC unless it has an offset) or a date, "
            f"before {LATEST:%Y-%m-%d}"
        )
    if at <= now:
        raise AccessError(
            f"--expires {text!r} is {format_instant(at)}, not after now "
            f"({format_instant(now)}); give a later time"
        )
    return at


def format_instant(at: datetime) -> str:
    """An instant as the CLI prints it: ISO 8601 in UTC, to the second, with ``Z``."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
