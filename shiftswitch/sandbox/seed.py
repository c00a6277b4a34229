"""Reading a sandbox seed file (YAML or JSON) into a :class:`~shiftswitch.sandbox.state.Seed`,
with one-line errors that name the place."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any, NoReturn

import yaml

from shiftswitch.pacing import parse_rate
from shiftswitch.problems import Place, RosterError, format_path, quote
from shiftswitch.roster import yamldoc
from shiftswitch.roster.fields import MAX_RATE_COUNT
from shiftswitch.roster.limits import LIMITS, too_large
from shiftswitch.sandbox.state import E164, RATE_MODES, Account, Device, Seed, SeedError, User

_SID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_IDENT = re.compile(r"[^/\s?#%]+")  # ids become path segments
_SIP = re.compile(r"sip:\S+")

# libyaml's parser when PyYAML was built with it, as in shiftswitch.roster.yamldoc.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_seed(path: str) -> Seed:
    """Read a seed file: YAML, or JSON when the name ends in ``.json``.

    Raises :class:`SeedError` with one line naming the file and the place in it.
    """
    try:
        with open(path, encoding="utf-8") as f:
            size = os.fstat(f.fileno()).st_size
            # Read no further than the limit: a file that grows, or a device with no end.
            text = f.read(LIMITS.bytes + 1) if size <= LIMITS.bytes else ""
    except OSError as exc:
        raise SeedError(f"{path}: cannot read the seed: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SeedError(f"{path}: not UTF-8 text") from None
    too_big = too_large(max(size, len(text)), LIMITS)
    if too_big is not None:
        raise SeedError(f"{path}: {too_big.message}")
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SeedError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise SeedError(f"{path}: invalid JSON: nested too deeply") from None
        except ValueError:  # the one other refusal: an integer too long to convert
            raise SeedError(f"{path}: invalid JSON: a number of thousands of digits") from None
    else:
        try:
            # Within the limits of a roster document first (size, depth, aliases expanded):
            # the typed values are read only then.
            yamldoc.load(text)
            data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
        except RosterError as exc:
            raise SeedError(f"{path}: {exc.problems[0].render()}") from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}: " if mark else ""
            raise SeedError(f"{path}: {where}YAML syntax error: {exc.problem}") from None
        except yaml.YAMLError as exc:
            raise SeedError(f"{path}: YAML syntax error: {exc}") from None
    return parse_seed(data, path)


def parse_seed(data: object, source: str = "seed") -> Seed:
    """Build a :class:`Seed` from parsed YAML or JSON; ``source`` names it in errors."""

    def fail(path: Place, message: str) -> NoReturn:
        raise SeedError(f"{source}: {format_path(path) or '(document)'}: {message}")

    root = _mapping(data, (), {"accounts"}, fail)
    accounts_raw = root.get("accounts")
    if not isinstance(accounts_raw, dict) or not accounts_raw:
        fail(("accounts",), "expected a mapping of account SIDs to accounts")
    accounts: dict[str, Account] = {}
    for raw_sid, raw in accounts_raw.items():
        sid = str(raw_sid)
        if isinstance(raw_sid, bool) or not _SID.fullmatch(sid):
            fail(("accounts", sid), "an account SID is letters, digits, '_', '.' or '-'")
        account = _account(sid, raw, fail)
        for other in accounts.values():
            if other.api_key == account.api_key:
                fail(("accounts", sid, "api_key"), f"the same key as account {quote(other.sid)}")
        accounts[sid] = account
    return Seed(accounts)


Fail = Callable[[Place, str], NoReturn]


def _account(sid: str, raw: object, fail: Fail) -> Account:
    path: Place = ("accounts", sid)
    m = _mapping(raw, path, {"api_key", "api_token", "rate_limit", "rate_mode", "users"}, fail)
    key = _text(m.get("api_key"), (*path, "api_key"), fail)
    if ":" in key:
        fail((*path, "api_key"), "a key cannot hold ':' (HTTP Basic auth splits on it)")
    token = _text(m.get("api_token"), (*path, "api_token"), fail)
    rate = None
    if m.get("rate_limit") is not None:
        rate = parse_rate(str(m["rate_limit"]))
        if rate is None:
            fail((*path, "rate_limit"), "expected N/s or N/min, such as 50/min")
        if rate.count > MAX_RATE_COUNT:
            fail((*path, "rate_limit"), f"over {MAX_RATE_COUNT:,} per window")
    mode = m.get("rate_mode", "window")
    if mode not in RATE_MODES:
        fail((*path, "rate_mode"), f"expected {' or '.join(RATE_MODES)}")
    account = Account(sid, key, token, rate, [], str(mode))
    users = m.get("users") or []
    if not isinstance(users, list):
        fail((*path, "users"), "expected a list of users")
    places: dict[str, Place] = {}  # device ids and numbers seen in the account, and where
    for i, raw_user in enumerate(users):
        user = _user(raw_user, (*path, "users", i), places, fail)
        if account.user(user.id):
            fail((*path, "users", i, "id"), f"user {quote(user.id)} appears twice")
        account.add(user)
    return account


def _user(raw: object, path: Place, places: dict[str, Place], fail: Fail) -> User:
    m = _mapping(raw, path, {"id", "first_name", "last_name", "email", "devices"}, fail)
    user_id = _ident(m.get("id"), (*path, "id"), fail)
    user = User(
        id=str(user_id),
        first_name=_text(m.get("first_name"), (*path, "first_name"), fail),
        last_name=_optional_text(m.get("last_name"), (*path, "last_name"), fail),
        email=_optional_text(m.get("email"), (*path, "email"), fail),
        devices=[],
    )
    devices = m.get("devices") or []
    if not isinstance(devices, list):
        fail((*path, "devices"), "expected a list of devices")
    for j, raw_device in enumerate(devices):
        here: Place = (*path, "devices", j)
        device = _device(raw_device, here, fail)
        for what, value in (("id", str(device.id)), ("contact_uri", device.contact_uri)):
            seen = places.setdefault(f"{what}={value}", (*here, what))
            if seen != (*here, what):
                fail((*here, what), f"{quote(value)} is already used at {format_path(seen)}")
        on = [d for d in user.devices if d.available is True]
        if device.available is True and on:
            fail((*here, "available"), f"a user has one device ON at most; {on[0].id} is ON")
        user.devices.append(device)
    return user


def _device(raw: object, path: Place, fail: Fail) -> Device:
    keys = {"id", "name", "contact_uri", "type", "verified", "available"}
    m = _mapping(raw, path, keys, fail)
    device_id = _ident(m.get("id"), (*path, "id"), fail)
    uri = m.get("contact_uri")
    if isinstance(uri, int) and not isinstance(uri, bool):
        fail((*path, "contact_uri"), 'quote the number ("+91..."): YAML reads +91... as a number')
    uri = _text(uri, (*path, "contact_uri"), fail)
    kind = m.get("type", "sip" if uri.startswith("sip:") else "tel")
    if kind not in ("tel", "sip"):
        fail((*path, "type"), f"{quote(kind)} is not a device type; use tel or sip")
    if kind == "tel" and not E164.fullmatch(uri):
        fail((*path, "contact_uri"), f"{quote(uri)} is not an E.164 number such as +919953125001")
    if kind == "sip" and not _SIP.fullmatch(uri):
        fail((*path, "contact_uri"), f"{quote(uri)} is not a SIP URI such as sip:meera.k")
    verified = m.get("verified", True)
    if not isinstance(verified, bool):
        fail((*path, "verified"), "expected true or false")
    available = m.get("available", False if verified else None)
    if verified and not isinstance(available, bool):
        fail((*path, "available"), "expected true or false")
    if not verified and available is True:
        fail((*path, "available"), "an unverified device cannot be ON (available is null)")
    name = _optional_text(m.get("name"), (*path, "name"), fail) or ""
    return Device(device_id, name, uri, str(kind), verified, available if verified else None)


def _mapping(value: object, path: Place, keys: set[str], fail: Fail) -> dict[str, Any]:
    if not isinstance(value, dict):
        fail(path, "expected a mapping")
    for key in value:
        if str(key) not in keys:
            fail((*path, str(key)), f"unknown key; expected one of {', '.join(sorted(keys))}")
    return {str(k): v for k, v in value.items()}


def _text(value: object, path: Place, fail: Fail) -> str:
    if isinstance(value, bool | int | float):
        fail(path, f"expected a string; quote {value!r} (YAML read it as a number or a boolean)")
    if not isinstance(value, str) or not value.strip():
        fail(path, "expected a non-empty string")
    if len(value) > LIMITS.text:
        fail(path, f"{len(value):,} characters, over the limit of {LIMITS.text:,}")
    return value


def _optional_text(value: object, path: Place, fail: Fail) -> str | None:
    return None if value is None else _text(value, path, fail)


def _ident(value: object, path: Place, fail: Fail) -> int | str:
    """An id as written: a number stays a number (for the JSON it is served in)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or len(str(value)) > LIMITS.text
        or not _IDENT.fullmatch(str(value))
    ):
        fail(
            path,
            "expected an id: a number or a string without spaces or '/', "
            f"at most {LIMITS.text:,} characters",
        )
    return value
