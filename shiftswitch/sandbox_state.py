"""The sandbox's accounts, users and devices, and the rules of Exotel's Users API over them.

Pure: nothing here touches the network, the clock or a lock. :mod:`shiftswitch.sandbox` serves
these functions over HTTP, under one lock. The rules are those of the seed page
(``reference/exotel-update-user-device.txt``): one device ON per user, only verified devices
switch, ``available`` and ``contact_uri`` never in one request, numbers unique in an account.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NoReturn
from urllib.parse import unquote

import yaml

from shiftswitch.problems import Path, format_path, quote
from shiftswitch.roster import RateLimit, parse_rate

MAX_LIMIT, DEFAULT_LIMIT = 50, 20
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_SID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_IDENT = re.compile(r"[^/\s?#%]+")  # ids become path segments
_COUNT = re.compile(r"[0-9]{1,9}")
_SIP = re.compile(r"sip:\S+")

# libyaml's parser when PyYAML was built with it, as in shiftswitch.yamldoc.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SeedError(Exception):
    """A seed the sandbox cannot use. The message is one line that names the place."""


@dataclass(slots=True)
class Device:
    """A device as Exotel holds it. ``id`` keeps its seed type (a number stays a number)."""

    id: int | str
    name: str
    contact_uri: str
    type: str  # "tel" (PSTN number) or "sip" (soft-phone)
    verified: bool
    available: bool | None  # None while unverified, as Exotel reports it

    def as_json(self) -> dict[str, Any]:
        """The device as the API returns it."""
        return {
            "id": self.id,
            "name": self.name,
            "contact_uri": self.contact_uri,
            "type": self.type,
            "available": self.available,
            "verified": self.verified,
            "status": "free" if self.verified else None,
        }


@dataclass(slots=True)
class User:
    """A user and their devices, in seed order."""

    id: str
    first_name: str
    last_name: str | None
    email: str | None
    devices: list[Device]

    def device(self, device_id: str) -> Device | None:
        """The device whose id, compared as a string, is ``device_id``."""
        return next((d for d in self.devices if str(d.id) == device_id), None)

    def as_json(self, *, devices: bool = True) -> dict[str, Any]:
        """The user as the API returns it; ``devices`` only when asked for (``fields=devices``)."""
        out: dict[str, Any] = {
            "id": self.id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
        }
        if devices:
            out["devices"] = [d.as_json() for d in self.devices]
        return out


@dataclass(slots=True)
class Account:
    """An Exotel account. The token is left out of ``repr`` so that it cannot reach a log."""

    sid: str
    api_key: str
    api_token: str = field(repr=False)
    rate_limit: RateLimit | None
    users: list[User]
    by_id: dict[str, User] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # An index, for accounts of 10,000 users: each request looks its user up.
        self.by_id = {u.id: u for u in self.users}

    def add(self, user: User) -> None:
        """Append a user (seed order is the order the API lists users in)."""
        self.users.append(user)
        self.by_id[user.id] = user

    def user(self, user_id: str) -> User | None:
        """The user with id ``user_id``, or None."""
        return self.by_id.get(user_id)


@dataclass(frozen=True, slots=True)
class Seed:
    """The accounts a sandbox starts from, and returns to on reset. Never changed by it."""

    accounts: Mapping[str, Account]

    def fresh(self) -> dict[str, Account]:
        """A copy of the accounts that the sandbox may change."""
        # Built field by field: copy.deepcopy takes half a second for 10,000 users.
        return {
            sid: Account(
                a.sid,
                a.api_key,
                a.api_token,
                a.rate_limit,
                [
                    User(u.id, u.first_name, u.last_name, u.email, [_copy(d) for d in u.devices])
                    for u in a.users
                ],
            )
            for sid, a in self.accounts.items()
        }


def _copy(d: Device) -> Device:
    return Device(d.id, d.name, d.contact_uri, d.type, d.verified, d.available)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the API answers: a status and either data or an Exotel error code and description.

    ``metadata`` is set for list responses; ``data`` is then the list of users.
    """

    status: int
    data: Any = None
    error_code: int | None = None
    description: str | None = None
    metadata: dict[str, int] | None = None


def failure(status: int, code: int | None, description: str) -> Reply:
    """An error reply; ``code`` is Exotel's ``error_data.code``."""
    return Reply(status, error_code=code, description=description)


@dataclass(frozen=True, slots=True)
class Target:
    """What an API path names. ``kind`` is None when the path is not one the API serves."""

    kind: str | None  # "users", "user" or "device"
    account: str | None = None
    user_id: str | None = None
    device_id: str | None = None


def route(path: str) -> Target:
    """Read an API path (``/v2/accounts/<sid>/users/<user_id>/devices/<device_id>``)."""
    segs = [unquote(s) for s in path.split("/")[1:]]
    if len(segs) < 3 or segs[:2] != ["v2", "accounts"] or not segs[2]:
        return Target(None)
    sid = segs[2]
    user = segs[4] if len(segs) > 4 and segs[3] == "users" and segs[4] else None
    device = segs[6] if user and len(segs) > 6 and segs[5] == "devices" and segs[6] else None
    if len(segs) == 4 and segs[3] == "users":
        return Target("users", sid)
    if len(segs) == 5 and user:
        return Target("user", sid, user)
    if len(segs) == 7 and device:
        return Target("device", sid, user, device)
    return Target(None, sid, user, device)  # the names are still worth a log entry


def envelope(reply: Reply, method: str, request_id: str) -> dict[str, Any]:
    """The body Exotel wraps every answer in; a list response has ``metadata`` beside it."""
    out: dict[str, Any] = {"request_id": request_id, "method": method, "http_code": reply.status}
    if reply.metadata is not None:
        out["response"] = [_item(200, None, user) for user in reply.data]
        out["metadata"] = reply.metadata
        return out
    error = None
    if reply.status >= 400:
        phrase = HTTPStatus(reply.status).phrase
        error = {"code": reply.error_code, "description": reply.description, "message": phrase}
    out["response"] = _item(reply.status, error, reply.data)
    return out


def _item(code: int, error: dict[str, Any] | None, data: Any) -> dict[str, Any]:
    status = "success" if error is None else "failure"
    return {"code": code, "error_data": error, "status": status, "data": data}


# -- the API's rules ----------------------------------------------------------------------------


def authenticate(accounts: Mapping[str, Account], sid: str, authorization: str | None) -> Reply:
    """Check HTTP Basic credentials for account ``sid``: 200, 401 (unknown) or 403 (other account).

    Never echoes what was sent: the header carries the token.
    """
    key, token = _basic(authorization)
    owner = next((a for a in accounts.values() if a.api_key == key), None)
    # compare_digest: a token check that takes the same time however much of it matches.
    if owner is None or not hmac.compare_digest(owner.api_token.encode(), token.encode()):
        return failure(401, 1010, "Authentication failed")
    if owner.sid != sid:
        return failure(403, 1003, "API credentials used are unauthorized")
    return Reply(200)


def _basic(authorization: str | None) -> tuple[str, str]:
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    key, _, token = decoded.partition(":")
    return key, token


def update_device(account: Account, user_id: str, device_id: str, body: object) -> Reply:
    """``PUT .../users/<user_id>/devices/<device_id>``: switch a device, or change its number."""
    if not isinstance(body, dict):
        return failure(400, 1000, 'The body must be a JSON object, such as {"available": true}')
    if "available" in body and "contact_uri" in body:
        return failure(400, 1007, "device_contact_uri cannot be updated in the same request")
    if "available" not in body and "contact_uri" not in body:
        return failure(400, 1007, "Give available (true or false) or contact_uri")
    if "available" in body and not isinstance(body["available"], bool):
        return failure(400, 1007, "available must be true or false")
    uri = body.get("contact_uri")
    if "contact_uri" in body and not (isinstance(uri, str) and E164.fullmatch(uri)):
        return failure(400, 1007, "contact_uri must be a phone number in E.164 format (+9199...)")
    user = account.user(user_id)
    device = user.device(device_id) if user else None
    if user is None or device is None:
        return failure(404, 1018, "Device not found")
    if isinstance(uri, str):
        return _change_number(account, device, uri)
    if not device.verified:
        return failure(403, 1003, "Device is unverified")
    if body["available"] and any(d is not device and d.available is True for d in user.devices):
        return failure(403, 1003, "Another device is ON. Only one device can be ON at a time")
    device.available = body["available"]
    return Reply(200, device.as_json())


def _change_number(account: Account, device: Device, uri: str) -> Reply:
    if device.type != "tel":
        return failure(403, 1003, "This device is not PSTN. Operation not permitted")
    taken = (d for u in account.users for d in u.devices if d is not device)
    if any(d.contact_uri == uri for d in taken):
        return failure(409, 1021, "Device already exists")
    # A new number must be verified again, and calls stop until it is (the seed page's note);
    # setting the number a device already has is treated the same way.
    device.contact_uri, device.verified, device.available = uri, False, None
    return Reply(200, device.as_json())


def get_user(account: Account, user_id: str) -> Reply:
    """``GET .../users/<user_id>``: one user with their devices."""
    user = account.user(user_id)
    if user is None:
        return failure(404, 1018, "User not found")
    return Reply(200, user.as_json())


def list_users(account: Account, query: Mapping[str, str]) -> Reply:
    """``GET .../users``: a page of users, filtered by device contact URIs and e-mail."""
    offset = _count(query.get("offset"), 0)
    limit = _count(query.get("limit"), DEFAULT_LIMIT)
    if offset is None:
        return failure(400, 1007, "offset must be a whole number, 0 or more")
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        return failure(400, 1007, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    fields = {f.strip() for f in query.get("fields", "").split(",")}
    users = account.users
    if "devices.contact_uri" in query:
        # A "+" sent unencoded may arrive as a space: read a leading space as the "+" it was.
        uris = {_plus(u) for u in query["devices.contact_uri"].split(",")} - {""}
        if not uris:
            return failure(400, 1007, "devices.contact_uri is empty; give contact URIs")
        users = [u for u in users if any(d.contact_uri in uris for d in u.devices)]
    if "email" in query:
        emails = {e.strip().lower() for e in query["email"].split(",")} - {""}
        if not emails:
            return failure(400, 1007, "email is empty; give e-mail addresses")
        users = [u for u in users if u.email and u.email.lower() in emails]
    page = users[offset : offset + limit]
    meta = {"total": len(users), "count": len(page), "offset": offset, "limit": limit}
    return Reply(200, [u.as_json(devices="devices" in fields) for u in page], metadata=meta)


def _plus(text: str) -> str:
    stripped = text.strip()
    return "+" + stripped if text.startswith(" ") and stripped[:1].isdigit() else stripped


def _count(text: str | None, default: int) -> int | None:
    if text is None:
        return default
    return int(text) if _COUNT.fullmatch(text) else None


# -- the seed file ------------------------------------------------------------------------------


def load_seed(path: str) -> Seed:
    """Read a seed file: YAML, or JSON when the name ends in ``.json``.

    Raises :class:`SeedError` with one line naming the file and the place in it.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise SeedError(f"{path}: cannot read the seed: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SeedError(f"{path}: not UTF-8 text") from None
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SeedError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    else:
        try:
            data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}: " if mark else ""
            raise SeedError(f"{path}: {where}YAML syntax error: {exc.problem}") from None
        except yaml.YAMLError as exc:
            raise SeedError(f"{path}: YAML syntax error: {exc}") from None
    return parse_seed(data, path)


def parse_seed(data: object, source: str = "seed") -> Seed:
    """Build a :class:`Seed` from parsed YAML or JSON; ``source`` names it in errors."""

    def fail(path: Path, message: str) -> NoReturn:
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


Fail = Callable[[Path, str], NoReturn]


def _account(sid: str, raw: object, fail: Fail) -> Account:
    path: Path = ("accounts", sid)
    m = _mapping(raw, path, {"api_key", "api_token", "rate_limit", "users"}, fail)
    key = _text(m.get("api_key"), (*path, "api_key"), fail)
    if ":" in key:
        fail((*path, "api_key"), "a key cannot hold ':' (HTTP Basic auth splits on it)")
    token = _text(m.get("api_token"), (*path, "api_token"), fail)
    rate = None
    if m.get("rate_limit") is not None:
        rate = parse_rate(str(m["rate_limit"]))
        if rate is None:
            fail((*path, "rate_limit"), "expected N/s or N/min, such as 50/min")
    account = Account(sid, key, token, rate, [])
    users = m.get("users") or []
    if not isinstance(users, list):
        fail((*path, "users"), "expected a list of users")
    places: dict[str, Path] = {}  # device ids and numbers seen in the account, and where
    for i, raw_user in enumerate(users):
        user = _user(raw_user, (*path, "users", i), places, fail)
        if account.user(user.id):
            fail((*path, "users", i, "id"), f"user {quote(user.id)} appears twice")
        account.add(user)
    return account


def _user(raw: object, path: Path, places: dict[str, Path], fail: Fail) -> User:
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
        here: Path = (*path, "devices", j)
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


def _device(raw: object, path: Path, fail: Fail) -> Device:
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


def _mapping(value: object, path: Path, keys: set[str], fail: Fail) -> dict[str, Any]:
    if not isinstance(value, dict):
        fail(path, "expected a mapping")
    for key in value:
        if str(key) not in keys:
            fail((*path, str(key)), f"unknown key; expected one of {', '.join(sorted(keys))}")
    return {str(k): v for k, v in value.items()}


def _text(value: object, path: Path, fail: Fail) -> str:
    if isinstance(value, bool | int | float):
        fail(path, f"expected a string; quote {value!r} (YAML read it as a number or a boolean)")
    if not isinstance(value, str) or not value.strip():
        fail(path, "expected a non-empty string")
    return value


def _optional_text(value: object, path: Path, fail: Fail) -> str | None:
    return None if value is None else _text(value, path, fail)


def _ident(value: object, path: Path, fail: Fail) -> int | str:
    """An id as written: a number stays a number (for the JSON it is served in)."""
    if isinstance(value, bool) or not (
        isinstance(value, int | str) and _IDENT.fullmatch(str(value))
    ):
        fail(path, "expected an id: a number or a string without spaces or '/'")
    return value
