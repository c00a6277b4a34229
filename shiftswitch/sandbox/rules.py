"""The rules of Exotel's Users API over the sandbox's accounts.

Pure: nothing here touches the network, the clock or a lock. :mod:`shiftswitch.sandbox.server`
serves these functions over HTTP, under one lock. The rules are those of the seed page
(``reference/exotel-update-user-device.txt``): one device ON per user, only verified devices
switch, ``available`` and ``contact_uri`` never in one request, numbers unique in an account.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from shiftswitch.sandbox.state import E164, Account, Device

MAX_LIMIT, DEFAULT_LIMIT = 50, 20
_COUNT = re.compile(r"[0-9]{1,9}")


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
