"""What the sandbox's control API accepts: fault settings, and devices changed by hand.

Faults are latency and its jitter, rate limits and how they count (per window, or strict: per
request), Retry-After, rules and changes made in Exotel's app. A rule
answers the next matching API requests with an error status (as JSON, or as a proxy's HTML
page) or holds them for a while before handling them, as a slow Exotel would.

A held request (``"status": "hang"``) is a late-applying request: nothing of it happens until
its ``seconds`` are over, and then it is handled like a request arriving at that moment (checked
against the API's rules and applied), after the client may have given up and after any request
answered meanwhile, whose change it writes over. Exotel did this once: an ON hung for 15 s, the
client timed out after 10 s, the next boundary's OFF was answered at once, and the ON landed
after it and left the device ON. With ``"available": true`` a rule holds only the ONs.

An app change (:class:`AppChange`) is an agent switching a device in Exotel's app or dashboard
at a set time, behind the system's back, as ``PUT /_sandbox/devices/...`` does at once.

:func:`parse_faults` reads the body of ``PUT /_sandbox/faults`` and :func:`set_device` serves
``PUT /_sandbox/devices/...``; the server in :mod:`shiftswitch.sandbox.server` calls both under
its lock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shiftswitch.pacing import RateLimit, parse_rate
from shiftswitch.sandbox.state import RATE_MODES, Account, Device

STATUSES = (429, 500, 502, 503, 504)
HANG = "hang"
DEFAULT_HANG_SECONDS = 30.0
_KEYS = (
    "latency_ms",
    "jitter_ms",
    "retry_after",
    "rate_limits",
    "rate_modes",
    "rules",
    "app_changes",
)
_RULE_KEYS = (
    "status",
    "times",
    "method",
    "account",
    "user_id",
    "device_id",
    "available",
    "body",
    "retry_after",
    "seconds",
)
_DEVICE_KEYS = ("available", "verified", "contact_uri")
_CHANGE_KEYS = ("account", "user_id", "device_id", *_DEVICE_KEYS, "after", "at")
MAX_AFTER = 7 * 24 * 3600.0  # an app change a week ahead at most
_UNSET = -1  # a rule's retry_after when not given: follow the sandbox's Retry-After setting


class ControlError(Exception):
    """A control call the sandbox refuses; the message names the place and the fix."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Rule:
    """Answer the next ``times`` matching API requests with ``status`` (None: every one)."""

    status: int | str  # an HTTP status, or "hang"
    times: int | None = 1
    method: str | None = None
    account: str | None = None
    user_id: str | None = None
    device_id: str | None = None
    available: bool | None = None  # only requests whose body sets available to this
    body: str = "json"  # or "html": a proxy's error page
    retry_after: int | None = _UNSET  # a 429's Retry-After; None sends no header
    seconds: float = DEFAULT_HANG_SECONDS  # how long a "hang" holds the request

    def matches(
        self,
        method: str,
        account: str | None,
        user_id: str | None,
        device_id: str | None,
        body: object = None,
    ) -> bool:
        """Whether a request is one this rule is for; a field left out matches anything.

        ``available`` matches a request whose JSON body has that ``available`` (a device PUT).
        """
        wanted = (self.method, self.account, self.user_id, self.device_id)
        given = (method, account, user_id, device_id)
        if not all(w is None or w == g for w, g in zip(wanted, given, strict=True)):
            return False
        if self.available is None:
            return True
        return isinstance(body, dict) and body.get("available", None) is self.available

    def retry_after_for(self, enabled: bool) -> int | None:
        """The Retry-After header of this rule's 429 (None: no header)."""
        if self.retry_after == _UNSET:
            return 1 if enabled else None
        return self.retry_after

    def as_json(self) -> dict[str, Any]:
        """The rule as ``GET /_sandbox/faults`` shows it, with the times left."""
        out: dict[str, Any] = {"status": self.status, "times": self.times}
        for key in ("method", "account", "user_id", "device_id", "available"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.status == HANG:
            out["seconds"] = self.seconds
        else:
            out["body"] = self.body
        if self.status == 429 and self.retry_after != _UNSET:
            out["retry_after"] = self.retry_after
        return out


@dataclass(frozen=True, slots=True)
class AppChange:
    """A device changed in Exotel's app at ``at`` (the sandbox clock's seconds), not by the API.

    ``fields`` is a body :func:`set_device` takes: some of available, verified, contact_uri.
    """

    at: float
    account: str
    user_id: str
    device_id: str
    fields: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The change as ``GET /_sandbox/faults`` shows it, with the time it is due."""
        where = {"account": self.account, "user_id": self.user_id, "device_id": self.device_id}
        return {**where, **self.fields, "at": self.at}


def parse_faults(body: object, accounts: Mapping[str, Account], now: float) -> dict[str, Any]:
    """The settings a ``PUT /_sandbox/faults`` body changes, all checked before any is applied.

    Keys left out keep their value; ``rules`` and ``app_changes`` replace their whole list (an
    app change's ``after`` counts from ``now``). Raises :class:`ControlError` naming the place of
    the first mistake.
    """
    if not isinstance(body, dict):
        raise ControlError(f"expected a JSON object with some of {', '.join(_KEYS)}")
    _known(body, _KEYS, "")
    out: dict[str, Any] = {}
    if "latency_ms" in body:
        latency = body["latency_ms"]
        if not _number(latency) or not 0 <= latency <= 600_000:
            raise ControlError("latency_ms: expected milliseconds from 0 to 600000")
        out["latency_ms"] = float(latency)
    if "jitter_ms" in body:
        jitter = body["jitter_ms"]
        if not _number(jitter) or not 0 <= jitter <= 600_000:
            raise ControlError("jitter_ms: expected milliseconds from 0 to 600000")
        out["jitter_ms"] = float(jitter)
    if "retry_after" in body:
        if not isinstance(body["retry_after"], bool):
            raise ControlError("retry_after: expected true or false")
        out["retry_after"] = body["retry_after"]
    if "rate_limits" in body:
        out["rate_limits"] = _rate_limits(body["rate_limits"], accounts)
    if "rate_modes" in body:
        out["rate_modes"] = _rate_modes(body["rate_modes"], accounts)
    if "rules" in body:
        rules = body["rules"]
        if not isinstance(rules, list):
            raise ControlError("rules: expected a list of rules")
        out["rules"] = [_rule(raw, f"rules[{i}]") for i, raw in enumerate(rules)]
    if "app_changes" in body:
        changes = body["app_changes"]
        if not isinstance(changes, list):
            raise ControlError("app_changes: expected a list of device changes")
        out["app_changes"] = sorted(
            (_app_change(raw, f"app_changes[{i}]", accounts, now) for i, raw in enumerate(changes)),
            key=lambda c: c.at,
        )
    return out


def _app_change(raw: object, place: str, accounts: Mapping[str, Account], now: float) -> AppChange:
    if not isinstance(raw, dict):
        raise ControlError(f"{place}: expected an object with user_id, device_id and after or at")
    _known(raw, _CHANGE_KEYS, place)
    names: list[str] = []
    for key in ("account", "user_id", "device_id"):
        value = raw.get(key)
        if value is None and key == "account":
            if len(accounts) != 1:
                raise ControlError(f"{place}.account: needed, the seed has {len(accounts)}")
            value = next(iter(accounts))  # one account in the seed: no need to name it
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ControlError(f"{place}.{key}: expected a string")
        names.append(str(value))
    sid, user_id, device_id = names
    fields = {k: raw[k] for k in _DEVICE_KEYS if k in raw}
    _check_device_body(fields, place)
    if _find(accounts, sid, user_id, device_id) is None:
        raise ControlError(f"{place}: no device {device_id} of user {user_id} in account {sid}")
    if ("after" in raw) == ("at" in raw):
        raise ControlError(f"{place}: give one of after (seconds from now) or at (Unix seconds)")
    if "after" in raw:
        after = raw["after"]
        if not _number(after) or not 0 <= after <= MAX_AFTER:
            raise ControlError(f"{place}.after: expected seconds from 0 to {MAX_AFTER:.0f}")
        at = now + float(after)
    else:
        at = raw["at"]
        if not _number(at) or not 0 <= at <= now + MAX_AFTER:
            raise ControlError(f"{place}.at: expected Unix seconds, up to a week ahead")
        at = float(at)
    return AppChange(at, sid, user_id, device_id, fields)


def _rate_limits(raw: object, accounts: Mapping[str, Account]) -> dict[str, RateLimit | None]:
    if not isinstance(raw, dict):
        raise ControlError('rate_limits: expected {"<account sid>": "N/s" | "N/min" | null}')
    out: dict[str, RateLimit | None] = {}
    for sid, text in raw.items():
        if sid not in accounts:
            raise ControlError(f"rate_limits.{sid}: no such account in the seed")
        rate = parse_rate(text) if isinstance(text, str) else None
        if text is not None and rate is None:
            raise ControlError(f"rate_limits.{sid}: expected N/s, N/min or null (no limit)")
        out[sid] = rate
    return out


def _rate_modes(raw: object, accounts: Mapping[str, Account]) -> dict[str, str]:
    choices = " or ".join(f'"{m}"' for m in RATE_MODES)
    if not isinstance(raw, dict):
        raise ControlError(f'rate_modes: expected {{"<account sid>": {choices}}}')
    for sid, mode in raw.items():
        if sid not in accounts:
            raise ControlError(f"rate_modes.{sid}: no such account in the seed")
        if mode not in RATE_MODES:
            raise ControlError(f"rate_modes.{sid}: expected {choices}")
    return dict(raw)


def _rule(raw: object, place: str) -> Rule:
    if not isinstance(raw, dict):
        raise ControlError(f"{place}: expected an object with a status")
    _known(raw, _RULE_KEYS, place)
    status = raw.get("status")
    if status != HANG and (isinstance(status, bool) or status not in STATUSES):
        choices = ", ".join(map(str, STATUSES))
        raise ControlError(f'{place}.status: expected one of {choices} or "hang"')
    rule = Rule(status)
    times = raw.get("times", 1)
    if times is not None and not (_whole(times) and times >= 1):
        raise ControlError(f"{place}.times: expected a whole number from 1, or null for always")
    rule.times = times
    method = raw.get("method")
    if method is not None and not (isinstance(method, str) and method.isalpha()):
        raise ControlError(f"{place}.method: expected an HTTP method such as PUT")
    rule.method = method.upper() if method else None
    available = raw.get("available")
    if available is not None and not isinstance(available, bool):
        raise ControlError(f"{place}.available: expected true (the ONs) or false (the OFFs)")
    rule.available = available
    for key in ("account", "user_id", "device_id"):
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            raise ControlError(f"{place}.{key}: expected a string")
        setattr(rule, key, None if value is None else str(value))
    rule.body = raw.get("body", "json")
    if rule.body not in ("json", "html"):
        raise ControlError(f'{place}.body: expected "json" or "html"')
    if "retry_after" in raw:
        after = raw["retry_after"]
        if after is not None and not (_whole(after) and after >= 0):
            raise ControlError(f"{place}.retry_after: expected whole seconds, or null (no header)")
        rule.retry_after = after
    seconds = raw.get("seconds", DEFAULT_HANG_SECONDS)
    if not _number(seconds) or not 0 <= seconds <= 3600:
        raise ControlError(f"{place}.seconds: expected seconds from 0 to 3600")
    rule.seconds = float(seconds)
    return rule


def _known(body: dict[Any, Any], keys: tuple[str, ...], place: str) -> None:
    for key in body:
        if key not in keys:
            where = f"{place}.{key}" if place else str(key)
            raise ControlError(f"{where}: unknown key; expected one of {', '.join(keys)}")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def set_device(
    accounts: dict[str, Account], sid: str, user_id: str, device_id: str, body: object
) -> dict[str, Any]:
    """Change a device as a person in Exotel's dashboard might: no API rule is checked.

    ``body`` has some of ``available`` (true, false or null), ``verified`` and ``contact_uri``.
    No rule of the API is checked: a second device of a user may be turned ON. Returns the
    device; raises :class:`ControlError` for a bad body or an unknown device.
    """
    if not isinstance(body, dict):
        raise ControlError(f"expected a JSON object with some of {', '.join(_DEVICE_KEYS)}")
    _known(body, _DEVICE_KEYS, "")
    _check_device_body(body, "")
    device = _find(accounts, sid, user_id, device_id)
    if device is None:
        raise ControlError(f"no device {device_id} of user {user_id} in account {sid}", 404)
    device.contact_uri = body.get("contact_uri", device.contact_uri)
    if "verified" in body:
        device.verified = body["verified"]
        # Unless availability is given too, what Exotel would show: null while unverified.
        device.available = bool(device.available) if device.verified else None
    device.available = body.get("available", device.available)
    return device.as_json()


def _check_device_body(body: Mapping[str, Any], place: str) -> None:
    at = f"{place}." if place else ""
    if not body:
        where = f"{place}: expected" if place else "expected a JSON object with"
        raise ControlError(f"{where} some of {', '.join(_DEVICE_KEYS)}")
    if "available" in body and not isinstance(body["available"], bool | None):
        raise ControlError(f"{at}available: expected true, false or null")
    if "verified" in body and not isinstance(body["verified"], bool):
        raise ControlError(f"{at}verified: expected true or false")
    uri = body.get("contact_uri")
    if "contact_uri" in body and not (isinstance(uri, str) and uri.strip()):
        raise ControlError(f"{at}contact_uri: expected a non-empty string")


def _find(accounts: Mapping[str, Account], sid: str, user_id: str, device_id: str) -> Device | None:
    account = accounts.get(sid)
    user = account.user(user_id) if account else None
    return user.device(device_id) if user else None
