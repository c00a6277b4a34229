"""Exotel's JSON answers read into devices, users and error codes, whatever their shape.

A body that is not what Exotel documents raises :class:`ShapeError` with what is missing;
:mod:`shiftswitch.exotel` turns that into an ``Outcome`` like any other failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_TEXTS = ("name", "contact_uri", "type", "status")
_FLAGS = ("available", "verified")


@dataclass(frozen=True, slots=True)
class Device:
    """One device as Exotel returns it; ``id`` is opaque (numbers are converted with ``str``)."""

    id: str
    name: str | None
    contact_uri: str | None
    type: str | None
    available: bool | None
    verified: bool | None
    status: str | None


@dataclass(frozen=True, slots=True)
class User:
    """An Exotel user with its devices; ``name`` is "first last"."""

    id: str
    name: str
    devices: tuple[Device, ...]


class ShapeError(Exception):
    """A JSON body that is not what Exotel documents; the message says what is missing."""


@dataclass(frozen=True, slots=True)
class Body:
    device: Device | None = None
    users: tuple[User, ...] = ()
    total: int | None = None  # metadata.total of a list page
    count: int = 0  # items on a list page


Parser = Callable[[dict[str, Any]], Body]


def failed(envelope: object) -> bool:
    """Whether the envelope, or any item of a list envelope, has a status other than success."""
    items = envelope if isinstance(envelope, list) else [envelope]
    return any(isinstance(i, dict) and i.get("status") not in (None, "success") for i in items)


def error(top: object) -> tuple[str | None, str | None]:
    """``error_data.code`` and its description (or message), wherever the body has them."""
    code: object = None
    said: object = None
    if isinstance(top, dict):
        envelope = top.get("response")
        items = envelope if isinstance(envelope, list) else [envelope]
        data = [i["error_data"] for i in items if isinstance(i, dict) and i.get("error_data")]
        if data and isinstance(data[0], dict):
            code, said = data[0].get("code"), data[0].get("description") or data[0].get("message")
        else:  # some 429s and proxies answer {"message": ...} and the like instead
            said = top.get("description") or top.get("message") or top.get("error")
    return (None if code is None else str(code)), (said if isinstance(said, str) else None)


def _id(value: object, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value:
        return value
    raise ShapeError(f"{what} has no id")


def _as_device(data: object) -> Device:
    if not isinstance(data, dict):
        raise ShapeError("a device is not an object")
    # Anything of another type (a number for a name, "true" for true) is taken as absent.
    name, uri, kind, status = (v if isinstance(v := data.get(k), str) else None for k in _TEXTS)
    available, verified = (v if isinstance(v := data.get(k), bool) else None for k in _FLAGS)
    return Device(_id(data.get("id"), "a device"), name, uri, kind, available, verified, status)


def _as_user(data: object) -> User:
    if not isinstance(data, dict):
        raise ShapeError("a user is not an object")
    devices = data.get("devices") or []
    if not isinstance(devices, list):
        raise ShapeError("a user's devices are not a list")
    parts = [data.get(k) for k in ("first_name", "last_name")]
    name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return User(_id(data.get("id"), "a user"), name, tuple(_as_device(d) for d in devices))


def _data(top: dict[str, Any]) -> object:
    envelope = top.get("response")
    return envelope.get("data") if isinstance(envelope, dict) else None


def device(top: dict[str, Any]) -> Body:
    return Body(device=_as_device(_data(top)))


def one_user(top: dict[str, Any]) -> Body:
    return Body(users=(_as_user(_data(top)),))


def user_page(top: dict[str, Any]) -> Body:
    items = top.get("response")
    if not isinstance(items, list):
        raise ShapeError("response is not a list")
    users = []
    for item in items:
        if not isinstance(item, dict):
            raise ShapeError("a response item is not an object")
        users.append(_as_user(item.get("data")))
    meta = top.get("metadata")
    total = meta.get("total") if isinstance(meta, dict) else None
    total = total if isinstance(total, int) and not isinstance(total, bool) else None
    return Body(users=tuple(users), total=total, count=len(items))
